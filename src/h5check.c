/* h5check.c - the validation of a result file that every reader goes through (see
 * h5check.h): what taskfarm writes, checked before a byte of it is trusted, and refused with
 * one line naming the object at fault. Also the attribute readers, which check shape and class.
 */
#define _DEFAULT_SOURCE /* on_exit */
#include "h5check.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "h5out.h"
#include "h5out_impl.h"
#include "task.h"
#include "util.h"

/* ---- the library --------------------------------------------------------------------- */

static void skip_hdf5_exit(int status, void *arg)
{
    (void)arg;
    fflush(NULL);
    _exit(status);
}

void tf_h5_close_failed(void)
{
    static bool registered;
    if (!registered && on_exit(skip_hdf5_exit, NULL) == 0)
        registered = true;
}

/* ---- attributes ------------------------------------------------------------------------- */

/* The attribute `name` of loc, open, when it holds one value of class cls (or cls2). */
static hid_t open_one(hid_t loc, const char *name, H5T_class_t cls, H5T_class_t cls2)
{
    if (H5Aexists(loc, name) <= 0)
        return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    hid_t s = H5Aget_space(a), t = H5Aget_type(a);
    /* RATIONALE: an array read into one value would write past it (C3) */
    bool one = s >= 0 && H5Sget_simple_extent_npoints(s) == 1 && H5Sget_simple_extent_ndims(s) <= 1;
    H5T_class_t c = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    bool ok = one && (c == cls || c == cls2);
    if (ok && c == H5T_STRING)
        ok = H5Tis_variable_str(t) > 0;
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (!ok) {
        H5Aclose(a);
        return -1;
    }
    return a;
}

int tf_h5_read_attr_i64(hid_t loc, const char *name, int64_t *v)
{
    hid_t a = open_one(loc, name, H5T_INTEGER, H5T_INTEGER);
    if (a < 0)
        return -1;
    int64_t x;
    int rc = H5Aread(a, H5T_NATIVE_INT64, &x) < 0 ? -1 : 0;
    H5Aclose(a);
    if (rc == 0)
        *v = x;
    return rc;
}

int tf_h5_read_attr_f64(hid_t loc, const char *name, double *v)
{
    hid_t a = open_one(loc, name, H5T_FLOAT, H5T_INTEGER);
    if (a < 0)
        return -1;
    double x;
    int rc = H5Aread(a, H5T_NATIVE_DOUBLE, &x) < 0 ? -1 : 0;
    H5Aclose(a);
    if (rc == 0)
        *v = x;
    return rc;
}

int tf_h5_read_attr_str(hid_t loc, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    hid_t a = open_one(loc, name, H5T_STRING, H5T_STRING);
    if (a < 0)
        return -1;
    hid_t t = tf_h5_str_type();
    char *v = NULL;
    int rc = H5Aread(a, t, &v) < 0 ? -1 : 0;
    if (rc == 0 && v) {
        snprintf(out, outlen, "%s", v);
        H5free_memory(v);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

/* ---- opening ---------------------------------------------------------------------------- */

hid_t tf_h5_open_result(const char *path, char *errmsg, size_t errlen)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!tf_check_regular(path, errmsg, errlen))
        return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* Read-only opens take no file lock: `taskfarm status` must work while the run that
     * writes the file holds its lock. Only a writer needs the lock, and a writer takes it. */
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        H5Eclear2(H5E_DEFAULT);
        snprintf(errmsg, errlen, "cannot open result file '%s' (truncated, damaged, or not HDF5)",
                 path);
    }
    return f;
}

bool tf_h5_is_map(hid_t f)
{
    char kind[16];
    bool map = tf_h5_read_attr_str(f, "kind", kind, sizeof kind) == 0 && strcmp(kind, "map") == 0;
    H5Eclear2(H5E_DEFAULT);
    return map;
}

/* ---- checks ----------------------------------------------------------------------------- */

#define BAD(...) (snprintf(errmsg, errlen, __VA_ARGS__), TF_EINPUT)

static const char *link_kind(H5L_type_t t)
{
    return t == H5L_TYPE_SOFT       ? "a soft link"
           : t == H5L_TYPE_EXTERNAL ? "an external link"
                                    : "a user-defined link";
}

struct links {
    const char *path, *group;
    char *errmsg;
    size_t errlen;
    bool bad;
};

static herr_t hard_only(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
    (void)g;
    struct links *l = arg;
    if (info->type == H5L_TYPE_HARD)
        return 0;
    snprintf(l->errmsg, l->errlen,
             "'%s': %s/%s is %s; a result file holds none (they would open other files)", l->path,
             l->group, name, link_kind(info->type));
    l->bad = true;
    return 1;
}

/* Every link in group `name` of f ("" for the root) is a hard link. */
static enum tf_status links_hard(hid_t f, const char *path, const char *name, char *errmsg,
                                 size_t errlen)
{
    hid_t g = H5Gopen2(f, *name ? name : "/", H5P_DEFAULT);
    if (g < 0)
        return BAD("'%s': cannot open group /%s", path, name);
    char group[64];
    snprintf(group, sizeof group, "%s%s", *name ? "/" : "", name);
    struct links l = {path, group, errmsg, errlen, false};
    hsize_t at = 0;
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &at, hard_only, &l);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    if (l.bad)
        return TF_EINPUT;
    return rc < 0 ? BAD("'%s': cannot list group %s (damaged)", path, *group ? group : "/") : TF_OK;
}

/* `name` in loc exists, is a hard link (checked before anything follows it) to an object of
 * type want. 0 when absent, 1 when so, -1 with errmsg otherwise. */
static int object_is(hid_t loc, const char *path, const char *where, const char *name,
                     H5O_type_t want, char *errmsg, size_t errlen)
{
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    H5L_info_t li;
    H5O_info_t oi;
    if (H5Lget_info(loc, name, &li, H5P_DEFAULT) < 0)
        snprintf(errmsg, errlen, "'%s': cannot read the link %s", path, where);
    else if (li.type != H5L_TYPE_HARD)
        snprintf(errmsg, errlen, "'%s': %s is %s; a result file holds none", path, where,
                 link_kind(li.type));
    else if (H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
        snprintf(errmsg, errlen, "'%s': cannot read %s (damaged)", path, where);
    else if (oi.type != want)
        snprintf(errmsg, errlen, "'%s': %s is not a %s", path, where,
                 want == H5O_TYPE_GROUP ? "group" : "dataset");
    else
        return 1;
    H5Eclear2(H5E_DEFAULT);
    return -1;
}

enum tf_status tf_h5check_path(hid_t f, const char *dataset, const char *where, char *errmsg,
                               size_t errlen)
{
    char *p = tf_xstrdup(dataset);
    enum tf_status st = TF_OK;
    for (char *at = p + strspn(p, "/"); st == TF_OK && *at;) {
        char *slash = strchr(at, '/');
        if (slash)
            *slash = '\0';
        H5L_info_t li = {.type = H5L_TYPE_ERROR};
        if (H5Lexists(f, p, H5P_DEFAULT) <= 0) /* checks every component before it too */
            st = TF_OK;                        /* absent: H5Dopen2 says so */
        else if (H5Lget_info(f, p, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD)
            st = BAD("%s: %s is %s; only hard links are followed", where, p, link_kind(li.type));
        if (!slash)
            break;
        *slash = '/';
        at = slash + 1;
    }
    H5Eclear2(H5E_DEFAULT);
    free(p);
    return st;
}

/* A root attribute: absent (fine unless required), or one value of its class. */
struct attr_rule {
    const char *name;
    char kind; /* 'i' integer, 'f' number, 's' variable-length string */
    bool required;
};

static const struct attr_rule task_attrs[] = {
    {"format_version", 'i', true},   {"ntasks", 'i', true},         {"taskfile_sha256", 's', true},
    {"taskfile", 's', true},         {"run_id", 's', false},        {"state", 's', false},
    {"slice", 's', false},           {"slurm_job_ids", 's', false}, {"first_task", 'i', false},
    {"taskfile_ntasks", 'i', false}, {"capture_bytes", 'i', false}, {"nworkers", 'i', false},
    {"nslots", 'i', false},          {"resumes", 'i', false},       {"start_time", 'f', false},
    {"end_time", 'f', false},
};

static const char *kind_text(char kind)
{
    return kind == 'i' ? "an integer" : kind == 'f' ? "a number" : "a variable-length string";
}

static enum tf_status check_attrs(hid_t f, const char *path, const struct attr_rule *rules,
                                  size_t n, char *errmsg, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct attr_rule *r = &rules[i];
        if (H5Aexists(f, r->name) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            if (r->required)
                return BAD("'%s' is not a taskfarm result file (no attribute %s)", path, r->name);
            continue;
        }
        int64_t iv;
        double fv;
        char sv[8];
        int rc = r->kind == 'i'   ? tf_h5_read_attr_i64(f, r->name, &iv)
                 : r->kind == 'f' ? tf_h5_read_attr_f64(f, r->name, &fv)
                                  : tf_h5_read_attr_str(f, r->name, sv, sizeof sv);
        H5Eclear2(H5E_DEFAULT);
        if (rc < 0)
            return BAD("'%s': attribute %s is not one value (%s)", path, r->name,
                       kind_text(r->kind));
    }
    return TF_OK;
}

/* An integer attribute in [lo, hi] when present. */
static enum tf_status in_range(hid_t f, const char *path, const char *name, int64_t lo, int64_t hi,
                               int64_t *v, char *errmsg, size_t errlen)
{
    int64_t x = lo;
    if (tf_h5_read_attr_i64(f, name, &x) < 0) {
        H5Eclear2(H5E_DEFAULT);
        return TF_OK; /* absent: check_attrs said whether that is allowed */
    }
    if (v)
        *v = x;
    if (x < lo || x > hi)
        return BAD("'%s': attribute %s is %" PRId64 "; it must be %" PRId64 " to %" PRId64, path,
                   name, x, lo, hi);
    return TF_OK;
}

/* slots_per_rank: a short 1-D list of integers, when present. */
static enum tf_status slots_attr(hid_t f, const char *path, char *errmsg, size_t errlen)
{
    if (H5Aexists(f, "slots_per_rank") <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return TF_OK;
    }
    hid_t a = H5Aopen(f, "slots_per_rank", H5P_DEFAULT);
    hid_t s = a < 0 ? -1 : H5Aget_space(a), t = a < 0 ? -1 : H5Aget_type(a);
    bool ok = s >= 0 && t >= 0 && H5Sget_simple_extent_ndims(s) == 1 &&
              H5Sget_simple_extent_npoints(s) <= 65536 && H5Tget_class(t) == H5T_INTEGER;
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (a >= 0)
        H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return ok ? TF_OK
              : BAD("'%s': attribute slots_per_rank is not a list of at most 65536 integers", path);
}

/* Raw data only in this file: an external raw-data file or a virtual dataset would have
 * HDF5 open other files (a FIFO among them). */
static bool stored_here(hid_t d)
{
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0)
        return false;
    H5D_layout_t lay = H5Pget_layout(dcpl);
    int ext = H5Pget_external_count(dcpl);
    H5Pclose(dcpl);
    return ext == 0 && (lay == H5D_CHUNKED || lay == H5D_CONTIGUOUS || lay == H5D_COMPACT);
}

/* Chunks of at least TF_H5_MIN_CHUNK rows (or the whole column): what taskfarm writes has
 * 4096. RATIONALE: a column of 10^6 rows in chunks of 5 took HDF5 seconds per column to
 * read (a chunk look-up per 5 rows); 10^9 rows in chunks of one would take hours (H1). */
#define TF_H5_MIN_CHUNK 1024

static bool chunks_sane(hid_t d, hsize_t rows)
{
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0)
        return false;
    hsize_t chunk = 0;
    bool ok = H5Pget_layout(dcpl) != H5D_CHUNKED ||
              (H5Pget_chunk(dcpl, 1, &chunk) == 1 &&
               chunk >= (rows < TF_H5_MIN_CHUNK ? rows : TF_H5_MIN_CHUNK) && chunk > 0);
    H5Pclose(dcpl);
    return ok;
}

int tf_h5_status_count(int64_t format_version)
{
    return format_version >= 4 ? TF_TASK_STATUS_COUNT : TF_TASK_TIMED_OUT + 1;
}

/* The status enum: exactly the members NOT_RUN=0 .. of the file's format (TIMED_OUT=4 before
 * format 4, LOST=5 from it), over a 1-byte signed int.
 * RATIONALE: an extra member crashed HDF5's enum conversion (C5); a file of format 3 with
 * LOST in its enum was not written by any taskfarm. */
static bool status_enum(hid_t t, int nstatus)
{
    if (H5Tget_class(t) != H5T_ENUM || H5Tget_size(t) != 1)
        return false;
    hid_t base = H5Tget_super(t);
    bool ok = base >= 0 && H5Tget_sign(base) == H5T_SGN_2;
    if (base >= 0)
        H5Tclose(base);
    if (!ok || H5Tget_nmembers(t) != nstatus)
        return false;
    bool seen[TF_TASK_STATUS_COUNT] = {false};
    for (unsigned i = 0; ok && i < (unsigned)nstatus; i++) {
        int8_t v = -1;
        char *name = H5Tget_member_name(t, i);
        ok = name && H5Tget_member_value(t, i, &v) >= 0 && v >= 0 && v < nstatus && !seen[v] &&
             strcmp(name, tf_task_status_name(v)) == 0;
        if (ok)
            seen[v] = true;
        if (name)
            H5free_memory(name);
    }
    return ok;
}

static const char *type_text(int kind, int nstatus)
{
    switch (kind) {
    case TF_H5_STR:
        return "variable-length strings";
    case TF_H5_I64:
        return "8-byte integers";
    case TF_H5_I32:
        return "4-byte integers";
    case TF_H5_I8:
        return "1-byte integers";
    case TF_H5_F64:
        return "8-byte floats";
    default:
        return nstatus == TF_TASK_STATUS_COUNT
                   ? "the status enum of format 4 (exactly NOT_RUN=0, SUCCEEDED=1, FAILED=2, "
                     "KILLED=3, TIMED_OUT=4, LOST=5)"
                   : "the status enum of formats 2 and 3 (exactly NOT_RUN=0, SUCCEEDED=1, "
                     "FAILED=2, KILLED=3, TIMED_OUT=4)";
    }
}

static bool type_is(hid_t t, int kind, int nstatus)
{
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    switch (kind) {
    case TF_H5_STR:
        return c == H5T_STRING && H5Tis_variable_str(t) > 0;
    case TF_H5_I64:
        return c == H5T_INTEGER && size == 8;
    case TF_H5_I32:
        return c == H5T_INTEGER && size == 4;
    case TF_H5_I8:
        return c == H5T_INTEGER && size == 1;
    case TF_H5_F64:
        return c == H5T_FLOAT && size == 8;
    default:
        return status_enum(t, nstatus);
    }
}

/* One /tasks column: a 1-D dataset of ntasks values of its type, stored in this file. */
static enum tf_status check_column(hid_t g, const char *path, int c, uint64_t ntasks, int nstatus,
                                   char *errmsg, size_t errlen)
{
    const char *name = tf_h5out_task_column(c);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return BAD("'%s': cannot open /tasks/%s (damaged)", path, name);
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    int ndims = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
    hsize_t dims[H5S_MAX_RANK];
    if (ndims == 1)
        H5Sget_simple_extent_dims(s, dims, NULL);
    enum tf_status st = TF_OK;
    if (ndims != 1)
        st = BAD("'%s': /tasks/%s has %d dimensions; a column has 1", path, name,
                 ndims < 0 ? 0 : ndims);
    else if (dims[0] != ntasks)
        st = BAD("'%s': /tasks/%s has %llu rows, ntasks says %llu", path, name,
                 (unsigned long long)dims[0], (unsigned long long)ntasks);
    else if (t < 0 || !type_is(t, tf_h5out_task_column_kind(c), nstatus))
        st = BAD("'%s': /tasks/%s is not of the type taskfarm writes (%s)", path, name,
                 type_text(tf_h5out_task_column_kind(c), nstatus));
    else if (!stored_here(d))
        st = BAD("'%s': /tasks/%s keeps its data outside the file (external or virtual)", path,
                 name);
    else if (!chunks_sane(d, dims[0]))
        st = BAD("'%s': /tasks/%s is stored in chunks of fewer than %d rows; taskfarm writes "
                 "4096",
                 path, name, TF_H5_MIN_CHUNK);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* Every value of /tasks/status is a status of the file's format (read raw: the enum's base
 * type, no conversion).
 * RATIONALE: status counted 77 as "not run" while --resume took it as finished (W7), and
 * report indexed its colours with it (C2). */
static enum tf_status status_values(hid_t g, const char *path, uint64_t ntasks, int nstatus,
                                    char *errmsg, size_t errlen)
{
    enum { BLOCK = 1 << 20 };
    hid_t d = H5Dopen2(g, "status", H5P_DEFAULT);
    hid_t fs = d < 0 ? -1 : H5Dget_space(d), mt = d < 0 ? -1 : H5Dget_type(d);
    int8_t *buf = tf_xmalloc(BLOCK);
    enum tf_status st = d < 0 || fs < 0 || mt < 0 ? TF_EIO : TF_OK;
    for (uint64_t at = 0; st == TF_OK && at < ntasks; at += BLOCK) {
        hsize_t start = at, n = ntasks - at < BLOCK ? ntasks - at : BLOCK;
        hid_t ms = H5Screate_simple(1, &n, NULL);
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL) < 0 ||
            H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf) < 0)
            st = TF_EIO;
        H5Sclose(ms);
        for (hsize_t i = 0; st == TF_OK && i < n; i++)
            if (buf[i] < 0 || buf[i] >= nstatus)
                st = BAD("'%s': /tasks/status row %llu holds %d, which is no status (0 to %d)",
                         path, (unsigned long long)(at + i), buf[i], nstatus - 1);
    }
    if (st == TF_EIO)
        st = BAD("'%s': cannot read /tasks/status (damaged)", path);
    free(buf);
    if (mt >= 0)
        H5Tclose(mt);
    if (fs >= 0)
        H5Sclose(fs);
    if (d >= 0)
        H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

static enum tf_status check_groups(hid_t f, const char *path, char *errmsg, size_t errlen)
{
    TF_TRY(links_hard(f, path, "", errmsg, errlen));
    int has = object_is(f, path, "/tasks", "tasks", H5O_TYPE_GROUP, errmsg, errlen);
    if (has < 0)
        return TF_EINPUT;
    if (has == 0)
        return BAD("'%s' is not a taskfarm result file (no group /tasks)", path);
    TF_TRY(links_hard(f, path, "tasks", errmsg, errlen));
    static const char *const extra[] = {"params", "results"};
    for (int i = 0; i < 2; i++) {
        char where[16];
        snprintf(where, sizeof where, "/%s", extra[i]);
        has = object_is(f, path, where, extra[i], H5O_TYPE_GROUP, errmsg, errlen);
        if (has < 0)
            return TF_EINPUT;
        if (has > 0)
            TF_TRY(links_hard(f, path, extra[i], errmsg, errlen));
    }
    return TF_OK;
}

enum tf_status tf_h5check_tasks(hid_t f, const char *path, bool deep, struct tf_h5check *out,
                                char *errmsg, size_t errlen)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(out, 0, sizeof *out);
    if (tf_h5_is_map(f))
        return BAD("'%s' is the result file of an in-process map (--plugin); this command "
                   "reads task result files",
                   path);
    TF_TRY(
        check_attrs(f, path, task_attrs, sizeof task_attrs / sizeof task_attrs[0], errmsg, errlen));
    int64_t version = 0, ntasks = 0, first = 0, whole = -1;
    tf_h5_read_attr_i64(f, "format_version", &version);
    if (version < TF_H5OUT_OLDEST_FORMAT || version > TF_H5OUT_FORMAT_VERSION)
        return BAD("result file '%s' has format version %" PRId64
                   "; this taskfarm reads versions %d to %d",
                   path, version, TF_H5OUT_OLDEST_FORMAT, TF_H5OUT_FORMAT_VERSION);
    TF_TRY(in_range(f, path, "ntasks", 0, (int64_t)TF_H5_MAX_ROWS, &ntasks, errmsg, errlen));
    TF_TRY(in_range(f, path, "first_task", 0, (int64_t)TF_H5_MAX_ROWS, &first, errmsg, errlen));
    TF_TRY(
        in_range(f, path, "taskfile_ntasks", 0, (int64_t)TF_H5_MAX_ROWS, &whole, errmsg, errlen));
    TF_TRY(in_range(f, path, "nworkers", 0, TF_H5_MAX_RANKS, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "nslots", 0, TF_H5_MAX_SLOTS, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "capture_bytes", 0, INT64_MAX, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "resumes", 0, INT64_MAX, NULL, errmsg, errlen));
    TF_TRY(slots_attr(f, path, errmsg, errlen));
    TF_TRY(check_groups(f, path, errmsg, errlen));
    hid_t g = H5Gopen2(f, "tasks", H5P_DEFAULT);
    if (g < 0)
        return BAD("'%s': cannot open /tasks (damaged)", path);
    int nstatus = tf_h5_status_count(version);
    enum tf_status st = TF_OK;
    for (int c = 0; st == TF_OK && tf_h5out_task_column(c); c++) {
        const char *name = tf_h5out_task_column(c);
        char where[64];
        snprintf(where, sizeof where, "/tasks/%s", name);
        int has = object_is(g, path, where, name, H5O_TYPE_DATASET, errmsg, errlen);
        if (has < 0)
            st = TF_EINPUT;
        else if (has == 0 && !(version == 2 && strcmp(name, "slot") == 0))
            st = BAD("'%s': /tasks has no column %s", path, name);
        else if (has > 0)
            st = check_column(g, path, c, (uint64_t)ntasks, nstatus, errmsg, errlen);
        if (has > 0 && strcmp(name, "slot") == 0)
            out->has_slot = true;
    }
    if (st == TF_OK && whole >= 0 && first + ntasks > whole)
        st = BAD("'%s': first_task %" PRId64 " and ntasks %" PRId64
                 " go past taskfile_ntasks %" PRId64,
                 path, first, ntasks, whole);
    if (st == TF_OK && deep)
        st = status_values(g, path, (uint64_t)ntasks, nstatus, errmsg, errlen);
    H5Gclose(g);
    H5Eclear2(H5E_DEFAULT);
    out->format_version = version;
    out->nstatus = nstatus;
    out->ntasks = (uint64_t)ntasks;
    return st;
}

static const struct attr_rule map_attrs[] = {
    {"kind", 's', true},
    {"format_version", 'i', true},
    {"nitems", 'i', true},
    {"identity", 's', true},
    {"run_id", 's', false},
    {"state", 's', false},
    {"results_offset", 'i', false},
    {"items_done", 'i', false},
    {"items_failed", 'i', false},
    {"items_not_run", 'i', false},
    {"nworkers", 'i', false},
    {"resumes", 'i', false},
};

enum tf_status tf_h5check_map(hid_t f, const char *path, char *errmsg, size_t errlen)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    TF_TRY(check_attrs(f, path, map_attrs, sizeof map_attrs / sizeof map_attrs[0], errmsg, errlen));
    int64_t n = 0, done = 0;
    TF_TRY(in_range(f, path, "nitems", 0, (int64_t)TF_H5_MAX_ITEMS, &n, errmsg, errlen));
    /* RATIONALE: negative counts printed as 18446744073709551615 tasks (U4) */
    TF_TRY(in_range(f, path, "items_done", 0, n, &done, errmsg, errlen));
    TF_TRY(in_range(f, path, "items_failed", 0, done, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "items_not_run", 0, n - done, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "nworkers", 0, TF_H5_MAX_RANKS, NULL, errmsg, errlen));
    TF_TRY(in_range(f, path, "results_offset", 0, INT64_MAX, NULL, errmsg, errlen));
    TF_TRY(links_hard(f, path, "", errmsg, errlen));
    static const char *const groups[] = {"results", "batches", "failures"};
    for (int i = 0; i < 3; i++) {
        char where[16];
        snprintf(where, sizeof where, "/%s", groups[i]);
        int has = object_is(f, path, where, groups[i], H5O_TYPE_GROUP, errmsg, errlen);
        if (has < 0)
            return TF_EINPUT;
        if (has > 0)
            TF_TRY(links_hard(f, path, groups[i], errmsg, errlen));
    }
    return TF_OK;
}
