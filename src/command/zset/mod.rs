//! The sorted-set family, as redis-server 7.0 behaves: replies, error texts and what each
//! write propagates.
//!
//! - `write.rs`: ZADD / ZINCRBY / ZREM / ZREMRANGEBY* (all logged verbatim when they change
//!   something).
//! - `read.rs`: point reads, counts, ZRANDMEMBER, ZSCAN.
//! - `range.rs`: score and lex bounds, the ZRANGE family on one shard, and the range query
//!   ZRANGESTORE reuses.
//! - `pop.rs`: ZPOPMIN / ZPOPMAX (logged verbatim) and ZMPOP (logged as `ZPOPMIN|ZPOPMAX key
//!   n`); `pop::pop_and_reply` is what the blocking BZPOPMIN / BZPOPMAX / BZMPOP wrappers call.
//! - `store.rs`: ZUNION / ZINTER / ZDIFF (+STORE), ZINTERCARD, ZRANGESTORE and ZMPOP over keys
//!   that may live on several shards, through `txn::Txn`.
//!
//! Scores are replied as `%.17g` text: bulk strings in RESP2, doubles in RESP3. With
//! WITHSCORES, RESP2 gets a flat member/score array and RESP3 an array of pairs, as 7.0 does.

pub mod pop;
mod range;
mod read;
mod store;
mod write;

pub(crate) use write::zadd;

pub use pop::{PopLog, PopReply, PopSide, pop_and_reply};

use super::*;
use crate::resp::Out;
use crate::shard::ShardCx;
use crate::store::zset::ZSet;
use crate::store::{Value, ValueMut, ValueRef};
use crate::util::num::format_double;

const G: &str = "sorted_set";

const W_FAST: Flags = WRITE.union(DENYOOM).union(FAST);
const R_FAST: Flags = READONLY.union(FAST);
const W_BLOCKING: Flags = WRITE.union(NOSCRIPT).union(BLOCKING);

pub const SPECS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, W_FAST, KeySpan::single(1), Run::Shard(write::zadd)).member_at(3)
    .doc(
        G,
        "1.2.0",
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]",
    ),
    CommandSpec::new("zincrby", 4, W_FAST, KeySpan::single(1), Run::Shard(write::zincrby)).member_at(3)
    .doc(
        G,
        "1.2.0",
        "Increments the score of a member in a sorted set.",
        "key increment member",
    ),
    CommandSpec::new("zrem", -3, WRITE.union(FAST), KeySpan::single(1), Run::Shard(write::zrem)).member_at(2)
    .doc(
        G,
        "1.2.0",
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        "key member [member ...]",
    ),
    CommandSpec::new("zremrangebyscore", 4, WRITE, KeySpan::single(1), Run::Shard(write::zremrangebyscore)).doc(
        G,
        "1.2.0",
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        "key min max",
    ),
    CommandSpec::new("zremrangebyrank", 4, WRITE, KeySpan::single(1), Run::Shard(write::zremrangebyrank)).doc(
        G,
        "2.0.0",
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        "key start stop",
    ),
    CommandSpec::new("zremrangebylex", 4, WRITE, KeySpan::single(1), Run::Shard(write::zremrangebylex)).doc(
        G,
        "2.8.9",
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        "key min max",
    ),
    CommandSpec::new("zcard", 2, R_FAST, KeySpan::single(1), Run::Shard(read::zcard)).doc(
        G,
        "1.2.0",
        "Returns the number of members in a sorted set.",
        "key",
    ),
    CommandSpec::new("zscore", 3, R_FAST, KeySpan::single(1), Run::Shard(read::zscore)).member_at(2)
    .doc(
        G,
        "1.2.0",
        "Returns the score of a member in a sorted set.",
        "key member",
    ),
    CommandSpec::new("zmscore", -3, R_FAST, KeySpan::single(1), Run::Shard(read::zmscore)).doc(
        G,
        "6.2.0",
        "Returns the score of one or more members in a sorted set.",
        "key member [member ...]",
    ),
    CommandSpec::new("zcount", 4, R_FAST, KeySpan::single(1), Run::Shard(read::zcount)).doc(
        G,
        "2.0.0",
        "Returns the count of members in a sorted set that have scores within a range.",
        "key min max",
    ),
    CommandSpec::new("zlexcount", 4, R_FAST, KeySpan::single(1), Run::Shard(read::zlexcount)).doc(
        G,
        "2.8.9",
        "Returns the number of members in a sorted set within a lexicographical range.",
        "key min max",
    ),
    CommandSpec::new("zrank", 3, R_FAST, KeySpan::single(1), Run::Shard(read::zrank)).member_at(2)
    .doc(
        G,
        "2.0.0",
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        "key member",
    ),
    CommandSpec::new("zrevrank", 3, R_FAST, KeySpan::single(1), Run::Shard(read::zrevrank)).member_at(2)
    .doc(
        G,
        "2.0.0",
        "Returns the index of a member in a sorted set ordered by descending scores.",
        "key member",
    ),
    CommandSpec::new("zrandmember", -2, READONLY, KeySpan::single(1), Run::Shard(read::zrandmember)).doc(
        G,
        "6.2.0",
        "Returns one or more random members from a sorted set.",
        "key [count [WITHSCORES]]",
    ),
    CommandSpec::new("zscan", -3, READONLY, KeySpan::single(1), Run::Shard(read::zscan)).doc(
        G,
        "2.8.0",
        "Iterates over members and scores of a sorted set.",
        "key cursor [MATCH pattern] [COUNT count]",
    ),
    CommandSpec::new("zrange", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrange)).doc(
        G,
        "1.2.0",
        "Returns members in a sorted set within a range of indexes.",
        "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]",
    ),
    CommandSpec::new("zrangebyscore", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrangebyscore)).doc(
        G,
        "1.0.5",
        "Returns members in a sorted set within a range of scores.",
        "key min max [WITHSCORES] [LIMIT offset count]",
    ),
    CommandSpec::new("zrevrangebyscore", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrevrangebyscore)).doc(
        G,
        "2.2.0",
        "Returns members in a sorted set within a range of scores in reverse order.",
        "key max min [WITHSCORES] [LIMIT offset count]",
    ),
    CommandSpec::new("zrangebylex", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrangebylex)).doc(
        G,
        "2.8.9",
        "Returns members in a sorted set within a lexicographical range.",
        "key min max [LIMIT offset count]",
    ),
    CommandSpec::new("zrevrangebylex", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrevrangebylex)).doc(
        G,
        "2.8.9",
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        "key max min [LIMIT offset count]",
    ),
    CommandSpec::new("zrevrange", -4, READONLY, KeySpan::single(1), Run::Shard(range::zrevrange)).doc(
        G,
        "1.2.0",
        "Returns members in a sorted set within a range of indexes in reverse order.",
        "key start stop [WITHSCORES]",
    ),
    CommandSpec::new("zrangestore", -5, WRITE.union(DENYOOM), KeySpan::range(1, 2, 1), Run::Conn(store::zrangestore)).doc(
        G,
        "6.2.0",
        "Stores a range of members from sorted set in a key.",
        "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]",
    ),
    CommandSpec::new("zpopmin", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(pop::zpopmin)).doc(
        G,
        "5.0.0",
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "key [count]",
    ),
    CommandSpec::new("zpopmax", -2, WRITE.union(FAST), KeySpan::single(1), Run::Shard(pop::zpopmax)).doc(
        G,
        "5.0.0",
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "key [count]",
    ),
    CommandSpec::new("bzpopmin", -3, W_BLOCKING.union(FAST), KeySpan::range(1, -2, 1), Run::Conn(pop::bzpopmin)).doc(
        G,
        "5.0.0",
        "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
        "key [key ...] timeout",
    ),
    CommandSpec::new("bzpopmax", -3, W_BLOCKING.union(FAST), KeySpan::range(1, -2, 1), Run::Conn(pop::bzpopmax)).doc(
        G,
        "5.0.0",
        "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
        "key [key ...] timeout",
    ),
    CommandSpec::new("bzmpop", -5, WRITE.union(BLOCKING), KeySpan::NONE, Run::Conn(pop::bzmpop)).numkeys_at(2).doc(
        G,
        "7.0.0",
        "Remove and return members with scores in a sorted set or block until one is available",
        "timeout numkeys key [key ...] MIN|MAX [COUNT count]",
    ),
    CommandSpec::new("zmpop", -4, WRITE, KeySpan::NONE, Run::Conn(store::zmpop)).numkeys_at(1).doc(
        G,
        "7.0.0",
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        "numkeys key [key ...] MIN|MAX [COUNT count]",
    ),
    CommandSpec::new("zunion", -3, READONLY, KeySpan::NONE, Run::Conn(store::zunion)).numkeys_at(1).doc(
        G,
        "6.2.0",
        "Returns the union of multiple sorted sets.",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    ),
    CommandSpec::new("zinter", -3, READONLY, KeySpan::NONE, Run::Conn(store::zinter)).numkeys_at(1).doc(
        G,
        "6.2.0",
        "Returns the intersect of multiple sorted sets.",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]",
    ),
    CommandSpec::new("zdiff", -3, READONLY, KeySpan::NONE, Run::Conn(store::zdiff)).numkeys_at(1).doc(
        G,
        "6.2.0",
        "Returns the difference between multiple sorted sets.",
        "numkeys key [key ...] [WITHSCORES]",
    ),
    CommandSpec::new("zunionstore", -4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(store::zunionstore)).numkeys_at(2).doc(
        G,
        "2.0.0",
        "Stores the union of multiple sorted sets in a key.",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    ),
    CommandSpec::new("zinterstore", -4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(store::zinterstore)).numkeys_at(2).doc(
        G,
        "2.0.0",
        "Stores the intersect of multiple sorted sets in a key.",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]",
    ),
    CommandSpec::new("zdiffstore", -4, WRITE.union(DENYOOM), KeySpan::single(1), Run::Conn(store::zdiffstore)).numkeys_at(2).doc(
        G,
        "6.2.0",
        "Stores the difference of multiple sorted sets in a key.",
        "destination numkeys key [key ...]",
    ),
    CommandSpec::new("zintercard", -3, READONLY, KeySpan::NONE, Run::Conn(store::zintercard)).numkeys_at(1).doc(
        G,
        "7.0.0",
        "Returns the number of members of the intersect of multiple sorted sets.",
        "numkeys key [key ...] [LIMIT limit]",
    ),
];

/// The zset under `key` for a read (counts a keyspace hit or miss, as `lookupKeyRead`).
pub(crate) fn read_zset<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a ZSet>, CmdError> {
    match cx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match e.value() {
            ValueRef::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The zset under `key` for a write.
fn write_zset<'a>(cx: &'a mut ShardCx, key: &[u8]) -> Result<Option<&'a mut ZSet>, CmdError> {
    match cx.lookup(key) {
        None => Ok(None),
        Some(e) => match e.value_mut() {
            ValueMut::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// Writes a score the way Redis 7.0 replies with a double.
fn reply_score(out: &mut Out, score: f64) {
    let mut text = Vec::with_capacity(24);
    format_double(score, &mut text);
    out.double_text(&text);
}

/// Writes the header of a list of `n` elements: with scores, RESP2 flattens member/score
/// pairs and RESP3 nests them (each element then starts with `pair_header`).
fn reply_elements_header(out: &mut Out, n: usize, withscores: bool) {
    if withscores && out.proto() == crate::resp::Proto::Resp2 {
        out.array(2 * n);
    } else {
        out.array(n);
    }
}

/// Writes one element of a list started by `reply_elements_header`.
fn reply_element(out: &mut Out, member: &[u8], score: f64, withscores: bool) {
    if withscores {
        if out.proto() == crate::resp::Proto::Resp3 {
            out.array(2);
        }
        out.bulk(member);
        reply_score(out, score);
    } else {
        out.bulk(member);
    }
}

/// Writes a whole list of elements.
fn reply_elements<M: AsRef<[u8]>>(out: &mut Out, items: &[(M, f64)], withscores: bool) {
    reply_elements_header(out, items.len(), withscores);
    for (m, s) in items {
        reply_element(out, m.as_ref(), *s, withscores);
    }
}

#[cfg(test)]
mod tests;
