/* h5table.c - a result file read back as one table of text cells, for taskfarm export: the
 * /tasks columns, then /params and /results, row by row in blocks.
 */
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5out.h"
#include "h5out_impl.h"
#include "util.h"

struct column {
    char *name; /* as exported: the dataset's name; "params.X"/"results.X" on a clash */
    hid_t dset;
    H5T_class_t cls;
    bool is_enum;
    size_t fixed; /* a fixed-length string's size, 0 for variable-length */
};

struct tf_h5table {
    hid_t file, str_type;
    int ncols;
    struct column *cols;
    uint64_t nrows;
    const char *path;
    char *err; /* the first column refused, one line (W4) */
    size_t errlen;
    bool bad;
};

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_COMPOUND:
        return "a compound";
    case H5T_OPAQUE:
        return "an opaque";
    case H5T_REFERENCE:
        return "a reference";
    case H5T_ARRAY:
        return "an array";
    case H5T_VLEN:
        return "a variable-length sequence";
    case H5T_BITFIELD:
        return "a bitfield";
    case H5T_TIME:
        return "a time";
    default:
        return "an unknown";
    }
}

/* The types export writes as text: integers (8 bytes at most), floats, enums, strings. */
static bool exportable(hid_t type, H5T_class_t c)
{
    return (c == H5T_INTEGER && H5Tget_size(type) <= 8) || c == H5T_FLOAT || c == H5T_ENUM ||
           c == H5T_STRING;
}

static bool taken(const struct tf_h5table *t, const char *name)
{
    for (int i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return true;
    return false;
}

static herr_t add_column(hid_t group, const char *name, const H5L_info_t *info, void *arg)
{
    void **a = arg;
    struct tf_h5table *t = a[0];
    const char *prefix = a[1];
    if (info && info->type != H5L_TYPE_HARD)
        return 0; /* never followed (h5check refuses them before this) */
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    if (d < 0)
        return 0; /* not a dataset: not a column */
    hid_t space = H5Dget_space(d), type = H5Dget_type(d);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rank = H5Sget_simple_extent_ndims(space);
    H5Sclose(space);
    if (rank != 1 || n < 0 || (uint64_t)n != t->nrows) {
        H5Tclose(type);
        H5Dclose(d);
        return 0; /* not one value per task */
    }
    H5T_class_t cls = H5Tget_class(type);
    if (!exportable(type, cls)) {
        snprintf(t->err, t->errlen,
                 "'%s': /%s/%s has %s type; export writes integer, float, enum and string "
                 "columns",
                 t->path, *prefix ? prefix : "tasks", name, class_name(cls));
        t->bad = true;
        H5Tclose(type);
        H5Dclose(d);
        return 1;
    }
    t->cols = tf_xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
    struct column *c = &t->cols[t->ncols];
    size_t len = strlen(prefix) + strlen(name) + 2;
    c->name = tf_xmalloc(len);
    snprintf(c->name, len, "%s", name);
    if (*prefix && taken(t, name))
        snprintf(c->name, len, "%s.%s", prefix, name);
    c->dset = d;
    c->cls = H5Tget_class(type);
    c->is_enum = c->cls == H5T_ENUM;
    c->fixed = c->cls == H5T_STRING && H5Tis_variable_str(type) <= 0 ? H5Tget_size(type) : 0;
    H5Tclose(type);
    t->ncols++;
    return 0;
}

/* /tasks in the order the file format lists its columns. */
static void add_tasks(struct tf_h5table *t)
{
    hid_t g = H5Gopen2(t->file, "tasks", H5P_DEFAULT);
    void *arg[2] = {t, ""};
    for (int i = 0; g >= 0 && tf_h5out_task_column(i); i++)
        if (H5Lexists(g, tf_h5out_task_column(i), H5P_DEFAULT) > 0)
            add_column(g, tf_h5out_task_column(i), NULL, arg);
    if (g >= 0)
        H5Gclose(g);
}

static void add_group(struct tf_h5table *t, const char *group, const char *prefix)
{
    if (H5Lexists(t->file, group, H5P_DEFAULT) <= 0)
        return;
    hid_t g = H5Gopen2(t->file, group, H5P_DEFAULT);
    void *arg[2] = {t, (void *)prefix};
    /* creation order where the group keeps it (/params, /results), else by name */
    if (H5Literate(g, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, add_column, arg) < 0) {
        H5Eclear2(H5E_DEFAULT);
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_column, arg);
    }
    H5Gclose(g);
}

enum tf_status tf_h5table_open(const char *path, struct tf_h5table **out, char *err, size_t errlen)
{
    struct tf_h5out_info info;
    *out = NULL;
    if (tf_h5out_inspect(path, &info, err, errlen) != TF_OK)
        return TF_EINPUT;
    struct tf_h5table *t = tf_xcalloc(1, sizeof *t);
    t->file = tf_h5_open_result(path, err, errlen);
    if (t->file < 0) {
        free(t);
        return TF_EINPUT;
    }
    t->str_type = tf_h5_str_type();
    t->nrows = info.ntasks;
    t->path = path;
    t->err = err;
    t->errlen = errlen;
    add_tasks(t);
    if (!t->bad)
        add_group(t, "params", "params");
    if (!t->bad)
        add_group(t, "results", "results");
    H5Eclear2(H5E_DEFAULT);
    if (t->bad) {
        tf_h5table_close(t);
        return TF_EINPUT;
    }
    t->path = NULL; /* the caller's; not kept */
    *out = t;
    return TF_OK;
}

void tf_h5table_close(struct tf_h5table *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < t->ncols; i++) {
        H5Dclose(t->cols[i].dset);
        free(t->cols[i].name);
    }
    free(t->cols);
    H5Tclose(t->str_type);
    H5Fclose(t->file);
    free(t);
}

int tf_h5table_cols(const struct tf_h5table *t)
{
    return t->ncols;
}
uint64_t tf_h5table_rows(const struct tf_h5table *t)
{
    return t->nrows;
}
const char *tf_h5table_name(const struct tf_h5table *t, int col)
{
    return t->cols[col].name;
}

bool tf_h5table_numeric(const struct tf_h5table *t, int col)
{
    return t->cols[col].cls == H5T_INTEGER || t->cols[col].cls == H5T_FLOAT;
}

/* The member name of an enum value (malloc'd), NULL when no member has it.
 * RATIONALE: H5Tenum_nameof leaves a name longer than its buffer unterminated (C4); the
 * member's own name has whatever length it has. */
static char *enum_name(hid_t type, const void *value)
{
    size_t size = H5Tget_size(type);
    int n = H5Tget_nmembers(type);
    unsigned char v[64];
    for (int i = 0; size <= sizeof v && i < n; i++) {
        if (H5Tget_member_value(type, (unsigned)i, v) < 0 || memcmp(v, value, size) != 0)
            continue;
        char *name = H5Tget_member_name(type, (unsigned)i), *copy = NULL;
        if (name) {
            copy = tf_xstrdup(name);
            H5free_memory(name);
        }
        return copy;
    }
    H5Eclear2(H5E_DEFAULT);
    return NULL;
}

/* Rows [first, first + n) of one column as text; NULL for a missing value (NaN). */
static int read_text(const struct tf_h5table *t, const struct column *c, uint64_t first, size_t n,
                     char **cells, int stride)
{
    hsize_t start = first, count = n;
    hid_t fs = H5Dget_space(c->dset), ms = H5Screate_simple(1, &count, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ? -1 : 0;
    void *buf = tf_xmalloc(n * (c->fixed > 8 ? c->fixed : 8) + 8);
    hid_t mt = c->fixed               ? H5Dget_type(c->dset)
               : c->cls == H5T_STRING ? H5Tcopy(t->str_type)
               : c->is_enum           ? H5Dget_type(c->dset)
               : c->cls == H5T_FLOAT  ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                      : H5Tcopy(H5T_NATIVE_INT64);
    if (rc == 0 && H5Dread(c->dset, mt, ms, fs, H5P_DEFAULT, buf) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char num[64], **cell = &cells[i * (size_t)stride];
        if (c->fixed) {
            *cell = tf_xstrndup((char *)buf + i * c->fixed, c->fixed);
        } else if (c->cls == H5T_STRING) {
            char *s = ((char **)buf)[i];
            *cell = tf_xstrdup(s ? s : "");
            if (s)
                H5free_memory(s);
        } else if (c->is_enum) {
            *cell = enum_name(mt, (char *)buf + i * H5Tget_size(mt));
        } else if (c->cls == H5T_FLOAT) {
            double v = ((double *)buf)[i];
            snprintf(num, sizeof num, "%.15g", v); /* the shortest that reads back the same */
            if (strtod(num, NULL) != v)
                snprintf(num, sizeof num, "%.17g", v);
            *cell = isnan(v) ? NULL : tf_xstrdup(num);
        } else {
            snprintf(num, sizeof num, "%" PRId64, ((int64_t *)buf)[i]);
            *cell = tf_xstrdup(num);
        }
    }
    H5Tclose(mt);
    free(buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc;
}

enum tf_status tf_h5table_read(const struct tf_h5table *t, uint64_t first, size_t n, char **cells,
                               char *err, size_t errlen)
{
    for (int c = 0; c < t->ncols; c++)
        if (read_text(t, &t->cols[c], first, n, cells + c, t->ncols) < 0) {
            char what[300];
            snprintf(what, sizeof what, "cannot read column %s, rows %llu to %llu", t->cols[c].name,
                     (unsigned long long)first, (unsigned long long)(first + n - 1));
            return tf_h5_fail(what, err, errlen);
        }
    return TF_OK;
}
