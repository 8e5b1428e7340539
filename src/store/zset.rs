//! The zset value type and its encodings (placeholder until the zset family lands).

/// A zset value.
#[derive(Clone, Debug, Default)]
pub struct ZSet {}

impl ZSet {
    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
