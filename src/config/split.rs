//! Argument splitting and quoting for configuration lines.
//!
//! redis.conf lines are tokenised the same way Redis tokenises inline
//! commands, so an operator's quoted passwords and paths must round-trip
//! byte for byte. [`quote`] is the inverse used when Shoal itself writes
//! lines (command-line options, CONFIG REWRITE).

/// Why a line could not be split; the only failure is an unbalanced or
/// badly terminated quote, which Redis treats as fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// Splits one line into arguments.
///
/// Double quotes understand `\n \r \t \b \a \\ \" \xHH`; single quotes only
/// `\'`. A closing quote must be followed by whitespace or the end of the
/// line. A quote in the middle of a bare word starts a quoted section that
/// is glued to the word, as in Redis.
pub fn split_args(line: &str) -> Result<Vec<String>, UnbalancedQuotes> {
    // The same splitter as inline commands: one implementation of Redis's rules.
    crate::resp::inline::split_inline(line.as_bytes())
        .map(|args| {
            args.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
        .ok_or(UnbalancedQuotes)
}

/// Quotes `s` so that [`split_args`] yields it back as one argument.
/// Always emits double quotes (the form Redis writes for command-line
/// options and string values in CONFIG REWRITE).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// Quotes only when needed, for values whose bare form is the common case
/// (numbers, enum words) but which may hold arbitrary text.
pub fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\'' && b != b'\\');
    if plain { s.to_string() } else { quote(s) }
}
