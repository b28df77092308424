/* h5map.c - the result file of an in-process map (/results/<name>, /batches, /failures) and
 * the reader of HDF5 items. Master rank only, written alone through the default driver.
 *
 * The result dataset is contiguous and full length from the start, in the user's own memory
 * layout, so a batch is one H5Dwrite with no type conversion; rows never written read as
 * zeros, and /batches says which rows hold results.
 */
#include "h5map.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "h5out_impl.h"
#include "log.h"
#include "util.h"

#define CHUNK_ROWS 4096
#define STAGE_ROWS 4096

enum bcol { B_FIRST, B_COUNT, B_FAILED, B_RANK, B_START, B_END, B_HOST, NBCOLS };
static const char *const bcol_names[NBCOLS] = {"first",      "count",    "failed", "rank",
                                               "start_time", "end_time", "host"};
enum fcol { F_ITEM, F_CODE, F_SIGNAL, F_RANK, NFCOLS };
static const char *const fcol_names[NFCOLS] = {"item", "code", "signal", "rank"};

struct tf_h5map {
    hid_t file, results, rtype, str_type;
    uint64_t data_offset;
    hid_t bgroup, bcols[NBCOLS];
    hid_t fgroup, fcols[NFCOLS];
    uint64_t nitems, nbatches, nfailures; /* rows in the file */
    struct tf_batch_row *brows;           /* staged, hosts owned */
    struct tf_item_failure *frows;
    size_t nbrows, nfrows, capf;
};

struct tf_h5items {
    hid_t file, dset, mtype;
    size_t size;
};

/* ---- types ------------------------------------------------------------------------------ */

static hid_t elem_type(const struct taskfarm_field *f)
{
    static const struct {
        enum taskfarm_type t;
        hid_t *h;
    } map[] = {
        {TASKFARM_INT8, &H5T_NATIVE_INT8_g},   {TASKFARM_UINT8, &H5T_NATIVE_UINT8_g},
        {TASKFARM_INT16, &H5T_NATIVE_INT16_g}, {TASKFARM_UINT16, &H5T_NATIVE_UINT16_g},
        {TASKFARM_INT32, &H5T_NATIVE_INT32_g}, {TASKFARM_UINT32, &H5T_NATIVE_UINT32_g},
        {TASKFARM_INT64, &H5T_NATIVE_INT64_g}, {TASKFARM_UINT64, &H5T_NATIVE_UINT64_g},
        {TASKFARM_FLOAT, &H5T_NATIVE_FLOAT_g}, {TASKFARM_DOUBLE, &H5T_NATIVE_DOUBLE_g},
    };
    H5open(); /* the H5T_NATIVE_* globals are set up by the library's initialisation */
    if (f->type == TASKFARM_CHAR) {
        hid_t s = H5Tcopy(H5T_C_S1);
        H5Tset_size(s, f->count);
        H5Tset_strpad(s, H5T_STR_NULLPAD);
        return s;
    }
    hid_t base = H5I_INVALID_HID;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].t == f->type)
            base = *map[i].h;
    if (f->count > 1) {
        hsize_t dim = f->count;
        return H5Tarray_create2(base, 1, &dim);
    }
    return H5Tcopy(base);
}

/* The HDF5 type of a record: the same bytes as the C struct, so no conversion on write. */
static hid_t record_type(const struct tf_rectype *t)
{
    if (t->scalar)
        return elem_type(&t->fields[0]);
    hid_t c = H5Tcreate(H5T_COMPOUND, t->size);
    for (size_t i = 0; i < t->nfields; i++) {
        hid_t et = elem_type(&t->fields[i]);
        H5Tinsert(c, t->fields[i].name, t->fields[i].offset, et);
        H5Tclose(et);
    }
    return c;
}

static hid_t bcol_type(const struct tf_h5map *h, int c)
{
    switch (c) {
    case B_FIRST:
    case B_COUNT:
    case B_FAILED:
        return H5T_NATIVE_UINT64;
    case B_RANK:
        return H5T_NATIVE_INT32;
    case B_START:
    case B_END:
        return H5T_NATIVE_DOUBLE;
    default:
        return h->str_type;
    }
}

static hid_t fcol_type(int c)
{
    return c == F_ITEM ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT32;
}

static int attr_str(const struct tf_h5map *h, const char *name, const char *v)
{
    const char *s = v ? v : "";
    return tf_h5_write_attr(h->file, name, h->str_type, &s);
}

static int attr_i64(const struct tf_h5map *h, const char *name, int64_t v)
{
    return tf_h5_write_attr(h->file, name, H5T_NATIVE_INT64, &v);
}

static int attr_f64(const struct tf_h5map *h, const char *name, double v)
{
    return tf_h5_write_attr(h->file, name, H5T_NATIVE_DOUBLE, &v);
}

/* ---- creating and opening --------------------------------------------------------------- */

/* No sieve buffer: a batch's results must reach the file (the kernel) within H5Dwrite, before
 * its journal record says it is finished. */
static hid_t file_access(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_sieve_buf_size(fapl, 0);
    return fapl;
}

static struct tf_h5map *handle_new(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct tf_h5map *h = tf_xcalloc(1, sizeof *h);
    h->str_type = tf_h5_str_type();
    h->brows = tf_xcalloc(STAGE_ROWS, sizeof *h->brows);
    return h;
}

static void release(struct tf_h5map *h)
{
    for (int c = 0; c < NBCOLS; c++)
        if (h->bcols[c] > 0)
            H5Dclose(h->bcols[c]);
    for (int c = 0; c < NFCOLS; c++)
        if (h->fcols[c] > 0)
            H5Dclose(h->fcols[c]);
    if (h->bgroup > 0)
        H5Gclose(h->bgroup);
    if (h->fgroup > 0)
        H5Gclose(h->fgroup);
    if (h->results > 0)
        H5Dclose(h->results);
    if (h->rtype > 0)
        H5Tclose(h->rtype);
    if (h->file > 0 && H5Fclose(h->file) < 0)
        tf_h5_close_failed();
    H5Tclose(h->str_type);
    for (size_t i = 0; i < h->nbrows; i++)
        free((char *)h->brows[i].host);
    free(h->brows);
    free(h->frows);
    free(h);
}

static hid_t make_column(hid_t group, const char *name, hid_t type)
{
    hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t space = H5Screate_simple(1, &zero, &unlimited);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return d;
}

static int create_tables(struct tf_h5map *h)
{
    h->bgroup = H5Gcreate2(h->file, "batches", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    h->fgroup = H5Gcreate2(h->file, "failures", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (h->bgroup < 0 || h->fgroup < 0)
        return -1;
    for (int c = 0; c < NBCOLS; c++)
        if ((h->bcols[c] = make_column(h->bgroup, bcol_names[c], bcol_type(h, c))) < 0)
            return -1;
    for (int c = 0; c < NFCOLS; c++)
        if ((h->fcols[c] = make_column(h->fgroup, fcol_names[c], fcol_type(c))) < 0)
            return -1;
    return 0;
}

static int create_results(struct tf_h5map *h, const struct taskfarm_map *map)
{
    hid_t g = H5Gcreate2(h->file, "results", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return -1;
    hsize_t n = h->nitems;
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    /* Placed at creation, so its address is fixed and on disk before any result; never
     * filled: a 1e8-row fill would cost a whole pass, and unwritten rows read as 0. */
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    h->rtype = record_type(&map->result);
    h->results = H5Dcreate2(g, map->result_name, h->rtype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Gclose(g);
    if (h->results < 0)
        return -1;
    haddr_t at = h->nitems > 0 ? H5Dget_offset(h->results) : 0;
    if (at == HADDR_UNDEF)
        return -1;
    h->data_offset = at;
    return attr_i64(h, "results_offset", (int64_t)at);
}

static int write_meta(struct tf_h5map *h, const struct tf_h5map_meta *m)
{
    char hdf5_version[32];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5_version, sizeof hdf5_version, "%u.%u.%u", maj, min, rel);
    int rc = 0;
    for (size_t i = 0; i < m->map->ndesc; i++)
        rc |= attr_str(h, m->map->desc[i].key, m->map->desc[i].value);
    rc |= attr_str(h, "kind", "map");
    rc |= attr_str(h, "taskfarm_version", m->version);
    rc |= attr_i64(h, "format_version", TF_H5MAP_FORMAT_VERSION);
    rc |= attr_str(h, "hdf5_version", hdf5_version);
    rc |= attr_str(h, "run_id", m->run_id);
    rc |= attr_str(h, "identity", m->identity);
    rc |= attr_str(h, "items_source", m->items_source);
    rc |= attr_i64(h, "nitems", (int64_t)m->nitems);
    rc |= attr_str(h, "result_name", m->map->result_name);
    rc |= attr_i64(h, "nworkers", m->nworkers);
    rc |= attr_str(h, "master_host", m->master_host);
    rc |= attr_f64(h, "start_time", m->start_time);
    rc |= attr_f64(h, "end_time", NAN);
    rc |= attr_i64(h, "resumes", 0);
    rc |= tf_h5_note_slurm(h->file);
    rc |= attr_str(h, "state", "running");
    return rc;
}

enum tf_status tf_h5map_create(const char *path, bool overwrite, const struct tf_h5map_meta *meta,
                               struct tf_h5map **out, char *errmsg, size_t errlen)
{
    struct tf_h5map *h = handle_new();
    h->nitems = meta->nitems;
    hid_t fapl = file_access();
    h->file = H5Fcreate(path, overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (h->file < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot create output file '%s'", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        return st;
    }
    if (create_results(h, meta->map) < 0 || create_tables(h) < 0 || write_meta(h, meta) < 0 ||
        H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot lay out output file '%s'", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        remove(path);
        return st;
    }
    *out = h;
    return TF_OK;
}

enum tf_status tf_h5map_inspect(const char *path, struct tf_h5map_info *info, char *errmsg,
                                size_t errlen)
{
    memset(info, 0, sizeof *info);
    hid_t f = tf_h5_open_result(path, errmsg, errlen);
    if (f < 0)
        return TF_EINPUT;
    if (tf_h5_is_map(f) && tf_h5check_map(f, path, errmsg, errlen) != TF_OK) {
        H5Fclose(f);
        return TF_EINPUT;
    }
    char kind[16], state[32];
    int64_t n = -1, version = -1;
    int rc = tf_h5_read_attr_str(f, "kind", kind, sizeof kind);
    rc |= tf_h5_read_attr_i64(f, "nitems", &n);
    rc |= tf_h5_read_attr_i64(f, "format_version", &version);
    rc |= tf_h5_read_attr_str(f, "identity", info->identity, sizeof info->identity);
    tf_h5_read_attr_str(f, "run_id", info->run_id, sizeof info->run_id);
    tf_h5_read_attr_str(f, "state", state, sizeof state);
    int64_t at = 0;
    tf_h5_read_attr_i64(f, "results_offset", &at);
    info->data_offset = (uint64_t)at;
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    if (rc < 0 || strcmp(kind, "map") != 0 || n < 0) {
        snprintf(errmsg, errlen, "'%s' is not the result file of an in-process map", path);
        return TF_EINPUT;
    }
    if (version != TF_H5MAP_FORMAT_VERSION) {
        snprintf(errmsg, errlen,
                 "result file '%s' has map format version %lld; this taskfarm "
                 "resumes version %d",
                 path, (long long)version, TF_H5MAP_FORMAT_VERSION);
        return TF_EINPUT;
    }
    info->is_map = true;
    info->nitems = (uint64_t)n;
    info->closed = strcmp(state, "closed") == 0;
    return TF_OK;
}

static hssize_t rows_of(hid_t d)
{
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    return n;
}

static int open_tables(struct tf_h5map *h, const struct taskfarm_map *map)
{
    h->bgroup = H5Gopen2(h->file, "batches", H5P_DEFAULT);
    h->fgroup = H5Gopen2(h->file, "failures", H5P_DEFAULT);
    if (h->bgroup < 0 || h->fgroup < 0)
        return -1;
    for (int c = 0; c < NBCOLS; c++)
        if ((h->bcols[c] = H5Dopen2(h->bgroup, bcol_names[c], H5P_DEFAULT)) < 0)
            return -1;
    for (int c = 0; c < NFCOLS; c++)
        if ((h->fcols[c] = H5Dopen2(h->fgroup, fcol_names[c], H5P_DEFAULT)) < 0)
            return -1;
    h->nbatches = (uint64_t)rows_of(h->bcols[B_FIRST]);
    int64_t at = 0;
    tf_h5_read_attr_i64(h->file, "results_offset", &at);
    h->data_offset = (uint64_t)at;
    h->nfailures = (uint64_t)rows_of(h->fcols[F_ITEM]);
    char path[300];
    snprintf(path, sizeof path, "results/%s", map->result_name);
    h->results = H5Dopen2(h->file, path, H5P_DEFAULT);
    return h->results < 0 ? -1 : 0;
}

/* The file's result dataset must hold this map's records: same type, same length. */
static int same_result_type(struct tf_h5map *h, const struct taskfarm_map *map)
{
    h->rtype = record_type(&map->result);
    hid_t ft = H5Dget_type(h->results);
    htri_t eq = H5Tequal(ft, h->rtype);
    H5Tclose(ft);
    return eq > 0 && rows_of(h->results) == (hssize_t)h->nitems ? 0 : -1;
}

enum tf_status tf_h5map_open(const char *path, const struct tf_h5map_meta *meta,
                             struct tf_h5map **out, char *errmsg, size_t errlen)
{
    if (!tf_check_regular(path, errmsg, errlen))
        return TF_EINPUT;
    struct tf_h5map *h = handle_new();
    h->nitems = meta->nitems;
    hid_t fapl = file_access();
    h->file = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (h->file < 0 || open_tables(h, meta->map) < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot open result file '%s' to resume it", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        return st;
    }
    if (tf_h5check_map(h->file, path, errmsg, errlen) != TF_OK) { /* before any write */
        release(h);
        return TF_EINPUT;
    }
    if (same_result_type(h, meta->map) < 0) {
        snprintf(errmsg, errlen,
                 "result file '%s': /results/%s does not have this map's result type or length",
                 path, meta->map->result_name);
        release(h);
        return TF_EINPUT;
    }
    int64_t resumes = 0;
    tf_h5_read_attr_i64(h->file, "resumes", &resumes);
    int rc = attr_i64(h, "resumes", resumes + 1);
    rc |= attr_str(h, "state", "running");
    rc |= attr_i64(h, "nworkers", meta->nworkers);
    const char *cl = tf_map_described(meta->map, "command_line");
    if (cl)
        rc |= attr_str(h, "last_command_line", cl);
    rc |= attr_f64(h, "last_start_time", meta->start_time);
    rc |= tf_h5_note_slurm(h->file);
    if (rc < 0 || H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0) {
        enum tf_status st = tf_h5_fail("cannot mark the result file as running", errmsg, errlen);
        release(h);
        return st;
    }
    *out = h;
    return TF_OK;
}

static int read_u64_col(hid_t d, uint64_t first, size_t n, uint64_t *buf)
{
    hsize_t start = first, count = n;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    herr_t rc = H5Dread(d, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

enum tf_status tf_h5map_scan(struct tf_h5map *h, void (*fn)(uint64_t, uint64_t, void *), void *arg)
{
    TF_TRY(tf_h5map_flush(h));
    uint64_t first[CHUNK_ROWS], count[CHUNK_ROWS];
    for (uint64_t at = 0; at < h->nbatches; at += CHUNK_ROWS) {
        size_t n = h->nbatches - at < CHUNK_ROWS ? (size_t)(h->nbatches - at) : CHUNK_ROWS;
        if (read_u64_col(h->bcols[B_FIRST], at, n, first) < 0 ||
            read_u64_col(h->bcols[B_COUNT], at, n, count) < 0)
            return tf_h5_fail("reading /batches", NULL, 0);
        for (size_t i = 0; i < n; i++)
            fn(first[i], count[i], arg);
    }
    return TF_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int append_col(hid_t d, hid_t type, uint64_t at, size_t n, const void *buf)
{
    hsize_t size = at + n, start = at, count = n;
    if (H5Dset_extent(d, &size) < 0)
        return -1;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &count, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    herr_t rc = H5Dwrite(d, type, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* Gather one column of the staged batch rows into buf. */
static void gather_batch_col(const struct tf_h5map *h, int c, void *buf)
{
    for (size_t i = 0; i < h->nbrows; i++) {
        const struct tf_batch_row *b = &h->brows[i];
        switch (c) {
        case B_FIRST:
            ((uint64_t *)buf)[i] = b->first;
            break;
        case B_COUNT:
            ((uint64_t *)buf)[i] = b->count;
            break;
        case B_FAILED:
            ((uint64_t *)buf)[i] = b->failed;
            break;
        case B_RANK:
            ((int32_t *)buf)[i] = b->rank;
            break;
        case B_START:
            ((double *)buf)[i] = b->start;
            break;
        case B_END:
            ((double *)buf)[i] = b->end;
            break;
        default:
            ((const char **)buf)[i] = b->host;
        }
    }
}

static void gather_failure_col(const struct tf_h5map *h, int c, void *buf)
{
    for (size_t i = 0; i < h->nfrows; i++) {
        const struct tf_item_failure *f = &h->frows[i];
        if (c == F_ITEM)
            ((uint64_t *)buf)[i] = f->item;
        else
            ((int32_t *)buf)[i] = c == F_CODE ? f->code : (c == F_SIGNAL ? f->signal : f->rank);
    }
}

static int flush_tables(struct tf_h5map *h)
{
    size_t most = h->nbrows > h->nfrows ? h->nbrows : h->nfrows;
    void *buf = tf_xmalloc((most ? most : 1) * sizeof(uint64_t));
    int rc = 0;
    for (int c = 0; c < NBCOLS && h->nbrows > 0 && rc == 0; c++) {
        gather_batch_col(h, c, buf);
        rc = append_col(h->bcols[c], bcol_type(h, c), h->nbatches, h->nbrows, buf);
    }
    for (int c = 0; c < NFCOLS && h->nfrows > 0 && rc == 0; c++) {
        gather_failure_col(h, c, buf);
        rc = append_col(h->fcols[c], fcol_type(c), h->nfailures, h->nfrows, buf);
    }
    free(buf);
    if (rc < 0)
        return -1;
    h->nbatches += h->nbrows;
    h->nfailures += h->nfrows;
    for (size_t i = 0; i < h->nbrows; i++)
        free((char *)h->brows[i].host);
    h->nbrows = h->nfrows = 0;
    return 0;
}

enum tf_status tf_h5map_write(struct tf_h5map *h, const struct tf_batch_row *b, const void *results,
                              const struct tf_item_failure *fails, size_t nfails)
{
    if (b->first > h->nitems || b->count > h->nitems - b->first) {
        tf_log(TF_LOG_ERROR, "batch [%llu, +%llu) is outside the map's %llu items",
               (unsigned long long)b->first, (unsigned long long)b->count,
               (unsigned long long)h->nitems);
        return TF_EPROTO;
    }
    if (b->count > 0 && results) {
        hsize_t start = b->first, count = b->count;
        hid_t fs = H5Dget_space(h->results), ms = H5Screate_simple(1, &count, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
        herr_t rc = H5Dwrite(h->results, h->rtype, ms, fs, H5P_DEFAULT, results);
        H5Sclose(ms);
        H5Sclose(fs);
        if (rc < 0)
            return tf_h5_fail("writing results", NULL, 0);
    }
    if (h->nbrows == STAGE_ROWS && flush_tables(h) < 0)
        return tf_h5_fail("writing /batches", NULL, 0);
    h->brows[h->nbrows] = *b;
    h->brows[h->nbrows].host = tf_xstrdup(b->host ? b->host : "");
    h->nbrows++;
    if (h->nfrows + nfails > h->capf) {
        h->capf = 2 * (h->nfrows + nfails) + 64;
        h->frows = tf_xrealloc(h->frows, h->capf * sizeof *h->frows);
    }
    if (nfails > 0)
        memcpy(h->frows + h->nfrows, fails, nfails * sizeof *fails);
    h->nfrows += nfails;
    if (h->nfrows >= STAGE_ROWS && flush_tables(h) < 0)
        return tf_h5_fail("writing /failures", NULL, 0);
    return TF_OK;
}

enum tf_status tf_h5map_flush(struct tf_h5map *h)
{
    if (flush_tables(h) < 0 || H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0)
        return tf_h5_fail("flushing the result file", NULL, 0);
    return TF_OK;
}

int tf_h5map_fd(struct tf_h5map *h)
{
    int *fd = NULL;
    if (H5Fget_vfd_handle(h->file, H5P_DEFAULT, (void **)&fd) < 0 || fd == NULL) {
        H5Eclear2(H5E_DEFAULT);
        return -1;
    }
    return *fd;
}

enum tf_status tf_h5map_sync(struct tf_h5map *h)
{
    TF_TRY(tf_h5map_flush(h));
    int fd = tf_h5map_fd(h);
    if (fd < 0 || fdatasync(fd) != 0) {
        tf_log(TF_LOG_ERROR, "cannot sync the result file: %s", strerror(errno));
        return TF_EIO;
    }
    return TF_OK;
}

uint64_t tf_h5map_data_offset(const struct tf_h5map *h)
{
    return h->data_offset;
}

enum tf_status tf_h5map_note(struct tf_h5map *h, const char *name, double value)
{
    return attr_f64(h, name, value) < 0 ? tf_h5_fail("writing an attribute", NULL, 0) : TF_OK;
}

enum tf_status tf_h5map_note_lost(struct tf_h5map *h, int n, const int32_t *ranks,
                                  const char *const *hosts, const double *times,
                                  uint64_t items_lost)
{
    int rc = attr_i64(h, "workers_lost", n);
    if (rc == 0)
        rc = attr_i64(h, "items_lost", (int64_t)items_lost);
    if (rc == 0 && n > 0)
        rc = tf_h5_write_attr_array(h->file, "lost_worker_ranks", H5T_NATIVE_INT32, ranks, n);
    if (rc == 0 && n > 0)
        rc = tf_h5_write_attr_array(h->file, "lost_worker_hosts", h->str_type, hosts, n);
    if (rc == 0 && n > 0)
        rc = tf_h5_write_attr_array(h->file, "lost_worker_times", H5T_NATIVE_DOUBLE, times, n);
    return rc < 0 ? tf_h5_fail("writing an attribute", NULL, 0) : TF_OK;
}

/* Items with an outcome, from the whole /batches table (earlier runs included). */
static int count_done(struct tf_h5map *h, uint64_t *done, uint64_t *failed)
{
    uint64_t count[CHUNK_ROWS], nfailed[CHUNK_ROWS];
    *done = *failed = 0;
    for (uint64_t at = 0; at < h->nbatches; at += CHUNK_ROWS) {
        size_t n = h->nbatches - at < CHUNK_ROWS ? (size_t)(h->nbatches - at) : CHUNK_ROWS;
        if (read_u64_col(h->bcols[B_COUNT], at, n, count) < 0 ||
            read_u64_col(h->bcols[B_FAILED], at, n, nfailed) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            *done += count[i];
            *failed += nfailed[i];
        }
    }
    return 0;
}

enum tf_status tf_h5map_counts(struct tf_h5map *h, uint64_t *done, uint64_t *failed)
{
    if (flush_tables(h) < 0 || count_done(h, done, failed) < 0)
        return tf_h5_fail("reading /batches", NULL, 0);
    return TF_OK;
}

enum tf_status tf_h5map_close(struct tf_h5map *h, double end_time, uint64_t *done, uint64_t *failed)
{
    if (h == NULL)
        return TF_OK;
    enum tf_status st = tf_h5map_flush(h);
    uint64_t d = 0, f = 0;
    int rc = st == TF_OK ? count_done(h, &d, &f) : -1;
    rc |= attr_f64(h, "end_time", end_time);
    rc |= attr_i64(h, "items_done", (int64_t)d);
    rc |= attr_i64(h, "items_failed", (int64_t)f);
    rc |= attr_i64(h, "items_not_run", (int64_t)(h->nitems - d));
    if (rc == 0 && st == TF_OK)
        rc |= attr_str(h, "state", "closed"); /* last: everything before it is on disk */
    if (rc < 0 && st == TF_OK)
        st = tf_h5_fail("writing the run summary to the result file", NULL, 0);
    if (done)
        *done = d;
    if (failed)
        *failed = f;
    release(h);
    return st;
}

/* ---- rows written by workers ------------------------------------------------------------ */

int tf_h5map_open_rows(const char *path)
{
    return open(path, O_WRONLY | O_CLOEXEC);
}

enum tf_status tf_h5map_write_rows(int fd, uint64_t data_offset, uint64_t first, size_t rsize,
                                   const void *rows, uint64_t count)
{
    const unsigned char *p = rows;
    size_t left = count * rsize;
    off_t at = (off_t)(data_offset + first * rsize);
    while (left > 0) {
        ssize_t n = pwrite(fd, p, left, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            tf_log(TF_LOG_ERROR, "writing results into the result file: %s",
                   n < 0 ? strerror(errno) : "nothing written");
            return TF_EIO;
        }
        p += n;
        at += n;
        left -= (size_t)n;
    }
    return TF_OK;
}

/* ---- items ------------------------------------------------------------------------------ */

/* Every field the function expects must be in the file's records (HDF5 would leave it 0). */
static int check_fields(hid_t ftype, const struct tf_rectype *want, char *errmsg, size_t errlen,
                        const char *where)
{
    if (want->scalar)
        return 0;
    if (H5Tget_class(ftype) != H5T_COMPOUND) {
        snprintf(errmsg, errlen, "%s: records are not compound, but the item type has fields",
                 where);
        return -1;
    }
    for (size_t i = 0; i < want->nfields; i++)
        if (H5Tget_member_index(ftype, want->fields[i].name) < 0) {
            H5Eclear2(H5E_DEFAULT);
            snprintf(errmsg, errlen, "%s has no field '%s', which the item type needs", where,
                     want->fields[i].name);
            return -1;
        }
    return 0;
}

enum tf_status tf_h5items_open(const char *path, const char *dataset, const struct tf_rectype *want,
                               struct tf_h5items **out, size_t *item_size, uint64_t *nitems,
                               char *errmsg, size_t errlen)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char where[1200];
    snprintf(where, sizeof where, "items '%s:%s'", path, dataset);
    if (!tf_check_regular(path, errmsg, errlen))
        return TF_EINPUT;
    struct tf_h5items *it = tf_xcalloc(1, sizeof *it);
    it->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (it->file < 0) {
        H5Eclear2(H5E_DEFAULT);
        snprintf(errmsg, errlen, "%s: cannot open '%s' (truncated, damaged, or not HDF5)", where,
                 path);
        tf_h5items_close(it);
        return TF_EINPUT;
    }
    if (tf_h5check_path(it->file, dataset, where, errmsg, errlen) != TF_OK) {
        tf_h5items_close(it);
        return TF_EINPUT;
    }
    it->dset = H5Dopen2(it->file, dataset, H5P_DEFAULT);
    if (it->dset < 0) {
        H5Eclear2(H5E_DEFAULT);
        snprintf(errmsg, errlen, "%s: no such dataset", where);
        tf_h5items_close(it);
        return TF_EINPUT;
    }
    hid_t space = H5Dget_space(it->dset), ftype = H5Dget_type(it->dset);
    int ndims = H5Sget_simple_extent_ndims(space);
    hsize_t dim = 0;
    if (ndims == 1)
        H5Sget_simple_extent_dims(space, &dim, NULL);
    H5Sclose(space);
    int bad = 0;
    if (ndims != 1) {
        snprintf(errmsg, errlen, "%s: the dataset has %d dimensions; items need 1", where, ndims);
        bad = 1;
    } else if (want->nfields > 0) {
        bad = check_fields(ftype, want, errmsg, errlen, where);
        it->mtype = record_type(want);
    } else {
        it->mtype = H5Tget_native_type(ftype, H5T_DIR_ASCEND);
    }
    if (!bad && (H5Tdetect_class(it->mtype, H5T_VLEN) > 0 || H5Tis_variable_str(it->mtype) > 0)) {
        snprintf(errmsg, errlen,
                 "%s: variable-length fields cannot be items; store fixed-length strings", where);
        bad = 1;
    }
    H5Tclose(ftype);
    if (bad) {
        tf_h5items_close(it);
        return TF_EINPUT;
    }
    it->size = H5Tget_size(it->mtype);
    unsigned char probe[4096];
    if (dim > 0 && it->size <= sizeof probe && tf_h5items_read(it, 0, 1, probe) != TF_OK) {
        snprintf(errmsg, errlen, "%s: its records cannot be converted to the item type", where);
        tf_h5items_close(it);
        return TF_EINPUT;
    }
    *item_size = it->size;
    *nitems = dim;
    *out = it;
    return TF_OK;
}

enum tf_status tf_h5items_read(struct tf_h5items *it, uint64_t first, uint64_t count, void *buf)
{
    if (count == 0)
        return TF_OK;
    hsize_t start = first, n = count;
    hid_t fs = H5Dget_space(it->dset), ms = H5Screate_simple(1, &n, NULL);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &n, NULL);
    herr_t rc = H5Dread(it->dset, it->mtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? tf_h5_fail("reading items", NULL, 0) : TF_OK;
}

void tf_h5items_close(struct tf_h5items *it)
{
    if (it == NULL)
        return;
    if (it->mtype > 0)
        H5Tclose(it->mtype);
    if (it->dset > 0)
        H5Dclose(it->dset);
    if (it->file > 0)
        H5Fclose(it->file);
    free(it);
}
