//! SORT and SORT_RO, as redis-server 7.0 behaves: the elements of a list, set or sorted set,
//! sorted as numbers or (ALPHA) as bytes, by themselves or by the strings and hash fields a BY
//! pattern names, cut by LIMIT, replaced by what GET patterns name, replied or stored as a
//! list.
//!
//! The keys a pattern names are only known once the elements are read, and may live on any
//! shard: with BY or GET patterns the command takes every shard (one locked transaction:
//! read the elements, look the named keys up where they live, store); without, only the
//! source's shard and the destination's. STORE replicates verbatim, as redis-server does.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex};

use hashbrown::HashMap;

use super::args::{is, parse_int};
use super::*;
use crate::resp::Arg;
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::list::List;
use crate::store::{Value, ValueRef};

const G: &str = "generic";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(sort)).doc(
        G,
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]",
    ),
    CommandSpec::new("sort_ro", -2, READONLY, KeySpan::single(1), Run::Conn(sort_ro)).doc(
        G,
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]",
    ),
];

/// SORT's options.
#[derive(Clone)]
struct Options {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    /// BY with a `*` in it; BY without one means "do not sort".
    by: Option<Arg>,
    dont_sort: bool,
    gets: Vec<Arg>,
    store: Option<Arg>,
}

impl Options {
    fn parse(argv: &[Arg], read_only: bool) -> Result<Options, CmdError> {
        let mut o = Options {
            desc: false,
            alpha: false,
            limit: None,
            by: None,
            dont_sort: false,
            gets: Vec::new(),
            store: None,
        };
        let mut j = 2;
        while j < argv.len() {
            let (a, left) = (&argv[j], argv.len() - j - 1);
            if is(a, "asc") {
                o.desc = false;
            } else if is(a, "desc") {
                o.desc = true;
            } else if is(a, "alpha") {
                o.alpha = true;
            } else if is(a, "limit") && left >= 2 {
                o.limit = Some((parse_int(&argv[j + 1])?, parse_int(&argv[j + 2])?));
                j += 2;
            } else if !read_only && is(a, "store") && left >= 1 {
                o.store = Some(argv[j + 1].clone());
                j += 1;
            } else if is(a, "by") && left >= 1 {
                let pattern = argv[j + 1].clone();
                o.dont_sort = !pattern.contains(&b'*');
                o.by = (!o.dont_sort).then_some(pattern);
                j += 1;
            } else if is(a, "get") && left >= 1 {
                o.gets.push(argv[j + 1].clone());
                j += 1;
            } else {
                return Err(CmdError::Syntax);
            }
            j += 1;
        }
        Ok(o)
    }

    /// Whether a pattern names other keys (BY with `*`, GET other than `#`).
    fn uses_patterns(&self) -> bool {
        self.by.is_some() || self.gets.iter().any(|g| &g[..] != b"#")
    }
}

/// A key a pattern names for an element, and the hash field after `->`, if any: `None` for
/// `#` (the element itself) and for a pattern without `*` (it names nothing).
fn pattern_key(pattern: &[u8], element: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let star = pattern.iter().position(|&b| b == b'*')?;
    let field_at = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = field_at.unwrap_or(pattern.len());
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    Some((key, field_at.map(|p| pattern[p + 2..].to_vec())))
}

/// What the source's shard read: the elements (in the order they go out when not sorted),
/// whether LIMIT was already applied (a sorted set or list read in range), and whether they
/// came from a set.
#[derive(Default)]
struct Source {
    elements: Vec<Vec<u8>>,
    ranged: bool,
    from_set: bool,
}

/// Reads the elements of `key`; WRONGTYPE for a string or hash.
fn read_source(cx: &mut ShardCx, key: &[u8], o: &Options) -> Result<Source, CmdError> {
    let Some(e) = cx.lookup_read(key) else {
        return Ok(Source::default());
    };
    let from_set = matches!(e.value(), ValueRef::Set(_));
    let len = match e.value() {
        ValueRef::List(l) => l.len(),
        ValueRef::Set(s) => s.len(),
        ValueRef::ZSet(z) => z.len(),
        _ => return Err(CmdError::WrongType),
    };
    let (start, end) = limit_range(o.limit, len);
    // Lists and sorted sets that are not sorted are read straight in range, as redis-server
    // reads them: in their order (a sorted set's by score), from the end with DESC.
    let direct = o.dont_sort && (start != 0 || end + 1 != len as i64);
    let elements: Vec<Vec<u8>> = match e.value() {
        ValueRef::List(l) if o.dont_sort => {
            let n = count(start, end);
            let v: Vec<Vec<u8>> = if o.desc {
                l.iter()
                    .rev()
                    .skip(start.max(0) as usize)
                    .take(n)
                    .map(<[u8]>::to_vec)
                    .collect()
            } else {
                l.iter()
                    .skip(start.max(0) as usize)
                    .take(n)
                    .map(<[u8]>::to_vec)
                    .collect()
            };
            return Ok(Source {
                elements: v,
                ranged: true,
                from_set,
            });
        }
        ValueRef::ZSet(z) if o.dont_sort => {
            let (from, n) = if direct {
                (start as usize, count(start, end))
            } else {
                (0, len)
            };
            let mut v = Vec::with_capacity(n);
            let (a, b) = if o.desc {
                (len - from - n, len - from)
            } else {
                (from, from + n)
            };
            z.walk(a, b, o.desc, |m, _| {
                v.push(m.to_vec());
                true
            });
            return Ok(Source {
                elements: v,
                ranged: true,
                from_set,
            });
        }
        ValueRef::List(l) => l.iter().map(<[u8]>::to_vec).collect(),
        ValueRef::Set(s) => s.iter().map(|m| m.with_bytes(<[u8]>::to_vec)).collect(),
        ValueRef::ZSet(z) => z.iter().map(|(m, _)| m.to_vec()).collect(),
        _ => unreachable!("checked above"),
    };
    Ok(Source {
        elements,
        ranged: false,
        from_set,
    })
}

/// LIMIT's range over `len` elements, as redis-server clamps it: `(start, end)` inclusive,
/// empty when `end < start`.
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> (i64, i64) {
    let len = len as i64;
    let (start, count) = limit.unwrap_or((0, -1));
    let mut start = start.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    (start, end.min(len - 1))
}

fn count(start: i64, end: i64) -> usize {
    (end - start + 1).max(0) as usize
}

/// The value a pattern names: a string, or a hash field (`None` when missing or of another
/// type).
type Looked = HashMap<(Vec<u8>, Option<Vec<u8>>), Option<Vec<u8>>>;

fn look_up(cx: &mut ShardCx, wanted: &[(Vec<u8>, Option<Vec<u8>>)]) -> Looked {
    let mut found = Looked::new();
    for (key, field) in wanted {
        let value = match cx.lookup_read(key).map(|e| e.value()) {
            Some(ValueRef::Str(s)) if field.is_none() => Some(s.to_vec()),
            Some(ValueRef::Int(n)) if field.is_none() => Some(itoa::Buffer::new().format(n).as_bytes().to_vec()),
            Some(ValueRef::Hash(h)) => field.as_ref().and_then(|f| h.get(f).map(<[u8]>::to_vec)),
            _ => None,
        };
        found.insert((key.clone(), field.clone()), value);
    }
    found
}

/// A number as redis-server's `strtod` reads a sort weight: the whole string, leading spaces
/// allowed, out of range or NaN refused; an empty string is 0.
fn weight(bytes: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() {
        return Some(0.0);
    }
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let v: f64 = t.parse().ok()?;
    let named_infinity = t.trim_start_matches(['+', '-']).to_ascii_lowercase().starts_with("inf");
    (!v.is_nan() && (v.is_finite() || named_infinity)).then_some(v)
}

/// Sorts `elements` as the options say, looking BY weights up in `looked`: as numbers (ties
/// in byte order), or with ALPHA as bytes; a BY key that is missing weighs 0 (sorts first
/// under ALPHA).
fn sort_elements(elements: Vec<Vec<u8>>, o: &Options, looked: &Looked) -> Result<Vec<Vec<u8>>, CmdError> {
    let by_value = |e: &[u8]| -> Option<Vec<u8>> {
        let by = o.by.as_ref()?;
        pattern_key(by, e).and_then(|k| looked.get(&k).cloned().flatten())
    };
    let direction = |ord: Ordering| if o.desc { ord.reverse() } else { ord };
    if o.alpha {
        let mut keyed: Vec<(Option<Vec<u8>>, Vec<u8>)> = elements
            .into_iter()
            .map(|e| (if o.by.is_some() { by_value(&e) } else { Some(e.clone()) }, e))
            .collect();
        keyed.sort_by(|a, b| direction(a.0.cmp(&b.0)));
        return Ok(keyed.into_iter().map(|(_, e)| e).collect());
    }
    let mut weighted = Vec::with_capacity(elements.len());
    for e in elements {
        let w = match (&o.by, by_value(&e)) {
            (Some(_), None) => 0.0,
            (Some(_), Some(v)) => weight(&v).ok_or_else(not_double)?,
            (None, _) => weight(&e).ok_or_else(not_double)?,
        };
        weighted.push((w, e));
    }
    weighted.sort_by(|a, b| {
        direction(
            a.0.partial_cmp(&b.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.1.cmp(&b.1)),
        )
    });
    Ok(weighted.into_iter().map(|(_, e)| e).collect())
}

fn not_double() -> CmdError {
    CmdError::other("ERR One or more scores can't be converted into double")
}

/// The output of a SORT: for each element, itself, or what each GET names.
fn output(elements: &[Vec<u8>], o: &Options, looked: &Looked) -> Vec<Option<Vec<u8>>> {
    if o.gets.is_empty() {
        return elements.iter().map(|e| Some(e.clone())).collect();
    }
    let mut out = Vec::with_capacity(elements.len() * o.gets.len());
    for e in elements {
        for g in &o.gets {
            if &g[..] == b"#" {
                out.push(Some(e.clone()));
            } else {
                out.push(pattern_key(g, e).and_then(|k| looked.get(&k).cloned().flatten()));
            }
        }
    }
    out
}

fn sort(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run(cx, argv, false))
}

fn sort_ro(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(run(cx, argv, true))
}

async fn run(cx: &mut ConnCx, argv: Vec<Arg>, read_only: bool) -> Result<(), CmdError> {
    let o = Arc::new(Options::parse(&argv, read_only)?);
    let db = cx.session.db;
    let shards = cx.core.shards;
    let src_shard = shard_of(&argv[1], shards);
    let mut txn = if o.uses_patterns() {
        cx.txn_all(3)
    } else {
        let keys = std::iter::once(&argv[1]).chain(o.store.as_ref());
        cx.txn(crate::txn::shards_of(keys, shards), 2)
    };
    let argv = Arc::new(argv);
    // Hop 1: the source's elements.
    let (a, opts) = (argv.clone(), o.clone());
    let read = txn
        .hop(move |s: &mut Shard| {
            (s.id == src_shard).then(|| read_source(&mut ShardCx::new(s, db, unix_ms()), &a[1], &opts))
        })
        .await;
    let source = match read.into_iter().find_map(|(_, r)| r) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            txn.finish();
            return Err(e);
        }
        None => Source::default(),
    };
    let Source {
        mut elements,
        ranged,
        from_set,
    } = source;
    let mut o = (*o).clone();
    // A set is unordered: stored without sorting, it is sorted as bytes, so that a replica
    // stores the same list.
    if from_set && o.dont_sort && o.store.is_some() {
        (o.dont_sort, o.alpha) = (false, true);
    }
    // Hop 2 (with patterns): every shard looks up the keys the patterns name there.
    let mut looked = Looked::new();
    if o.uses_patterns() {
        let mut wanted: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for e in &elements {
            for p in o.by.iter().chain(o.gets.iter()) {
                if let Some(k) = pattern_key(p, e) {
                    wanted.push(k);
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let wanted = Arc::new(wanted);
        let parts = txn
            .hop(move |s: &mut Shard| {
                let me = s.id;
                let mine: Vec<_> = wanted
                    .iter()
                    .filter(|(k, _)| shard_of(k, shards) == me)
                    .cloned()
                    .collect();
                look_up(&mut ShardCx::new(s, db, unix_ms()), &mine)
            })
            .await;
        parts.into_iter().for_each(|(_, part)| looked.extend(part));
    }
    if !o.dont_sort {
        elements = match sort_elements(elements, &o, &looked) {
            Ok(sorted) => sorted,
            Err(e) => {
                txn.finish();
                return Err(e);
            }
        };
    }
    if !ranged {
        let (start, end) = limit_range(o.limit, elements.len());
        elements = elements
            .into_iter()
            .skip(start.max(0) as usize)
            .take(count(start, end))
            .collect();
    }
    let result = output(&elements, &o, &looked);
    let Some(dst) = o.store.take() else {
        txn.finish();
        cx.out.array(result.len());
        for v in &result {
            match v {
                Some(b) => cx.out.bulk(b),
                None => cx.out.null(),
            }
        }
        return Ok(());
    };
    // The last hop: the destination's shard stores the list (GET misses as empty strings).
    let n = result.len();
    let dst_shard = shard_of(&dst, shards);
    let slot = Mutex::new(Some(result));
    txn.hop(move |s: &mut Shard| {
        if s.id != dst_shard {
            return;
        }
        let Some(result) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let mut cx = ShardCx::new(s, db, unix_ms());
        if result.is_empty() {
            if cx.remove(&dst).is_some() {
                cx.notify(class::GENERIC, "del", &dst);
                cx.emit_argv(&argv);
            }
            return;
        }
        let fill = cx.shard.limits.list_max_listpack_size;
        let mut list = List::new();
        for v in &result {
            list.push(crate::store::list::End::Right, v.as_deref().unwrap_or_default(), fill);
        }
        cx.put(&dst, Value::List(Box::new(list)), false);
        cx.shard.blocking.signal(db, &dst);
        cx.notify(class::LIST, "sortstore", &dst);
        cx.emit_argv(&argv);
    })
    .await;
    txn.finish();
    cx.out.int(n as i64);
    Ok(())
}
