/* util.h - small helpers with no outside dependencies: checked allocation, clocks,
 * strict number parsing, SHA-256 and UTF-8 handling.
 */
#ifndef TF_UTIL_H
#define TF_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Abort-on-OOM allocation for the farm's own bookkeeping: logs the size, then exits with
 * TF_EXIT_INTERNAL. Task output buffers are bounded by --capture, so these stay small. */
void *tf_xmalloc(size_t n);
void *tf_xcalloc(size_t count, size_t n);
void *tf_xrealloc(void *p, size_t n);
char *tf_xstrdup(const char *s);
char *tf_xstrndup(const char *s, size_t n);

double tf_now(void);         /* seconds since the Unix epoch (wall clock) */
double tf_monotonic(void);   /* seconds on a clock that never jumps */
double tf_cpu_seconds(void); /* user + system CPU time of this process */

/* Parse a byte count: digits with an optional K, M or G suffix (powers of 1024).
 * Rejects signs, empty strings, trailing garbage and overflow. */
bool tf_parse_bytes(const char *s, uint64_t *out);
/* A duration: seconds ("90", "2.5"), with a unit ("30s", "10m", "2h", "1d"), or Slurm's
 * clock forms "MM:SS", "HH:MM:SS", "D-HH:MM:SS". False unless finite and >= 0. */
bool tf_parse_seconds(const char *s, double *out);
/* Whether all of s is a decimal integer that fits int64; a number (with finite, not inf or
 * nan; without, not nan). No leading space. For typing table columns. */
bool tf_text_is_int64(const char *s);
bool tf_text_is_double(const char *s, bool finite);

/* SHA-256, incremental. */
struct tf_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    unsigned char block[64];
    size_t fill;
};
void tf_sha256_init(struct tf_sha256 *c);
void tf_sha256_update(struct tf_sha256 *c, const void *data, size_t n);
void tf_sha256_hex(struct tf_sha256 *c, char hex[65]); /* finishes; c is spent afterwards */

/* Length of the valid UTF-8 sequence starting at s (1-4), or 0 when the bytes there are not
 * valid UTF-8 (overlong forms, surrogates and code points above U+10FFFF are invalid). */
size_t tf_utf8_seq_len(const unsigned char *s, size_t avail);

/* Copy n bytes into a new NUL-terminated string that is valid UTF-8: every byte that is not
 * part of a valid sequence, and every NUL, becomes U+FFFD. Sets *changed when anything was
 * replaced. */
char *tf_utf8_sanitize(const char *s, size_t n, size_t *out_len, bool *changed);

#endif
