//! Glob matching with Redis semantics, used for CONFIG GET patterns and for
//! `include` wildcards.
//!
//! Supported: `*`, `?`, `[abc]`, `[a-z]` (reversed ranges allowed),
//! `[^x]` negation and `\x` escapes inside and outside brackets. Kept
//! private to the config module so it depends on nothing else in Shoal.

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase { b.to_ascii_lowercase() } else { b }
}

/// Returns whether `text` matches `pattern`; `nocase` folds ASCII case
/// (configuration names are case-insensitive).
pub fn glob_match(pattern: &str, text: &str, nocase: bool) -> bool {
    matches(pattern.as_bytes(), text.as_bytes(), nocase)
}

fn matches(mut p: &[u8], mut t: &[u8], nocase: bool) -> bool {
    while let Some(&pc) = p.first() {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                // Try every suffix; patterns are short so backtracking is fine.
                for start in 0..=t.len() {
                    if matches(&p[1..], &t[start..], nocase) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if t.is_empty() {
                    return false;
                }
                t = &t[1..];
                p = &p[1..];
            }
            b'[' => {
                let Some(&tc) = t.first() else {
                    return false;
                };
                let (hit, rest) = class(&p[1..], tc, nocase);
                if !hit {
                    return false;
                }
                p = rest;
                t = &t[1..];
            }
            _ => {
                let (lit, rest) = if pc == b'\\' && p.len() >= 2 {
                    (p[1], &p[2..])
                } else {
                    (pc, &p[1..])
                };
                match t.first() {
                    Some(&tc) if fold(tc, nocase) == fold(lit, nocase) => {}
                    _ => return false,
                }
                t = &t[1..];
                p = rest;
            }
        }
    }
    t.is_empty()
}

/// Matches `c` against a bracket class whose body starts at `p` (just past
/// `[`). Returns the verdict and the pattern after the closing `]`; an
/// unterminated class runs to the end of the pattern, as in Redis.
fn class(mut p: &[u8], c: u8, nocase: bool) -> (bool, &[u8]) {
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let c = fold(c, nocase);
    let mut hit = false;
    loop {
        match p {
            [] => break,
            [b']', rest @ ..] => {
                p = rest;
                break;
            }
            [b'\\', e, rest @ ..] => {
                hit |= fold(*e, nocase) == c;
                p = rest;
            }
            [a, b'-', b, rest @ ..] if *b != b']' => {
                let (mut lo, mut hi) = (fold(*a, nocase), fold(*b, nocase));
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                hit |= (lo..=hi).contains(&c);
                p = rest;
            }
            [x, rest @ ..] => {
                hit |= fold(*x, nocase) == c;
                p = rest;
            }
        }
    }
    (hit != negate, p)
}

/// Whether a pattern uses glob syntax at all; CONFIG GET treats a
/// pattern without `*`, `?` or `[` as an exact (case-insensitive) name.
pub fn has_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}
