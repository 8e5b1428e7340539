//! Glob-style pattern matching with the exact semantics of Redis 7.0's `stringmatchlen`.
//!
//! Why a hand-written matcher: clients rely on Redis's precise (and sometimes quirky)
//! rules, e.g. `[^` matching any single byte, ranges comparing bytes as *signed* chars,
//! `\` escapes inside a class being case-sensitive even in `nocase` mode, and the
//! 1000-level limit on nested `*`. Everything here was checked against redis-server 7.0.
//!
//! Supported syntax:
//! * `*` any run of bytes, `?` any single byte;
//! * `[abc]`, `[^abc]`, `[a-z]` (a reversed range such as `[z-a]` works too), `\x` inside
//!   a class; a class missing its `]` extends to the end of the pattern;
//! * `\x` matches `x` literally (a trailing lone `\` matches a `\`).
//!
//! Matching is worst-case polynomial: once the part after some `*` fails to match at every
//! remaining position, no enclosing `*` is retried (it could only start that part later).

/// Redis refuses to recurse through more than this many `*` groups; deeper matches fail.
const MAX_STAR_NESTING: u32 = 1000;

/// Returns whether `s` matches the Redis glob `pattern`; `nocase` folds ASCII letters only.
///
/// Like Redis's own matcher, an empty `s` only matches an empty pattern (even `*` does not
/// match it). KEYS and SCAN special-case the pattern `*` before matching, so callers
/// implementing them must skip matching when the pattern is exactly `*`; PSUBSCRIBE does
/// not, so a `*` subscriber never sees messages published to the empty channel name.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    let mut matcher = Matcher { nocase, gave_up: false };
    matcher.run(pattern, s, 0)
}

/// State shared by one top-level match: the case mode and the "stop retrying" flag.
struct Matcher {
    nocase: bool,
    /// Set once a `*` found no match for the rest of the pattern at any later position:
    /// every enclosing `*` would fail too, so the whole match fails at once.
    gave_up: bool,
}

impl Matcher {
    /// Matches `p` against `s`; `depth` counts the `*` groups recursed through so far.
    fn run(&mut self, mut p: &[u8], mut s: &[u8], depth: u32) -> bool {
        if depth > MAX_STAR_NESTING {
            return false;
        }
        while let (Some(&pc), Some(&sc)) = (p.first(), s.first()) {
            match pc {
                b'*' => return self.star(skip_stars(p), s, depth),
                b'?' => p = &p[1..],
                b'[' => match self.class(&p[1..], sc) {
                    (true, rest) => p = rest,
                    (false, _) => return false,
                },
                b'\\' if p.len() >= 2 => {
                    if !self.same(p[1], sc) {
                        return false;
                    }
                    p = &p[2..];
                }
                _ => {
                    if !self.same(pc, sc) {
                        return false;
                    }
                    p = &p[1..];
                }
            }
            s = &s[1..];
            if s.is_empty() {
                // Trailing stars may match the empty remainder.
                p = skip_stars(p);
            }
        }
        p.is_empty() && s.is_empty()
    }

    /// Handles a `*` group (already skipped) followed by `rest`, with `s` non-empty.
    fn star(&mut self, rest: &[u8], s: &[u8], depth: u32) -> bool {
        if rest.is_empty() {
            return true;
        }
        // `rest` starts with a byte-consuming element, so only non-empty suffixes can match.
        for start in 0..s.len() {
            if self.run(rest, &s[start..], depth + 1) {
                return true;
            }
            if self.gave_up {
                return false;
            }
        }
        self.gave_up = true;
        false
    }

    /// Matches byte `c` against the class body `p` (just after `[`); returns whether it
    /// matched and the pattern left after the closing `]` (empty if it was missing).
    fn class<'p>(&self, mut p: &'p [u8], c: u8) -> (bool, &'p [u8]) {
        let negate = p.first() == Some(&b'^');
        if negate {
            p = &p[1..];
        }
        let mut hit = false;
        loop {
            match p {
                // Escaped bytes in a class compare exactly, even when `nocase` is set.
                [b'\\', escaped, rest @ ..] => {
                    hit |= *escaped == c;
                    p = rest;
                }
                [b']', rest @ ..] => {
                    p = rest;
                    break;
                }
                [] => break,
                [lo, b'-', hi, rest @ ..] => {
                    hit |= self.in_range(*lo, *hi, c);
                    p = rest;
                }
                [x, rest @ ..] => {
                    hit |= self.same(*x, c);
                    p = rest;
                }
            }
        }
        (hit != negate, p)
    }

    /// Range test as Redis does it: bytes are signed chars, the bounds are swapped if
    /// reversed, and only then (in `nocase` mode) lowercased.
    fn in_range(&self, lo: u8, hi: u8, c: u8) -> bool {
        let (mut lo, mut hi, mut c) = (signed(lo), signed(hi), signed(c));
        if lo > hi {
            std::mem::swap(&mut lo, &mut hi);
        }
        if self.nocase {
            lo = lower(lo);
            hi = lower(hi);
            c = lower(c);
        }
        lo <= c && c <= hi
    }

    /// Byte equality, ASCII case-insensitive in `nocase` mode.
    fn same(&self, a: u8, b: u8) -> bool {
        if self.nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }
}

/// Drops leading `*` bytes (consecutive stars behave like one).
fn skip_stars(p: &[u8]) -> &[u8] {
    let n = p.iter().take_while(|&&b| b == b'*').count();
    &p[n..]
}

/// A byte as C's (signed) `char`, which is how Redis compares range bounds.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

/// C-locale `tolower` on a signed char value: only `A`..=`Z` change.
fn lower(c: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&c) {
        c + 32
    } else {
        c
    }
}

#[cfg(test)]
mod redis_cases;

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn basics() {
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("a\\*c", "a*c"));
        assert!(!m("a\\*c", "abc"));
        assert!(m("a\\", "a\\"));
        assert!(m("user:*:name", "user:42:name"));
    }

    #[test]
    fn empty_subject_only_matches_empty_pattern() {
        assert!(m("", ""));
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn class_quirks() {
        // Unterminated class: what was seen so far still counts.
        assert!(m("[ab", "b"));
        assert!(!m("[", "["));
        // `[^` alone (and `[^]`) matches any single byte.
        assert!(m("[^", "x"));
        assert!(m("[^]", "]"));
        // `]` right after `[` closes an empty class.
        assert!(!m("[]", "]"));
        // Signed-char ranges: 0x80..=0xff sort below ASCII.
        assert!(glob_match(b"[\xff-a]", b"\x00", false));
        assert!(!glob_match(b"[\x80-\xff]", b"a", false));
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"MAXMEM*", b"maxmemory", true));
        assert!(glob_match(b"[M]axmemory", b"maxmemory", true));
        assert!(glob_match(b"[z-M]axmemory", b"maxmemory", true));
        assert!(glob_match(b"[M-n]axmemory", b"maxmemory", true));
        // Swap first, lowercase after: `[Z-m]` becomes the empty range z..m.
        assert!(!glob_match(b"[Z-m]axmemory", b"maxmemory", true));
        // Escapes inside a class stay case-sensitive.
        assert!(!glob_match(b"[\\M]axmemory", b"maxmemory", true));
        assert!(glob_match(b"\\Maxmemory", b"maxmemory", true));
        assert!(!glob_match(b"MAXMEM*", b"maxmemory", false));
    }

    #[test]
    fn star_nesting_limit_matches_redis() {
        // Recorded: key a^n b against (a*)^n b matches for n <= 1000 only, while a
        // trailing star never recurses, so (a*)^1001 still matches but (a*)^1002 does not.
        for (n, with_b, trailing) in [(1000, true, true), (1001, false, true), (1002, false, false)] {
            let mut key = vec![b'a'; n];
            key.push(b'b');
            let pat = b"a*".repeat(n);
            let mut pat_b = pat.clone();
            pat_b.push(b'b');
            assert_eq!(glob_match(&pat_b, &key, false), with_b, "n={n}");
            assert_eq!(glob_match(&pat, &key, false), trailing, "n={n}");
            let mut star_a = b"*a".repeat(n);
            star_a.push(b'b');
            assert_eq!(glob_match(&star_a, &key, false), with_b, "n={n}");
        }
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let start = std::time::Instant::now();
        let s = vec![b'a'; 5000];
        assert!(!glob_match(&[b"a*".repeat(30), b"b".to_vec()].concat(), &s, false));
        assert!(!glob_match(&[b"*a".repeat(30), b"*b".to_vec()].concat(), &s, false));
        assert!(!glob_match(&b"*?".repeat(500), &s[..400], false));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
