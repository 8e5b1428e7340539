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
