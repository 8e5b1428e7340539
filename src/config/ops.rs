//! CONFIG GET and CONFIG SET.

use super::Config;
use super::glob::{glob_match, has_glob};
use super::table::{self, Directive, IMM, MULTI, MUT, PROT};
use super::values::{self, Ctx};

impl Config {
    /// CONFIG GET with one pattern; see [`Config::get_many`].
    pub fn get(&self, pattern: &str) -> Vec<(String, String)> {
        self.get_many(&[pattern])
    }

    /// CONFIG GET as in Redis 7.0: each pattern is a case-insensitive glob
    /// over all names *and* aliases (so `*read-only*` yields both
    /// `replica-read-only` and `slave-read-only`); a pattern without glob
    /// characters is an exact lookup that echoes the name as given.
    /// Duplicates across patterns are dropped.
    pub fn get_many(&self, patterns: &[&str]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |name: String, value: String| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                out.push((name, value));
            }
        };
        for &p in patterns {
            if !has_glob(p) {
                if let Some(d) = table::find(p) {
                    push(p.to_string(), values::render(self, d));
                }
                continue;
            }
            for d in table::all() {
                for n in d.names().filter(|n| glob_match(p, n, true)) {
                    push(n.to_string(), values::render(self, d));
                }
            }
        }
        out
    }

    /// CONFIG SET from a client that is not local; see [`Config::set_as`].
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        self.set_as(pairs, false)
    }

    /// CONFIG SET name value [name value ...], all-or-nothing.
    ///
    /// `local` says the client is on a loopback/unix connection, which
    /// `enable-protected-configs local` requires for `dir`/`dbfilename`.
    /// Errors are the full reply text including the `ERR ` prefix, as
    /// Redis 7.0 words it. Like Redis, names are checked first (unknown,
    /// immutable, protected, duplicate; first problem wins), then values
    /// are applied in order to a copy that replaces `self` only if every
    /// value was accepted.
    pub fn set_as(&mut self, pairs: &[(&[u8], &[u8])], local: bool) -> Result<(), String> {
        if pairs.is_empty() {
            return Err("ERR wrong number of arguments for 'config|set' command".into());
        }
        let failed =
            |name: &str, why: &str| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}");
        let protected_ok = match self.get("enable-protected-configs").first() {
            Some((_, v)) if v == "yes" => true,
            Some((_, v)) if v == "local" => local,
            _ => false,
        };
        let mut resolved: Vec<(String, &'static Directive, String)> = Vec::with_capacity(pairs.len());
        for (raw_name, raw_value) in pairs {
            let name = String::from_utf8_lossy(raw_name).into_owned();
            let Some(d) = table::find(&name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            };
            if d.flags & MUT == IMM {
                return Err(failed(&name, "can't set immutable config"));
            }
            if d.has(PROT) && !protected_ok {
                return Err(failed(&name, "can't set protected config"));
            }
            // Redis 7.0 keeps aliases as separate entries, so `slave-read-only`
            // and `replica-read-only` together are not a duplicate.
            let is_alias = !d.name.eq_ignore_ascii_case(&name);
            let dup = resolved.iter().any(|(prev_name, prev, _)| {
                let prev_is_alias = !prev.name.eq_ignore_ascii_case(prev_name);
                std::ptr::eq(*prev, d) && is_alias == prev_is_alias
            });
            if dup {
                return Err(failed(&name, "duplicate parameter"));
            }
            resolved.push((name, d, String::from_utf8_lossy(raw_value).into_owned()));
        }
        let mut next = self.clone();
        let mut ctx = Ctx::runtime();
        for (name, d, value) in &resolved {
            let args = if d.has(MULTI) {
                table::split_spaces(value)
            } else {
                vec![value.clone()]
            };
            values::apply(&mut next, d, &args, &mut ctx).map_err(|e| failed(name, &e))?;
        }
        *self = next;
        Ok(())
    }
}
