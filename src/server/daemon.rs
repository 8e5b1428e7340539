//! Running as an operator's daemon: `daemonize`, `pidfile`, `supervised systemd|auto`, and
//! SIGTERM/SIGINT turned into a clean shutdown.
//!
//! Forking must happen before any executor thread starts (a fork keeps only the calling
//! thread), so `daemonize` runs first thing after the configuration is read.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::config::Supervised;

/// Set by the signal handler; the cores poll it and shut down cleanly.
pub static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Which signal asked for the shutdown, so the log can name it as Redis does.
static SIGNAL_NUMBER: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomic stores: async-signal-safe.
    SIGNAL_NUMBER.store(sig, Ordering::SeqCst);
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Redis's name for the signal that asked for the shutdown.
pub fn signal_name() -> &'static str {
    match SIGNAL_NUMBER.load(Ordering::SeqCst) {
        libc::SIGINT => "SIGINT",
        _ => "SIGTERM",
    }
}

/// Routes SIGTERM and SIGINT to a clean shutdown; ignores SIGPIPE (a closed client socket
/// must be an error on write, not the end of the server).
pub fn install_signal_handlers() {
    // SAFETY: installing plain handlers; `on_signal` only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Detaches from the terminal: fork (the parent exits), new session, stdio to /dev/null.
pub fn daemonize() -> Result<(), String> {
    // SAFETY: called before any other thread exists; the child continues single-threaded.
    unsafe {
        match libc::fork() {
            -1 => return Err(format!("fork failed: {}", std::io::Error::last_os_error())),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}

/// Writes this process's pid to `path` (Redis only warns when it cannot).
pub fn write_pidfile(path: &str) -> Result<(), String> {
    std::fs::write(path, format!("{}\n", std::process::id())).map_err(|e| format!("Failed to write PID file: {e}"))
}

pub fn remove_pidfile(path: &str) {
    let _ = std::fs::remove_file(path);
}

/// Which init system, if any, supervises this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Supervisor {
    None,
    /// READY=1 and STATUS lines to `$NOTIFY_SOCKET`.
    Systemd,
    /// Upstart's `expect stop`: the process stops itself once, upstart continues it.
    Upstart,
}

/// Decides supervision as Redis does: `systemd` needs `NOTIFY_SOCKET`, `upstart` needs
/// `UPSTART_JOB`, `auto` picks whichever is present (upstart first). A mode asked for whose
/// variable is missing means no supervision, with the warning Redis logs (returned, since
/// the log is not open yet when this runs).
pub fn supervisor(mode: Supervised) -> (Supervisor, Option<&'static str>) {
    let upstart = std::env::var_os("UPSTART_JOB").is_some();
    let systemd = std::env::var_os("NOTIFY_SOCKET").is_some();
    match mode {
        Supervised::Upstart if upstart => (Supervisor::Upstart, None),
        Supervised::Upstart => (
            Supervisor::None,
            Some("upstart supervision requested, but UPSTART_JOB not found!"),
        ),
        Supervised::Systemd if systemd => (Supervisor::Systemd, None),
        Supervised::Systemd => (
            Supervisor::None,
            Some("systemd supervision error: NOTIFY_SOCKET not found!"),
        ),
        Supervised::Auto if upstart => (Supervisor::Upstart, None),
        Supervised::Auto if systemd => (Supervisor::Systemd, None),
        _ => (Supervisor::None, None),
    }
}

/// Upstart's `expect stop` handshake: stop until upstart sends SIGCONT. Like Redis this
/// happens early, before the server listens.
pub fn upstart_stop() {
    // SAFETY: raising a signal at ourselves; SIGSTOP cannot be caught.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
}

/// Tells systemd the server is ready: the status line, then READY=1, each in its own
/// datagram, in the order Redis sends them.
pub fn notify_ready() -> Result<(), String> {
    let failed = |e: std::io::Error| format!("systemd notification failed: {e}");
    sd_notify::notify(&[sd_notify::NotifyState::Status("Ready to accept connections")]).map_err(failed)?;
    sd_notify::notify(&[sd_notify::NotifyState::Ready]).map_err(failed)
}

/// Tells systemd the server is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
