//! Shoal: a Redis-compatible, shared-nothing, thread-per-core in-memory data server.
//!
//! Layers, bottom up: `runtime` (the only glommio user), `resp` (wire protocol), `store`
//! (values), `shard` (a core's keyspace and write log), `command` (the command table and one
//! file per family), `txn` (work across shards), `net` (listeners and connections),
//! `config` (redis.conf) and `server` (start-up, shared state, INFO counters, logging).

pub mod command;
pub mod config;
pub mod net;
pub mod persist;
pub mod rdb;
pub mod repl;
pub mod resp;
pub mod runtime;
pub mod server;
pub mod shard;
pub mod store;
pub mod txn;
pub mod util;
