//! GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUSBYMEMBER and the `_RO` forms: parsing in
//! redis-server's order of checks, the scan of the covering cells, the replies, and the STORE
//! forms' transaction over the source's shard and the destination's.

use std::sync::Arc;

use super::hash::{self, Shape};
use super::{coord, distance_text, lon_lat, read_geo, unit};
use crate::command::args::{is, parse_float, parse_int};
use crate::command::dispatch::lower;
use crate::command::{Args, CmdError, CmdFuture, ConnCx, class};
use crate::resp::{Arg, Out};
use crate::shard::{Shard, ShardCx, shard_of, unix_ms};
use crate::store::Value;
use crate::store::zset::ZSet;

const NOT_DECODED: &str = "ERR could not decode requested zset member";

/// Which command's arguments a search reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS key lon lat radius unit ...
    Radius,
    /// GEORADIUSBYMEMBER key member radius unit ...
    ByMember,
    /// GEOSEARCH key ... / GEOSEARCHSTORE dst key ...
    Search,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// A parsed search: where from, what shape (in metres) and what to reply or store.
struct Search {
    centre: (f64, f64),
    shape: Shape,
    /// Metres per unit of the reply's distances.
    to_m: f64,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    order: Order,
    count: usize,
    any: bool,
    /// STORE / STOREDIST key (GEORADIUS) or GEOSEARCHSTORE's destination, and whether the
    /// stored scores are distances.
    store: Option<(Arg, bool)>,
}

/// What a search's first step found: an error, a missing source, or the search.
enum Parsed {
    Missing(Option<(Arg, bool)>),
    Ready(Search),
}

fn radius_of(r: &[u8], u: &[u8]) -> Result<(f64, f64), CmdError> {
    let r = parse_float(r).map_err(|_| CmdError::other("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err(CmdError::other("ERR radius cannot be negative"));
    }
    Ok((r, unit(u)?))
}

/// Parses a search in redis-server's order of checks; `z` is the source set, if any (a
/// member's position is read while parsing). `store_dst`: GEOSEARCHSTORE's destination.
fn parse_search(
    argv: &[Arg],
    form: Form,
    read_only: bool,
    store_dst: Option<Arg>,
    z: Option<&ZSet>,
) -> Result<Parsed, CmdError> {
    let member_centre = |z: &ZSet, m: &[u8]| z.score(m).map(hash::decode).ok_or_else(|| CmdError::other(NOT_DECODED));
    let mut centre = None;
    let mut shape = None;
    let mut to_m = 1.0;
    let base = match form {
        Form::Radius => {
            centre = Some(lon_lat(&argv[2], &argv[3])?);
            let (r, u) = radius_of(&argv[4], &argv[5])?;
            (shape, to_m) = (Some(Shape::Radius(r * u)), u);
            6
        }
        Form::ByMember => {
            if let Some(z) = z {
                centre = Some(member_centre(z, &argv[2])?);
                let (r, u) = radius_of(&argv[3], &argv[4])?;
                (shape, to_m) = (Some(Shape::Radius(r * u)), u);
            }
            5
        }
        Form::Search if store_dst.is_some() => 3,
        Form::Search => 2,
    };
    let searching = form == Form::Search;
    let (mut with_dist, mut with_hash, mut with_coord, mut any) = (false, false, false, false);
    let (mut order, mut count) = (Order::None, 0usize);
    let mut store = store_dst.map(|d| (d, false));
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let rest = &argv[base.min(argv.len())..];
    let mut i = 0;
    while i < rest.len() {
        let (a, left) = (&rest[i], rest.len() - i - 1);
        if is(a, "withdist") {
            with_dist = true;
        } else if is(a, "withhash") {
            with_hash = true;
        } else if is(a, "withcoord") {
            with_coord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            order = Order::Asc;
        } else if is(a, "desc") {
            order = Order::Desc;
        } else if is(a, "count") && left >= 1 {
            let n = parse_int(&rest[i + 1])?;
            if n <= 0 {
                return Err(CmdError::other("ERR COUNT must be > 0"));
            }
            count = n as usize;
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && !read_only && !searching {
            store = Some((rest[i + 1].clone(), is(a, "storedist")));
            i += 1;
        } else if is(a, "storedist") && searching && store.is_some() {
            store = store.map(|(d, _)| (d, true));
        } else if is(a, "frommember") && left >= 1 && searching && !from_loc {
            if let Some(z) = z {
                centre = Some(member_centre(z, &rest[i + 1])?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && searching && !from_member {
            centre = Some(lon_lat(&rest[i + 1], &rest[i + 2])?);
            from_loc = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && searching && !by_box {
            let (r, u) = radius_of(&rest[i + 1], &rest[i + 2])?;
            (shape, to_m, by_radius) = (Some(Shape::Radius(r * u)), u, true);
            i += 2;
        } else if is(a, "bybox") && left >= 3 && searching && !by_radius {
            let w = parse_float(&rest[i + 1]).map_err(|_| CmdError::other("ERR need numeric width"))?;
            let h = parse_float(&rest[i + 2]).map_err(|_| CmdError::other("ERR need numeric height"))?;
            if w < 0.0 || h < 0.0 {
                return Err(CmdError::other("ERR height or width cannot be negative"));
            }
            let u = unit(&rest[i + 3])?;
            let shape_box = Shape::Box {
                width: w * u,
                height: h * u,
            };
            (shape, to_m, by_box) = (Some(shape_box), u, true);
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let name = lower(&argv[0]);
    if store.is_some() && (with_dist || with_hash || with_coord) {
        let what = if name == "geosearchstore" {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(CmdError::other(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if searching && !(from_member || from_loc) {
        return Err(CmdError::other(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            String::from_utf8_lossy(&argv[0])
        )));
    }
    if searching && !(by_radius || by_box) {
        return Err(CmdError::other(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            String::from_utf8_lossy(&argv[0])
        )));
    }
    if any && count == 0 {
        return Err(CmdError::other("ERR the ANY argument requires COUNT argument"));
    }
    let (Some(_), Some(centre), Some(shape)) = (z, centre, shape) else {
        return Ok(Parsed::Missing(store));
    };
    if count != 0 && order == Order::None && !any {
        order = Order::Asc;
    }
    Ok(Parsed::Ready(Search {
        centre,
        shape,
        to_m,
        with_dist,
        with_hash,
        with_coord,
        order,
        count,
        any,
        store,
    }))
}

/// One member the search admitted.
struct Found {
    member: Box<[u8]>,
    score: f64,
    dist_m: f64,
    lon: f64,
    lat: f64,
}

/// The members of `z` inside the search's shape, ordered and cut as it asks.
fn find(z: &ZSet, s: &Search) -> Vec<Found> {
    let limit = if s.any { s.count } else { usize::MAX };
    let mut found = Vec::new();
    'cells: for (min, max) in hash::search_ranges(s.centre, s.shape) {
        let start = z.count_while(|score, _| score < min as f64);
        let end = z.count_while(|score, _| score < max as f64);
        let mut hits = Vec::new();
        z.walk(start, end, false, |member, score| {
            let (lon, lat) = hash::decode(score);
            if let Some(dist_m) = s.shape.hit(s.centre, (lon, lat)) {
                hits.push(Found {
                    member: member.into(),
                    score,
                    dist_m,
                    lon,
                    lat,
                });
            }
            true
        });
        for h in hits {
            found.push(h);
            if found.len() >= limit {
                break 'cells;
            }
        }
    }
    match s.order {
        Order::Asc => found.sort_by(|a, b| a.dist_m.total_cmp(&b.dist_m)),
        Order::Desc => found.sort_by(|a, b| b.dist_m.total_cmp(&a.dist_m)),
        Order::None => {}
    }
    if s.count > 0 {
        found.truncate(s.count);
    }
    found
}

fn reply_found(out: &mut Out, s: &Search, found: &[Found]) {
    let extra = usize::from(s.with_dist) + usize::from(s.with_hash) + usize::from(s.with_coord);
    out.array(found.len());
    for f in found {
        if extra > 0 {
            out.array(extra + 1);
        }
        out.bulk(&f.member);
        if s.with_dist {
            out.bulk(distance_text(f.dist_m / s.to_m).as_bytes());
        }
        if s.with_hash {
            out.int(f.score as i64);
        }
        if s.with_coord {
            out.array(2);
            coord(out, f.lon);
            coord(out, f.lat);
        }
    }
}

/// The reply-only searches: GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO.
fn run_search(cx: &mut ShardCx, args: &mut Args, out: &mut Out, form: Form) -> Result<(), CmdError> {
    let argv = args.all();
    let z = read_geo(cx, &argv[1])?;
    match parse_search(argv, form, true, None, z)? {
        Parsed::Missing(_) => out.array(0),
        Parsed::Ready(s) => reply_found(out, &s, &find(z.expect("a source set"), &s)),
    }
    Ok(())
}

pub fn geosearch(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    run_search(cx, args, out, Form::Search)
}

pub fn georadius_ro(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    run_search(cx, args, out, Form::Radius)
}

pub fn georadiusbymember_ro(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    run_search(cx, args, out, Form::ByMember)
}

/// The destination a GEORADIUS / GEORADIUSBYMEMBER names with STORE or STOREDIST (the
/// last one wins, as the parser sees them), so its shard is locked with the source's.
fn store_target(argv: &[Arg], base: usize) -> Option<Arg> {
    let mut dst = None;
    let mut i = base;
    while i < argv.len() {
        if (is(&argv[i], "store") || is(&argv[i], "storedist")) && i + 1 < argv.len() {
            dst = Some(argv[i + 1].clone());
            i += 1;
        }
        i += 1;
    }
    dst
}

/// What the source's shard found: a reply to send, or members and scores to store under the
/// destination (none: the destination is deleted).
type Outcome = (Vec<u8>, Option<(Arg, Vec<(Box<[u8]>, f64)>)>);

/// The searches that may store, in one locked transaction over the source's shard and the
/// destination's: the first searches (and replies, without STORE), the second stores.
async fn search_and_store(cx: &mut ConnCx, argv: Vec<Arg>, form: Form) -> Result<(), CmdError> {
    let db = cx.session.db;
    let proto = cx.out.proto();
    let shards = cx.core.shards;
    let storing_search = lower(&argv[0]) == "geosearchstore";
    let src_at = if storing_search { 2 } else { 1 };
    let dst = if storing_search {
        Some(argv[1].clone())
    } else {
        store_target(&argv, if form == Form::Radius { 6 } else { 5 })
    };
    let src_shard = shard_of(&argv[src_at], shards);
    let involved = crate::txn::shards_of(std::iter::once(&argv[src_at]).chain(dst.as_ref()), shards);
    let mut txn = cx.txn(involved, 2);
    let argv = Arc::new(argv);
    let a = argv.clone();
    let firsts = txn
        .hop(move |s: &mut Shard| {
            if s.id != src_shard {
                return None;
            }
            let mut cx = ShardCx::new(s, db, unix_ms());
            Some(search_on_source(&mut cx, &a, form, src_at, storing_search, proto))
        })
        .await;
    let outcome = firsts
        .into_iter()
        .find_map(|(_, r)| r)
        .unwrap_or(Ok((Vec::new(), None)));
    let (reply, to_store) = match outcome {
        Ok(o) => o,
        Err(e) => {
            txn.finish();
            return Err(e);
        }
    };
    let Some((dst, items)) = to_store else {
        txn.finish();
        cx.out.raw(&reply);
        return Ok(());
    };
    let n = items.len();
    let event = if storing_search {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let dst_shard = shard_of(&dst, shards);
    let slot = std::sync::Mutex::new(Some(items));
    txn.hop(move |s: &mut Shard| {
        if s.id != dst_shard {
            return;
        }
        if let Some(items) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            store_found(&mut ShardCx::new(s, db, unix_ms()), &dst, items, event, &argv);
        }
    })
    .await;
    txn.finish();
    cx.out.int(n as i64);
    Ok(())
}

/// The first step of a storing search, on the source's shard.
fn search_on_source(
    cx: &mut ShardCx,
    argv: &[Arg],
    form: Form,
    src_at: usize,
    storing_search: bool,
    proto: crate::resp::Proto,
) -> Result<Outcome, CmdError> {
    let z = read_geo(cx, &argv[src_at])?;
    let dst = storing_search.then(|| argv[1].clone());
    let mut out = Out::new(proto);
    Ok(match parse_search(argv, form, false, dst, z)? {
        Parsed::Missing(None) => {
            out.array(0);
            (out.take(), None)
        }
        Parsed::Missing(Some((dst, _))) => (Vec::new(), Some((dst, Vec::new()))),
        Parsed::Ready(s) => {
            let found = find(z.expect("a source set"), &s);
            match &s.store {
                None => {
                    reply_found(&mut out, &s, &found);
                    (out.take(), None)
                }
                Some((dst, dist)) => {
                    let items = found
                        .into_iter()
                        .map(|f| (f.member, if *dist { f.dist_m / s.to_m } else { f.score }))
                        .collect();
                    (Vec::new(), Some((dst.clone(), items)))
                }
            }
        }
    })
}

/// Stores the search's members under `dst` (an empty result deletes it), logged as the
/// command itself.
fn store_found(cx: &mut ShardCx, dst: &[u8], items: Vec<(Box<[u8]>, f64)>, event: &'static str, argv: &[Arg]) {
    if items.is_empty() {
        if cx.remove(dst).is_some() {
            cx.notify(class::GENERIC, "del", dst);
            cx.emit_argv(argv);
        }
        return;
    }
    let limits = cx.shard.limits;
    let mut z = ZSet::default();
    for (member, score) in &items {
        z.insert(member, *score, &limits);
    }
    cx.put(dst, Value::ZSet(Box::new(z)), false);
    cx.shard.blocking.signal(cx.db, dst);
    cx.notify(class::ZSET, event, dst);
    cx.emit_argv(argv);
}

pub fn geosearchstore(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(search_and_store(cx, argv, Form::Search))
}

pub fn georadius(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(search_and_store(cx, argv, Form::Radius))
}

pub fn georadiusbymember(cx: &mut ConnCx, argv: Vec<Arg>) -> CmdFuture<'_> {
    Box::pin(search_and_store(cx, argv, Form::ByMember))
}
