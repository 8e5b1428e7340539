//! INCRBYFLOAT / HINCRBYFLOAT arithmetic, done in C `long double` like Redis 7.0.
//!
//! Why C: Redis parses both operands with `strtold`, adds them in 80-bit extended
//! precision (on x86-64) and prints `%.17Lf` with trailing zeros stripped. That is what
//! makes `10.5 + 0.1` reply `10.6` and `1e400` a valid increment, and Rust has no type
//! with that precision or range. The shim lives in `csrc/longdouble.c`.

use std::fmt;

/// Output buffer size: `%.17Lf` of the largest long double is under 5000 bytes.
const OUT_CAP: usize = 5200;

// Result codes of `shoal_ld_incr` (kept in sync with csrc/longdouble.c).
const LD_OK: i32 = 0;
const LD_BAD_CURRENT: i32 = 1;
const LD_BAD_INCR: i32 = 2;
const LD_INCR_NOT_FINITE: i32 = 3;
const LD_RESULT_NOT_FINITE: i32 = 4;

// SAFETY (for callers): implemented in csrc/longdouble.c. Reads `cur_len` bytes of `cur`
// (only if `has_cur != 0`) and `incr_len` bytes of `incr`; writes at most `out_cap` bytes
// to `out` and sets `*out_len` only when returning 0.
unsafe extern "C" {
    fn shoal_ld_incr(
        cur: *const u8,
        cur_len: usize,
        has_cur: std::ffi::c_int,
        incr: *const u8,
        incr_len: usize,
        hash_mode: std::ffi::c_int,
        out: *mut std::ffi::c_char,
        out_cap: usize,
        out_len: *mut usize,
    ) -> std::ffi::c_int;
}

/// Why an INCRBYFLOAT / HINCRBYFLOAT failed; [`IncrFloatError::message`] gives the
/// exact Redis error line (without the leading `-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    /// INCRBYFLOAT's stored value, or either command's increment, is not a valid float
    /// (empty, spaces, garbage, `nan`, overflow/underflow, 5120 bytes or longer).
    NotAFloat,
    /// HINCRBYFLOAT's stored field value is not a valid float.
    HashValueNotAFloat,
    /// HINCRBYFLOAT's increment is infinite (INCRBYFLOAT reports `NanOrInfinity` then).
    IncrementNotFinite,
    /// The sum is infinite or NaN; nothing must be stored.
    NanOrInfinity,
}

impl IncrFloatError {
    /// The Redis 7.0 error reply text for this failure.
    pub fn message(self) -> &'static str {
        match self {
            IncrFloatError::NotAFloat => "ERR value is not a valid float",
            IncrFloatError::HashValueNotAFloat => "ERR hash value is not a float",
            IncrFloatError::IncrementNotFinite => "ERR value is NaN or Infinity",
            IncrFloatError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
        }
    }
}

impl fmt::Display for IncrFloatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for IncrFloatError {}

/// INCRBYFLOAT: returns the new value to store and reply with (`current` is the stored
/// string; pass `b"0"` for a missing key). Checks the stored value before the increment.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    run(Some(current), incr, false).map_err(|code| match code {
        LD_RESULT_NOT_FINITE | LD_INCR_NOT_FINITE => IncrFloatError::NanOrInfinity,
        LD_BAD_CURRENT | LD_BAD_INCR => IncrFloatError::NotAFloat,
        _ => IncrFloatError::NotAFloat, // LD_NO_ROOM: cannot happen with OUT_CAP bytes.
    })
}

/// HINCRBYFLOAT: like [`incr_by_float`] but with the hash command's checks and messages:
/// the increment is validated first and may not be infinite, then the field's value
/// (`None` when the field or key is absent).
pub fn hincr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    run(current, incr, true).map_err(|code| match code {
        LD_BAD_CURRENT => IncrFloatError::HashValueNotAFloat,
        LD_INCR_NOT_FINITE => IncrFloatError::IncrementNotFinite,
        LD_RESULT_NOT_FINITE => IncrFloatError::NanOrInfinity,
        LD_BAD_INCR => IncrFloatError::NotAFloat,
        _ => IncrFloatError::NotAFloat, // LD_NO_ROOM: cannot happen with OUT_CAP bytes.
    })
}

/// Calls the C shim; `Err` carries its result code.
fn run(current: Option<&[u8]>, incr: &[u8], hash_mode: bool) -> Result<Vec<u8>, i32> {
    let (cur_ptr, cur_len) = current.map_or((std::ptr::null(), 0), |c| (c.as_ptr(), c.len()));
    let mut out = [0u8; OUT_CAP];
    let mut out_len = 0usize;
    // SAFETY: the pointers and lengths describe live slices (a null `cur` is only passed
    // with `has_cur == 0`, when it is not read); `out` is OUT_CAP writable bytes and
    // `out_len` a writable usize. The C code keeps no pointer after returning.
    let code = unsafe {
        shoal_ld_incr(
            cur_ptr,
            cur_len,
            i32::from(current.is_some()),
            incr.as_ptr(),
            incr.len(),
            i32::from(hash_mode),
            out.as_mut_ptr().cast(),
            OUT_CAP,
            &mut out_len,
        )
    };
    if code != LD_OK {
        return Err(code);
    }
    out.get(..out_len).map(<[u8]>::to_vec).ok_or(code)
}
