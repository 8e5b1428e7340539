//! Glob matching for CONFIG GET patterns and `include` wildcards: the shared Redis matcher
//! (`util::glob`) over text.

/// Returns whether `text` matches `pattern`; `nocase` folds ASCII case
/// (configuration names are case-insensitive).
pub fn glob_match(pattern: &str, text: &str, nocase: bool) -> bool {
    crate::util::glob::glob_match(pattern.as_bytes(), text.as_bytes(), nocase)
}

/// Whether a pattern uses glob syntax at all; CONFIG GET treats a
/// pattern without `*`, `?` or `[` as an exact (case-insensitive) name.
pub fn has_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}
