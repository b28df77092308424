/* collect.c - result values parsed from the last line a task printed: key=value words or
 * one flat JSON object.
 */
#include "collect.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_KEYS 1024

struct column {
    char *key;
    char **v; /* nrows, NULL: missing */
};

struct tf_collect {
    uint64_t nrows;
    int nkeys;
    struct column *cols;
};

struct tf_collect *tf_collect_new(uint64_t nrows)
{
    struct tf_collect *c = tf_xcalloc(1, sizeof *c);
    c->nrows = nrows;
    return c;
}

void tf_collect_free(struct tf_collect *c)
{
    if (c == NULL)
        return;
    for (int k = 0; k < c->nkeys; k++) {
        for (uint64_t r = 0; r < c->nrows; r++)
            free(c->cols[k].v[r]);
        free(c->cols[k].v);
        free(c->cols[k].key);
    }
    free(c->cols);
    free(c);
}

int tf_collect_keys(const struct tf_collect *c)
{
    return c->nkeys;
}
const char *tf_collect_key(const struct tf_collect *c, int k)
{
    return c->cols[k].key;
}
uint64_t tf_collect_rows(const struct tf_collect *c)
{
    return c->nrows;
}

const char *tf_collect_value(const struct tf_collect *c, int k, uint64_t row)
{
    return c->cols[k].v[row];
}

/* Column of key (made on first sight), or -1 past MAX_KEYS. */
static int column(struct tf_collect *c, const char *key, size_t n)
{
    for (int k = 0; k < c->nkeys; k++)
        if (strlen(c->cols[k].key) == n && memcmp(c->cols[k].key, key, n) == 0)
            return k;
    if (c->nkeys == MAX_KEYS)
        return -1;
    c->cols = tf_xrealloc(c->cols, (size_t)(c->nkeys + 1) * sizeof *c->cols);
    c->cols[c->nkeys].key = tf_xstrndup(key, n);
    c->cols[c->nkeys].v = tf_xcalloc(c->nrows ? c->nrows : 1, sizeof(char *));
    return c->nkeys++;
}

/* Values found on one line, before they are kept (a line is taken whole or not at all). */
struct found {
    const char *key[MAX_KEYS];
    size_t keylen[MAX_KEYS];
    char *val[MAX_KEYS];
    int n;
};

static void found_clear(struct found *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->val[i]);
    f->n = 0;
}

static bool found_add(struct found *f, const char *key, size_t keylen, char *val)
{
    if (keylen > 64 || !tf_params_is_name(key, keylen) || f->n == MAX_KEYS) {
        free(val);
        return false;
    }
    f->key[f->n] = key;
    f->keylen[f->n] = keylen;
    f->val[f->n++] = val;
    return true;
}

static bool parse_words(const char *s, const char *end, struct found *f)
{
    while (s < end) {
        while (s < end && isspace((unsigned char)*s))
            s++;
        const char *w = s;
        while (s < end && !isspace((unsigned char)*s))
            s++;
        if (s == w)
            break;
        const char *eq = memchr(w, '=', (size_t)(s - w));
        size_t vlen;
        bool changed;
        if (eq == NULL ||
            !found_add(f, w, (size_t)(eq - w),
                       tf_utf8_sanitize(eq + 1, (size_t)(s - eq - 1), &vlen, &changed)))
            return false;
    }
    return f->n > 0;
}

/* ---- a flat JSON object ---------------------------------------------------------------- */

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    return s;
}

static void put_utf8(char **o, unsigned cp)
{
    unsigned char *p = (unsigned char *)*o;
    if (cp < 0x80) {
        *p++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *p++ = (unsigned char)(0xC0 | cp >> 6);
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *p++ = (unsigned char)(0xE0 | cp >> 12);
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *p++ = (unsigned char)(0xF0 | cp >> 18);
        *p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = (char *)p;
}

/* Four hex digits at s (strictly: no sign, no space), or -1. */
static long hex4(const char *s, const char *end)
{
    if (end - s < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d = isdigit(c)             ? c - '0'
                                         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

#define REPLACEMENT 0xFFFDu

/* The code point of a \u escape at s (after "\u"); a surrogate pair is one code point, a
 * lone surrogate and \u0000 become U+FFFD so that a value is always UTF-8 without NUL (D7).
 * Returns the bytes used, 0 when malformed. */
static size_t json_unicode(const char *s, const char *end, unsigned *cp)
{
    long hi = hex4(s, end);
    if (hi < 0)
        return 0;
    *cp = hi == 0 ? REPLACEMENT : (unsigned)hi;
    if (hi < 0xD800 || hi > 0xDFFF)
        return 4;
    *cp = REPLACEMENT;
    if (hi >= 0xDC00 || end - s < 10 || s[4] != '\\' || s[5] != 'u')
        return 4;
    long lo = hex4(s + 6, end);
    if (lo < 0xDC00 || lo > 0xDFFF)
        return 4; /* the next escape is read on its own */
    *cp = 0x10000u + (((unsigned)hi - 0xD800u) << 10) + ((unsigned)lo - 0xDC00u);
    return 10;
}

/* A JSON string at s (after its opening quote) into a malloc'd text, valid UTF-8 without
 * NUL (raw bytes that are not become U+FFFD); *next after its quote, *escaped whether it
 * held an escape. NULL when malformed. */
static char *json_string(const char *s, const char *end, const char **next, bool *escaped)
{
    static const char pairs[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    /* every input byte gives at most 3 output bytes (U+FFFD for one byte) */
    char *out = tf_xmalloc((size_t)(end - s) * 3 + 1), *o = out;
    *escaped = false;
    bool bad = false; /* a malformed escape: no string */
    while (!bad && s < end && *s != '"') {
        if (*s != '\\') {
            size_t n = tf_utf8_seq_len((const unsigned char *)s, (size_t)(end - s));
            if (n == 0 || *s == '\0') {
                put_utf8(&o, REPLACEMENT);
                s++;
            } else {
                memcpy(o, s, n);
                o += n, s += n;
            }
            continue;
        }
        *escaped = true;
        if (++s >= end)
            break; /* a backslash at the end: s >= end refuses it */
        char e = *s++;
        /* e != '\0': strchr would match the terminator of pairs (C9) */
        const char *map = e != '\0' ? strchr(pairs, e) : NULL;
        if (e == 'u') {
            unsigned cp;
            size_t used = json_unicode(s, end, &cp);
            bad = used == 0;
            if (bad)
                break;
            put_utf8(&o, cp);
            s += used;
        } else if (map && ((map - pairs) % 2) == 0) {
            *o++ = map[1];
        } else {
            bad = true;
        }
    }
    if (bad || s >= end || *s != '"') {
        free(out);
        return NULL;
    }
    *o = '\0';
    *next = s + 1;
    return out;
}

/* A scalar JSON value: a number (its text), true/false (1/0), null (missing, *val NULL). */
static bool json_scalar(const char *s, const char *end, const char **next, char **val)
{
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - s) >= n && memcmp(s, words[i], n) == 0) {
            *val = i == 2 ? NULL : tf_xstrdup(i == 0 ? "1" : "0");
            *next = s + n;
            return true;
        }
    }
    const char *t = s;
    while (t < end && strchr("+-0123456789.eE", *t))
        t++;
    char *num = tf_xstrndup(s, (size_t)(t - s));
    char *nend;
    errno = 0;
    (void)strtod(num, &nend);
    if (t == s || *nend != '\0') {
        free(num);
        return false;
    }
    *val = num;
    *next = t;
    return true;
}

static bool parse_json(const char *s, const char *end, struct found *f)
{
    s = skip_ws(s + 1, end); /* after '{' */
    if (s < end && *s == '}')
        return skip_ws(s + 1, end) == end && false;
    while (s < end) {
        if (*s != '"')
            return false;
        const char *key = s + 1, *after;
        bool escaped;
        char *k = json_string(key, end, &after, &escaped);
        if (k == NULL)
            return false;
        size_t keylen = strlen(k);
        free(k);
        if (escaped) /* "b\u0000" must not become "b": a key is a plain name (D7) */
            return false;
        s = skip_ws(after, end);
        if (s >= end || *s != ':')
            return false;
        s = skip_ws(s + 1, end);
        char *val = NULL;
        if (s < end && *s == '"')
            val = json_string(s + 1, end, &after, &escaped);
        else if (!json_scalar(s, end, &after, &val))
            return false; /* nested objects and arrays are not result values */
        if (s < end && *s == '"' && val == NULL)
            return false;
        if (val && !found_add(f, key, keylen, val)) /* keys with escapes or odd names */
            return false;
        s = skip_ws(after, end);
        if (s < end && *s == ',') {
            s = skip_ws(s + 1, end);
            continue;
        }
        return s < end && *s == '}' && skip_ws(s + 1, end) == end;
    }
    return false;
}

int tf_collect_row(struct tf_collect *c, uint64_t row, const char *out, size_t len)
{
    const char *end = out + len;
    while (end > out && isspace((unsigned char)end[-1]))
        end--; /* trailing newlines and blank lines */
    const char *s = end;
    while (s > out && s[-1] != '\n')
        s--;
    s = skip_ws(s, end);
    if (s == end || row >= c->nrows)
        return 0;
    static struct found f; /* large; one line at a time */
    f.n = 0;
    bool ok = *s == '{' ? parse_json(s, end, &f) : parse_words(s, end, &f);
    int taken = 0;
    for (int i = 0; ok && i < f.n; i++) {
        int k = column(c, f.key[i], f.keylen[i]);
        if (k < 0)
            continue;
        free(c->cols[k].v[row]);
        c->cols[k].v[row] = f.val[i];
        f.val[i] = NULL;
        taken++;
    }
    found_clear(&f);
    return taken;
}

enum tf_param_type tf_collect_type(const struct tf_collect *c, int k)
{
    bool ints = true, nums = true, missing = false;
    for (uint64_t r = 0; r < c->nrows; r++) {
        const char *v = c->cols[k].v[r];
        if (v == NULL) {
            missing = true;
            continue;
        }
        ints = ints && tf_text_is_int64(v);
        nums = nums && tf_text_is_double(v, false);
    }
    return ints && !missing ? TF_PARAM_INT : nums ? TF_PARAM_FLOAT : TF_PARAM_STRING;
}
