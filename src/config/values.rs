//! Value parsing and formatting shared by file loading, CONFIG SET, CONFIG
//! GET and CONFIG REWRITE. Error texts are Redis 7.0.15's, verbatim.

use super::split::{quote, quote_if_needed};
use super::table::{BYTES, Directive, PERCENT, Slot};
use super::{BindAddr, BufferLimit, Config, SavePoint, events as ev};

/// State that changes how a value is applied.
pub struct Ctx {
    /// Reading a config file (vs. CONFIG SET): `save` lines accumulate.
    pub from_file: bool,
    /// A `save` line was already seen in this load, so defaults are gone.
    pub save_loaded: bool,
    /// Check that `dir` exists (off only for hermetic tests and defaults).
    pub verify_dir: bool,
}

impl Ctx {
    pub fn runtime() -> Self {
        Ctx {
            from_file: false,
            save_loaded: false,
            verify_dir: true,
        }
    }
    pub fn file() -> Self {
        Ctx {
            from_file: true,
            ..Self::runtime()
        }
    }
}

/// Applies already-split arguments to one directive. Argument-count rules
/// for single-value directives are checked by the caller, because file
/// loading and CONFIG SET report them differently.
pub fn apply(c: &mut Config, d: &Directive, args: &[String], ctx: &mut Ctx) -> Result<(), String> {
    let one = || args.first().map(String::as_str).unwrap_or("");
    match &d.slot {
        Slot::Bool { set, .. } => set(c, parse_bool(one())?),
        Slot::Int {
            min, max, clamp, set, ..
        } => {
            let v = parse_int(one())?;
            if v < *min || v > *max {
                return Err(range_err(*min, *max));
            }
            set(c, v.clamp(clamp.0, clamp.1));
        }
        Slot::Mem {
            min, max, floor, set, ..
        } => {
            let v = parse_memory(one()).ok_or("argument must be a memory value")?;
            if v < *min || v > *max {
                return Err(range_err(*min, *max));
            }
            set(c, v.max(*floor));
        }
        Slot::Str { check, set, .. } => {
            check(one())?;
            set(c, one().to_string());
        }
        Slot::Enum { names, set, .. } => {
            let i = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(one()))
                .ok_or_else(|| format!("argument(s) must be one of the following: {}", names.join(", ")))?;
            set(c, i);
        }
        Slot::Special { set, .. } => set(c, args, ctx)?,
        Slot::Raw if d.has(BYTES) => {
            let v = one();
            let percent = v.strip_suffix('%').filter(|_| d.has(PERCENT));
            let stored = match percent {
                Some(p) => parse_int(p).ok().filter(|n| *n >= 0).map(|_| v.to_string()),
                None => parse_memory(v).map(|n| n.to_string()),
            };
            let what = if d.has(PERCENT) { "memory or percent" } else { "memory" };
            let stored = stored.ok_or_else(|| format!("argument must be a {what} value"))?;
            c.passthrough.insert(d.name, vec![stored]);
        }
        Slot::Raw => {
            c.passthrough.insert(d.name, args.to_vec());
        }
    }
    Ok(())
}

/// The CONFIG GET rendering of a directive's current value.
pub fn render(c: &Config, d: &Directive) -> String {
    match &d.slot {
        Slot::Bool { get, .. } => yes_no(get(c)).to_string(),
        Slot::Int { get, .. } => get(c).to_string(),
        Slot::Mem { get, .. } => get(c).to_string(),
        Slot::Str { get, .. } => get(c).unwrap_or_default(),
        Slot::Enum { names, get, .. } => names[get(c)].to_string(),
        Slot::Special { get, .. } => get(c),
        Slot::Raw => c.passthrough.get(d.name).map(|v| v.join(" ")).unwrap_or_default(),
    }
}

/// Lines CONFIG REWRITE writes for a directive (empty: write none).
pub fn rewrite_lines(c: &Config, d: &Directive) -> Vec<String> {
    let n = d.name;
    match &d.slot {
        Slot::Mem { get, .. } => vec![format!("{n} {}", format_memory(get(c)))],
        Slot::Str { get, .. } => get(c).map(|v| format!("{n} {}", quote(&v))).into_iter().collect(),
        Slot::Special { lines, .. } => lines(c),
        Slot::Raw if d.has(BYTES) => {
            let v = render(c, d);
            let shown = parse_int(&v).map(|n| format_memory(n as u64)).unwrap_or(v);
            vec![format!("{n} {shown}")]
        }
        Slot::Raw => {
            let args = c.passthrough.get(n).cloned().unwrap_or_default();
            let mut line = n.to_string();
            if args.is_empty() {
                line.push_str(" \"\"");
            }
            for a in &args {
                line.push(' ');
                line.push_str(&quote_if_needed(a));
            }
            vec![line]
        }
        _ => vec![format!("{n} {}", render(c, d))],
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn range_err<T: std::fmt::Display>(min: T, max: T) -> String {
    format!("argument must be between {min} and {max} inclusive")
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    if s.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if s.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

/// Strict integer syntax, as Redis's `string2ll`: optional `-`, no `+`,
/// no leading zeros, no spaces, no overflow.
pub fn parse_int(s: &str) -> Result<i64, String> {
    const ERR: &str = "argument couldn't be parsed into an integer";
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let b = digits.as_bytes();
    let canonical = match b {
        [b'0'] => !neg,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return Err(ERR.into());
    }
    let mag: u64 = digits.parse().map_err(|_| ERR.to_string())?;
    if neg {
        if mag > i64::MAX as u64 + 1 {
            return Err(ERR.into());
        }
        Ok((mag as i64).wrapping_neg())
    } else {
        i64::try_from(mag).map_err(|_| ERR.to_string())
    }
}

/// Byte sizes as Redis's `memtoull`: leading digits (none means 0) and an
/// optional case-insensitive unit: b, k=1000, kb=1024, m, mb, g, gb.
/// Overflow saturates, as `strtoull` does.
pub fn parse_memory(s: &str) -> Option<u64> {
    let split = s.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(n.saturating_mul(mul))
}

/// Largest binary unit that divides the value exactly, as CONFIG REWRITE
/// prints sizes.
pub fn format_memory(v: u64) -> String {
    const K: u64 = 1024;
    match v {
        0 => "0".into(),
        v if v % (K * K * K) == 0 => format!("{}gb", v / (K * K * K)),
        v if v % (K * K) == 0 => format!("{}mb", v / (K * K)),
        v if v % K == 0 => format!("{}kb", v / K),
        v => v.to_string(),
    }
}

/// C `strtoll` that must consume the whole string: leading blanks and a
/// sign are allowed, an empty string is 0. Used where Redis uses strtoll.
fn loose_int(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() {
        // strtoll consumed nothing: the whole input must have been empty.
        return s.is_empty().then_some(0);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { v.saturating_neg() } else { v })
}

pub fn check_filename(v: &str) -> Result<(), String> {
    if v.contains('/') {
        Err("dbfilename can't be a path, just a filename".into())
    } else {
        Ok(())
    }
}

pub mod save {
    use super::*;

    pub fn set(c: &mut Config, args: &[String], ctx: &mut Ctx) -> Result<(), String> {
        const ERR: &str = "Invalid save parameters";
        let mut args = args;
        if args.len() == 1 && args[0].is_empty() {
            // `save ""` wipes everything so far, including defaults.
            c.save.clear();
            args = &[];
        }
        if !args.len().is_multiple_of(2) {
            return Err(ERR.into());
        }
        let mut points = Vec::new();
        for pair in args.chunks(2) {
            match (loose_int(&pair[0]), loose_int(&pair[1])) {
                (Some(s), Some(n)) if s >= 1 && n >= 0 => points.push(SavePoint {
                    seconds: s as u64,
                    changes: n as u64,
                }),
                _ => return Err(ERR.into()),
            }
        }
        // In a file, the first `save` replaces the defaults and later ones
        // add to it; CONFIG SET always replaces.
        if !ctx.from_file || !ctx.save_loaded {
            c.save.clear();
            ctx.save_loaded = ctx.from_file;
        }
        c.save.extend(points);
        Ok(())
    }
    pub fn get(c: &Config) -> String {
        let parts: Vec<String> = c.save.iter().map(|p| format!("{} {}", p.seconds, p.changes)).collect();
        parts.join(" ")
    }
    pub fn lines(c: &Config) -> Vec<String> {
        if c.save.is_empty() {
            return vec!["save \"\"".into()];
        }
        c.save
            .iter()
            .map(|p| format!("save {} {}", p.seconds, p.changes))
            .collect()
    }
}

pub mod bind {
    use super::*;

    pub fn set(c: &mut Config, args: &[String], _: &mut Ctx) -> Result<(), String> {
        if args.len() > 16 {
            return Err("Too many bind addresses specified.".into());
        }
        let args = if args.len() == 1 && args[0].is_empty() {
            &[]
        } else {
            args
        };
        c.bind = args
            .iter()
            .map(|a| match a.strip_prefix('-') {
                Some(rest) => BindAddr {
                    addr: rest.to_string(),
                    optional: true,
                },
                None => BindAddr {
                    addr: a.clone(),
                    optional: false,
                },
            })
            .collect();
        Ok(())
    }
    pub fn get(c: &Config) -> String {
        let parts: Vec<String> = c.bind.iter().map(ToString::to_string).collect();
        parts.join(" ")
    }
    pub fn lines(c: &Config) -> Vec<String> {
        if c.bind.is_empty() {
            return vec!["bind \"\"".into()];
        }
        vec![format!("bind {}", get(c))]
    }
}

pub mod replicaof {
    use super::*;

    pub fn set(c: &mut Config, args: &[String], _: &mut Ctx) -> Result<(), String> {
        let [host, port] = args else {
            return Err("wrong number of arguments".into());
        };
        if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
            c.replicaof = None;
            return Ok(());
        }
        match loose_int(port) {
            Some(p @ 0..=65535) => {
                c.replicaof = Some((host.clone(), p as u16));
                Ok(())
            }
            _ => Err("Invalid master port".into()),
        }
    }
    pub fn get(c: &Config) -> String {
        c.replicaof
            .as_ref()
            .map(|(h, p)| format!("{h} {p}"))
            .unwrap_or_default()
    }
    pub fn lines(c: &Config) -> Vec<String> {
        c.replicaof
            .as_ref()
            .map(|(h, p)| format!("replicaof {} {p}", quote_if_needed(h)))
            .into_iter()
            .collect()
    }
}

pub mod dir {
    use super::*;

    pub fn set(c: &mut Config, args: &[String], ctx: &mut Ctx) -> Result<(), String> {
        let v = args.first().map(String::as_str).unwrap_or("");
        if !ctx.verify_dir {
            c.dir = absolute(v);
            return Ok(());
        }
        // Redis chdir()s here and reports strerror; we check the same
        // conditions and hand back the same text without changing cwd.
        let path = std::fs::canonicalize(v).map_err(|e| os_text(&e))?;
        if !path.is_dir() {
            return Err("Not a directory".into());
        }
        c.dir = path.to_string_lossy().into_owned();
        Ok(())
    }
    fn absolute(v: &str) -> String {
        std::path::absolute(v)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| v.to_string())
            .trim_end_matches("/.")
            .to_string()
    }
    pub fn get(c: &Config) -> String {
        c.dir.clone()
    }
    pub fn lines(c: &Config) -> Vec<String> {
        vec![format!("dir {}", quote(&c.dir))]
    }
}

/// `io::Error` text without Rust's " (os error N)" suffix, i.e. strerror.
pub fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub mod client_output_buffer_limit {
    use super::*;

    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

    pub fn set(c: &mut Config, args: &[String], _: &mut Ctx) -> Result<(), String> {
        if !args.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        // Validate every group before changing anything.
        let mut updates = Vec::new();
        for g in args.chunks(4) {
            let class = match g[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "replica" | "slave" => 1,
                "pubsub" => 2,
                _ => {
                    return Err("Invalid client class specified in buffer limit configuration.".into());
                }
            };
            let (hard, soft, secs) = (parse_memory(&g[1]), parse_memory(&g[2]), loose_int(&g[3]));
            match (hard, soft, secs) {
                (Some(hard), Some(soft), Some(s)) if s >= 0 => updates.push((
                    class,
                    BufferLimit {
                        hard,
                        soft,
                        soft_seconds: s as u64,
                    },
                )),
                _ => {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit \
                                configuration."
                        .into());
                }
            }
        }
        for (class, limit) in updates {
            c.client_output_buffer_limit[class] = limit;
        }
        Ok(())
    }
    pub fn get(c: &Config) -> String {
        let parts: Vec<String> = CLASSES
            .iter()
            .zip(&c.client_output_buffer_limit)
            .map(|(n, l)| format!("{n} {} {} {}", l.hard, l.soft, l.soft_seconds))
            .collect();
        parts.join(" ")
    }
    pub fn lines(c: &Config) -> Vec<String> {
        ["normal", "replica", "pubsub"]
            .iter()
            .zip(&c.client_output_buffer_limit)
            .map(|(n, l)| {
                format!(
                    "client-output-buffer-limit {n} {} {} {}",
                    format_memory(l.hard),
                    format_memory(l.soft),
                    l.soft_seconds
                )
            })
            .collect()
    }
}

pub mod notify_keyspace_events {
    use super::*;

    /// Letter for each flag in the order Redis prints them.
    const LETTERS: [(char, u32); 11] = [
        ('g', ev::GENERIC),
        ('$', ev::STRING),
        ('l', ev::LIST),
        ('s', ev::SET),
        ('h', ev::HASH),
        ('z', ev::ZSET),
        ('x', ev::EXPIRED),
        ('e', ev::EVICTED),
        ('t', ev::STREAM),
        ('d', ev::MODULE),
        ('n', ev::NEW),
    ];

    pub fn parse(s: &str) -> Option<u32> {
        let mut flags = 0;
        for ch in s.chars() {
            flags |= match ch {
                'A' => ev::ALL,
                'K' => ev::KEYSPACE,
                'E' => ev::KEYEVENT,
                'm' => ev::KEY_MISS,
                _ => LETTERS.iter().find(|(l, _)| *l == ch)?.1,
            };
        }
        Some(flags)
    }
    pub fn set(c: &mut Config, args: &[String], _: &mut Ctx) -> Result<(), String> {
        let v = args.first().map(String::as_str).unwrap_or("");
        c.notify_keyspace_events = parse(v).ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?;
        Ok(())
    }
    pub fn get(c: &Config) -> String {
        let f = c.notify_keyspace_events;
        let mut out = String::new();
        // Like Redis, `A` swallows `n` in the rendering (the flag stays set).
        if f & ev::ALL == ev::ALL {
            out.push('A');
        } else {
            out.extend(LETTERS.iter().filter(|(_, b)| f & b != 0).map(|(l, _)| *l));
        }
        for (l, b) in [('K', ev::KEYSPACE), ('E', ev::KEYEVENT), ('m', ev::KEY_MISS)] {
            if f & b != 0 {
                out.push(l);
            }
        }
        out
    }
    pub fn lines(c: &Config) -> Vec<String> {
        vec![format!("notify-keyspace-events {}", quote(&get(c)))]
    }
}
