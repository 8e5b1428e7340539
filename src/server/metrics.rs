//! INFO's instantaneous rates (`instantaneous_ops_per_sec`, `instantaneous_*_kbps`), sampled
//! the way redis-server samples them: every 100 ms the rate since the previous sample goes
//! into a ring of 16, and INFO shows the ring's mean (the last 1.6 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ServerState;
use super::stats::total;

/// What is sampled.
#[derive(Clone, Copy)]
pub enum Metric {
    Commands,
    NetInput,
    NetOutput,
    ReplInput,
    ReplOutput,
}

const METRICS: usize = 5;
const SAMPLES: usize = 16;
const PERIOD: Duration = Duration::from_millis(100);

/// The published means, per second: written by the sampler only, read by INFO on any core.
#[derive(Default)]
pub struct Rates {
    mean: [AtomicU64; METRICS],
}

impl Rates {
    pub fn per_sec(&self, m: Metric) -> f64 {
        f64::from_bits(self.mean[m as usize].load(Ordering::Relaxed))
    }
}

/// The sampler's own state: the last readings and each metric's ring of rates.
#[derive(Default)]
struct Sampler {
    last: Option<([u64; METRICS], u64)>,
    ring: [[f64; SAMPLES]; METRICS],
    at: usize,
}

impl Sampler {
    /// Adds the rates since the last readings (cumulative counters, read at `now_ms`) and
    /// publishes the new means. A counter that went down (CONFIG RESETSTAT) counts as idle.
    fn sample(&mut self, readings: [u64; METRICS], now_ms: u64, out: &Rates) {
        if let Some((last, last_ms)) = self.last {
            let elapsed_ms = now_ms.saturating_sub(last_ms).max(1) as f64;
            for m in 0..METRICS {
                let rate = readings[m].saturating_sub(last[m]) as f64 * 1000.0 / elapsed_ms;
                self.ring[m][self.at] = rate;
                let mean = self.ring[m].iter().sum::<f64>() / SAMPLES as f64;
                out.mean[m].store(mean.to_bits(), Ordering::Relaxed);
            }
            self.at = (self.at + 1) % SAMPLES;
        }
        self.last = Some((readings, now_ms));
    }
}

fn readings(st: &ServerState) -> [u64; METRICS] {
    let c = &st.counters;
    [
        total(c, |x| &x.commands_processed),
        total(c, |x| &x.net_input_bytes),
        total(c, |x| &x.net_output_bytes),
        crate::repl::NET_INPUT_BYTES.load(Ordering::Relaxed),
        crate::repl::NET_OUTPUT_BYTES.load(Ordering::Relaxed),
    ]
}

/// Samples the server's counters every 100 ms, for the life of the process (one task, on the
/// first core).
pub async fn run(st: Arc<ServerState>) {
    let mut sampler = Sampler::default();
    loop {
        sampler.sample(readings(&st), crate::shard::unix_ms(), &st.rates);
        super::memory::note_used();
        crate::runtime::sleep(PERIOD).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_mean_of_the_last_sixteen_samples() {
        let rates = Rates::default();
        let mut s = Sampler::default();
        s.sample([0; METRICS], 1000, &rates);
        assert_eq!(rates.per_sec(Metric::Commands), 0.0, "one reading gives no rate");
        // 100 commands and 1024 input bytes per 100 ms: 1000/s and 10240 B/s, one sample of 16.
        s.sample([100, 1024, 0, 0, 0], 1100, &rates);
        assert_eq!(rates.per_sec(Metric::Commands), 1000.0 / 16.0);
        for i in 2..=16 {
            s.sample([100 * i, 1024 * i, 0, 0, 0], 1000 + 100 * i, &rates);
        }
        assert_eq!(rates.per_sec(Metric::Commands), 1000.0);
        assert_eq!(rates.per_sec(Metric::NetInput), 10240.0);
        // A reset counter reads as idle, not as a huge jump.
        s.sample([0; METRICS], 2800, &rates);
        assert_eq!(rates.per_sec(Metric::Commands), 1000.0 * 15.0 / 16.0);
    }
}
