//! Reading configuration text, files (with `include`) and the
//! `redis-server`-style command line.

use super::glob::{glob_match, has_glob};
use super::split::{quote, split_args};
use super::table::{self, MULTI, Slot};
use super::values::{self, Ctx};
use super::{Config, ConfigError, Invocation, Loaded};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Includes nest at most this deep; Redis has no limit and would recurse
/// until it crashes on an include cycle.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Why one directive failed: a message for the current line, or an error
/// already located inside an included file.
enum Failure {
    Msg(String),
    Nested(ConfigError),
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Msg(s)
    }
}

impl From<&str> for Failure {
    fn from(s: &str) -> Self {
        Failure::Msg(s.to_string())
    }
}

pub(super) struct Loader {
    pub cfg: Config,
    pub warnings: Vec<String>,
    pub ctx: Ctx,
    warned: Vec<String>,
    depth: usize,
}

impl Loader {
    pub fn new() -> Self {
        Loader {
            cfg: Config::default(),
            warnings: Vec::new(),
            ctx: Ctx::file(),
            warned: Vec::new(),
            depth: 0,
        }
    }

    pub fn finish(self, config_file: Option<PathBuf>) -> Loaded {
        Loaded {
            config: self.cfg,
            warnings: self.warnings,
            config_file,
        }
    }

    /// Loads one text; line numbers in errors are relative to it.
    pub fn load_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |message: String| ConfigError::Line {
                line: i + 1,
                text: line.to_string(),
                message,
            };
            let Ok(args) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            if args.is_empty() {
                continue;
            }
            match self.directive(args) {
                Ok(()) => {}
                Err(Failure::Msg(m)) => return Err(fail(m)),
                Err(Failure::Nested(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn warn_once(&mut self, name: &str, what: &str) {
        if !self.warned.iter().any(|w| w == name) {
            self.warned.push(name.to_string());
            self.warnings.push(format!(
                "{what} '{name}' is accepted for compatibility but not implemented by Shoal; \
                 it has no effect"
            ));
        }
    }

    fn directive(&mut self, mut args: Vec<String>) -> Result<(), Failure> {
        let name = args[0].to_ascii_lowercase();
        let argc = args.len();
        if let Some(d) = table::find(&name) {
            if !d.has(MULTI) && argc != 2 {
                return Err("wrong number of arguments".into());
            }
            let vals = if d.has(MULTI) && argc == 2 && !args[1].is_empty() {
                // `--save "60 10 300 5"` arrives as one argument.
                split_args(&args[1]).unwrap_or_default()
            } else {
                args.split_off(1)
            };
            values::apply(&mut self.cfg, d, &vals, &mut self.ctx)?;
            if matches!(d.slot, Slot::Raw) {
                self.warn_once(d.name, "directive");
            }
            if d.name == "appendonly" && self.cfg.appendonly {
                self.warn_once("appendonly", "option");
            }
            return Ok(());
        }
        if table::DEPRECATED.contains(&name.as_str()) && argc == 2 {
            self.warn_once(&name, "deprecated directive");
            return Ok(());
        }
        match name.as_str() {
            "include" if argc == 2 => {
                if self.depth >= MAX_INCLUDE_DEPTH {
                    return Err("include nesting too deep".into());
                }
                let text = read_config_path(&args[1]).map_err(Failure::Nested)?;
                self.depth += 1;
                let r = self.load_text(&text);
                self.depth -= 1;
                r.map_err(Failure::Nested)
            }
            "rename-command" if argc == 3 => self.extra(name, args),
            "user" | "loadmodule" if argc >= 2 => self.extra(name, args),
            "sentinel" => self.extra(name, args),
            n if n.contains('.') => {
                if argc < 2 {
                    return Err("Module config specified without value".into());
                }
                self.extra(name, args)
            }
            _ => Err("Bad directive or wrong number of arguments".into()),
        }
    }

    fn extra(&mut self, name: String, args: Vec<String>) -> Result<(), Failure> {
        self.warn_once(&name, "directive");
        self.cfg.extra_directives.push(args);
        Ok(())
    }
}

/// Reads a config path; a glob in the last component expands to every
/// matching file (sorted, hidden files only if asked for), no match being
/// fine, as with Redis's use of glob(3).
fn read_config_path(path: &str) -> Result<String, ConfigError> {
    let open_err = |p: &str, e: std::io::Error| ConfigError::Open {
        path: p.to_string(),
        reason: values::os_text(&e),
    };
    let read = |p: &str| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| open_err(p, e))
    };
    if !has_glob(path) {
        return read(path);
    }
    let p = Path::new(path);
    let pattern = p.file_name().map(|f| f.to_string_lossy()).unwrap_or_default();
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(String::new());
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') || pattern.starts_with('.'))
        .filter(|n| glob_match(&pattern, n, false))
        .collect();
    names.sort();
    let mut text = String::new();
    for n in names {
        let full = dir.join(&n);
        text.push_str(&read(&full.to_string_lossy())?);
    }
    Ok(text)
}

impl Config {
    /// Loads configuration text as if it were a redis.conf file.
    /// Relative `include` paths resolve against the current directory.
    pub fn load_str(text: &str) -> Result<Loaded, ConfigError> {
        let mut l = Loader::new();
        l.load_text(text)?;
        Ok(l.finish(None))
    }

    /// Loads a config file (which may itself be a glob).
    pub fn load_file(path: &Path) -> Result<Loaded, ConfigError> {
        let text = read_config_path(&path.to_string_lossy())?;
        let mut l = Loader::new();
        l.load_text(&text)?;
        Ok(l.finish(std::path::absolute(path).ok()))
    }
}

/// Parses the process arguments (including the program name, as from
/// `std::env::args()`), reading standard input if `-` asks for it.
pub fn parse_args<I, S>(args: I) -> Result<Invocation, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    parse_args_with_stdin(&args, &mut std::io::stdin())
}

/// [`parse_args`] with an explicit stdin, for tests and embedding.
///
/// Mirrors `redis-server`: `-v`/`--version` and `-h`/`--help` are only
/// recognised as the first argument; a first argument not starting with
/// `-` is the config file; `-` as the first or last argument appends
/// stdin; every `--name` starts a new directive line placed after the
/// file and stdin text, its values quoted so they survive re-splitting.
pub fn parse_args_with_stdin(args: &[String], stdin: &mut dyn Read) -> Result<Invocation, ConfigError> {
    let argc = args.len();
    let mut j = 1;
    let mut file: Option<&str> = None;
    if let Some(first) = args.get(1) {
        match first.as_str() {
            "-v" | "--version" => return Ok(Invocation::Version),
            "-h" | "--help" => return Ok(Invocation::Help),
            f if !f.starts_with('-') => {
                file = Some(f);
                j = 2;
            }
            _ => {}
        }
    }
    let mut from_stdin = false;
    let mut options = String::new();
    // False right after a `--name` that has no value yet: the next word is
    // its value even if it starts with `--`.
    let mut have_value = true;
    while j < argc {
        let a = args[j].as_str();
        if a == "-" && (j == 1 || j == argc - 1) {
            from_stdin = true;
        } else if have_value && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            if split_args(a).map(|v| v.len()).unwrap_or(0) == 1 {
                have_value = false;
                let next_is_opt = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                // `--save` with nothing after it means `save ""`.
                if a.eq_ignore_ascii_case("--save") && (next_is_opt || j == argc - 1) {
                    options.push_str("\"\"");
                    have_value = true;
                }
            } else {
                have_value = true;
            }
        } else {
            options.push_str(&quote(a));
            options.push(' ');
            have_value = true;
        }
        j += 1;
    }
    let mut text = match file {
        Some(f) => read_config_path(f)?,
        None => String::new(),
    };
    if from_stdin {
        let mut buf = Vec::new();
        stdin.read_to_end(&mut buf).map_err(|e| ConfigError::Open {
            path: "-".into(),
            reason: values::os_text(&e),
        })?;
        text.push_str(&String::from_utf8_lossy(&buf));
    }
    text.push('\n');
    text.push_str(&options);
    let mut l = Loader::new();
    l.load_text(&text)?;
    let path = file.and_then(|f| std::path::absolute(f).ok());
    Ok(Invocation::Run(Box::new(l.finish(path))))
}
