//! Unit tests: byte examples from the spec, round trips (proptest) and corruption fuzzing.

use proptest::prelude::*;

use super::blob::{ListpackBuilder, intset_decode, intset_encode, listpack_decode, ziplist_decode};
use super::write::{put_len, put_string};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn read_all(bytes: &[u8]) -> Result<Vec<RdbEntry>, RdbError> {
    RdbReader::new(bytes)?.collect()
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn crc64_test_vector() {
    assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
}

#[test]
fn length_encoding_is_shortest() {
    for (n, want) in [
        (5u64, "05"),
        (300, "41 2c"),
        (70000, "80 00 01 11 70"),
        (1 << 40, "81 00 00 01 00 00 00 00 00"),
    ] {
        let mut out = Vec::new();
        put_len(&mut out, n);
        assert_eq!(out, hex(want), "{n}");
    }
}

#[test]
fn string_encoding_matches_7_0() {
    let cases: &[(&[u8], &str)] = &[
        (b"hello", "05 68656c6c6f"),
        (b"64", "c0 40"),
        (b"12345", "c1 39 30"),
        (b"-2147483648", "c2 00 00 00 80"),
        (b"007", "03 303037"),
        (b"1234567890123", "0d 31323334353637383930313233"),
        (b"-0", "02 2d30"),
    ];
    for (s, want) in cases {
        let mut out = Vec::new();
        put_string(&mut out, s, true);
        assert_eq!(out, hex(want), "{:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn lzf_example_from_spec_decodes() {
    // 76 x 'a' + "bcbcbcbcbc", as 7.0.15 compressed it, wrapped in a one-key file.
    let mut want = vec![b'a'; 76];
    want.extend_from_slice(b"bcbcbcbcbc");
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&hex(
        "00 01 6b c3 0e 40 56 01 61 61 e0 41 00 01 62 63 80 01 01 62 63 ff",
    ));
    file.extend_from_slice(&[0; 8]);
    let entries = read_all(&file).unwrap();
    assert_eq!(entries[0].value, RdbValue::String(want));
}

#[test]
fn lzf_used_only_when_it_saves_space() {
    let long = vec![b'x'; 5000];
    let mut out = Vec::new();
    put_string(&mut out, &long, true);
    assert_eq!(out[0], 0xC3);
    assert!(out.len() < 200);
    let short = vec![b'x'; 100];
    let mut out = Vec::new();
    put_string(&mut out, &short, true);
    assert_eq!(out.len(), 102, "below LZF_MIN_LEN strings stay raw");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    let mut out = Vec::new();
    put_string(&mut out, &random, true);
    assert_eq!(
        &out[..2],
        &[0x40 | (5000 >> 8) as u8, (5000 & 0xff) as u8],
        "incompressible data stays raw"
    );
    let mut out = Vec::new();
    put_string(&mut out, &long, false);
    assert_eq!(out.len(), 5002, "compression off");
}

#[test]
fn listpack_example_from_spec() {
    let want = hex("19 00 00 00 04 00 84 6e 61 6d 65 05 83 62 6f 62 04 83 61 67 65 04 2a 01 ff");
    let mut lp = ListpackBuilder::new();
    for item in ["name", "bob", "age", "42"] {
        lp.push(item.as_bytes());
    }
    assert_eq!(lp.finish(), want);
    assert_eq!(
        listpack_decode(&want).unwrap(),
        vec![b("name"), b("bob"), b("age"), b("42")]
    );
}

#[test]
fn quicklist_example_from_spec() {
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&hex(
        "12 03 6c 73 74 01 02 1a 1a 00 00 00 06 00 81 61 02 81 62 02 07 01 df fd 02 c1 2c 02 f2 70 11 01 04 ff ff",
    ));
    file.extend_from_slice(&[0; 8]);
    let entries = read_all(&file).unwrap();
    let want: Vec<Vec<u8>> = ["a", "b", "7", "-3", "300", "70000"].iter().map(|s| b(s)).collect();
    assert_eq!(entries[0].value, RdbValue::List(want.clone()));
    // Our writer produces the same node for the same list.
    let mut out = Vec::new();
    encode_entry(b"lst", ValueRef::List(&want), None, false, &mut out);
    assert_eq!(&out, &file[9..file.len() - 9]);
}

#[test]
fn listpack_integer_and_string_widths() {
    let items: Vec<Vec<u8>> = [
        "0",
        "127",
        "128",
        "-1",
        "4095",
        "-4096",
        "4096",
        "32767",
        "-32768",
        "40000",
        "8388607",
        "-8388608",
        "8388608",
        "2147483647",
        "-2147483648",
        "2147483648",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "01",
        "-0",
        "",
    ]
    .iter()
    .map(|s| b(s))
    .chain([
        vec![b'y'; 63],
        vec![b'y'; 64],
        vec![b'y'; 4095],
        vec![b'y'; 4096],
        vec![b'z'; 20000],
    ])
    .collect();
    let mut lp = ListpackBuilder::new();
    items.iter().for_each(|i| lp.push(i));
    assert_eq!(listpack_decode(&lp.finish()).unwrap(), items);
}

#[test]
fn intset_example_from_spec() {
    let want = hex("04 00 00 00 04 00 00 00 fb ff ff ff 01 00 00 00 02 00 00 00 a0 86 01 00");
    assert_eq!(intset_encode(&[-5, 1, 2, 100000]), want);
    assert_eq!(
        intset_decode(&want).unwrap(),
        vec![b("-5"), b("1"), b("2"), b("100000")]
    );
    assert!(
        intset_decode(&hex("02 00 00 00 02 00 02 00 01 00")).is_err(),
        "not ascending"
    );
}

#[test]
fn ziplist_all_encodings() {
    // Entries: "ab", 7 (immediate), -2 (int8), 1000 (int16), 100000 (int24), 1<<40 (int64),
    // -100000000 (int32), a 300-byte string (14-bit length, then a 5-byte prevlen).
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut push = |body: &mut Vec<u8>, enc: Vec<u8>| {
        let start = body.len();
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xFE);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        body.extend_from_slice(&enc);
        prev = body.len() - start;
    };
    push(&mut body, hex("02 6162"));
    push(&mut body, hex("f8"));
    push(&mut body, hex("fe fe"));
    push(&mut body, hex("c0 e803"));
    push(&mut body, hex("f0 a08601"));
    push(&mut body, hex("e0 0000000000010000"));
    push(&mut body, hex("d0 001f0afa"));
    let mut big = vec![0x41, 0x2c];
    big.extend_from_slice(&[b'q'; 300]);
    push(&mut body, big);
    push(&mut body, hex("01 78"));
    let mut zl = Vec::new();
    zl.extend_from_slice(&((body.len() + 11) as u32).to_le_bytes());
    zl.extend_from_slice(&[0; 4]);
    zl.extend_from_slice(&9u16.to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xFF);
    let got = ziplist_decode(&zl).unwrap();
    let mut want: Vec<Vec<u8>> = ["ab", "7", "-2", "1000", "100000", "1099511627776", "-100000000"]
        .iter()
        .map(|s| b(s))
        .collect();
    want.push(vec![b'q'; 300]);
    want.push(b("x"));
    assert_eq!(got, want);
}

#[test]
fn zero_checksum_skips_check_and_wrong_one_fails() {
    let entries = vec![RdbEntry {
        db: 0,
        key: b("k"),
        value: RdbValue::String(b("v")),
        expire_ms: None,
    }];
    let unchecked = dump(&entries, &[], true, false);
    assert!(unchecked.ends_with(&[0; 8]));
    assert_eq!(read_all(&unchecked).unwrap(), entries);
    let mut checked = dump(&entries, &[], true, true);
    assert_eq!(read_all(&checked).unwrap(), entries);
    let n = checked.len();
    checked[n - 3] ^= 1;
    let err = read_all(&checked).unwrap_err();
    assert_eq!(err.kind, RdbErrorKind::Checksum, "{err}");
}

#[test]
fn empty_file_and_aux() {
    let mut file = b"REDIS0010".to_vec();
    file.push(0xFF);
    file.extend_from_slice(&[0; 8]);
    assert!(read_all(&file).unwrap().is_empty());

    let replid = "a".repeat(40);
    let aux = standard_aux(
        1700000000,
        988904,
        Some(ReplAux {
            stream_db: 0,
            replid: &replid,
            offset: 14,
        }),
    );
    let bytes = dump(&[], &aux, true, true);
    let mut r = RdbReader::new(&bytes[..]).unwrap();
    assert!(r.next_entry().unwrap().is_none());
    assert_eq!(r.aux_value("redis-ver"), Some(&b"7.0.15"[..]));
    assert_eq!(r.aux_value("redis-bits"), Some(&b"64"[..]));
    assert_eq!(r.aux_value("repl-offset"), Some(&b"14"[..]));
    assert_eq!(r.aux().last().unwrap().0, b("aof-base"));
}

#[test]
fn unsupported_types_name_the_key() {
    for t in [6u8, 7, 15, 19] {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(&[t, 3, b's', b't', b'r', 0, 0, 0]);
        let err = read_all(&file).unwrap_err();
        assert_eq!(err.kind, RdbErrorKind::Unsupported);
        assert!(err.to_string().contains(&format!("unsupported RDB type {t}")), "{err}");
        assert_eq!(err.key.as_deref(), Some(&b"str"[..]));
    }
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&[8, 1, b'k']);
    assert_eq!(read_all(&file).unwrap_err().kind, RdbErrorKind::Corrupt);
    // A broken zipmap (type 9) is corruption, named with its key.
    let mut file = b"REDIS0010".to_vec();
    file.extend_from_slice(&[9, 1, b'h', 3, 1, 2, b'f']);
    let err = read_all(&file).unwrap_err();
    assert_eq!(err.kind, RdbErrorKind::Corrupt);
    assert_eq!(err.key.as_deref(), Some(&b"h"[..]));
}

#[test]
fn writer_in_pieces_equals_dump() {
    let entries = sample_entries();
    let whole = dump(&entries, &standard_aux(1, 2, None), true, true);
    let mut w = RdbWriter::new(true);
    w.header(&standard_aux(1, 2, None));
    let mut out = w.take();
    for db in [0usize, 3] {
        let mine: Vec<&RdbEntry> = entries.iter().filter(|e| e.db == db).collect();
        let ttl = mine.iter().filter(|e| e.expire_ms.is_some()).count();
        w.select_db(db, mine.len() as u64, ttl as u64);
        // Two "shards" each encode half of the keys.
        for half in mine.chunks(mine.len().div_ceil(2)) {
            let mut chunk = Vec::new();
            for e in half {
                encode_entry(&e.key, e.value.as_value_ref(), e.expire_ms, true, &mut chunk);
            }
            w.append(&chunk);
        }
        out.extend(w.take());
    }
    w.finish();
    out.extend(w.take());
    assert_eq!(out, whole);
    assert_eq!(w.bytes_written(), whole.len() as u64);
    let got: Vec<RdbEntry> = read_all(&out).unwrap().into_iter().map(normalize).collect();
    let want: Vec<RdbEntry> = entries.into_iter().map(normalize).collect();
    assert!(got == want, "round trip differs");
}

/// Entries covering every writer encoding choice.
fn sample_entries() -> Vec<RdbEntry> {
    let s = |v: &str| RdbValue::String(b(v));
    let big_list: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("item-{i}-{}", "p".repeat(i % 50)).into_bytes())
        .collect();
    let e = |db, k: &str, value, expire_ms| RdbEntry {
        db,
        key: b(k),
        value,
        expire_ms,
    };
    vec![
        e(0, "str", s("hello"), None),
        e(0, "int", s("-12345"), Some(1893456000000)),
        e(0, "long", s(&"abc".repeat(50)), None),
        e(0, "list", RdbValue::List(vec![b("a"), b("7"), b("-3"), b("300")]), None),
        e(0, "biglist", RdbValue::List(big_list), None),
        e(
            0,
            "intset",
            RdbValue::Set(vec![b("1"), b("-5"), b("100000"), b("9223372036854775807")]),
            None,
        ),
        e(0, "set", RdbValue::Set(vec![b("x"), b("y")]), Some(1)),
        e(
            3,
            "hash",
            RdbValue::Hash(vec![(b("name"), b("bob")), (b("age"), b("42"))]),
            None,
        ),
        e(3, "bighash", RdbValue::Hash(vec![(b("f"), vec![b'v'; 100])]), None),
        e(
            3,
            "zset",
            RdbValue::ZSet(vec![(b("a"), 1.5), (b("b"), f64::NEG_INFINITY), (b("c"), 2.0)]),
            None,
        ),
        e(
            3,
            "bigzset",
            RdbValue::ZSet(
                (0..200)
                    .map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0))
                    .collect(),
            ),
            None,
        ),
    ]
}

/// What the reader gives back for an entry the writer saved: sets come back sorted when
/// they were intsets, and listpack zsets in (score, member) order.
fn normalize(mut e: RdbEntry) -> RdbEntry {
    match &mut e.value {
        RdbValue::Set(v) => v.sort(),
        RdbValue::ZSet(v) => v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0))),
        _ => {}
    }
    e
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        any::<i16>().prop_map(|v| v.to_string().into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..80),
        (1usize..5000, any::<u8>()).prop_map(|(n, c)| vec![c; n]),
        "[a-c]{0,300}".prop_map(String::into_bytes),
    ]
}

fn arb_score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
        any::<i32>().prop_map(f64::from),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn arb_value() -> impl Strategy<Value = RdbValue> {
    use proptest::collection::{btree_map, btree_set, vec};
    prop_oneof![
        arb_bytes().prop_map(RdbValue::String),
        vec(arb_bytes(), 1..200).prop_map(RdbValue::List),
        btree_set(arb_bytes(), 1..150).prop_map(|s| RdbValue::Set(s.into_iter().collect())),
        btree_set(any::<i64>(), 1..600)
            .prop_map(|s| RdbValue::Set(s.into_iter().map(|v| v.to_string().into_bytes()).collect())),
        btree_map(arb_bytes(), arb_bytes(), 1..150).prop_map(|m| RdbValue::Hash(m.into_iter().collect())),
        btree_map(arb_bytes(), arb_score(), 1..150).prop_map(|m| RdbValue::ZSet(m.into_iter().collect())),
    ]
}

fn arb_entries() -> impl Strategy<Value = Vec<RdbEntry>> {
    proptest::collection::vec(
        (0usize..16, arb_bytes(), arb_value(), proptest::option::of(any::<i64>())),
        0..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(db, key, value, expire_ms)| RdbEntry {
                db,
                key,
                value,
                expire_ms,
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn writer_reader_round_trip(entries in arb_entries(), compress: bool, checksum: bool) {
        let bytes = dump(&entries, &standard_aux(0, 0, None), compress, checksum);
        let got: Vec<RdbEntry> = read_all(&bytes).unwrap().into_iter().map(normalize).collect();
        let mut want: Vec<RdbEntry> = entries.into_iter().map(normalize).collect();
        want.sort_by_key(|e| e.db);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            // -0.0 == 0.0 for PartialEq; compare bits so the sign survives too.
            if let (RdbValue::ZSet(gz), RdbValue::ZSet(wz)) = (&g.value, &w.value) {
                for (a, b) in gz.iter().zip(wz) {
                    prop_assert_eq!(a.1.to_bits(), b.1.to_bits());
                }
            }
            prop_assert_eq!(g, w);
        }
    }

    #[test]
    fn truncation_is_an_error(cut in 0usize..10_000, entries in arb_entries()) {
        let bytes = dump(&entries, &standard_aux(0, 0, None), true, true);
        let cut = cut % bytes.len();
        prop_assert!(read_all(&bytes[..cut]).is_err());
    }

    #[test]
    fn bit_flips_never_panic_or_pass(flip in any::<usize>(), bit in 0u8..8, entries in arb_entries()) {
        let mut bytes = dump(&entries, &[], true, true);
        let at = flip % bytes.len();
        bytes[at] ^= 1 << bit;
        // With the CRC on, any single flip must be caught somewhere.
        prop_assert!(read_all(&bytes).is_err());
    }

    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"REDIS0010".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = read_all(&bytes);
        let _ = listpack_decode(&tail);
        let _ = ziplist_decode(&tail);
        let _ = intset_decode(&tail);
    }
}

/// A ziplist of `items`, as Redis before 7.0 wrote them (strings only, 1-byte prevlens).
fn ziplist_of(items: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0u8;
    for item in items {
        let start = body.len();
        body.extend_from_slice(&[prev, item.len() as u8]);
        body.extend_from_slice(item.as_bytes());
        prev = (body.len() - start) as u8;
    }
    let mut zl = ((body.len() + 11) as u32).to_le_bytes().to_vec();
    zl.extend_from_slice(&[0; 4]);
    zl.extend_from_slice(&(items.len() as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xFF);
    zl
}

#[test]
fn legacy_value_types_load() {
    let mut f = b"REDIS0009".to_vec();
    let key = |f: &mut Vec<u8>, t: u8, k: &str| {
        f.push(t);
        put_string(f, k.as_bytes(), false);
    };
    // Old-style expiry in seconds applies to the next key only.
    f.push(0xFD);
    f.extend_from_slice(&1_900_000_000i32.to_le_bytes());
    key(&mut f, 1, "plainlist");
    f.extend_from_slice(&hex("02 01 61 c0 05"));
    key(&mut f, 3, "oldzset");
    f.extend_from_slice(&hex("03 01 61 03 31 2e 35 01 62 fe 01 63 ff"));
    key(&mut f, 10, "zllist");
    put_string(&mut f, &ziplist_of(&["x", "y"]), false);
    key(&mut f, 12, "zlzset");
    put_string(&mut f, &ziplist_of(&["m", "2.5", "n", "3"]), false);
    key(&mut f, 13, "zlhash");
    put_string(&mut f, &ziplist_of(&["f", "v"]), false);
    key(&mut f, 14, "qlist");
    f.push(2);
    put_string(&mut f, &ziplist_of(&["1", "2"]), true);
    put_string(&mut f, &ziplist_of(&["3"]), true);
    // Quicklist 2 with a PLAIN node (one large element) between PACKED ones.
    key(&mut f, 18, "plainnode");
    f.push(3);
    f.push(2);
    let mut lp = ListpackBuilder::new();
    lp.push(b"p1");
    put_string(&mut f, &lp.finish(), false);
    f.push(1);
    put_string(&mut f, &[b'B'; 70], true);
    f.push(2);
    let mut lp = ListpackBuilder::new();
    lp.push(b"-70000");
    put_string(&mut f, &lp.finish(), false);
    key(&mut f, 2, "emptyset"); // skipped, like 7.0 does
    f.push(0);
    f.push(0xFF);
    f.extend_from_slice(&CRC64.checksum(&f).to_le_bytes());
    let got = read_all(&f).unwrap();
    let v = |s: &[&str]| s.iter().map(|x| b(x)).collect::<Vec<_>>();
    let want = vec![
        RdbValue::List(v(&["a", "5"])),
        RdbValue::ZSet(vec![
            (b("a"), 1.5),
            (b("b"), f64::INFINITY),
            (b("c"), f64::NEG_INFINITY),
        ]),
        RdbValue::List(v(&["x", "y"])),
        RdbValue::ZSet(vec![(b("m"), 2.5), (b("n"), 3.0)]),
        RdbValue::Hash(vec![(b("f"), b("v"))]),
        RdbValue::List(v(&["1", "2", "3"])),
        RdbValue::List(vec![b("p1"), vec![b'B'; 70], b("-70000")]),
    ];
    assert_eq!(got.iter().map(|e| e.value.clone()).collect::<Vec<_>>(), want);
    assert_eq!(got[0].expire_ms, Some(1_900_000_000_000));
    assert!(got[1..].iter().all(|e| e.expire_ms.is_none()));
}
