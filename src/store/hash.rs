//! The hash value type and its encodings (placeholder until the hash family lands).

/// A hash value.
#[derive(Clone, Debug, Default)]
pub struct Hash {}

impl Hash {
    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
