//! Argument splitting and quoting for configuration lines.
//!
//! redis.conf lines are tokenised the same way Redis tokenises inline
//! commands, so an operator's quoted passwords and paths must round-trip
//! byte for byte. [`quote`] is the inverse used when Shoal itself writes
//! lines (command-line options, CONFIG REWRITE).

/// Whitespace as C's `isspace` sees it: the separator set Redis uses.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

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
    let s = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return Ok(out);
        }
        let mut cur: Vec<u8> = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            if in_dq {
                let Some(&c) = s.get(i) else {
                    return Err(UnbalancedQuotes);
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'x') {
                    let hi = s.get(i + 2).copied().and_then(hex_val);
                    let lo = s.get(i + 3).copied().and_then(hex_val);
                    if let (Some(h), Some(l)) = (hi, lo) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < s.len() {
                    cur.push(match s[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else if in_sq {
                let Some(&c) = s.get(i) else {
                    return Err(UnbalancedQuotes);
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                match s.get(i) {
                    None => break,
                    Some(&c) if is_space(c) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
                i += 1;
            }
        }
        // `\xHH` may produce bytes that are not UTF-8; configuration values
        // are text, so such bytes are replaced rather than rejected.
        out.push(String::from_utf8_lossy(&cur).into_owned());
    }
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
