//! LCS, as redis-server 7.0 behaves: the longest common subsequence of two strings, its
//! length (LEN), or the matched ranges (IDX, with MINMATCHLEN and WITHMATCHLEN), from the
//! same dynamic-programming table and the same walk back through it, so ties resolve alike.
//! The two keys may live on different shards: one locked hop copies both strings, and the
//! table is built on the client's core.

use std::borrow::Cow;
use std::sync::Arc;

use super::args::{is, parse_int};
use super::string::{MAX_STRING, read_string};
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("lcs", -3, READONLY, KeySpan::range(1, 2, 1), Run::Conn(lcs)).doc(
        "string",
        "7.0.0",
        "Find longest common substring",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]",
    ),
];

/// LCS's options.
#[derive(Default)]
struct Options {
    idx: bool,
    len: bool,
    with_match_len: bool,
    min_match_len: usize,
}

impl Options {
    fn parse(opts: &[Arg]) -> Result<Options, CmdError> {
        let mut o = Options::default();
        let mut j = 0;
        while j < opts.len() {
            let a = &opts[j];
            if is(a, "idx") {
                o.idx = true;
            } else if is(a, "len") {
                o.len = true;
            } else if is(a, "withmatchlen") {
                o.with_match_len = true;
            } else if is(a, "minmatchlen") && j + 1 < opts.len() {
                o.min_match_len = parse_int(&opts[j + 1])?.max(0) as usize;
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        if o.idx && o.len {
            return Err(CmdError::other(
                "ERR If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(o)
    }
}

/// The string under `key` (empty when missing); `None` for another type.
fn string_of(cx: &mut ShardCx, key: &[u8]) -> Option<Vec<u8>> {
    read_string(cx, key)
        .ok()
        .map(|s| s.map(Cow::into_owned).unwrap_or_default())
}

/// One matched range: in `a`, in `b` (inclusive), and its length.
type Range = ((usize, usize), (usize, usize), usize);

/// The LCS table of `a` and `b` (row-major, `(a.len() + 1) x (b.len() + 1)`).
fn table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let w = b.len() + 1;
    let mut t = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    t
}

/// Walks back through the table from the end: the subsequence, and the contiguous matched
/// ranges from last to first.
fn walk(a: &[u8], b: &[u8], t: &[u32]) -> (Vec<u8>, Vec<Range>) {
    let w = b.len() + 1;
    let mut seq = Vec::with_capacity(t[a.len() * w + b.len()] as usize);
    let mut ranges = Vec::new();
    let mut open: Option<((usize, usize), (usize, usize))> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let close = if a[i - 1] == b[j - 1] {
            seq.push(a[i - 1]);
            match open.as_mut() {
                None => open = Some(((i - 1, i - 1), (j - 1, j - 1))),
                Some((ra, rb)) => {
                    ra.0 -= 1;
                    rb.0 -= 1;
                }
            }
            let ((a0, _), (b0, _)) = open.expect("a range is open");
            i -= 1;
            j -= 1;
            a0 == 0 || b0 == 0
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            open.is_some()
        };
        if close && let Some((ra, rb)) = open.take() {
            ranges.push((ra, rb, ra.1 - ra.0 + 1));
        }
    }
    seq.reverse();
    (seq, ranges)
}

fn lcs(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let shards = cx.core.shards;
        let keys = [argv[1].clone(), argv[2].clone()];
        let mut txn = cx.txn(crate::txn::shards_of(keys.iter(), shards), 1);
        let keys = Arc::new(keys);
        let got = txn
            .hop(move |s: &mut Shard| {
                let mut cx = ShardCx::new(s, db, unix_ms());
                let me = cx.shard.id;
                keys.iter()
                    .enumerate()
                    .filter(|(_, k)| shard_of(k, shards) == me)
                    .map(|(i, k)| (i, string_of(&mut cx, k)))
                    .collect::<Vec<_>>()
            })
            .await;
        txn.finish();
        let mut strings = [Some(Vec::new()), Some(Vec::new())];
        for (i, s) in got.into_iter().flat_map(|(_, v)| v) {
            strings[i] = s;
        }
        let [Some(a), Some(b)] = strings else {
            return Err(CmdError::other("ERR The specified keys must contain string values"));
        };
        let o = Options::parse(&argv[3..])?;
        let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1) * 4;
        if cells > MAX_STRING as u128 {
            return Err(CmdError::other(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let t = table(&a, &b);
        let len = t[a.len() * (b.len() + 1) + b.len()];
        if o.len {
            cx.out.int(i64::from(len));
            return Ok(());
        }
        let (seq, ranges) = walk(&a, &b, &t);
        if !o.idx {
            cx.out.bulk(&seq);
            return Ok(());
        }
        let kept: Vec<&Range> = ranges.iter().filter(|r| r.2 >= o.min_match_len).collect();
        let out = &mut cx.out;
        out.map(2);
        out.bulk(b"matches");
        out.array(kept.len());
        for ((a0, a1), (b0, b1), n) in kept {
            out.array(2 + usize::from(o.with_match_len));
            out.array(2);
            out.int(*a0 as i64);
            out.int(*a1 as i64);
            out.array(2);
            out.int(*b0 as i64);
            out.int(*b1 as i64);
            if o.with_match_len {
                out.int(*n as i64);
            }
        }
        out.bulk(b"len");
        out.int(i64::from(len));
        Ok(())
    })
}
