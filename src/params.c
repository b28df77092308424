/* params.c - parameter tables (CSV, grids), their column types, and command templates
 * expanded with shell-quoted values. A grid is never materialised: a row's values come from
 * its index (mixed radix), so the documented 10^8 combinations cost only their axes.
 */
#include "params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "stopsig.h"
#include "taskfile.h"
#include "util.h"

#define MAX_ROWS     100000000ull         /* a sweep larger than this belongs in --plugin */
#define MAX_FIELD    TF_TASKFILE_MAX_LINE /* a value longer than a task line cannot be used */
#define SIGNAL_EVERY 4096                 /* fields between looks at the stop signals */

/* A growing string. */
struct sbuf {
    char *data;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->data = tf_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static char *sb_take(struct sbuf *b)
{
    if (b->data == NULL)
        return tf_xstrdup("");
    return b->data;
}

/* One --grid axis: a list of values, or the integers lo, lo+dir, ... (n of them). A row's
 * index into it is (row / stride) % n. */
struct axis {
    char **v;
    uint64_t n, stride;
    bool range;
    long long lo;
    int dir;
};

struct tf_params {
    int ncols;
    uint64_t nrows, cap;
    char **names;
    int *by_name;        /* column indexes sorted by name: duplicate check and lookups */
    char **cells;        /* CSV: row-major, nrows * ncols */
    uint64_t *line;      /* CSV: the line each row starts on, for messages */
    char *path;          /* CSV: the file */
    struct axis *axes;   /* grid: one per column, else NULL */
    char (*scratch)[24]; /* grid: a range value's text, per column */
};

static struct tf_params *params_new(int ncols)
{
    struct tf_params *p = tf_xcalloc(1, sizeof *p);
    p->ncols = ncols;
    p->names = tf_xcalloc((size_t)ncols + 1, sizeof *p->names);
    return p;
}

static void add_row(struct tf_params *p, char **fields, uint64_t line)
{
    if (p->nrows == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->cells = tf_xrealloc(p->cells, p->cap * (size_t)p->ncols * sizeof *p->cells);
        p->line = tf_xrealloc(p->line, p->cap * sizeof *p->line);
    }
    p->line[p->nrows] = line;
    memcpy(p->cells + p->nrows++ * (size_t)p->ncols, fields, (size_t)p->ncols * sizeof *fields);
}

static void axes_free(struct axis *a, int n)
{
    for (int i = 0; a && i < n; i++) {
        for (uint64_t j = 0; !a[i].range && j < a[i].n; j++)
            free(a[i].v[j]);
        free(a[i].v);
    }
    free(a);
}

void tf_params_free(struct tf_params *p)
{
    if (p == NULL)
        return;
    for (uint64_t i = 0; p->cells && i < p->nrows * (uint64_t)p->ncols; i++)
        free(p->cells[i]);
    for (int c = 0; c < p->ncols; c++)
        free(p->names[c]);
    axes_free(p->axes, p->ncols);
    free(p->scratch);
    free(p->cells);
    free(p->line);
    free(p->path);
    free(p->names);
    free(p->by_name);
    free(p);
}

uint64_t tf_params_rows(const struct tf_params *p)
{
    return p->nrows;
}
int tf_params_cols(const struct tf_params *p)
{
    return p->ncols;
}
const char *tf_params_name(const struct tf_params *p, int col)
{
    return p->names[col];
}

static uint64_t axis_index(const struct axis *a, uint64_t row)
{
    return (row / a->stride) % a->n;
}

/* A grid's range value is text in a per-column buffer, valid until the next call for that
 * column (its column is INT, read at once); list values and CSV cells stay put. */
const char *tf_params_value(const struct tf_params *p, uint64_t row, int col)
{
    if (p->axes == NULL)
        return p->cells[row * (uint64_t)p->ncols + (uint64_t)col];
    const struct axis *a = &p->axes[col];
    uint64_t i = axis_index(a, row);
    if (!a->range)
        return a->v[i];
    /* lo + dir * i stays between lo and hi: no overflow */
    long long v = a->dir > 0 ? a->lo + (long long)i : a->lo - (long long)i;
    /* by hand, not snprintf: a grid of 10^8 rows formats every value */
    char *end = p->scratch[col] + sizeof p->scratch[col] - 1, *d = end;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    *d = '\0';
    do
        *--d = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        *--d = '-';
    return d;
}

bool tf_params_is_name(const char *s, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static const struct tf_params *sort_target; /* qsort has no argument; set around the call */
static int cmp_name(const void *a, const void *b)
{
    return strcmp(sort_target->names[*(const int *)a], sort_target->names[*(const int *)b]);
}

/* Index the names (O(n log n)); false with the first duplicate in *dup. */
static bool index_names(struct tf_params *p, int *dup)
{
    p->by_name = tf_xmalloc(((size_t)p->ncols + 1) * sizeof *p->by_name);
    for (int c = 0; c < p->ncols; c++)
        p->by_name[c] = c;
    sort_target = p;
    qsort(p->by_name, (size_t)p->ncols, sizeof *p->by_name, cmp_name);
    sort_target = NULL;
    for (int i = 1; i < p->ncols; i++)
        if (strcmp(p->names[p->by_name[i - 1]], p->names[p->by_name[i]]) == 0) {
            *dup = p->by_name[i];
            return false;
        }
    return true;
}

static int find_col(const struct tf_params *p, const char *name, size_t len)
{
    int lo = 0, hi = p->ncols;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const char *m = p->names[p->by_name[mid]];
        int c = strncmp(m, name, len);
        if (c == 0 && m[len] != '\0')
            c = 1; /* m is longer: after name */
        if (c == 0)
            return p->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- CSV ---------------------------------------------------------------------------- */

struct csv {
    const char *s, *end;
    const char *path;
    uint64_t row;        /* 1-based record number, for messages */
    uint64_t line;       /* the line the current record starts on */
    const char *counted; /* newlines before this are in line */
    uint64_t fields;     /* read so far: signals are looked at every SIGNAL_EVERY */
    int signals;         /* stop signals seen before reading began */
};

/* A stop signal (Ctrl-C) during a long read gives up on it rather than be put off. */
static bool csv_stopped(struct csv *r, char *err, size_t errlen)
{
    if (++r->fields % SIGNAL_EVERY != 0 || tf_stopsig_count() == r->signals)
        return false;
    snprintf(err, errlen, "%s:%llu: reading stopped by a signal", r->path,
             (unsigned long long)r->line);
    return true;
}

static bool field_too_long(const struct csv *r, size_t len, char *err, size_t errlen)
{
    if (len <= MAX_FIELD)
        return false;
    snprintf(err, errlen, "%s:%llu: a field is longer than %d bytes (the longest task line)",
             r->path, (unsigned long long)r->line, MAX_FIELD);
    return true;
}

static bool at_record_end(const struct csv *r, const char *s)
{
    return *s == '\n' || (*s == '\r' && s + 1 < r->end && s[1] == '\n');
}

/* One field into a malloc'd string; *last says whether it ended its record. */
static bool csv_field(struct csv *r, char **out, bool *last, char *err, size_t errlen)
{
    struct sbuf b = {0};
    const char *s = r->s;
    if (s < r->end && *s == '"') {
        for (s++;; s++) {
            const char *q = s < r->end ? memchr(s, '"', (size_t)(r->end - s)) : NULL;
            if (q == NULL) {
                snprintf(err, errlen, "%s:%llu: row %llu: a quoted field is not closed", r->path,
                         (unsigned long long)r->line, (unsigned long long)r->row);
                free(b.data);
                return false;
            }
            if (field_too_long(r, b.len + (size_t)(q - s), err, errlen)) {
                free(b.data);
                return false;
            }
            sb_put(&b, s, (size_t)(q - s)); /* up to the quote, in one piece: linear */
            s = q;
            if (s + 1 < r->end && s[1] == '"')
                sb_put(&b, s++, 1);
            else
                break;
        }
        s++;
        if (s < r->end && *s != ',' && !at_record_end(r, s)) {
            snprintf(err, errlen, "%s:%llu: row %llu: text after the closing quote of a field",
                     r->path, (unsigned long long)r->line, (unsigned long long)r->row);
            free(b.data);
            return false;
        }
    } else {
        const char *start = s;
        while (s < r->end && *s != ',' && !at_record_end(r, s)) {
            if (*s == '"') {
                snprintf(err, errlen,
                         "%s:%llu: row %llu: a quote inside an unquoted field (quote the "
                         "whole field and double the quote)",
                         r->path, (unsigned long long)r->line, (unsigned long long)r->row);
                free(b.data);
                return false;
            }
            s++;
        }
        if (field_too_long(r, (size_t)(s - start), err, errlen))
            return false;
        sb_put(&b, start, (size_t)(s - start));
    }
    *last = s >= r->end || *s != ',';
    s += s < r->end && *s == ',' ? 1 : (s < r->end && *s == '\r' ? 2 : (s < r->end ? 1 : 0));
    r->s = s;
    *out = sb_take(&b);
    return true;
}

/* The line r->s is on: newlines counted once each, so linear in the file. */
static void count_lines(struct csv *r)
{
    const char *p = r->counted;
    while (p < r->s && (p = memchr(p, '\n', (size_t)(r->s - p))) != NULL) {
        r->line++;
        p++;
    }
    r->counted = r->s;
}

static void free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i]);
    free(f);
}

/* One record; returns its field count (0 at the end of the file), -1 on error. */
static int csv_record(struct csv *r, char ***fields, char *err, size_t errlen)
{
    int n = 0, cap = 0;
    bool last = false;
    *fields = NULL;
    while (r->s < r->end && at_record_end(r, r->s))
        r->s += *r->s == '\n' ? 1 : 2; /* blank lines are not rows */
    if (r->s >= r->end)
        return 0;
    count_lines(r);
    r->row++;
    while (!last) {
        if (n == cap) {
            if (cap >= (1 << 29)) {
                snprintf(err, errlen, "%s:%llu: row %llu has too many fields", r->path,
                         (unsigned long long)r->line, (unsigned long long)r->row);
                free_fields(*fields, n);
                *fields = NULL;
                return -1;
            }
            cap = cap ? 2 * cap : 8;
            *fields = tf_xrealloc(*fields, (size_t)cap * sizeof **fields);
        }
        if (csv_stopped(r, err, errlen) || !csv_field(r, &(*fields)[n], &last, err, errlen)) {
            free_fields(*fields, n);
            *fields = NULL;
            return -1;
        }
        n++;
    }
    return n;
}

/* The whole file, read through one descriptor of a regular file (a FIFO or /dev/zero is
 * refused at once) and no further than the size it had when opened: bounded memory. */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    char why[512];
    int fd = tf_open_regular(path, why, sizeof why);
    if (fd < 0) {
        snprintf(err, errlen, "parameter file %s", why);
        return NULL;
    }
    struct tf_file_id id;
    if (!tf_file_id_of_fd(fd, &id) || id.size < 0 || (uint64_t)id.size >= SIZE_MAX / 2) {
        snprintf(err, errlen, "cannot read parameter file '%s'", path);
        close(fd);
        return NULL;
    }
    size_t want = (size_t)id.size, got = 0;
    char *text = tf_xmalloc(want + 1);
    while (got < want) {
        ssize_t n = read(fd, text + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "cannot read parameter file '%s': %s", path,
                     n < 0 ? strerror(errno) : "it became shorter while being read");
            free(text);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    text[got] = '\0';
    *len = got;
    return text;
}

static bool csv_header(struct tf_params **out, char **f, int n, const char *path, char *err,
                       size_t errlen)
{
    for (int i = 0; i < n; i++)
        if (!tf_params_is_name(f[i], strlen(f[i]))) {
            for (char *c = f[i]; *c; c++) /* the message stays one line */
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    *c = '?';
            snprintf(err, errlen,
                     "%s: column %d is named '%.200s'; names are letters, digits and _, "
                     "not starting with a digit",
                     path, i + 1, f[i]);
            return false;
        }
    struct tf_params *p = params_new(n);
    memcpy(p->names, f, (size_t)n * sizeof *f);
    int dup;
    if (!index_names(p, &dup)) {
        snprintf(err, errlen, "%s: two columns are named '%.200s'", path, p->names[dup]);
        memset(p->names, 0, (size_t)n * sizeof *f); /* still the caller's */
        tf_params_free(p);
        return false;
    }
    p->path = tf_xstrdup(path);
    *out = p;
    return true;
}

enum tf_status tf_params_read_csv(const char *path, struct tf_params **out, char *err,
                                  size_t errlen)
{
    size_t len;
    *out = NULL;
    char *text = slurp(path, &len, err, errlen);
    if (text == NULL)
        return TF_EINPUT;
    if (memchr(text, '\0', len)) {
        snprintf(err, errlen, "%s: holds a NUL byte: not a CSV text file", path);
        free(text);
        return TF_EINPUT;
    }
    struct csv r = {.s = text,
                    .end = text + len,
                    .path = path,
                    .line = 1,
                    .counted = text,
                    .signals = tf_stopsig_count()};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.s += 3; /* a spreadsheet's byte order mark */
    char **f;
    int n = csv_record(&r, &f, err, errlen);
    if (n == 0)
        snprintf(err, errlen, "%s: empty: the first row must name the columns", path);
    if (n <= 0 || !csv_header(out, f, n, path, err, errlen)) {
        if (n > 0)
            free_fields(f, n);
        free(text);
        return TF_EINPUT;
    }
    free(f); /* the names now belong to the table */
    int got;
    while ((got = csv_record(&r, &f, err, errlen)) > 0) {
        if (got != n || (*out)->nrows >= MAX_ROWS) {
            if (got != n)
                snprintf(err, errlen, "%s:%llu: row %llu has %d field%s, the header %d", path,
                         (unsigned long long)r.line, (unsigned long long)r.row, got,
                         got == 1 ? "" : "s", n);
            else
                snprintf(err, errlen, "%s: more than %llu rows", path, MAX_ROWS);
            free_fields(f, got);
            got = -1;
            break;
        }
        add_row(*out, f, r.line);
        free(f);
    }
    free(text);
    if (got < 0) {
        tf_params_free(*out);
        *out = NULL;
        return TF_EINPUT;
    }
    return TF_OK;
}

/* ---- grids -------------------------------------------------------------------------- */

static bool parse_range(const char *s, long long *lo, long long *hi)
{
    char *end;
    errno = 0;
    *lo = strtoll(s, &end, 10);
    if (end == s || strncmp(end, "..", 2) != 0 || errno)
        return false;
    const char *h = end + 2;
    *hi = strtoll(h, &end, 10);
    return end != h && *end == '\0' && errno == 0;
}

static bool parse_axis(const char *spec, struct axis *a, char **name, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || !tf_params_is_name(spec, (size_t)(eq - spec)) || eq[1] == '\0') {
        snprintf(err, errlen, "invalid --grid '%s': use NAME=V1,V2,... or NAME=FIRST..LAST", spec);
        return false;
    }
    *name = tf_xstrndup(spec, (size_t)(eq - spec));
    long long lo, hi;
    if (parse_range(eq + 1, &lo, &hi)) {
        /* the distance in unsigned arithmetic: INT64_MIN..INT64_MAX does not overflow (C7) */
        unsigned long long d = lo <= hi ? (unsigned long long)hi - (unsigned long long)lo
                                        : (unsigned long long)lo - (unsigned long long)hi;
        if (d >= MAX_ROWS) {
            snprintf(err, errlen, "invalid --grid '%s': more than %llu values", spec, MAX_ROWS);
            return false;
        }
        *a = (struct axis){.n = d + 1, .range = true, .lo = lo, .dir = lo <= hi ? 1 : -1};
        return true;
    }
    for (const char *s = eq + 1;; s++) {
        size_t len = strcspn(s, ",");
        if (len == 0) {
            snprintf(err, errlen, "invalid --grid '%s': an empty value", spec);
            return false;
        }
        a->v = tf_xrealloc(a->v, (a->n + 1) * sizeof *a->v);
        a->v[a->n++] = tf_xstrndup(s, len);
        s += len;
        if (*s == '\0')
            return true;
    }
}

enum tf_status tf_params_grid(const char *const *specs, int nspecs, struct tf_params **out,
                              char *err, size_t errlen)
{
    struct tf_params *p = params_new(nspecs);
    p->axes = tf_xcalloc((size_t)nspecs + 1, sizeof *p->axes);
    p->scratch = tf_xcalloc((size_t)nspecs + 1, sizeof *p->scratch);
    uint64_t total = 1;
    bool ok = true;
    *out = NULL;
    for (int i = 0; ok && i < nspecs; i++) {
        ok = parse_axis(specs[i], &p->axes[i], &p->names[i], err, errlen);
        /* checked product: every factor is at most 10^8, so is the product so far (C7) */
        if (ok && (__builtin_mul_overflow(total, p->axes[i].n, &total) || total > MAX_ROWS)) {
            snprintf(err, errlen, "--grid makes more than %llu tasks", MAX_ROWS);
            ok = false;
        }
    }
    int dup;
    if (ok && !index_names(p, &dup)) {
        snprintf(err, errlen, "--grid names '%s' twice", p->names[dup]);
        ok = false;
    }
    if (!ok) {
        tf_params_free(p);
        return TF_EINPUT;
    }
    uint64_t stride = 1;
    for (int c = nspecs - 1; c >= 0; c--) { /* the last axis varies fastest */
        p->axes[c].stride = stride;
        stride *= p->axes[c].n;
    }
    p->nrows = total;
    *out = p;
    return TF_OK;
}

/* ---- types -------------------------------------------------------------------------- */

static enum tf_param_type type_of_values(char *const *v, uint64_t n, uint64_t step)
{
    bool ints = n > 0, floats = n > 0;
    for (uint64_t i = 0; i < n && (ints || floats); i++) {
        ints = ints && tf_text_is_int64(v[i * step]);
        floats = floats && tf_text_is_double(v[i * step], true);
    }
    return ints ? TF_PARAM_INT : floats ? TF_PARAM_FLOAT : TF_PARAM_STRING;
}

enum tf_param_type tf_params_type(const struct tf_params *p, int col)
{
    if (p->nrows == 0)
        return TF_PARAM_STRING;
    if (p->axes == NULL)
        return type_of_values(p->cells + col, p->nrows, (uint64_t)p->ncols);
    const struct axis *a = &p->axes[col];
    return a->range ? TF_PARAM_INT : type_of_values(a->v, a->n, 1);
}

/* ---- templates ---------------------------------------------------------------------- */

static enum tf_status check_fields(const struct tf_params *p, const char *tmpl, int *used,
                                   char *err, size_t errlen);

/* At t (a '{' not after '$'): the length of a {name} or {#} field, 0 if t starts none. */
static size_t field_len(const char *t)
{
    if (t[1] == '#' && t[2] == '}')
        return 3;
    size_t n = 1;
    while (isalnum((unsigned char)t[n]) || t[n] == '_')
        n++;
    return t[n] == '}' && tf_params_is_name(t + 1, n - 1) ? n + 1 : 0;
}

/* Bytes a shell word may hold unquoted: letters, digits and _@%+=:,./- */
static bool safe_byte(unsigned char c)
{
    static const char extra[] = "_@%+=:,./-";
    return isalnum(c) ? c < 128 : c != '\0' && strchr(extra, c) != NULL;
}

/* The length of v, and whether every byte is safe unquoted; a table, not strspn (H6: a
 * 10^8-row grid expands every value). */
static size_t safe_prefix(const char *v, size_t *len)
{
    static bool table[256], ready;
    if (!ready) {
        for (int c = 0; c < 256; c++)
            table[c] = safe_byte((unsigned char)c);
        ready = true;
    }
    const unsigned char *s = (const unsigned char *)v;
    size_t n = 0;
    while (table[s[n]])
        n++;
    *len = n + strlen(v + n);
    return n;
}

/* The length of v as one shell word (put_quoted). */
static uint64_t quoted_len(const char *v)
{
    size_t n, safe = safe_prefix(v, &n);
    if (n > 0 && safe == n)
        return n;
    uint64_t q = n + 2;
    for (const char *s = v; (s = strchr(s, '\'')) != NULL; s++)
        q += 3;
    return q;
}

static bool has_line_break(const char *v)
{
    return strpbrk(v, "\r\n") != NULL;
}

/* The first row whose value in col holds a line break, or UINT64_MAX. */
static uint64_t row_with_line_break(const struct tf_params *p, int col)
{
    if (p->axes == NULL) {
        for (uint64_t r = 0; r < p->nrows; r++)
            if (has_line_break(tf_params_value(p, r, col)))
                return r;
        return UINT64_MAX;
    }
    const struct axis *a = &p->axes[col];
    for (uint64_t i = 0; !a->range && i < a->n; i++)
        if (has_line_break(a->v[i]))
            return i * a->stride;
    return UINT64_MAX;
}

/* The longest command a grid makes: each axis at its longest value, which some row has (the
 * axes vary independently). */
static uint64_t grid_longest(const struct tf_params *p, const int *used, uint64_t base,
                             uint64_t *row)
{
    uint64_t len = base;
    *row = 0;
    for (int c = 0; c < p->ncols; c++) {
        const struct axis *a = &p->axes[c];
        uint64_t best = 0, at = 0;
        for (uint64_t i = 0; used[c] && i < (a->range ? 2 : a->n); i++) {
            uint64_t k = a->range ? (i ? a->n - 1 : 0) : i; /* a range: its ends */
            uint64_t q = quoted_len(tf_params_value(p, k * a->stride, c));
            if (q > best)
                best = q, at = k;
        }
        len += best * (uint64_t)used[c];
        *row += at * a->stride;
    }
    return len;
}

/* The expanded command fits in a task line, for every row: refused here, naming the row
 * (W5), rather than later by the task file's reader naming the generated file. */
static enum tf_status check_lengths(const struct tf_params *p, const char *tmpl, const int *used,
                                    uint64_t base, char *err, size_t errlen)
{
    uint64_t rowdigits = 1;
    for (uint64_t n = p->nrows; n >= 10; n /= 10)
        rowdigits++;
    base += rowdigits * (uint64_t)used[p->ncols]; /* {#}: at most this long */
    uint64_t len = 0, row = 0;
    if (p->axes) {
        len = grid_longest(p, used, base, &row);
    } else {
        int signals = tf_stopsig_count();
        for (row = 0; row < p->nrows; row++) {
            len = base;
            for (int c = 0; c < p->ncols; c++)
                if (used[c])
                    len += quoted_len(tf_params_value(p, row, c)) * (uint64_t)used[c];
            if (len > TF_TASKFILE_MAX_LINE)
                break;
            if (row % SIGNAL_EVERY == 0 && tf_stopsig_count() != signals) {
                snprintf(err, errlen, "%s: checking stopped by a signal", p->path);
                return TF_EINPUT;
            }
        }
    }
    if (len <= TF_TASKFILE_MAX_LINE || row >= p->nrows)
        return TF_OK;
    if (p->axes)
        snprintf(err, errlen,
                 "--template makes a command of %llu bytes for --grid row %llu, over the %d "
                 "bytes a task line may have",
                 (unsigned long long)len, (unsigned long long)row + 1, TF_TASKFILE_MAX_LINE);
    else
        snprintf(err, errlen,
                 "%s:%llu: --template makes a command of %llu bytes from this row, over the %d "
                 "bytes a task line may have",
                 p->path, (unsigned long long)p->line[row], (unsigned long long)len,
                 TF_TASKFILE_MAX_LINE);
    (void)tmpl;
    return TF_EINPUT;
}

enum tf_status tf_params_check(const struct tf_params *p, const char *tmpl, char *err,
                               size_t errlen)
{
    /* used[c]: how often {name of c} appears; used[ncols]: how often {#} */
    int *used = tf_xcalloc((size_t)p->ncols + 1, sizeof *used);
    enum tf_status st = check_fields(p, tmpl, used, err, errlen);
    for (int c = 0; c < p->ncols && st == TF_OK; c++) {
        uint64_t r = used[c] ? row_with_line_break(p, c) : UINT64_MAX;
        if (r != UINT64_MAX) {
            snprintf(err, errlen,
                     "parameter row %llu, column %s: the value holds a line "
                     "break (a task is one line)",
                     (unsigned long long)r + 1, p->names[c]);
            st = TF_EINPUT;
        }
    }
    if (st == TF_OK) {
        /* the template's own bytes: every byte but the fields, {{ and }} counting one */
        uint64_t base = 0;
        for (const char *t = tmpl; *t; t++) {
            if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
                base++, t++;
                continue;
            }
            size_t n = t[0] == '{' && (t == tmpl || t[-1] != '$') ? field_len(t) : 0;
            if (n == 0 || (n != 3 || t[1] != '#' ? find_col(p, t + 1, n - 2) < 0 : false))
                base++;
            else
                t += n - 1;
        }
        st = check_lengths(p, tmpl, used, base, err, errlen);
    }
    free(used);
    return st;
}

/* Every {name} of tmpl is a column (marked in used[]). */
static enum tf_status check_fields(const struct tf_params *p, const char *tmpl, int *used,
                                   char *err, size_t errlen)
{
    for (const char *t = tmpl; *t; t++) {
        if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
            t++;
            continue;
        }
        size_t n = t[0] == '{' && (t == tmpl || t[-1] != '$') ? field_len(t) : 0;
        if (n == 0)
            continue;
        if (n == 3 && t[1] == '#')
            used[p->ncols] += used[p->ncols] < 1000000;
        if (n != 3 || t[1] != '#') {
            int col = find_col(p, t + 1, n - 2);
            if (col >= 0)
                used[col] += used[col] < 1000000;
            if (col < 0) {
                char names[512] = "";
                for (int c = 0; c < p->ncols && strlen(names) < 400; c++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                             c ? ", " : "", p->names[c]);
                snprintf(err, errlen,
                         "--template names {%.*s}, which is not a parameter (they "
                         "are: %s)",
                         (int)(n - 2), t + 1, names);
                return TF_EINPUT;
            }
        }
        t += n - 1;
    }
    if (strchr(tmpl, '\n') || strchr(tmpl, '\r')) {
        snprintf(err, errlen, "%s", "--template holds a line break: a task is one line");
        return TF_EINPUT;
    }
    return TF_OK;
}

/* A value as one shell word: as it is when every byte is harmless, else single-quoted. */
static void put_quoted(struct sbuf *b, const char *v)
{
    size_t n, safe = safe_prefix(v, &n);
    if (n > 0 && safe == n) {
        sb_put(b, v, n);
        return;
    }
    sb_put(b, "'", 1);
    for (const char *q; (q = strchr(v, '\'')) != NULL; v = q + 1) {
        sb_put(b, v, (size_t)(q - v));
        sb_put(b, "'\\''", 4);
    }
    sb_put(b, v, strlen(v));
    sb_put(b, "'", 1);
}

char *tf_params_expand(const struct tf_params *p, const char *tmpl, uint64_t row)
{
    struct sbuf b = {0};
    for (const char *t = tmpl; *t; t++) {
        if ((t[0] == '{' && t[1] == '{') || (t[0] == '}' && t[1] == '}')) {
            sb_put(&b, t++, 1);
            continue;
        }
        size_t n = t[0] == '{' && (t == tmpl || t[-1] != '$') ? field_len(t) : 0;
        int col = n > 3 || (n == 3 && t[1] != '#') ? find_col(p, t + 1, n - 2) : -1;
        if (n == 3 && t[1] == '#') {
            char num[24];
            snprintf(num, sizeof num, "%llu", (unsigned long long)row);
            sb_put(&b, num, strlen(num));
        } else if (col >= 0) {
            put_quoted(&b, tf_params_value(p, row, col));
        } else {
            sb_put(&b, t, 1);
            continue;
        }
        t += n - 1;
    }
    return sb_take(&b);
}
