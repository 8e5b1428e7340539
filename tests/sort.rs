//! SORT and SORT_RO compared with redis-server 7.0 reply by reply, with one shard and four
//! (BY and GET patterns then name keys on every shard, and STORE may write to another).

mod common;

use common::*;

const DATA: &[&str] = &[
    "RPUSH nums 3 1 2 10 -5 2.5 1e3 7",
    "RPUSH words banana apple cherry Apple 10 2",
    "SADD ids 3 1 2",
    "SADD names bob alice carol",
    "ZADD z 1 c 2 b 3 a 4 d",
    "ZADD znum 5 10 4 9 3 8",
    "MSET w_1 30 w_2 10 w_3 20 name_1 one name_2 two",
    "HSET obj_1 f 3 g x",
    "HSET obj_2 f 1 g y",
    "HSET obj_3 f 2",
    "SET str x",
    "RPUSH bad 1 two 3",
];

const SORTS: &[&str] = &[
    "SORT nums",
    "SORT nums DESC",
    "SORT nums LIMIT 0 3",
    "SORT nums LIMIT 2 3 DESC",
    "SORT nums LIMIT -5 2",
    "SORT nums LIMIT 5 -1",
    "SORT nums LIMIT 100 2",
    "SORT nums LIMIT 0 0",
    "SORT words ALPHA",
    "SORT words ALPHA DESC LIMIT 1 2",
    "SORT words",
    "SORT bad",
    "SORT bad BY nosort",
    "SORT bad ALPHA",
    "SORT ids",
    "SORT ids BY w_*",
    "SORT ids BY w_* DESC",
    "SORT ids BY w_* GET # GET name_* GET obj_*->f GET obj_*->g GET missing_*",
    "SORT ids BY obj_*->f",
    "SORT ids BY obj_*->g ALPHA",
    "SORT ids BY missing_* LIMIT 0 2",
    "SORT ids GET name_*",
    "SORT ids GET nostar",
    "SORT ids BY w_* LIMIT 1 1 GET name_*",
    "SORT names ALPHA",
    "SORT z",
    "SORT z ALPHA",
    "SORT z BY nosort",
    "SORT z BY nosort DESC",
    "SORT z BY nosort LIMIT 1 2",
    "SORT z BY nosort DESC LIMIT 1 2",
    "SORT znum",
    "SORT znum BY nosort GET #",
    "SORT nums BY nosort LIMIT 2 3",
    "SORT nums BY nosort DESC",
    "SORT missing",
    "SORT missing BY w_* GET #",
    "SORT nums STORE out",
    "LRANGE out 0 -1",
    "SORT ids BY w_* GET name_* STORE out2",
    "LRANGE out2 0 -1",
    "SORT names BY nosort STORE out3",
    "LRANGE out3 0 -1",
    "SORT missing STORE out3",
    "EXISTS out3",
    "SORT_RO nums DESC LIMIT 0 2",
    "SORT_RO nums STORE out",
    "SORT str",
    "SORT nums LIMIT 1",
    "SORT nums LIMIT x 1",
    "SORT nums FOO",
    "SORT nums BY",
    "SORT nums GET",
    "SORT nums STORE",
    "SORT",
];

#[test]
fn sort_matches_redis() {
    diff(|p| {
        p.lines(DATA);
        p.lines(SORTS);
    });
}

/// A set read without sorting comes in each server's own order: compared as sets.
#[test]
fn an_unsorted_set_holds_the_same_members() {
    diff(|p| {
        p.s("SADD s x y z 1 2");
        let (r, s) = p.both(&c("SORT s BY nosort"));
        let sorted = |r: Reply| {
            let mut v: Vec<String> = r.items().iter().map(|i| lossy(&i.bulk().unwrap_or_default())).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(s), sorted(r));
        let (r, s) = p.both(&c("SORT s BY nosort LIMIT 1 3"));
        assert_eq!((r.items().len(), s.items().len()), (3, 3));
    });
}
