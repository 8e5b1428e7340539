//! The two encodings against a naive model: a sorted `Vec` rebuilt on every change.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u8, i8),
    Remove(u8),
    Rank(u8),
    Range(u8, u8, bool),
    CountBelow(i8),
    RemoveRanks(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Op::Insert(m, s)),
        2 => any::<u8>().prop_map(Op::Remove),
        1 => any::<u8>().prop_map(Op::Rank),
        1 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(a, b, r)| Op::Range(a, b, r)),
        1 => any::<i8>().prop_map(Op::CountBelow),
        1 => (any::<u8>(), 0u8..4).prop_map(|(a, n)| Op::RemoveRanks(a, n)),
    ]
}

fn member(m: u8) -> Vec<u8> {
    format!("m{}", m % 200).into_bytes()
}

/// Runs `ops` on a set with `limits` and on the model, comparing every answer.
fn check(ops: &[Op], limits: &EncodingLimits) {
    let mut z = ZSet::new();
    let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
    let sort =
        |v: &mut Vec<(f64, Vec<u8>)>| v.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));
    for op in ops {
        match *op {
            Op::Insert(m, s) => {
                let m = member(m);
                let s = s as f64 / 4.0;
                let old = model.iter().position(|e| e.1 == m).map(|i| model.remove(i).0);
                model.push((s, m.clone()));
                sort(&mut model);
                assert_eq!(z.insert(&m, s, limits), old);
            }
            Op::Remove(m) => {
                let m = member(m);
                let old = model.iter().position(|e| e.1 == m).map(|i| model.remove(i).0);
                assert_eq!(z.remove(&m), old);
            }
            Op::Rank(m) => {
                let m = member(m);
                let want = model.iter().position(|e| e.1 == m).map(|i| (i, model[i].0));
                assert_eq!(z.rank(&m), want);
                assert_eq!(z.score(&m), want.map(|w| w.1));
            }
            Op::Range(a, b, rev) => {
                let (a, b) = (a as usize % 40, b as usize % 40);
                let mut got = Vec::new();
                z.walk(a, a + b, rev, |m, s| {
                    got.push((s, m.to_vec()));
                    true
                });
                let end = (a + b).min(model.len());
                let mut want: Vec<_> = if a < end { model[a..end].to_vec() } else { vec![] };
                if rev {
                    want.reverse();
                }
                assert_eq!(got, want);
                if a < model.len() {
                    assert_eq!(z.get(a).map(|(m, s)| (s, m.to_vec())), Some(model[a].clone()));
                }
            }
            Op::CountBelow(s) => {
                let s = s as f64 / 4.0;
                let want = model.iter().filter(|e| e.0 < s).count();
                assert_eq!(z.count_while(|x, _| x < s), want);
            }
            Op::RemoveRanks(a, n) => {
                let a = a as usize % 40;
                let end = (a + n as usize).min(model.len());
                let want: Vec<_> = if a < end { model.drain(a..end).collect() } else { vec![] };
                let got: Vec<_> = z
                    .remove_ranks(a, a + n as usize)
                    .into_iter()
                    .map(|(m, s)| (s, m.to_vec()))
                    .collect();
                assert_eq!(got, want);
            }
        }
        assert_eq!(z.len(), model.len());
    }
    let all: Vec<_> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
    assert_eq!(all, model);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn tree_matches_model(ops in proptest::collection::vec(op(), 1..400)) {
        let limits = EncodingLimits { zset_max_listpack_entries: 0, ..EncodingLimits::default() };
        check(&ops, &limits);
    }

    #[test]
    fn listpack_then_tree_matches_model(ops in proptest::collection::vec(op(), 1..400)) {
        let limits = EncodingLimits { zset_max_listpack_entries: 16, ..EncodingLimits::default() };
        check(&ops, &limits);
    }
}

#[test]
fn encoding_switches_one_way() {
    let limits = EncodingLimits::default();
    let mut z = ZSet::new();
    for i in 0..128 {
        z.insert(format!("{i}").as_bytes(), i as f64, &limits);
    }
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"x", 0.0, &limits);
    assert_eq!(z.encoding(), "skiplist");
    z.remove(b"x");
    assert_eq!(z.encoding(), "skiplist");
    let mut small = ZSet::new();
    small.insert(&[b'a'; 65], 1.0, &limits);
    assert_eq!(small.encoding(), "skiplist");
}

/// A member from a small pool, some longer than 127 bytes so that two-byte lengths occur.
fn pack_member(m: u8) -> Vec<u8> {
    let m = m % 24;
    let mut v = format!("p{m}").into_bytes();
    if m.is_multiple_of(5) {
        v.resize(120 + m as usize * 2, b'x');
    }
    v
}

#[derive(Debug, Clone)]
enum PackOp {
    /// Member, score in quarters (`i8::MIN` stands for -0.0), whether a new member fits.
    Insert(u8, i8, bool),
    Remove(u8),
    Walk(u8, u8, bool),
    CountBelow(i8),
    RemoveRanks(u8, u8),
}

fn pack_op() -> impl Strategy<Value = PackOp> {
    prop_oneof![
        5 => (any::<u8>(), prop_oneof![Just(i8::MIN), -8i8..8], prop::bool::weighted(0.9))
            .prop_map(|(m, s, r)| PackOp::Insert(m, s, r)),
        2 => any::<u8>().prop_map(PackOp::Remove),
        1 => (0u8..30, 0u8..30, any::<bool>()).prop_map(|(a, b, r)| PackOp::Walk(a, b, r)),
        1 => (-8i8..8).prop_map(PackOp::CountBelow),
        1 => (0u8..30, 0u8..5).prop_map(|(a, n)| PackOp::RemoveRanks(a, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The packed buffer alone against a sorted `Vec`: every answer, the whole order and every
    /// member's rank after each step.
    #[test]
    fn pack_matches_sorted_vec(ops in proptest::collection::vec(pack_op(), 1..300)) {
        use super::pack::{NoRoom, Pack};
        let mut p = Pack::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                PackOp::Insert(m, s, room) => {
                    let m = pack_member(m);
                    let s = if s == i8::MIN { -0.0 } else { s as f64 / 4.0 };
                    let at = model.iter().position(|e| e.1 == m);
                    let len_before = model.len();
                    let want = match at {
                        None if !room => Err(NoRoom),
                        _ => Ok(at.map(|i| model.remove(i).0)),
                    };
                    if want.is_ok() {
                        let s = if s == 0.0 { 0.0 } else { s };
                        let i = model.partition_point(|(x, y)| before(*x, y, s, &m));
                        model.insert(i, (s, m.clone()));
                    }
                    let counted = std::cell::Cell::new(None);
                    let got = p.insert(&m, s, |n| {
                        counted.set(Some(n));
                        room
                    });
                    prop_assert_eq!(got, want);
                    // Asked only for a new member, with the count before it.
                    prop_assert_eq!(counted.get(), at.is_none().then_some(len_before));
                }
                PackOp::Remove(m) => {
                    let m = pack_member(m);
                    let want = model.iter().position(|e| e.1 == m).map(|i| model.remove(i).0);
                    prop_assert_eq!(p.remove(&m), want);
                }
                PackOp::Walk(a, b, rev) => {
                    let (a, b) = (a as usize, b as usize);
                    let mut got = Vec::new();
                    p.walk(a, a + b, rev, |m, s| {
                        got.push((s, m.to_vec()));
                        true
                    });
                    let end = (a + b).min(model.len());
                    let mut want: Vec<_> = if a < end { model[a..end].to_vec() } else { vec![] };
                    if rev {
                        want.reverse();
                    }
                    prop_assert_eq!(&got, &want);
                    // Stopping early visits exactly one element.
                    let mut seen = 0;
                    p.walk(a, a + b, rev, |_, _| {
                        seen += 1;
                        false
                    });
                    prop_assert_eq!(seen, want.len().min(1));
                }
                PackOp::CountBelow(s) => {
                    let s = s as f64 / 4.0;
                    prop_assert_eq!(p.count_while(|x, _| x < s), model.iter().filter(|e| e.0 < s).count());
                }
                PackOp::RemoveRanks(a, n) => {
                    let (a, n) = (a as usize, n as usize);
                    let end = (a + n).min(model.len());
                    let want: Vec<_> = if a < end { model.drain(a..end).collect() } else { vec![] };
                    let got: Vec<_> = p.remove_ranks(a, a + n).into_iter().map(|(m, s)| (s, m.to_vec())).collect();
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(p.len(), model.len());
            let all: Vec<_> = p.iter().map(|(m, s)| (s, m.to_vec())).collect();
            prop_assert_eq!(&all, &model);
            for (i, (s, m)) in model.iter().enumerate() {
                prop_assert_eq!(p.rank(m), Some((i, *s)));
                prop_assert_eq!(p.score(m), Some(*s));
                prop_assert_eq!(p.get(i).map(|(m, s)| (s, m.to_vec())), Some((*s, m.clone())));
                prop_assert!(s.is_sign_positive() || *s != 0.0, "-0 stored");
            }
            prop_assert_eq!(p.get(model.len()), None);
        }
    }
}

#[test]
fn pack_from_sorted_and_take_all() {
    let items: Vec<(Box<[u8]>, f64)> = vec![
        (Box::from(&b"a"[..]), -0.0),
        (Box::from(&[b'b'; 200][..]), 1.5),
        (Box::from(&b"c"[..]), 1.5),
    ];
    let mut p = super::pack::Pack::from_sorted(items.clone());
    assert_eq!(p.len(), 3);
    assert_eq!(p.score(b"a").map(f64::is_sign_positive), Some(true));
    assert_eq!(p.rank(b"c"), Some((2, 1.5)));
    let back = p.take_all();
    assert_eq!(back.len(), 3);
    assert_eq!(back[1], items[1]);
    assert_eq!(p.len(), 0);
    assert_eq!(p.iter().count(), 0);
}

#[test]
fn small_sets_stay_small() {
    // The many small sets must not each carry the tree's header.
    assert_eq!(std::mem::size_of::<ZSet>(), 16);
}

/// Whole scores are stored as varints of every width, others as 8 bytes: each comes back
/// exactly, keeps the order, and moving between the two forms (a size change) keeps it too.
#[test]
fn scores_of_every_encoding_round_trip() {
    use super::pack::Pack;
    let scores = [
        0.0,
        1.0,
        -1.0,
        63.0,
        64.0,
        -65.0,
        8191.0,
        100_000.0,
        -1e12,
        9007199254740992.0,
        2305843009213693951.0,
        4.611686018427388e18,
        -4.611686018427388e18,
        1.5,
        -0.25,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
    ];
    let mut p = Pack::default();
    let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
    let check = |p: &Pack, model: &mut Vec<(f64, Vec<u8>)>| {
        model.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let got: Vec<(f64, Vec<u8>)> = p.iter().map(|(m, s)| (s, m.to_vec())).collect();
        assert_eq!(&got, model);
    };
    for (i, &s) in scores.iter().enumerate() {
        let m = format!("m{i}").into_bytes();
        assert_eq!(p.insert(&m, s, |_| true), Ok(None));
        model.push((s, m));
        check(&p, &mut model);
    }
    // Every member takes the score of another, crossing between the two forms and widths.
    for (i, _) in scores.iter().enumerate() {
        let m = format!("m{i}").into_bytes();
        let new = scores[(i * 7 + 3) % scores.len()];
        let old = model.iter().find(|(_, mm)| *mm == m).map(|(s, _)| *s);
        assert_eq!(p.insert(&m, new, |_| true), Ok(old));
        model.retain(|(_, mm)| *mm != m);
        model.push((new, m.clone()));
        check(&p, &mut model);
        assert_eq!(p.score(&m), Some(new));
    }
}
