//! Shell-like argument splitting, shared by inline commands and redis.conf lines.
//!
//! Redis splits both the same way: whitespace separates arguments; `"..."` understands
//! `\n \r \t \b \a \\ \" \xHH`; `'...'` understands only `\'`; a closing quote must be followed
//! by whitespace or the end of the line. As in Redis, whose splitter reads a C string, a NUL
//! ends the line.

/// Splits `line` into arguments; `None` when quotes are unbalanced or a closing quote is glued
/// to the next character.
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n || line[i] == 0 {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n || line[i] == 0 {
                    return None;
                }
                match line[i] {
                    b'\\'
                        if i + 3 < n
                            && line[i + 1] == b'x'
                            && line[i + 2].is_ascii_hexdigit()
                            && line[i + 3].is_ascii_hexdigit() =>
                    {
                        cur.push(hex(line[i + 2]) * 16 + hex(line[i + 3]));
                        i += 3;
                    }
                    b'\\' if i + 1 < n => {
                        i += 1;
                        cur.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    b'"' => {
                        if i + 1 < n && !is_space(line[i + 1]) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    c => cur.push(c),
                }
            } else if in_sq {
                if i >= n || line[i] == 0 {
                    return None;
                }
                match line[i] {
                    b'\\' if i + 1 < n && line[i + 1] == b'\'' => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    b'\'' => {
                        if i + 1 < n && !is_space(line[i + 1]) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    c => cur.push(c),
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// C's `isspace`, which Redis's splitter uses: Rust's ASCII whitespace leaves out the vertical
/// tab.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::split_inline;

    fn split(s: &str) -> Option<Vec<String>> {
        split_inline(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect()
        })
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(split("set a b").unwrap(), ["set", "a", "b"]);
        assert_eq!(split("  set \"a b\" 'c d'  ").unwrap(), ["set", "a b", "c d"]);
        assert_eq!(split(r#"x "\x41\n" 'it\'s'"#).unwrap(), ["x", "A\n", "it's"]);
        assert_eq!(split("x \"\"").unwrap(), ["x", ""]);
        assert_eq!(split("a\"b c\"").unwrap(), ["ab c"]);
        assert!(split("x \"open").is_none());
        assert!(split("x \"a\"b").is_none());
        assert!(split("x 'a").is_none());
        assert!(split("").unwrap().is_empty());
        // A NUL ends the line, inside quotes it leaves them open.
        assert_eq!(split("a\0b c").unwrap(), ["a"]);
        assert_eq!(split("a \0 b").unwrap(), ["a"]);
        assert!(split("a \"b\0c\"").is_none());
        assert!(split("a 'b\0c'").is_none());
        // Between arguments every C space separates, the vertical tab too.
        assert_eq!(split("\x0bping\x0ca").unwrap(), ["ping\x0ca"]);
        assert_eq!(split("x \x0b y").unwrap(), ["x", "y"]);
    }
}
