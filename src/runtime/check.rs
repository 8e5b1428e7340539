//! Start-up check that io_uring is usable, with a message that says what to change.
//!
//! glommio needs io_uring (Linux 5.8 or later), permission to call it (seccomp profiles such as
//! Docker's default block it; `kernel.io_uring_disabled` can too) and locked memory for its
//! rings. Checking first turns a runtime panic into one actionable line.

use std::io;

/// Raises RLIMIT_MEMLOCK as far as this process may, then probes `io_uring_setup`.
pub fn check_io_uring() -> Result<(), String> {
    raise_memlock();
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup reads and writes a `struct io_uring_params` (120 bytes) that we own.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd >= 0 {
        // SAFETY: fd is a descriptor we just opened.
        unsafe { libc::close(fd as i32) };
        return Ok(());
    }
    let err = io::Error::last_os_error();
    let why = match err.raw_os_error() {
        Some(libc::ENOSYS) => format!(
            "this kernel ({}) has no io_uring or a seccomp filter hides it: Shoal needs Linux 5.8 or later, \
             and in a container a seccomp profile that allows io_uring_setup/io_uring_enter/io_uring_register \
             (e.g. docker run --security-opt seccomp=unconfined)",
            kernel_release()
        ),
        Some(libc::EPERM) | Some(libc::EACCES) => "io_uring is not permitted: set sysctl kernel.io_uring_disabled=0, \
             and in a container use a seccomp profile that allows io_uring (e.g. --security-opt seccomp=unconfined)"
            .to_string(),
        Some(libc::ENOMEM) => "io_uring could not lock memory for its rings: raise the locked-memory limit \
             (ulimit -l unlimited, LimitMEMLOCK=infinity in the systemd unit, or --ulimit memlock=-1 in docker)"
            .to_string(),
        _ => format!("io_uring_setup failed: {err}"),
    };
    Err(why)
}

fn raise_memlock() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain rlimit calls on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) == 0 {
            let want = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &want) != 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
            }
        }
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
