//! The HyperLogLog family, as redis-server 7.0 behaves: PFADD, PFCOUNT and PFMERGE over
//! sketches stored as strings in redis-server's own format (`sketch`), so a sketch written by
//! either server is read by the other.
//!
//! PFCOUNT and PFMERGE may name keys of several shards: one locked transaction has every
//! shard fold its sketches into one register array, and PFMERGE's destination shard stores
//! the result. Replication: PFADD and PFMERGE verbatim when they changed something; PFCOUNT
//! of one key verbatim when it refreshed the cached count, as redis-server propagates it.

mod sketch;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sketch::{Bad, REGISTERS};

use super::args::is;
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::Kind;
use crate::txn::shards_of;

const H: &str = "hyperloglog";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new(
        "pfadd",
        -2,
        WRITE.union(DENYOOM).union(FAST),
        KeySpan::single(1),
        Run::Shard(pfadd),
    )
    .doc(
        H,
        "2.8.9",
        "Adds the specified elements to the specified HyperLogLog.",
        "key [element [element ...]]",
    ),
    CommandSpec::new("pfcount", -2, READONLY, KeySpan::range(1, -1, 1), Run::Conn(pfcount)).doc(
        H,
        "2.8.9",
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        "key [key ...]",
    ),
    CommandSpec::new(
        "pfmerge",
        -2,
        WRITE.union(DENYOOM),
        KeySpan::range(1, -1, 1),
        Run::Conn(pfmerge),
    )
    .doc(
        H,
        "2.8.9",
        "Merge N different HyperLogLogs into a single one.",
        "destkey sourcekey [sourcekey ...]",
    ),
    CommandSpec::new(
        "pfdebug",
        3,
        WRITE.union(DENYOOM).union(ADMIN),
        KeySpan::single(2),
        Run::Shard(pfdebug),
    )
    .doc(
        H,
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
        "subcommand key",
    ),
    CommandSpec::new("pfselftest", 1, ADMIN, KeySpan::NONE, Run::Shard(pfselftest)).doc(
        H,
        "2.8.9",
        "An internal command for testing HyperLogLog values",
        "",
    ),
];

/// `hll-sparse-max-bytes`, copied from the config at start and on CONFIG SET.
static SPARSE_MAX: AtomicUsize = AtomicUsize::new(3000);

pub fn configure(sparse_max_bytes: u64) {
    SPARSE_MAX.store(
        usize::try_from(sparse_max_bytes).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
}

fn sparse_max() -> usize {
    SPARSE_MAX.load(Ordering::Relaxed)
}

impl From<Bad> for CmdError {
    fn from(b: Bad) -> Self {
        match b {
            Bad::NotHll => CmdError::other("WRONGTYPE Key is not a valid HyperLogLog string value."),
            Bad::Corrupt => CmdError::other("INVALIDOBJ Corrupted HLL object detected"),
        }
    }
}

/// The sketch under `key`, checked: `None` when missing. `read` counts the lookup as a
/// read (hit or miss), as PFCOUNT's and PFMERGE's sources are; PFADD's is a write's.
fn sketch_of(cx: &mut ShardCx, key: &[u8], read: bool) -> Result<Option<Vec<u8>>, CmdError> {
    let entry = if read { cx.lookup_read(key) } else { cx.lookup(key) };
    let Some(e) = entry else { return Ok(None) };
    if e.kind() != Kind::String {
        return Err(CmdError::WrongType);
    }
    let bytes = e.value().string_bytes().expect("a string").into_owned();
    sketch::check(&bytes)?;
    Ok(Some(bytes))
}

fn pfadd(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    // A dense sketch keeps its size: its registers change in place, with no copy.
    if let Some(e) = cx.lookup(key)
        && e.kind() == Kind::String
        && e.value()
            .string_bytes()
            .is_some_and(|b| sketch::check(&b).is_ok() && sketch::is_dense(&b))
    {
        let (bytes, _) = e.string_mut(0);
        let updated = args.rest().iter().filter(|el| sketch::add_dense(bytes, el)).count();
        if updated > 0 {
            sketch::mark_stale(bytes);
            cx.notify(class::STRING, "pfadd", key);
            cx.emit_argv(args.all());
        }
        out.int(i64::from(updated > 0));
        return Ok(());
    }
    let (mut sketch, mut updated) = match sketch_of(cx, key, false)? {
        Some(s) => (s, 0),
        None => (sketch::empty(), 1),
    };
    let max = sparse_max();
    for element in args.rest() {
        updated += usize::from(sketch::add(&mut sketch, element, max)?);
    }
    if updated > 0 {
        sketch::mark_stale(&mut sketch);
        cx.put_string(key, &sketch, true);
        cx.notify(class::STRING, "pfadd", key);
        cx.emit_argv(args.all());
    }
    out.int(i64::from(updated > 0));
    Ok(())
}

/// PFDEBUG GETREG | DECODE | ENCODING | TODENSE key. GETREG and TODENSE turn a sparse
/// sketch dense for good, and replicate, as redis-server's do.
fn pfdebug(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let sub = args.next()?;
    let key = args.next()?;
    let Some(sketch) = sketch_of(cx, key, false)? else {
        return Err(CmdError::other("ERR The specified key does not exist"));
    };
    let to_dense = |cx: &mut ShardCx| -> Result<Vec<u8>, CmdError> {
        if sketch::is_dense(&sketch) {
            return Ok(sketch.clone());
        }
        let dense = sketch::to_dense(&sketch)?;
        cx.put_string(key, &dense, true);
        cx.emit_argv(args.all());
        Ok(dense)
    };
    match sub {
        s if is(s, "getreg") => {
            let dense = to_dense(cx)?;
            out.array(REGISTERS);
            sketch::dense_registers(&dense).for_each(|v| out.int(i64::from(v)));
        }
        s if is(s, "decode") => {
            if sketch::is_dense(&sketch) {
                return Err(CmdError::other("ERR HLL encoding is not sparse"));
            }
            out.bulk(sketch::describe_runs(&sketch)?.as_bytes());
        }
        s if is(s, "encoding") => out.simple(if sketch::is_dense(&sketch) { b"dense" } else { b"sparse" }),
        s if is(s, "todense") => {
            let was_sparse = !sketch::is_dense(&sketch);
            to_dense(cx)?;
            out.int(i64::from(was_sparse));
        }
        _ => {
            return Err(CmdError::other(format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(sub)
            )));
        }
    }
    Ok(())
}

/// PFSELFTEST: checks this server's sketch code (`sketch::self_test`).
fn pfselftest(_cx: &mut ShardCx, _args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    sketch::self_test().map_err(|e| CmdError::other(format!("TESTFAILED {e}")))?;
    out.ok();
    Ok(())
}

/// PFCOUNT of one key: the cached count, or the count from the registers, cached in place.
fn count_one(cx: &mut ShardCx, argv: &[Arg]) -> Result<u64, CmdError> {
    let key = &argv[1];
    let Some(bytes) = sketch_of(cx, key, true)? else {
        return Ok(0);
    };
    if let Some(n) = sketch::cached(&bytes) {
        return Ok(n);
    }
    let n = sketch::count(&bytes)?;
    let e = cx.lookup(key).expect("just read");
    let (stored, _) = e.string_mut(bytes.len());
    sketch::set_cached(stored, n);
    cx.emit_argv(argv);
    Ok(n)
}

/// One shard's part of a multi-key read: its sketches folded into one register array, and the
/// first error in argument order.
struct Folded {
    max: Box<[u8; REGISTERS]>,
    any_dense: bool,
    error: Option<(usize, CmdError)>,
}

fn fold_mine(cx: &mut ShardCx, keys: &[Arg], shards: usize) -> Folded {
    let me = cx.shard.id;
    let mut f = Folded {
        max: Box::new([0; REGISTERS]),
        any_dense: false,
        error: None,
    };
    for (i, key) in keys.iter().enumerate().filter(|(_, k)| shard_of(k, shards) == me) {
        let read = sketch_of(cx, key, true).and_then(|s| match s {
            Some(s) => {
                f.any_dense |= sketch::is_dense(&s);
                sketch::merge_into(&s, &mut f.max).map_err(CmdError::from)
            }
            None => Ok(()),
        });
        if let Err(e) = read {
            f.error = Some((i, e));
            break;
        }
    }
    f
}

/// Folds `keys` on every shard that holds some in the first hop of `txn`.
async fn fold_all(
    txn: &mut crate::txn::Txn,
    db: usize,
    keys: Arc<Vec<Arg>>,
    shards: usize,
) -> Result<Folded, CmdError> {
    let parts = txn
        .hop(move |s: &mut Shard| fold_mine(&mut ShardCx::new(s, db, unix_ms()), &keys, shards))
        .await;
    let mut all = Folded {
        max: Box::new([0; REGISTERS]),
        any_dense: false,
        error: None,
    };
    for (_, part) in parts {
        all.any_dense |= part.any_dense;
        if let Some((i, e)) = part.error
            && all.error.as_ref().is_none_or(|(j, _)| i < *j)
        {
            all.error = Some((i, e));
        }
        for (m, v) in all.max.iter_mut().zip(part.max.iter()) {
            *m = (*m).max(*v);
        }
    }
    match all.error.take() {
        Some((_, e)) => Err(e),
        None => Ok(all),
    }
}

fn pfcount(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let shards = cx.core.shards;
        let keys: Arc<Vec<Arg>> = Arc::new(argv[1..].to_vec());
        let mut txn = cx.txn(shards_of(keys.iter(), shards), 1);
        let n = if argv.len() == 2 {
            let argv = Arc::new(argv);
            let mut r = txn
                .hop(move |s: &mut Shard| count_one(&mut ShardCx::new(s, db, unix_ms()), &argv))
                .await;
            r.pop().map(|(_, r)| r).unwrap_or(Ok(0))
        } else {
            fold_all(&mut txn, db, keys, shards)
                .await
                .map(|f| sketch::estimate(f.max.iter().copied()))
        };
        txn.finish();
        cx.out.int(n? as i64);
        Ok(())
    })
}

fn pfmerge(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(async move {
        let db = cx.session.db;
        let shards = cx.core.shards;
        // The destination is a source too.
        let keys: Arc<Vec<Arg>> = Arc::new(argv[1..].to_vec());
        let mut txn = cx.txn(shards_of(keys.iter(), shards), 2);
        let folded = match fold_all(&mut txn, db, keys, shards).await {
            Ok(f) => f,
            Err(e) => {
                txn.finish();
                return Err(e);
            }
        };
        let dst_shard = shard_of(&argv[1], shards);
        let slot = std::sync::Mutex::new(Some(folded));
        let argv = Arc::new(argv);
        let results = txn
            .hop(move |s: &mut Shard| {
                if s.id != dst_shard {
                    return Ok(());
                }
                let Some(f) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() else {
                    return Ok(());
                };
                let mut cx = ShardCx::new(s, db, unix_ms());
                let key = &argv[1];
                let mut sketch = sketch_of(&mut cx, key, false)?.unwrap_or_else(sketch::empty);
                sketch::store_max(&mut sketch, &f.max, f.any_dense, sparse_max())?;
                cx.put_string(key, &sketch, true);
                cx.notify(class::STRING, "pfadd", key);
                cx.emit_argv(&argv);
                Ok::<_, CmdError>(())
            })
            .await;
        txn.finish();
        for (_, r) in results {
            r?;
        }
        cx.out.ok();
        Ok(())
    })
}
