//! Running as an operator's daemon: `daemonize`, `pidfile`, `supervised systemd|auto`, and
//! SIGTERM/SIGINT turned into a clean shutdown.
//!
//! Forking must happen before any executor thread starts (a fork keeps only the calling
//! thread), so `daemonize` runs first thing after the configuration is read.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Supervised;

/// Set by the signal handler; the cores poll it and shut down cleanly.
pub static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    SIGNALLED.store(true, Ordering::SeqCst);
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

/// Whether to talk to systemd: `supervised systemd`, or `auto` with NOTIFY_SOCKET set.
pub fn systemd_supervised(mode: Supervised) -> bool {
    match mode {
        Supervised::Systemd => true,
        Supervised::Auto => std::env::var_os("NOTIFY_SOCKET").is_some(),
        _ => false,
    }
}

/// Tells systemd the server is ready (READY=1 plus a status line).
pub fn notify_ready() -> Result<(), String> {
    sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("Ready to accept connections"),
    ])
    .map_err(|e| format!("systemd notification failed: {e}"))
}

/// Tells systemd the server is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
