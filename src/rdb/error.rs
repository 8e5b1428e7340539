//! The one error type of the RDB codec.
//!
//! Why the offset is mandatory: an operator facing a refused dump (invariant S2) needs to know
//! where it went wrong, and tests assert that truncations and bit flips are caught, not
//! silently half-loaded.

use std::fmt;

/// What went wrong, coarsely, so callers can tell a short read from a bad file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbErrorKind {
    /// The source ended before the EOF opcode and checksum.
    Truncated,
    /// Bytes that no valid RDB file contains (bad length, bad blob, bad magic...).
    Corrupt,
    /// A well-formed construct Shoal does not support (modules, streams, zipmaps).
    Unsupported,
    /// The CRC64 trailer does not match the bytes read.
    Checksum,
    /// The underlying reader failed.
    Io,
}

/// A decoding failure: what, where (byte offset from the file start) and, when known, the key.
#[derive(Debug, Clone)]
pub struct RdbError {
    pub kind: RdbErrorKind,
    /// Byte offset of the construct that failed (from the `R` of `REDIS`).
    pub offset: u64,
    pub message: String,
    /// The key whose value failed to decode, when the key had been read.
    pub key: Option<Vec<u8>>,
}

impl RdbError {
    pub(crate) fn new(kind: RdbErrorKind, offset: u64, message: impl Into<String>) -> Self {
        RdbError {
            kind,
            offset,
            message: message.into(),
            key: None,
        }
    }

    pub(crate) fn corrupt(offset: u64, message: impl Into<String>) -> Self {
        Self::new(RdbErrorKind::Corrupt, offset, message)
    }

    pub(crate) fn with_key(mut self, key: &[u8]) -> Self {
        self.key.get_or_insert_with(|| key.to_vec());
        self
    }
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad RDB at byte {}: {}", self.offset, self.message)?;
        if let Some(key) = &self.key {
            write!(f, " (key '{}')", String::from_utf8_lossy(key))?;
        }
        Ok(())
    }
}

impl std::error::Error for RdbError {}
