//! RDB version 10 codec (the file format of redis-server 7.0), independent of Shoal's store.
//!
//! Why a separate intermediate representation: snapshots, full syncs and `DEBUG RELOAD`-style
//! loading all speak RDB, while the store's value types change shape for speed. The codec
//! talks only in [`RdbValue`] / [`RdbEntry`] (owned, for loading) and [`ValueRef`] (borrowed,
//! for saving without copying a dataset), so the store can evolve without touching the bytes.
//!
//! * [`write`]: a sans-IO streaming encoder. The coordinator writes the header and one
//!   SELECTDB/RESIZEDB per db; shards call [`encode_entry`] in parallel to produce chunks;
//!   the coordinator appends them in any order and finishes with EOF + CRC64 (invariant S1/S3).
//! * [`read`]: a streaming decoder over any `std::io::Read`, one entry at a time, accepting
//!   every value encoding 7.0.15 writes or loads (invariant S3), refusing truncated or corrupt
//!   input with the byte offset and verifying the CRC64 trailer (invariant S2).
//!
//! Byte formats: `shared/spec/replication-and-rdb.md` sections 8 and 9.

mod blob;
mod error;
pub mod payload;
pub mod read;
mod value;
pub mod write;

pub use error::{RdbError, RdbErrorKind};
pub use read::{RdbItem, RdbReader};
pub use value::{Elements, Pairs, RdbEntry, RdbValue, Scored, ValueRef};
pub use write::{AuxValue, RdbWriter, ReplAux, dump, encode_entry, standard_aux};

/// The version this codec writes, and the highest it reads.
pub const RDB_VERSION: u32 = 10;

/// CRC-64/REDIS ("Jones" polynomial, reflected, init 0): the RDB trailer checksum.
/// Slice-by-16 tables: the checksum runs over every byte of every snapshot, and the
/// byte-at-a-time table made it the writer thread's main cost.
pub(crate) static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// Opcodes that may appear where a value type byte is expected (spec 8.2).
pub(crate) mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value type bytes (spec 8.2). W = written by 7.0.15, L = load only.
pub(crate) mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
}

#[cfg(test)]
mod tests;
