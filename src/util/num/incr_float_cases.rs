//! INCRBYFLOAT / HINCRBYFLOAT replies recorded from redis-server 7.0.15, replayed
//! against [`incr_by_float`] and [`hincr_by_float`].

use super::redis_cases::{Exp, check};
use super::{IncrFloatError, hincr_by_float, incr_by_float, parse_f64};
use Exp::{E, L, V};

#[test]
fn incrbyfloat_and_hincrbyfloat() {
    for (current, incr, string_reply, hash_reply) in INCR_FLOAT_CASES {
        let got = incr_by_float(current.unwrap_or(b"0"), incr).map_err(|e| e.message());
        check(got, string_reply, &(current, incr, "INCRBYFLOAT"));
        let got = hincr_by_float(*current, incr).map_err(|e| e.message());
        check(got, hash_reply, &(current, incr, "HINCRBYFLOAT"));
    }
}

#[test]
fn long_inputs() {
    // Recorded: "1." followed by zeros is accepted by INCRBYFLOAT up to 5119 bytes in
    // either operand and rejected from 5120 bytes on; ZADD has no length limit.
    let text = |len: usize| [b"1.".to_vec(), vec![b'0'; len - 2]].concat();
    for (len, ok) in [(5119, true), (5120, false)] {
        let s = text(len);
        let expected = if ok {
            Ok(b"2".to_vec())
        } else {
            Err(IncrFloatError::NotAFloat)
        };
        assert_eq!(incr_by_float(&s, b"1"), expected, "{len}");
        assert_eq!(incr_by_float(b"1", &s), expected, "{len}");
        assert_eq!(parse_f64(&s), Some(1.0));
    }
    let hash = hincr_by_float(Some(&text(5120)), b"1");
    assert_eq!(hash, Err(IncrFloatError::HashValueNotAFloat));
    // "1" + 400 zeros + "e-400" is 1; "0." + 6000 zeros + "1" underflows.
    let one = [b"1".to_vec(), vec![b'0'; 400], b"e-400".to_vec()].concat();
    assert_eq!(parse_f64(&one), Some(1.0));
    let tiny = [b"0.".to_vec(), vec![b'0'; 6000], b"1".to_vec()].concat();
    assert_eq!(parse_f64(&tiny), None);
}

/// One row: current value (`None`: absent), increment, string reply, hash reply.
type IncrCase = (Option<&'static [u8]>, &'static [u8], Exp, Exp);

// Generated against redis-server 7.0.15 on x86-64: `INCRBYFLOAT f <incr>` and
// `HINCRBYFLOAT h x <incr>` with `f` / field `x` holding the current value.
pub(super) const INCR_FLOAT_CASES: &[IncrCase] = &[
    (Some(b"10.5"), b"0.1", V(b"10.6"), V(b"10.6")),
    (Some(b"10.5"), b"5.0e3", V(b"5010.5"), V(b"5010.5")),
    (Some(b"0"), b"3.0e3", V(b"3000"), V(b"3000")),
    (None, b"3.0e3", V(b"3000"), V(b"3000")),
    (Some(b"5.0e3"), b"2.0e2", V(b"5200"), V(b"5200")),
    (Some(b"10"), b"-10", V(b"0"), V(b"0")),
    (Some(b"1"), b"-1.5", V(b"-0.5"), V(b"-0.5")),
    (
        Some(b"0"),
        b"1e400",
        L(401, b"100000000000000000002818806839", b"430221946880"),
        L(401, b"100000000000000000002818806839", b"430221946880"),
    ),
    (
        Some(b"10.5"),
        b"1e400",
        L(401, b"100000000000000000002818806839", b"430221946880"),
        L(401, b"100000000000000000002818806839", b"430221946880"),
    ),
    (
        Some(b"0"),
        b"1e5000",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"0"),
        b"-1e5000",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"0"),
        b"1e-5000",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"0"),
        b"inf",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR value is NaN or Infinity"),
    ),
    (
        Some(b"0"),
        b"-inf",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR value is NaN or Infinity"),
    ),
    (
        Some(b"0"),
        b"nan",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b" 1"),
        b"1",
        E("ERR value is not a valid float"),
        E("ERR hash value is not a float"),
    ),
    (
        Some(b"1 "),
        b"1",
        E("ERR value is not a valid float"),
        E("ERR hash value is not a float"),
    ),
    (
        Some(b"1"),
        b" 1",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"1"),
        b"1 ",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"abc"),
        b"1",
        E("ERR value is not a valid float"),
        E("ERR hash value is not a float"),
    ),
    (
        Some(b"1"),
        b"abc",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b""),
        b"1",
        E("ERR value is not a valid float"),
        E("ERR hash value is not a float"),
    ),
    (
        Some(b"1"),
        b"",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (Some(b"0"), b"0.1", V(b"0.1"), V(b"0.1")),
    (Some(b"0.1"), b"0.2", V(b"0.3"), V(b"0.3")),
    (
        Some(b"1e4000"),
        b"1",
        L(4000, b"999999999999999999996546387309", b"349901340672"),
        L(4000, b"999999999999999999996546387309", b"349901340672"),
    ),
    (
        Some(b"0"),
        b"1e30",
        V(b"1000000000000000000024696061952"),
        V(b"1000000000000000000024696061952"),
    ),
    (
        Some(b"0"),
        b"1.7976931348623157e308",
        L(309, b"179769313486231569995921046774", b"863339536384"),
        L(309, b"179769313486231569995921046774", b"863339536384"),
    ),
    (Some(b"0"), b"1e-20", V(b"0"), V(b"0")),
    (Some(b"0"), b"-1e-20", V(b"0"), V(b"0")),
    (Some(b"0"), b"0x10", V(b"16"), V(b"16")),
    (
        Some(b"0"),
        b"1\x00abc",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"1\x00xyz"),
        b"1",
        E("ERR value is not a valid float"),
        E("ERR hash value is not a float"),
    ),
    (Some(b"0"), b"-0", V(b"0"), V(b"0")),
    (Some(b"-0"), b"0", V(b"0"), V(b"0")),
    (
        Some(b"0"),
        b"123456789012345678901234567890",
        V(b"123456789012345678899921813504"),
        V(b"123456789012345678899921813504"),
    ),
    (
        Some(b"3"),
        b"0.3333333333333333333333",
        V(b"3.33333333333333333"),
        V(b"3.33333333333333333"),
    ),
    (
        Some(b"0"),
        b"1e-17",
        V(b"0.00000000000000001"),
        V(b"0.00000000000000001"),
    ),
    (Some(b"0"), b"5e-18", V(b"0"), V(b"0")),
    (Some(b"0"), b"-5e-18", V(b"0"), V(b"0")),
    (
        Some(b"0"),
        b"1.18e4932",
        L(4933, b"118000000000000000000065281291", b"888628785152"),
        L(4933, b"118000000000000000000065281291", b"888628785152"),
    ),
    (
        Some(b"1.18e4932"),
        b"1.18e4932",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR increment would produce NaN or Infinity"),
    ),
    (Some(b"0"), b"+1.5", V(b"1.5"), V(b"1.5")),
    (Some(b"0"), b".5", V(b"0.5"), V(b"0.5")),
    (Some(b"0"), b"5.", V(b"5"), V(b"5")),
    (
        Some(b"9223372036854775807"),
        b"1",
        V(b"9223372036854775808"),
        V(b"9223372036854775808"),
    ),
    (Some(b"0"), b"1e-4950", V(b"0"), V(b"0")),
    (Some(b"0"), b"3.6e-4951", V(b"0"), V(b"0")),
    (
        Some(b"0"),
        b"\x091",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"0"),
        b"infinity",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR value is NaN or Infinity"),
    ),
    (Some(b"0"), b"-1e-300", V(b"0"), V(b"0")),
    (Some(b"2"), b"-1.99999999999999999999", V(b"0"), V(b"0")),
    (
        Some(b"abc"),
        b"inf",
        E("ERR value is not a valid float"),
        E("ERR value is NaN or Infinity"),
    ),
    (
        Some(b"abc"),
        b"xyz",
        E("ERR value is not a valid float"),
        E("ERR value is not a valid float"),
    ),
    (
        Some(b"inf"),
        b"1",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR increment would produce NaN or Infinity"),
    ),
    (
        Some(b"-inf"),
        b"inf",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR value is NaN or Infinity"),
    ),
    (
        Some(b"1.18e4932"),
        b"-inf",
        E("ERR increment would produce NaN or Infinity"),
        E("ERR value is NaN or Infinity"),
    ),
    (
        Some(b"0"),
        b"-1.18e4932",
        L(4934, b"-11800000000000000000006528129", b"888628785152"),
        L(4934, b"-11800000000000000000006528129", b"888628785152"),
    ),
    (Some(b"1"), b"1.0000000000000000001", V(b"2"), V(b"2")),
    (Some(b"100"), b"-0.0000001", V(b"99.9999999"), V(b"99.9999999")),
    (Some(b"0.1"), b"0.7", V(b"0.8"), V(b"0.8")),
    (
        Some(b"1234.5678"),
        b"-0.0078",
        V(b"1234.55999999999999994"),
        V(b"1234.55999999999999994"),
    ),
    (Some(b"-5"), b"2.25", V(b"-2.75"), V(b"-2.75")),
    (
        Some(b"0"),
        b"0.00000000000000000999",
        V(b"0.00000000000000001"),
        V(b"0.00000000000000001"),
    ),
];
