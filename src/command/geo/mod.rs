//! The GEO family, as redis-server 7.0 behaves: positions are members of a sorted set whose
//! scores are geohashes (`hash`), so GEOADD is a ZADD (and replicates as one) and every
//! sorted-set command works on a geo set.
//!
//! Searches (GEOSEARCH, GEORADIUS...) scan the score ranges of the same geohash cells as
//! redis-server, in the same order, and keep the members the exact distance test admits, so
//! even an unsorted reply lists them as redis-server does. The STORE forms write to a key that
//! may live on another shard: one locked transaction searches on the source's shard and
//! stores on the destination's.

pub mod hash;
mod search;

use super::args::{is, parse_float};
use super::*;
// A geo set is read as the sorted-set family reads a sorted set.
use super::zset::read_zset as read_geo;
use crate::resp::Arg;
use crate::shard::ShardCx;

const G: &str = "geo";

pub static SPECS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, WRITE.union(DENYOOM), KeySpan::single(1), Run::Shard(geoadd)).doc(
        G,
        "3.2.0",
        "Add one or more geospatial items in the geospatial index represented using a sorted set",
        "key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]",
    ),
    CommandSpec::new("geopos", -2, READONLY, KeySpan::single(1), Run::Shard(geopos)).doc(
        G,
        "3.2.0",
        "Returns longitude and latitude of members of a geospatial index",
        "key [member [member ...]]",
    ),
    CommandSpec::new("geodist", -4, READONLY, KeySpan::single(1), Run::Shard(geodist)).doc(
        G,
        "3.2.0",
        "Returns the distance between two members of a geospatial index",
        "key member1 member2 [M|KM|FT|MI]",
    ),
    CommandSpec::new("geohash", -2, READONLY, KeySpan::single(1), Run::Shard(geohash)).doc(
        G,
        "3.2.0",
        "Returns members of a geospatial index as standard geohash strings",
        "key [member [member ...]]",
    ),
    CommandSpec::new("geosearch", -7, READONLY, KeySpan::single(1), Run::Shard(search::geosearch)).doc(
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
        "key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
    ),
    CommandSpec::new("geosearchstore", -8, WRITE.union(DENYOOM), KeySpan::range(1, 2, 1), Run::Conn(search::geosearchstore)).doc(
        G,
        "6.2.0",
        "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.",
        "destination source FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius M|KM|FT|MI|BYBOX width height M|KM|FT|MI [ASC|DESC] [COUNT count [ANY]] [STOREDIST]",
    ),
    CommandSpec::new("georadius", -6, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(search::georadius)).doc(
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point",
        "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] [STORE key] [STOREDIST key]",
    ),
    CommandSpec::new("georadius_ro", -6, READONLY, KeySpan::single(1), Run::Shard(search::georadius_ro)).doc(
        G,
        "3.2.10",
        "A read-only variant for GEORADIUS",
        "key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]",
    ),
    CommandSpec::new("georadiusbymember", -5, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(search::georadiusbymember)).doc(
        G,
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member",
        "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC] [STORE key] [STOREDIST key]",
    ),
    CommandSpec::new("georadiusbymember_ro", -5, READONLY, KeySpan::single(1), Run::Shard(search::georadiusbymember_ro)).doc(
        G,
        "3.2.10",
        "A read-only variant for GEORADIUSBYMEMBER",
        "key member radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC|DESC]",
    ),
];

/// A longitude, latitude pair, checked as GEOADD checks it.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (lon, lat) = (parse_float(lon)?, parse_float(lat)?);
    if !hash::valid(lon, lat) {
        return Err(CmdError::other(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Metres per unit.
fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    Ok(match arg {
        a if is(a, "m") => 1.0,
        a if is(a, "km") => 1000.0,
        a if is(a, "ft") => 0.3048,
        a if is(a, "mi") => 1609.34,
        _ => {
            return Err(CmdError::other(
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ));
        }
    })
}

/// A distance as redis-server prints one (four decimals).
fn distance_text(d: f64) -> String {
    format!("{d:.4}")
}

fn coord(out: &mut Out, v: f64) {
    out.double_text(hash::human(v).as_bytes());
}

fn geoadd(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let argv = args.all();
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(opt) = argv.get(first) {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if !is(opt, "ch") {
            break;
        }
        first += 1;
    }
    if !(argv.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    // GEOADD is a ZADD of the positions' geohashes (and replicates as that ZADD).
    let mut zadd: Vec<Arg> = vec![Arg::from_static(b"zadd")];
    zadd.extend_from_slice(&argv[1..first]);
    for triple in argv[first..].chunks_exact(3) {
        let (lon, lat) = lon_lat(&triple[0], &triple[1])?;
        zadd.push(Arg::copy_from_slice(
            itoa::Buffer::new().format(hash::encode(lon, lat)).as_bytes(),
        ));
        zadd.push(triple[2].clone());
    }
    super::zset::zadd(cx, &mut Args::new(&zadd), out)
}

fn geopos(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let members = args.rest();
    let z = read_geo(cx, key)?;
    out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(score) => {
                let (lon, lat) = hash::decode(score);
                out.array(2);
                coord(out, lon);
                coord(out, lat);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

fn geodist(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let (key, a, b) = (args.next()?, args.next()?, args.next()?);
    let to_m = match args.rest() {
        [] => 1.0,
        [u] => unit(u)?,
        _ => return Err(CmdError::Syntax),
    };
    let Some(z) = read_geo(cx, key)? else {
        out.null();
        return Ok(());
    };
    match (z.score(a), z.score(b)) {
        (Some(sa), Some(sb)) => {
            let ((lon1, lat1), (lon2, lat2)) = (hash::decode(sa), hash::decode(sb));
            out.bulk(distance_text(hash::distance(lon1, lat1, lon2, lat2) / to_m).as_bytes());
        }
        _ => out.null(),
    }
    Ok(())
}

fn geohash(cx: &mut ShardCx, args: &mut Args, out: &mut Out) -> Result<(), CmdError> {
    let key = args.next()?;
    let members = args.rest();
    let z = read_geo(cx, key)?;
    out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(score) => out.bulk(hash::geohash_string(score).as_bytes()),
            None => out.null(),
        }
    }
    Ok(())
}
