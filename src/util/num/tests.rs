//! Hand-written edge cases for the `num` helpers, plus a cross-check of the Rust
//! `%.17g` formatter against libc's `snprintf`.

use super::*;

unsafe extern "C" {
    fn shoal_fmt_g17(v: f64, out: *mut std::ffi::c_char, cap: usize) -> std::ffi::c_int;
}

/// libc's `%.17g` rendering of `v`.
fn libc_g17(v: f64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` has 64 writable bytes and the C side writes at most that many.
    let n = unsafe { shoal_fmt_g17(v, buf.as_mut_ptr().cast(), buf.len()) };
    buf[..usize::try_from(n).expect("snprintf failed")].to_vec()
}

fn fmt(v: f64) -> String {
    let mut out = Vec::new();
    format_double(v, &mut out);
    String::from_utf8(out).expect("ascii")
}

#[test]
fn parse_i64_edges() {
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-1"), Some(-1));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [
        &b""[..],
        b"-",
        b"-0",
        b"01",
        b"+1",
        b" 1",
        b"1 ",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551616",
        b"1\0",
    ] {
        assert_eq!(parse_i64(bad), None, "{bad:?}");
    }
}

#[test]
fn parse_i64_round_trips() {
    let mut out = Vec::new();
    for v in [0, 1, -1, 42, i64::MAX, i64::MIN, 1 << 40, -(1 << 40) - 7] {
        out.clear();
        write_i64(v, &mut out);
        assert_eq!(parse_i64(&out), Some(v));
    }
    out.clear();
    write_u64(u64::MAX, &mut out);
    assert_eq!(out, b"18446744073709551615");
}

#[test]
fn parse_f64_edges() {
    assert_eq!(parse_f64(b"1e3"), Some(1000.0));
    assert_eq!(parse_f64(b".5"), Some(0.5));
    assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
    assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
    assert_eq!(parse_f64(b"0x1p3"), Some(8.0));
    assert!(parse_f64(b"-0").is_some_and(|v| v == 0.0 && v.is_sign_negative()));
    for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"1x", b"1\0", b"."] {
        assert_eq!(parse_f64(bad), None, "{bad:?}");
    }
    // Long inputs take the heap path.
    let long = [b"0.".to_vec(), vec![b'0'; 100], b"25".to_vec()].concat();
    assert_eq!(parse_f64(&long), Some(0.25e-100));
}

#[test]
fn format_double_examples() {
    assert_eq!(fmt(0.1), "0.10000000000000001");
    assert_eq!(fmt(1.5), "1.5");
    assert_eq!(fmt(1e20), "1e+20");
    assert_eq!(fmt(1e16), "10000000000000000");
    assert_eq!(fmt(1e-5), "1.0000000000000001e-05");
    assert_eq!(fmt(0.0001), "0.0001");
    assert_eq!(fmt(-0.0), "-0");
    assert_eq!(fmt(0.0), "0");
    assert_eq!(fmt(f64::INFINITY), "inf");
    assert_eq!(fmt(f64::NEG_INFINITY), "-inf");
    assert_eq!(fmt(f64::MAX), "1.7976931348623157e+308");
    assert_eq!(
        fmt(f64::MIN_POSITIVE / 4.0),
        libc_g17(f64::MIN_POSITIVE / 4.0).escape_ascii().to_string()
    );
    assert_eq!(fmt(-123.0), "-123");
    assert_eq!(fmt(1053.0 / 1048576.0), "0.0010042190551757812"); // exact tie, rounds to even
}

#[test]
fn format_double_matches_libc() {
    // xorshift64*: deterministic pseudo-random bit patterns covering all exponents.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut out = Vec::new();
    for i in 0..200_000u32 {
        let bits = next();
        let v = match i % 4 {
            0 => f64::from_bits(bits),
            // Short decimals and integers, where trailing-zero trimming matters.
            1 => (bits % 1_000_000) as f64 / 1000.0,
            2 => (bits >> 11) as f64,
            _ => f64::from_bits(bits) % 1e6,
        };
        out.clear();
        format_double(v, &mut out);
        assert_eq!(out, libc_g17(v), "{v:e}");
    }
}

#[test]
fn incr_by_float_examples() {
    let ok = |cur: &[u8], inc: &[u8]| incr_by_float(cur, inc).map(String::from_utf8);
    assert_eq!(ok(b"10.5", b"0.1"), Ok(Ok("10.6".into())));
    assert_eq!(ok(b"10.5", b"5.0e3"), Ok(Ok("5010.5".into())));
    assert_eq!(ok(b"0", b"3.0e3"), Ok(Ok("3000".into())));
    assert_eq!(ok(b"1", b"-1.5"), Ok(Ok("-0.5".into())));
    assert_eq!(ok(b"0", b"-1e-20"), Ok(Ok("0".into())));
    assert_eq!(incr_by_float(b" 1", b"1"), Err(IncrFloatError::NotAFloat));
    assert_eq!(incr_by_float(b"1", b"nan"), Err(IncrFloatError::NotAFloat));
    assert_eq!(incr_by_float(b"1", b"inf"), Err(IncrFloatError::NanOrInfinity));
    assert_eq!(hincr_by_float(None, b"inf"), Err(IncrFloatError::IncrementNotFinite));
    assert_eq!(hincr_by_float(Some(b"x"), b"x"), Err(IncrFloatError::NotAFloat));
    assert_eq!(
        hincr_by_float(Some(b"x"), b"1"),
        Err(IncrFloatError::HashValueNotAFloat)
    );
    assert_eq!(hincr_by_float(None, b"2.5"), Ok(b"2.5".to_vec()));
    assert_eq!(
        IncrFloatError::NanOrInfinity.to_string(),
        "ERR increment would produce NaN or Infinity"
    );
}
