//! The set value type and its encodings (placeholder until the set family lands).

/// A set value.
#[derive(Clone, Debug, Default)]
pub struct Set {}

impl Set {
    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
