//! GEOADD, GEOPOS, GEODIST, GEOHASH and the searches compared with redis-server 7.0 reply by
//! reply, in RESP2 and RESP3, with one shard and four (the STORE forms then write to another
//! shard). A search without ASC, DESC or COUNT returns its members in an order of its own, so
//! those replies are compared as sets.

mod common;

use common::*;

const PLACES: &str = "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania 12.758489 38.788135 edge1 17.241510 38.788135 edge2 14.015482 37.734741 Enna 13.583333 37.316667 Agrigento";

const BASICS: &[&str] = &[
    PLACES,
    "GEOADD Sicily 13.361389 38.115556 Palermo",
    "GEOADD Sicily CH 13.361389 38.2 Palermo",
    "GEOADD Sicily NX 1 1 Palermo 2 2 New",
    "GEOADD Sicily XX 13.361389 38.115556 Palermo 3 3 Never",
    "GEOADD Sicily NX XX 1 1 x",
    "GEOADD Sicily 1 1",
    "GEOADD Sicily 200 10 bad",
    "GEOADD Sicily 10 86 bad",
    "GEOADD Sicily x 10 bad",
    "GEOADD Sicily -180 -85.05112878 corner 180 85.05112878 corner2",
    "ZRANGE Sicily 0 -1 WITHSCORES",
    "GEOPOS Sicily Palermo Catania nomember corner corner2",
    "GEOPOS nokey a b",
    "GEOPOS Sicily",
    "GEODIST Sicily Palermo Catania",
    "GEODIST Sicily Palermo Catania km",
    "GEODIST Sicily Palermo Catania MI",
    "GEODIST Sicily Palermo Catania ft",
    "GEODIST Sicily Palermo Catania parsec",
    "GEODIST Sicily Palermo Catania km extra",
    "GEODIST Sicily Palermo nomember",
    "GEODIST Sicily Palermo Palermo",
    "GEODIST nokey a b",
    "GEOHASH Sicily Palermo Catania nomember corner corner2",
    "GEOHASH nokey a",
    "SET str v",
    "GEOADD str 1 1 a",
    "GEOPOS str a",
    "GEODIST str a b",
    "GEOHASH str a",
    "GEOSEARCH str FROMLONLAT 15 37 BYRADIUS 100 km",
];

const SEARCHES: &[&str] = &[
    PLACES,
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km DESC WITHCOORD WITHDIST WITHHASH",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHDIST",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km ASC WITHDIST",
    "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 200 100 mi DESC",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 500 km COUNT 2",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 500 km COUNT 3 DESC WITHDIST",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 m ASC",
    "GEOSEARCH Sicily FROMMEMBER nomember BYRADIUS 100 km",
    "GEOSEARCH nokey FROMMEMBER nomember BYRADIUS 100 km",
    "GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 100 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37",
    "GEOSEARCH Sicily BYRADIUS 10 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 10 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 10 km BYBOX 1 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS -1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS x km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 parsec",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km",
    "GEOSEARCH Sicily FROMLONLAT 200 37 BYRADIUS 1 km",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km COUNT 0",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km ANY",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km STORE x",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km WITHDIST STOREDIST",
    "GEORADIUS Sicily 15 37 200 km ASC WITHDIST WITHCOORD",
    "GEORADIUS Sicily 15 37 200 km COUNT 1 WITHHASH",
    "GEORADIUS_RO Sicily 15 37 200 km DESC",
    "GEORADIUS_RO Sicily 15 37 200 km STORE dst",
    "GEORADIUSBYMEMBER Sicily Palermo 100 km ASC WITHDIST",
    "GEORADIUSBYMEMBER_RO Sicily Agrigento 100 km DESC",
    "GEORADIUSBYMEMBER Sicily nomember 100 km",
    "GEORADIUSBYMEMBER nokey nomember 100 km",
    "GEORADIUS Sicily 15 37 x km",
    "GEORADIUS Sicily 15 37 200 km WITHDIST STORE dst",
    "GEORADIUS Sicily 15 37 200 km ASC STORE dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUS Sicily 15 37 200 km ASC STOREDIST dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEORADIUS Sicily 15 37 1 m STORE dst",
    "EXISTS dst",
    "GEORADIUSBYMEMBER Sicily Palermo 300 km STORE dst2 COUNT 2",
    "ZRANGE dst2 0 -1 WITHSCORES",
    "GEORADIUS nokey 15 37 10 km STORE dst2",
    "EXISTS dst2",
    "GEOSEARCHSTORE dst3 Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC COUNT 3",
    "ZRANGE dst3 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst3 Sicily FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
    "ZRANGE dst3 0 -1 WITHSCORES",
    "GEOSEARCHSTORE dst3 Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST",
    "GEOSEARCHSTORE dst3 nokey FROMLONLAT 15 37 BYRADIUS 200 km",
    "EXISTS dst3",
];

#[test]
fn positions_distances_and_hashes_match_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            p.lines(BASICS);
        });
    }
}

#[test]
fn searches_match_redis() {
    for proto in ["2", "3"] {
        diff(|p| {
            p.s(&format!("HELLO {proto}"));
            p.lines(SEARCHES);
        });
    }
}

/// Unsorted searches scan the same cells in the same order as redis-server's, so they list
/// the same members in the same order (ANY takes the same first ones).
#[test]
fn unsorted_searches_list_members_in_redis_order() {
    diff(|p| {
        p.s(PLACES);
        p.lines(&[
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCH Sicily FROMMEMBER Enna BYBOX 300 300 km WITHDIST",
            "GEORADIUS Sicily 14 38 150 km",
            "GEORADIUSBYMEMBER Sicily Catania 250 km WITHCOORD",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 500 km COUNT 2 ANY",
            "GEORADIUS Sicily 14 38 5000 km",
        ]);
    });
}

/// Many random points: every search by radius and by box, sorted, finds what redis-server
/// finds, at every scale from metres to thousands of kilometres.
#[test]
fn random_points_are_found_at_every_scale() {
    diff(|p| {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for chunk in 0..20 {
            let mut line = "GEOADD pts".to_string();
            for i in 0..50 {
                let (lon, lat) = (next() * 360.0 - 180.0, next() * 170.0 - 85.0);
                line.push_str(&format!(" {lon:.6} {lat:.6} p{chunk}_{i}"));
            }
            p.s(&line);
        }
        for (lon, lat) in [(0.0, 0.0), (179.9, 10.0), (-179.9, -10.0), (12.0, 84.0), (-70.0, -84.9)] {
            for km in [50, 500, 2000, 8000, 15000] {
                // Unsorted: the same members in the same order.
                p.s(&format!("GEOSEARCH pts FROMLONLAT {lon} {lat} BYRADIUS {km} km"));
                p.s(&format!(
                    "GEOSEARCH pts FROMLONLAT {lon} {lat} BYBOX {} {km} km",
                    km * 2
                ));
                let found = p.s(&format!(
                    "GEOSEARCH pts FROMLONLAT {lon} {lat} BYRADIUS {km} km ASC WITHDIST"
                ));
                if km >= 2000 {
                    assert!(!found.starts_with(b"*0"), "nothing within {km} km of {lon},{lat}");
                }
                p.s(&format!(
                    "GEOSEARCH pts FROMLONLAT {lon} {lat} BYBOX {km} {} km ASC",
                    km * 2
                ));
            }
        }
    });
}
