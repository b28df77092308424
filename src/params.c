/* params.c - parameter tables (CSV, grids), their column types, and command templates
 * expanded with shell-quoted values.
 */
#include "params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_ROWS 100000000ull /* a sweep larger than this belongs in --plugin */

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

struct tf_params {
    int ncols;
    uint64_t nrows, cap;
    char **names;
    char **cells; /* row-major, nrows * ncols */
};

static struct tf_params *params_new(int ncols)
{
    struct tf_params *p = tf_xcalloc(1, sizeof *p);
    p->ncols = ncols;
    p->names = tf_xcalloc((size_t)ncols, sizeof *p->names);
    return p;
}

static void add_row(struct tf_params *p, char **fields)
{
    if (p->nrows == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->cells = tf_xrealloc(p->cells, p->cap * (size_t)p->ncols * sizeof *p->cells);
    }
    memcpy(p->cells + p->nrows++ * (size_t)p->ncols, fields, (size_t)p->ncols * sizeof *fields);
}

void tf_params_free(struct tf_params *p)
{
    if (p == NULL)
        return;
    for (uint64_t i = 0; i < p->nrows * (uint64_t)p->ncols; i++)
        free(p->cells[i]);
    for (int c = 0; c < p->ncols; c++)
        free(p->names[c]);
    free(p->cells);
    free(p->names);
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

const char *tf_params_value(const struct tf_params *p, uint64_t row, int col)
{
    return p->cells[row * (uint64_t)p->ncols + (uint64_t)col];
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

static int find_col(const struct tf_params *p, const char *name, size_t len)
{
    for (int c = 0; c < p->ncols; c++)
        if (strlen(p->names[c]) == len && memcmp(p->names[c], name, len) == 0)
            return c;
    return -1;
}

/* ---- CSV ---------------------------------------------------------------------------- */

struct csv {
    const char *s, *end;
    uint64_t row; /* 1-based record number, for messages */
};

/* One field into a malloc'd string; *last says whether it ended its record. */
static bool csv_field(struct csv *r, char **out, bool *last, char *err, size_t errlen,
                      const char *path)
{
    struct sbuf b = {0};
    const char *s = r->s;
    if (s < r->end && *s == '"') {
        for (s++;; s++) {
            if (s >= r->end) {
                snprintf(err, errlen, "%s: row %llu: a quoted field is not closed", path,
                         (unsigned long long)r->row);
                free(b.data);
                return false;
            }
            if (*s == '"' && s + 1 < r->end && s[1] == '"')
                sb_put(&b, s++, 1);
            else if (*s == '"')
                break;
            else
                sb_put(&b, s, 1);
        }
        s++;
        if (s < r->end && *s != ',' && *s != '\n' &&
            !(*s == '\r' && s + 1 < r->end && s[1] == '\n')) {
            snprintf(err, errlen, "%s: row %llu: text after the closing quote of a field", path,
                     (unsigned long long)r->row);
            free(b.data);
            return false;
        }
    } else {
        const char *start = s;
        while (s < r->end && *s != ',' && *s != '\n' &&
               !(*s == '\r' && s + 1 < r->end && s[1] == '\n')) {
            if (*s == '"') {
                snprintf(err, errlen,
                         "%s: row %llu: a quote inside an unquoted field (quote the "
                         "whole field and double the quote)",
                         path, (unsigned long long)r->row);
                free(b.data);
                return false;
            }
            s++;
        }
        sb_put(&b, start, (size_t)(s - start));
    }
    *last = s >= r->end || *s != ',';
    s += s < r->end && *s == ',' ? 1 : (s < r->end && *s == '\r' ? 2 : (s < r->end ? 1 : 0));
    r->s = s;
    *out = sb_take(&b);
    return true;
}

/* One record; returns its field count (0 at the end of the file), -1 on error. */
static int csv_record(struct csv *r, char ***fields, char *err, size_t errlen, const char *path)
{
    int n = 0, cap = 0;
    bool last = false;
    *fields = NULL;
    while (r->s < r->end &&
           (*r->s == '\n' || (*r->s == '\r' && r->s + 1 < r->end && r->s[1] == '\n')))
        r->s += *r->s == '\n' ? 1 : 2; /* blank lines are not rows */
    if (r->s >= r->end)
        return 0;
    r->row++;
    while (!last) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            *fields = tf_xrealloc(*fields, (size_t)cap * sizeof **fields);
        }
        if (!csv_field(r, &(*fields)[n], &last, err, errlen, path)) {
            for (int i = 0; i < n; i++)
                free((*fields)[i]);
            free(*fields);
            *fields = NULL;
            return -1;
        }
        n++;
    }
    return n;
}

static void free_fields(char **f, int n)
{
    for (int i = 0; i < n; i++)
        free(f[i]);
    free(f);
}

static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot read parameter file '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct sbuf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sb_put(&b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "cannot read parameter file '%s'", path);
        free(b.data);
        return NULL;
    }
    *len = b.len;
    return sb_take(&b);
}

static bool csv_header(struct tf_params **out, char **f, int n, const char *path, char *err,
                       size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (!tf_params_is_name(f[i], strlen(f[i]))) {
            snprintf(err, errlen,
                     "%s: column %d is named '%s'; names are letters, digits and _, "
                     "not starting with a digit",
                     path, i + 1, f[i]);
            return false;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(f[i], f[j]) == 0) {
                snprintf(err, errlen, "%s: two columns are named '%s'", path, f[i]);
                return false;
            }
    }
    *out = params_new(n);
    memcpy((*out)->names, f, (size_t)n * sizeof *f);
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
    struct csv r = {text, text + len, 0};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.s += 3; /* a spreadsheet's byte order mark */
    char **f;
    int n = csv_record(&r, &f, err, errlen, path);
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
    while ((got = csv_record(&r, &f, err, errlen, path)) > 0) {
        if (got != n || (*out)->nrows >= MAX_ROWS) {
            if (got != n)
                snprintf(err, errlen, "%s: row %llu has %d field%s, the header %d", path,
                         (unsigned long long)r.row, got, got == 1 ? "" : "s", n);
            else
                snprintf(err, errlen, "%s: more than %llu rows", path, MAX_ROWS);
            free_fields(f, got);
            got = -1;
            break;
        }
        add_row(*out, f);
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

struct axis {
    char **v;
    uint64_t n;
};

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
        unsigned long long n = (unsigned long long)(lo <= hi ? hi - lo : lo - hi) + 1;
        if (n > MAX_ROWS) {
            snprintf(err, errlen, "invalid --grid '%s': more than %llu values", spec, MAX_ROWS);
            return false;
        }
        a->n = n;
        a->v = tf_xcalloc(n, sizeof *a->v);
        for (uint64_t i = 0; i < n; i++) {
            char num[24];
            snprintf(num, sizeof num, "%lld", lo <= hi ? lo + (long long)i : lo - (long long)i);
            a->v[i] = tf_xstrdup(num);
        }
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

static void axes_free(struct axis *a, char **names, int n)
{
    for (int i = 0; i < n; i++) {
        for (uint64_t j = 0; j < a[i].n; j++)
            free(a[i].v[j]);
        free(a[i].v);
        free(names[i]);
    }
    free(a);
    free(names);
}

enum tf_status tf_params_grid(const char *const *specs, int nspecs, struct tf_params **out,
                              char *err, size_t errlen)
{
    struct axis *a = tf_xcalloc((size_t)nspecs, sizeof *a);
    char **names = tf_xcalloc((size_t)nspecs, sizeof *names);
    uint64_t total = 1;
    *out = NULL;
    for (int i = 0; i < nspecs; i++) {
        bool ok = parse_axis(specs[i], &a[i], &names[i], err, errlen);
        for (int j = 0; ok && j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(err, errlen, "--grid names '%s' twice", names[i]);
                ok = false;
            }
        if (ok && (total *= a[i].n) > MAX_ROWS) {
            snprintf(err, errlen, "--grid makes more than %llu tasks", MAX_ROWS);
            ok = false;
        }
        if (!ok) {
            axes_free(a, names, nspecs);
            return TF_EINPUT;
        }
    }
    struct tf_params *p = params_new(nspecs);
    char **row = tf_xcalloc((size_t)nspecs, sizeof *row);
    for (uint64_t r = 0; r < total; r++) {
        uint64_t rest = r;
        for (int c = nspecs - 1; c >= 0; c--) { /* the last axis varies fastest */
            row[c] = tf_xstrdup(a[c].v[rest % a[c].n]);
            rest /= a[c].n;
        }
        add_row(p, row);
    }
    free(row);
    for (int c = 0; c < nspecs; c++)
        p->names[c] = tf_xstrdup(names[c]);
    axes_free(a, names, nspecs);
    *out = p;
    return TF_OK;
}

/* ---- types -------------------------------------------------------------------------- */

enum tf_param_type tf_params_type(const struct tf_params *p, int col)
{
    bool ints = p->nrows > 0, floats = p->nrows > 0;
    for (uint64_t r = 0; r < p->nrows && (ints || floats); r++) {
        const char *v = tf_params_value(p, r, col);
        ints = ints && tf_text_is_int64(v);
        floats = floats && tf_text_is_double(v, true);
    }
    return ints ? TF_PARAM_INT : floats ? TF_PARAM_FLOAT : TF_PARAM_STRING;
}

/* ---- templates ---------------------------------------------------------------------- */

static enum tf_status check_fields(const struct tf_params *p, const char *tmpl, bool *used,
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

enum tf_status tf_params_check(const struct tf_params *p, const char *tmpl, char *err,
                               size_t errlen)
{
    bool *used = tf_xcalloc((size_t)p->ncols + 1, sizeof *used);
    enum tf_status st = check_fields(p, tmpl, used, err, errlen);
    for (int c = 0; c < p->ncols && st == TF_OK; c++)
        for (uint64_t r = 0; used[c] && r < p->nrows && st == TF_OK; r++)
            if (strpbrk(tf_params_value(p, r, c), "\r\n")) {
                snprintf(err, errlen,
                         "parameter row %llu, column %s: the value holds a line "
                         "break (a task is one line)",
                         (unsigned long long)r + 1, p->names[c]);
                st = TF_EINPUT;
            }
    free(used);
    return st;
}

/* Every {name} of tmpl is a column (marked in used[]). */
static enum tf_status check_fields(const struct tf_params *p, const char *tmpl, bool *used,
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
        if (n != 3 || t[1] != '#') {
            int col = find_col(p, t + 1, n - 2);
            if (col >= 0)
                used[col] = true;
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
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "_@%+=:,./-";
    if (*v && strspn(v, safe) == strlen(v)) {
        sb_put(b, v, strlen(v));
        return;
    }
    sb_put(b, "'", 1);
    for (; *v; v++)
        if (*v == '\'')
            sb_put(b, "'\\''", 4);
        else
            sb_put(b, v, 1);
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
