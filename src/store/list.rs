//! The list value type and its encodings (placeholder until the list family lands).

/// A list value.
#[derive(Clone, Debug, Default)]
pub struct List {}

impl List {
    /// What `OBJECT ENCODING` reports.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }
}
