/*
 * Shoal: tiny C helpers for the numeric parts of the Redis protocol that
 * need libc behaviour Rust does not offer.
 *
 * Redis 7.0 computes INCRBYFLOAT / HINCRBYFLOAT in C `long double` (80-bit
 * extended precision on x86-64) and prints the result with "%.17Lf", and it
 * parses ZADD-style scores with libc strtod (which accepts hex floats,
 * "infinity", flags underflow/overflow via ERANGE, ...). Rust has neither a
 * long double type nor a strtod clone, so these few functions are done in C.
 * All functions are reentrant: they only touch their arguments, the stack
 * and the thread-local errno. They assume the "C" LC_NUMERIC locale (the
 * default; the server must never call setlocale(LC_NUMERIC, ...)).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest text Redis accepts as a long double (MAX_LONG_DOUBLE_CHARS):
 * inputs of this length or longer are rejected. */
#define SHOAL_LD_MAX_CHARS 5120

/* Result codes shared with src/util/num_ld.rs. */
enum {
    SHOAL_LD_OK = 0,
    SHOAL_LD_BAD_CURRENT = 1,
    SHOAL_LD_BAD_INCR = 2,
    SHOAL_LD_INCR_NOT_FINITE = 3,
    SHOAL_LD_RESULT_NOT_FINITE = 4,
    SHOAL_LD_NO_ROOM = 5
};

/* Parses text[0..len) as a long double the way Redis does: non-empty,
 * shorter than SHOAL_LD_MAX_CHARS, no leading white space, the whole
 * input consumed, no overflow to infinity or underflow to zero, not NaN.
 * Returns 1 and stores the value on success, 0 otherwise. */
static int shoal_parse_ld(const unsigned char *text, size_t len, long double *out) {
    char buf[SHOAL_LD_MAX_CHARS];
    char *end = NULL;
    long double v;

    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    v = strtold(buf, &end);
    if (end != buf + len) return 0;
    if (errno == ERANGE && (isinf(v) || v == 0.0L)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Adds two textual numbers in long double and writes the "human friendly"
 * Redis rendering ("%.17Lf", trailing zeros and a bare point removed, "-0"
 * shown as "0") into out[0..out_cap), storing its length in *out_len.
 *
 * has_cur == 0 means the key/field is absent (value 0). hash_mode selects
 * HINCRBYFLOAT's checking order (increment first, and an infinite
 * increment is its own error) instead of INCRBYFLOAT's (current first).
 * Returns one of the SHOAL_LD_* codes. */
int shoal_ld_incr(const unsigned char *cur, size_t cur_len, int has_cur,
                  const unsigned char *incr, size_t incr_len, int hash_mode,
                  char *out, size_t out_cap, size_t *out_len) {
    long double value = 0.0L, by = 0.0L;
    int n;
    size_t l;

    if (hash_mode) {
        if (!shoal_parse_ld(incr, incr_len, &by)) return SHOAL_LD_BAD_INCR;
        if (isinf(by)) return SHOAL_LD_INCR_NOT_FINITE;
        if (has_cur && !shoal_parse_ld(cur, cur_len, &value)) return SHOAL_LD_BAD_CURRENT;
    } else {
        if (has_cur && !shoal_parse_ld(cur, cur_len, &value)) return SHOAL_LD_BAD_CURRENT;
        if (!shoal_parse_ld(incr, incr_len, &by)) return SHOAL_LD_BAD_INCR;
    }
    value += by;
    if (isnan(value) || isinf(value)) return SHOAL_LD_RESULT_NOT_FINITE;

    n = snprintf(out, out_cap, "%.17Lf", value);
    if (n < 0 || (size_t)n + 1 > out_cap) return SHOAL_LD_NO_ROOM;
    l = (size_t)n;
    if (memchr(out, '.', l) != NULL) {
        while (l > 0 && out[l - 1] == '0') l--;
        if (l > 0 && out[l - 1] == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    *out_len = l;
    return SHOAL_LD_OK;
}

/* Parses a NUL-terminated copy of a len-byte argument as a double the way
 * Redis's getDoubleFromObject does (strtod; reject empty input, leading
 * white space, trailing bytes, overflow to infinity, underflow to zero and
 * NaN). Returns 1 and stores the value on success, 0 otherwise. */
int shoal_strtod(const char *nul_terminated, size_t len, double *out) {
    char *end = NULL;
    double v;

    if (len == 0 || isspace((unsigned char)nul_terminated[0])) return 0;
    errno = 0;
    v = strtod(nul_terminated, &end);
    if (end != nul_terminated + len) return 0;
    if (errno == ERANGE && (isinf(v) || v == 0.0)) return 0;
    if (isnan(v)) return 0;
    *out = v;
    return 1;
}

/* "%.17g" through libc; only used by the Rust tests to cross-check the
 * pure-Rust formatter. Returns the length written (excluding the NUL). */
int shoal_fmt_g17(double v, char *out, size_t out_cap) {
    return snprintf(out, out_cap, "%.17g", v);
}
