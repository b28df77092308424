/* util.c - checked allocation, clocks, byte-count parsing, SHA-256 (FIPS 180-4) and
 * UTF-8 validation. SHA-256 is here so the task file's fingerprint needs no crypto library.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"

static void *oom(size_t n)
{
    tf_log(TF_LOG_ERROR, "out of memory allocating %zu bytes", n);
    exit(TF_EXIT_INTERNAL);
}

void *tf_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *tf_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    return p ? p : oom(count * n);
}

void *tf_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *tf_xstrdup(const char *s)
{
    return tf_xstrndup(s, strlen(s));
}

char *tf_xstrndup(const char *s, size_t n)
{
    char *p = tf_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

double tf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tf_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tf_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

bool tf_parse_bytes(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return false;
    }
    if (*end == 'i' || *end == 'B') /* accept KiB / KB spellings */
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* ---- SHA-256 ---------------------------------------------------------------------------- */

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void tf_sha256_init(struct tf_sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->nbytes = 0;
    c->fill = 0;
}

void tf_sha256_update(struct tf_sha256 *c, const void *data, size_t n)
{
    const unsigned char *p = data;
    c->nbytes += n;
    if (c->fill) {
        size_t take = 64 - c->fill < n ? 64 - c->fill : n;
        memcpy(c->block + c->fill, p, take);
        c->fill += take, p += take, n -= take;
        if (c->fill < 64)
            return;
        sha_block(c->h, c->block);
        c->fill = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha_block(c->h, p);
    memcpy(c->block, p, n);
    c->fill = n;
}

void tf_sha256_hex(struct tf_sha256 *c, char hex[65])
{
    uint64_t bits = c->nbytes * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (c->fill < 56 ? 56 : 120) - c->fill;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    tf_sha256_update(c, pad, padlen + 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", (unsigned)c->h[i]);
}

/* ---- UTF-8 ------------------------------------------------------------------------------ */

size_t tf_utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (avail < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

char *tf_utf8_sanitize(const char *s, size_t n, size_t *out_len, bool *changed)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad = 0;
    while (i < n) {
        size_t l = p[i] ? tf_utf8_seq_len(p + i, n - i) : 0;
        if (l == 0)
            bad++, l = 1;
        i += l;
    }
    char *out = tf_xmalloc(n + 2 * bad + 1);
    size_t o = 0;
    for (i = 0; i < n;) {
        size_t l = p[i] ? tf_utf8_seq_len(p + i, n - i) : 0;
        if (l == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3, i += 1;
        } else {
            memcpy(out + o, p + i, l);
            o += l, i += l;
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    if (changed)
        *changed = bad > 0;
    return out;
}

static bool parse_clock(const char *s, double *out)
{
    long parts[4] = {0}, days = 0;
    int n = 0;
    const char *p = s;
    const char *dash = strchr(s, '-');
    if (dash) {
        char *end;
        days = strtol(s, &end, 10);
        if (end != dash || days < 0)
            return false;
        p = dash + 1;
    }
    while (n < 3) {
        char *end;
        if (*p < '0' || *p > '9')
            return false;
        parts[n++] = strtol(p, &end, 10);
        if (*end == '\0')
            break;
        if (*end != ':')
            return false;
        p = end + 1;
    }
    if (n < 2 && !dash)
        return false;
    double secs = 0;
    /* Slurm: "MM:SS", "HH:MM:SS"; with a day: "D-HH", "D-HH:MM", "D-HH:MM:SS" */
    if (dash) {
        secs = (double)parts[0] * 3600 + (double)parts[1] * 60 + (double)parts[2];
    } else {
        for (int i = 0; i < n; i++)
            secs = secs * 60 + (double)parts[i];
    }
    *out = secs + (double)days * 86400;
    return true;
}

bool tf_parse_seconds(const char *s, double *out)
{
    if (s == NULL || *s == '\0')
        return false;
    if (strchr(s, ':') || strchr(s, '-'))
        return parse_clock(s, out);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || !(v >= 0) || v > 1e12)
        return false;
    static const struct {
        char unit;
        double factor;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    if (*end != '\0') {
        size_t i = 0;
        while (i < 4 && units[i].unit != *end)
            i++;
        if (i == 4 || end[1] != '\0')
            return false;
        v *= units[i].factor;
    }
    *out = v;
    return true;
}

bool tf_text_is_int64(const char *s)
{
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    errno = 0;
    (void)strtoll(s, &end, 10);
    return *end == '\0' && errno == 0;
}

bool tf_text_is_double(const char *s, bool finite)
{
    char *end;
    if (*s == '\0' || isspace((unsigned char)*s))
        return false;
    double v = strtod(s, &end);
    return *end == '\0' && (finite ? isfinite(v) : !isnan(v));
}
