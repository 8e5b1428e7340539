//! Redis-style log lines: `pid:role dd Mon yyyy hh:mm:ss.mmm <mark> message`, where the mark
//! is `.` debug, `-` verbose, `*` notice, `#` warning, to the `logfile` or to stdout.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

struct Logger {
    min: Level,
    file: Option<Mutex<std::fs::File>>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets where and what to log; the first call wins. An unopenable file is an error.
pub fn init(min: Level, logfile: &str) -> Result<(), String> {
    let file = if logfile.is_empty() {
        None
    } else {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logfile)
            .map_err(|e| format!("Can't open the log file: {e}"))?;
        Some(Mutex::new(f))
    };
    let _ = LOGGER.set(Logger { min, file });
    Ok(())
}

fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into a struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// The role letter of log lines: `M` for a master, `S` for a replica (as Redis writes them).
static ROLE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(b'M');

/// Switches the role letter of later log lines.
pub fn set_replica_role(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, std::sync::atomic::Ordering::Relaxed);
}

pub fn log(level: Level, msg: &str) {
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    emit(
        level,
        format!(
            "{}:{} {} {} {}\n",
            std::process::id(),
            ROLE.load(std::sync::atomic::Ordering::Relaxed) as char,
            timestamp(),
            mark,
            msg
        ),
    );
}

/// A warning in the form Redis writes from its signal handler,
/// `pid:signal-handler (unix seconds) message`, so log watchers that look for Redis's
/// shutdown lines find the same text.
pub fn from_signal_handler(msg: &str) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    emit(
        Level::Warning,
        format!("{}:signal-handler ({secs}) {msg}\n", std::process::id()),
    );
}

/// Writes one finished line to the log file or stdout, if `level` is wanted.
fn emit(level: Level, line: String) {
    let default = Logger {
        min: Level::Notice,
        file: None,
    };
    let logger = LOGGER.get().unwrap_or(&default);
    if level < logger.min {
        return;
    }
    match &logger.file {
        Some(f) => {
            let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
            let _ = f.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

pub fn notice(msg: &str) {
    log(Level::Notice, msg);
}

pub fn warning(msg: &str) {
    log(Level::Warning, msg);
}
