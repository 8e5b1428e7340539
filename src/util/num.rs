//! Number parsing and formatting that reproduces redis-server 7.0 exactly.
//!
//! Why not `str::parse`: Redis is stricter for integers (no `+`, no leading zeros, no
//! `-0`), more permissive for floats (C `strtod` accepts hex floats and `infinity`, but
//! rejects overflow/underflow), and prints doubles with `%.17g`. Clients see these
//! differences in replies and errors, so every rule here was checked against 7.0.15.

mod incr_float;

pub use incr_float::{IncrFloatError, hincr_by_float, incr_by_float};

use std::io::Write as _;

/// Parses a signed 64-bit integer with Redis `string2ll` rules, used wherever Redis wants
/// an integer (INCR/INCRBY values and arguments, counts, indexes, ...).
///
/// Accepts only `0` or an optional `-` followed by a non-zero digit and more digits,
/// within `i64` range. Rejects empty input, `+1`, `01`, `-0`, spaces and any other byte.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        if magnitude > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(magnitude))
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Appends the decimal form of `v` (what Redis replies for integers) without allocating.
pub fn write_i64(v: i64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

/// Appends the decimal form of `v`; handy for lengths and counts.
pub fn write_u64(v: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

// SAFETY (for callers): implemented in csrc/longdouble.c; reads `len` bytes plus the NUL
// terminator at `text[len]`, writes `*out` only when returning 1.
unsafe extern "C" {
    fn shoal_strtod(text: *const std::ffi::c_char, len: usize, out: *mut f64) -> std::ffi::c_int;
}

/// Parses a double like Redis `getDoubleFromObject` (ZADD/ZINCRBY scores, ZRANGEBYSCORE
/// bounds after `(` removal, GEO coordinates, ...), using libc `strtod` for exactness.
///
/// Accepts `1e3`, `.5`, `5.`, `+1`, `inf`, `-Infinity`, hex floats like `0x1p3`, and
/// subnormals. Rejects empty input, leading or trailing white space, trailing garbage,
/// embedded NUL bytes, `nan`, and values that overflow to infinity or underflow to zero
/// (`1e400`, `1e-400`); an explicit zero such as `0e-400` is fine.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    let mut small = [0u8; 64];
    let mut large = Vec::new();
    let text: &[u8] = if s.len() < small.len() {
        small[..s.len()].copy_from_slice(s);
        &small[..=s.len()]
    } else {
        large.reserve_exact(s.len() + 1);
        large.extend_from_slice(s);
        large.push(0);
        &large
    };
    // SAFETY: `text` holds `s` followed by a NUL byte, so the C side may read
    // `s.len() + 1` bytes; `value` is a valid, writable f64.
    let ok = unsafe { shoal_strtod(text.as_ptr().cast(), s.len(), &mut value) };
    (ok == 1).then_some(value)
}

/// Appends `f` formatted like Redis 7.0 replies with doubles (ZSCORE, ZINCRBY, WITHSCORES):
/// C `%.17g`, with infinities spelled `inf` / `-inf` and negative zero as `-0`.
///
/// Examples: `0.1` -> `0.10000000000000001`, `1.5` -> `1.5`, `1e20` -> `1e+20`,
/// `1e16` -> `10000000000000000`, `1e-5` -> `1.0000000000000001e-05`. NaN (never stored
/// by Redis) prints as glibc does: `nan` or `-nan`.
pub fn format_double(f: f64, out: &mut Vec<u8>) {
    if f.is_nan() {
        out.extend_from_slice(if f.is_sign_negative() { b"-nan" } else { b"nan" });
        return;
    }
    if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.push(b'0');
        return;
    }
    // 17 significant digits, correctly rounded (ties to even, like glibc): "d.dddde<exp>".
    let mut buf = [0u8; 40];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{f:.16e}").is_err() {
        return; // Cannot happen: the longest rendering is 23 bytes.
    }
    let len = usize::try_from(cursor.position()).unwrap_or(0);
    let text = &buf[..len];
    let Some(e_at) = text.iter().position(|&b| b == b'e') else {
        return;
    };
    let Some(exp) = std::str::from_utf8(&text[e_at + 1..])
        .ok()
        .and_then(|e| e.parse::<i32>().ok())
    else {
        return;
    };
    // The 17 digits without the point, and how many of them are significant.
    let mut digits = [0u8; 17];
    digits[0] = text[0];
    digits[1..].copy_from_slice(&text[2..e_at]);
    let used = digits.iter().rposition(|&b| b != b'0').map_or(1, |i| i + 1);
    let digits = &digits[..used];
    if (-4..17).contains(&exp) {
        // Fixed notation; `exp` is in -4..=16 so the casts cannot wrap.
        if exp < 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-exp - 1) as usize, b'0');
            out.extend_from_slice(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                out.resize(out.len() + int_len - digits.len(), b'0');
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        let abs = exp.unsigned_abs();
        if abs < 10 {
            out.push(b'0');
        }
        write_u64(u64::from(abs), out);
    }
}

#[cfg(test)]
mod incr_float_cases;
#[cfg(test)]
mod redis_cases;

#[cfg(test)]
mod tests;
