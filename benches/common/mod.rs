//! What the criterion benchmarks share: small samples and short runs, so that the whole
//! suite stays within a few minutes on a shared two-core machine (the numbers are trends).

use std::time::Duration;

use criterion::Criterion;

/// Criterion with `samples` samples, a 0.5 s warm-up and 2 s of measurement per benchmark.
pub fn quick(samples: usize) -> Criterion {
    Criterion::default()
        .sample_size(samples)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}
