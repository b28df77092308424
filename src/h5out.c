/* h5out.c - writes and reads the HDF5 result file.
 *
 * The master writes alone through the default (sec2) driver, which works with serial and
 * parallel HDF5 builds alike and needs no collective calls. Columns are chunked and
 * extendible, created at full length with fill values that mean "not run", so a row that
 * was never written still reads as a valid, honest row.
 */
#include "h5out.h"
#include "h5out_impl.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "slurmenv.h"
#include "util.h"

#define CHUNK_ROWS      4096
#define STAGE_MAX_ROWS  8192
#define STAGE_MAX_BYTES (64u << 20)

enum col_kind { K_STR, K_I64, K_I32, K_I8, K_F64, K_STATUS };

enum col_id {
    C_COMMAND,
    C_LINE,
    C_STATUS,
    C_EXIT_CODE,
    C_SIGNAL,
    C_RANK,
    C_SLOT,
    C_HOST,
    C_START,
    C_END,
    C_ATTEMPTS,
    C_MAX_RSS,
    C_CPU_USER,
    C_CPU_SYSTEM,
    C_STDOUT,
    C_STDERR,
    C_STDOUT_TRUNC,
    C_STDERR_TRUNC,
    NCOLS
};

static const struct {
    const char *name;
    enum col_kind kind;
    const char *desc;
} cols[NCOLS] = {
    [C_COMMAND] = {"command", K_STR, "the task's command line, run as /bin/sh -c COMMAND"},
    [C_LINE] = {"line", K_I64, "line number of the task in the task file, 1-based"},
    [C_STATUS] = {"status", K_STATUS,
                  "NOT_RUN=0, SUCCEEDED=1, FAILED=2 (non-zero exit), KILLED=3 (signal), "
                  "TIMED_OUT=4, LOST=5 (its workers died; not started again)"},
    [C_EXIT_CODE] = {"exit_code", K_I32, "exit code, -1 when the task did not exit normally"},
    [C_SIGNAL] = {"signal", K_I32, "number of the signal that ended the task, 0 when none"},
    [C_RANK] = {"rank", K_I32, "MPI rank that ran the task, -1 when not run"},
    [C_SLOT] = {"slot", K_I32,
                "task slot of that rank that ran the task (TASKFARM_SLOT), -1 when not run"},
    [C_HOST] = {"host", K_STR, "host name of the rank that ran the task"},
    [C_START] = {"start", K_F64, "start time, seconds since the Unix epoch (NaN: not run)"},
    [C_END] = {"end", K_F64, "end time, seconds since the Unix epoch (NaN: not run)"},
    [C_ATTEMPTS] = {"attempts", K_I32,
                    "number of times the task was run; the row holds the last run's outcome"},
    [C_MAX_RSS] = {"max_rss", K_I64,
                   "peak resident memory of the task and the children it waited for, bytes "
                   "(-1: not run)"},
    [C_CPU_USER] = {"cpu_user", K_F64, "user CPU seconds of the task and its children"},
    [C_CPU_SYSTEM] = {"cpu_system", K_F64, "system CPU seconds of the task and its children"},
    [C_STDOUT] = {"stdout", K_STR,
                  "captured standard output (UTF-8; invalid bytes and NUL become U+FFFD)"},
    [C_STDERR] = {"stderr", K_STR,
                  "captured standard error (UTF-8; invalid bytes and NUL become U+FFFD)"},
    [C_STDOUT_TRUNC] = {"stdout_truncated", K_I8, "1 when stdout exceeded the capture cap"},
    [C_STDERR_TRUNC] = {"stderr_truncated", K_I8, "1 when stderr exceeded the capture cap"},
};

struct staged_cmd {
    uint64_t id;
    int64_t line;
    char *command;
};

struct tf_h5out {
    hid_t file, group, str_type, status_type;
    hid_t dset[NCOLS];
    uint64_t ntasks;
    struct tf_result *rows; /* staged results, owned copies */
    size_t nrows, rows_cap, bytes;
    struct staged_cmd *cmds; /* staged commands, any order */
    size_t ncmds;
    double last_flush;
};

static int read_col(hid_t group, const char *name, hid_t type, uint64_t first, size_t n, void *buf);

/* ---- errors ----------------------------------------------------------------------------- */

/* The system's reason in HDF5's stack ("error message = 'No space left on device'"), if any.
 * RATIONALE: HDF5's own text is internal (function names, flags, a ctime() with its newline:
 * two-line messages, U1/U2); the system's reason is what a user can act on. */
static herr_t system_reason(unsigned n, const H5E_error2_t *e, void *buf)
{
    (void)n;
    const char *m = e->desc ? strstr(e->desc, "error message = '") : NULL;
    char *out = buf;
    if (m && !out[0]) {
        m += strlen("error message = '");
        size_t len = strcspn(m, "'\n");
        snprintf(out, 128, "%.*s", (int)(len < 127 ? len : 127), m);
    }
    return 0;
}

/* The reason of the last failed read or write, kept before the calls that clean up after it
 * (every HDF5 API call starts with an empty stack) lose it. */
static char noted[128];

static void note_cause(void)
{
    noted[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, system_reason, noted);
}

enum tf_status tf_h5_fail(const char *what, char *errmsg, size_t errlen)
{
    char cause[128] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, system_reason, cause);
    if (!cause[0])
        snprintf(cause, sizeof cause, "%s", noted);
    noted[0] = '\0';
    if (errmsg)
        snprintf(errmsg, errlen, "%s%s%s", what, cause[0] ? ": " : "", cause);
    else
        tf_log(TF_LOG_ERROR, "%s%s%s", what, cause[0] ? ": " : "", cause);
    H5Eclear2(H5E_DEFAULT);
    return TF_EHDF5;
}

/* ---- types and attributes --------------------------------------------------------------- */

hid_t tf_h5_str_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static hid_t make_status_type(void)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    for (int8_t v = 0; v < TF_TASK_STATUS_COUNT; v++)
        H5Tenum_insert(t, tf_task_status_name(v), &v);
    return t;
}

static hid_t mem_type(const struct tf_h5out *h, enum col_kind k)
{
    switch (k) {
    case K_STR:
        return h->str_type;
    case K_I64:
        return H5T_NATIVE_INT64;
    case K_I32:
        return H5T_NATIVE_INT32;
    case K_I8:
        return H5T_NATIVE_INT8;
    case K_F64:
        return H5T_NATIVE_DOUBLE;
    default:
        return h->status_type;
    }
}

int tf_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value)
{
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0)
        return -1;
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, type, value) < 0) ? -1 : 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return rc;
}

static int attr_str(const struct tf_h5out *h, hid_t loc, const char *name, const char *v)
{
    const char *s = v ? v : "";
    return tf_h5_write_attr(loc, name, h->str_type, &s);
}

static int attr_i64(hid_t loc, const char *name, int64_t v)
{
    return tf_h5_write_attr(loc, name, H5T_NATIVE_INT64, &v);
}

static int attr_f64(hid_t loc, const char *name, double v)
{
    return tf_h5_write_attr(loc, name, H5T_NATIVE_DOUBLE, &v);
}

int tf_h5_note_slurm(hid_t file)
{
    struct tf_slurm_var vars[32];
    size_t n = tf_slurm_vars(vars, sizeof vars / sizeof vars[0]);
    hid_t t = tf_h5_str_type();
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        rc |= tf_h5_write_attr(file, vars[i].attr, t, &vars[i].value);
    const char *id = tf_slurm_job_id();
    if (id) { /* every job that wrote the file, oldest first: a campaign's history */
        char old[4096] = "", ids[4200];
        tf_h5_read_attr_str(file, "slurm_job_ids", old, sizeof old);
        H5Eclear2(H5E_DEFAULT);
        const char *last = strrchr(old, ',');
        last = last ? last + 1 : old;
        if (strcmp(last, id) == 0)
            snprintf(ids, sizeof ids, "%s", old);
        else
            snprintf(ids, sizeof ids, "%s%s%s", old, old[0] ? "," : "", id);
        const char *v = ids;
        rc |= tf_h5_write_attr(file, "slurm_job_ids", t, &v);
    }
    H5Tclose(t);
    return rc;
}

/* ---- creation --------------------------------------------------------------------------- */

static void fill_value(enum col_id c, void *out)
{
    /* RATIONALE: a NULL string, not "": readers show it as an empty string, and it needs no
     * global-heap object. With "" every chunk got 4096 heap objects at allocation, and
     * writing a row then had to remove one (H5HG_remove), which cost 95% of the master's
     * time per row. */
    static const char *const empty = NULL;
    switch (c) {
    case C_EXIT_CODE:
    case C_RANK:
    case C_SLOT:
        *(int32_t *)out = -1;
        break;
    case C_SIGNAL:
    case C_ATTEMPTS:
        *(int32_t *)out = 0;
        break;
    case C_LINE:
        *(int64_t *)out = 0;
        break;
    case C_MAX_RSS:
        *(int64_t *)out = -1;
        break;
    case C_START:
    case C_END:
    case C_CPU_USER:
    case C_CPU_SYSTEM:
        *(double *)out = NAN;
        break;
    case C_STATUS:
    case C_STDOUT_TRUNC:
    case C_STDERR_TRUNC:
        *(int8_t *)out = 0;
        break;
    default:
        memcpy(out, &empty, sizeof empty);
        break;
    }
}

/* Column c at full length under `name`, every row its "not run" fill value. */
static int create_column_as(struct tf_h5out *h, int c, const char *name)
{
    hsize_t dims = h->ntasks, maxdims = H5S_UNLIMITED;
    hsize_t chunk = h->ntasks > 0 && h->ntasks < CHUNK_ROWS ? h->ntasks : CHUNK_ROWS;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    unsigned char fill[8];
    hid_t type = mem_type(h, cols[c].kind);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    fill_value((enum col_id)c, fill);
    H5Pset_fill_value(dcpl, type, fill);
    h->dset[c] = H5Dcreate2(h->group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    return h->dset[c] < 0 || attr_str(h, h->dset[c], "description", cols[c].desc) < 0 ? -1 : 0;
}

static int create_column(struct tf_h5out *h, int c)
{
    return create_column_as(h, c, cols[c].name);
}

static int create_columns(struct tf_h5out *h)
{
    int rc = 0;
    for (int c = 0; c < NCOLS && rc == 0; c++)
        rc = create_column(h, c);
    return rc;
}

static int write_meta(struct tf_h5out *h, const struct tf_run_meta *m)
{
    char hdf5_version[32];
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5_version, sizeof hdf5_version, "%u.%u.%u", maj, min, rel);
    hid_t f = h->file;
    int rc = 0;
    rc |= attr_str(h, f, "taskfarm_version", m->version);
    rc |= attr_i64(f, "format_version", TF_H5OUT_FORMAT_VERSION);
    rc |= attr_str(h, f, "command_line", m->command_line);
    rc |= attr_str(h, f, "taskfile", m->taskfile);
    rc |= attr_str(h, f, "taskfile_sha256", m->taskfile_sha256);
    rc |= attr_i64(f, "ntasks", (int64_t)m->ntasks);
    rc |= attr_i64(f, "nworkers", m->nworkers);
    rc |= attr_str(h, f, "mode", m->mode);
    rc |= attr_str(h, f, "mode_reason", m->mode_reason);
    rc |= attr_str(h, f, "order", m->order ? m->order : "file order");
    rc |= attr_str(h, f, "master_host", m->master_host);
    rc |= attr_i64(f, "capture_bytes", (int64_t)m->capture_bytes);
    rc |= attr_str(h, f, "hdf5_version", hdf5_version);
    rc |= attr_f64(f, "start_time", m->start_time);
    rc |= attr_f64(f, "end_time", NAN); /* NaN until the run closes the file */
    rc |= attr_str(h, f, "run_id", m->run_id);
    rc |= attr_i64(f, "resumes", 0);
    rc |= tf_h5_note_slurm(f);
    rc |= attr_str(h, f, "state", "running");
    return rc;
}

static void release(struct tf_h5out *h)
{
    for (int c = 0; c < NCOLS; c++)
        if (h->dset[c] > 0)
            H5Dclose(h->dset[c]);
    if (h->group > 0)
        H5Gclose(h->group);
    if (h->file > 0 && H5Fclose(h->file) < 0)
        tf_h5_close_failed();
    H5Tclose(h->str_type);
    H5Tclose(h->status_type);
    for (size_t i = 0; i < h->nrows; i++)
        tf_result_fini(&h->rows[i]);
    for (size_t i = 0; i < h->ncmds; i++)
        free(h->cmds[i].command);
    free(h->rows);
    free(h->cmds);
    free(h);
}

/* A handle with its types and staging, before any file is opened. */
static struct tf_h5out *handle_new(uint64_t ntasks)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct tf_h5out *h = tf_xcalloc(1, sizeof *h);
    h->str_type = tf_h5_str_type();
    h->status_type = make_status_type();
    h->ntasks = ntasks;
    h->cmds = tf_xmalloc(STAGE_MAX_ROWS * sizeof *h->cmds);
    h->last_flush = tf_monotonic();
    return h;
}

/* What HDF5 would say in its own words (U1, U2), said plainly first: a symbolic link to
 * nothing, or something that is not a regular file, is no place for a result file. */
static bool creatable(const char *path, char *errmsg, size_t errlen)
{
    struct stat ls, st;
    if (lstat(path, &ls) != 0)
        return true; /* nothing there: H5Fcreate makes it */
    if (S_ISLNK(ls.st_mode) && stat(path, &st) != 0) {
        char to[512];
        ssize_t n = readlink(path, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        snprintf(errmsg, errlen,
                 "cannot create output file '%s': it is a symbolic link to '%s', which does not "
                 "exist; remove the link or choose another name",
                 path, to);
        return false;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(errmsg, errlen, "cannot create output file '%s': it is %s, not a regular file",
                 path,
                 S_ISDIR(st.st_mode)    ? "a directory"
                 : S_ISCHR(st.st_mode)  ? "a character device"
                 : S_ISFIFO(st.st_mode) ? "a FIFO"
                                        : "a special file");
        return false;
    }
    return true;
}

enum tf_status tf_h5out_create(const char *path, bool overwrite, const struct tf_run_meta *meta,
                               struct tf_h5out **out, char *errmsg, size_t errlen)
{
    if (!creatable(path, errmsg, errlen))
        return TF_EINPUT;
    struct tf_h5out *h = handle_new(meta->ntasks);
    h->file = H5Fcreate(path, overwrite ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (h->file < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot create output file '%s'", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        return st;
    }
    h->group = H5Gcreate2(h->file, "tasks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (h->group < 0 || create_columns(h) < 0 || write_meta(h, meta) < 0 ||
        H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot lay out output file '%s'", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        remove(path); /* we created it just now: leave nothing half-made behind */
        return st;
    }
    *out = h;
    return TF_OK;
}

/* ---- writing ---------------------------------------------------------------------------- */

static int write_col(struct tf_h5out *h, int c, uint64_t first, size_t n, const void *buf)
{
    hsize_t start = first, count = n;
    hid_t fs = H5Dget_space(h->dset[c]);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    if (rc >= 0)
        rc = H5Dwrite(h->dset[c], mem_type(h, cols[c].kind), ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        note_cause();
    H5Sclose(ms);
    H5Sclose(fs);
    return rc < 0 ? -1 : 0;
}

/* Gather column c of rows[0..n) into buf. */
static void gather(enum col_id c, const struct tf_result *rows, size_t n, void *buf)
{
    for (size_t i = 0; i < n; i++) {
        const struct tf_result *r = &rows[i];
        switch (c) {
        case C_STATUS:
            ((int8_t *)buf)[i] = r->status;
            break;
        case C_EXIT_CODE:
            ((int32_t *)buf)[i] = r->exit_code;
            break;
        case C_SIGNAL:
            ((int32_t *)buf)[i] = r->signal;
            break;
        case C_RANK:
            ((int32_t *)buf)[i] = r->rank;
            break;
        case C_SLOT:
            ((int32_t *)buf)[i] = r->slot;
            break;
        case C_ATTEMPTS:
            ((int32_t *)buf)[i] = r->attempts;
            break;
        case C_MAX_RSS:
            ((int64_t *)buf)[i] = r->max_rss;
            break;
        case C_CPU_USER:
            ((double *)buf)[i] = r->cpu_user;
            break;
        case C_CPU_SYSTEM:
            ((double *)buf)[i] = r->cpu_system;
            break;
        case C_HOST:
            ((const char **)buf)[i] = r->host ? r->host : "";
            break;
        case C_START:
            ((double *)buf)[i] = r->start;
            break;
        case C_END:
            ((double *)buf)[i] = r->end;
            break;
        case C_STDOUT:
            ((const char **)buf)[i] = r->out ? r->out : "";
            break;
        case C_STDERR:
            ((const char **)buf)[i] = r->err ? r->err : "";
            break;
        case C_STDOUT_TRUNC:
            ((int8_t *)buf)[i] = r->out_truncated;
            break;
        case C_STDERR_TRUNC:
            ((int8_t *)buf)[i] = r->err_truncated;
            break;
        default:
            break;
        }
    }
}

static int write_result_run(struct tf_h5out *h, const struct tf_result *rows, size_t n)
{
    void *buf = tf_xmalloc(n * 8);
    int rc = 0;
    for (int c = 0; c < NCOLS && rc == 0; c++) {
        if (c == C_COMMAND || c == C_LINE)
            continue;
        gather((enum col_id)c, rows, n, buf);
        rc = write_col(h, c, rows[0].id, n, buf);
    }
    free(buf);
    return rc;
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct tf_result *)a)->id, y = ((const struct tf_result *)b)->id;
    return (x > y) - (x < y);
}

static enum tf_status flush_results(struct tf_h5out *h)
{
    if (h->nrows == 0)
        return TF_OK;
    qsort(h->rows, h->nrows, sizeof *h->rows, by_id);
    size_t i = 0;
    while (i < h->nrows) {
        size_t j = i + 1;
        while (j < h->nrows && h->rows[j].id == h->rows[j - 1].id + 1)
            j++;
        if (write_result_run(h, h->rows + i, j - i) < 0)
            return tf_h5_fail("writing results to the output file", NULL, 0);
        i = j;
    }
    for (i = 0; i < h->nrows; i++)
        tf_result_fini(&h->rows[i]);
    h->nrows = 0;
    h->bytes = 0;
    return TF_OK;
}

static int cmd_by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct staged_cmd *)a)->id, y = ((const struct staged_cmd *)b)->id;
    return (x > y) - (x < y);
}

/* Write staged commands in runs of consecutive ids (one run when tasks go out in order). */
static enum tf_status flush_commands(struct tf_h5out *h)
{
    if (h->ncmds == 0)
        return TF_OK;
    qsort(h->cmds, h->ncmds, sizeof *h->cmds, cmd_by_id);
    char **text = tf_xmalloc(h->ncmds * sizeof *text);
    int64_t *lines = tf_xmalloc(h->ncmds * sizeof *lines);
    enum tf_status st = TF_OK;
    for (size_t i = 0, j; i < h->ncmds && st == TF_OK; i = j) {
        for (j = i; j < h->ncmds && h->cmds[j].id == h->cmds[i].id + (j - i); j++) {
            text[j - i] = h->cmds[j].command;
            lines[j - i] = h->cmds[j].line;
        }
        if (write_col(h, C_COMMAND, h->cmds[i].id, j - i, text) < 0 ||
            write_col(h, C_LINE, h->cmds[i].id, j - i, lines) < 0)
            st = tf_h5_fail("writing commands to the output file", NULL, 0);
    }
    free(text);
    free(lines);
    for (size_t i = 0; i < h->ncmds; i++)
        free(h->cmds[i].command);
    h->ncmds = 0;
    return st;
}

enum tf_status tf_h5out_put_command(struct tf_h5out *h, const struct tf_task *t)
{
    h->cmds[h->ncmds++] =
        (struct staged_cmd){t->id, (int64_t)t->line, tf_xstrndup(t->command, t->command_len)};
    if (h->ncmds == STAGE_MAX_ROWS)
        return flush_commands(h);
    return TF_OK;
}

enum tf_status tf_h5out_put_result(struct tf_h5out *h, const struct tf_result *r, const char *host)
{
    if (r->id >= h->ntasks) {
        tf_log(TF_LOG_ERROR, "result for task %llu, but the run has %llu tasks",
               (unsigned long long)r->id, (unsigned long long)h->ntasks);
        return TF_EPROTO;
    }
    if (h->nrows == h->rows_cap) {
        h->rows_cap = h->rows_cap ? h->rows_cap * 2 : 256;
        h->rows = tf_xrealloc(h->rows, h->rows_cap * sizeof *h->rows);
    }
    struct tf_result *c = &h->rows[h->nrows++];
    *c = *r;
    c->host = tf_xstrdup(host ? host : (r->host ? r->host : ""));
    c->out = tf_xstrndup(r->out ? r->out : "", r->out_len);
    c->err = tf_xstrndup(r->err ? r->err : "", r->err_len);
    h->bytes += r->out_len + r->err_len + 128;
    if (h->nrows >= STAGE_MAX_ROWS || h->bytes >= STAGE_MAX_BYTES)
        return flush_results(h);
    return TF_OK;
}

enum tf_status tf_h5out_flush(struct tf_h5out *h)
{
    TF_TRY(flush_commands(h));
    TF_TRY(flush_results(h));
    if (H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0)
        return tf_h5_fail("flushing the output file", NULL, 0);
    h->last_flush = tf_monotonic();
    return TF_OK;
}

double tf_h5out_last_flush(const struct tf_h5out *h)
{
    return h->last_flush;
}

enum tf_status tf_h5out_note(struct tf_h5out *h, const char *name, double value)
{
    if (attr_f64(h->file, name, value) < 0)
        return tf_h5_fail("writing an attribute to the output file", NULL, 0);
    return TF_OK;
}

const char *tf_h5out_task_column(int i)
{
    return i >= 0 && i < NCOLS ? cols[i].name : NULL;
}

enum tf_h5_kind tf_h5out_task_column_kind(int i)
{
    static const enum tf_h5_kind kinds[] = {
        [K_STR] = TF_H5_STR, [K_I64] = TF_H5_I64, [K_I32] = TF_H5_I32,
        [K_I8] = TF_H5_I8,   [K_F64] = TF_H5_F64, [K_STATUS] = TF_H5_STATUS};
    return kinds[cols[i].kind];
}

hid_t tf_h5out_file(const struct tf_h5out *h)
{
    return h->file;
}

enum tf_status tf_h5out_each_stdout(struct tf_h5out *h,
                                    void (*fn)(uint64_t id, const char *out, void *arg), void *arg)
{
    enum { BLOCK = 4096 };
    enum tf_status st = tf_h5out_flush(h);
    char **v = tf_xcalloc(BLOCK, sizeof *v);
    for (uint64_t first = 0; first < h->ntasks && st == TF_OK; first += BLOCK) {
        size_t n = h->ntasks - first < BLOCK ? (size_t)(h->ntasks - first) : BLOCK;
        if (read_col(h->group, cols[C_STDOUT].name, h->str_type, first, n, v) < 0) {
            st = tf_h5_fail("reading /tasks/stdout", NULL, 0);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            fn(first + i, v[i] ? v[i] : "", arg);
            if (v[i])
                H5free_memory(v[i]);
        }
    }
    free(v);
    return st;
}

int tf_h5_write_attr_array(hid_t loc, const char *name, hid_t type, const void *values, int n)
{
    hsize_t dims = (hsize_t)(n > 0 ? n : 0);
    if (H5Aexists(loc, name) > 0 && H5Adelete(loc, name) < 0)
        return -1;
    hid_t space = H5Screate_simple(1, &dims, NULL);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || (n > 0 && H5Awrite(a, type, values) < 0) ? -1 : 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(space);
    return rc;
}

static enum tf_status note_array(struct tf_h5out *h, const char *name, hid_t type,
                                 const void *values, int n)
{
    if (tf_h5_write_attr_array(h->file, name, type, values, n) < 0)
        return tf_h5_fail("writing an attribute to the output file", NULL, 0);
    return TF_OK;
}

enum tf_status tf_h5out_note_i32s(struct tf_h5out *h, const char *name, const int32_t *values,
                                  int n)
{
    return note_array(h, name, H5T_NATIVE_INT32, values, n);
}

enum tf_status tf_h5out_note_f64s(struct tf_h5out *h, const char *name, const double *values, int n)
{
    return note_array(h, name, H5T_NATIVE_DOUBLE, values, n);
}

enum tf_status tf_h5out_note_strs(struct tf_h5out *h, const char *name, const char *const *values,
                                  int n)
{
    return note_array(h, name, h->str_type, values, n);
}

enum tf_status tf_h5out_note_i64(struct tf_h5out *h, const char *name, int64_t value)
{
    if (attr_i64(h->file, name, value) < 0)
        return tf_h5_fail("writing an attribute to the output file", NULL, 0);
    return TF_OK;
}

/* Count rows by status over the whole file: with resumes and retries, only the file knows. */
static int count_statuses(struct tf_h5out *h, uint64_t counts[TF_TASK_STATUS_COUNT])
{
    enum { BLOCK = 1 << 20 };
    int8_t *st = tf_xmalloc(BLOCK);
    int rc = 0;
    memset(counts, 0, TF_TASK_STATUS_COUNT * sizeof *counts);
    for (uint64_t first = 0; first < h->ntasks && rc == 0; first += BLOCK) {
        size_t n = h->ntasks - first < BLOCK ? (size_t)(h->ntasks - first) : BLOCK;
        rc = read_col(h->group, cols[C_STATUS].name, h->status_type, first, n, st);
        for (size_t i = 0; i < n && rc == 0; i++)
            counts[st[i] >= 0 && st[i] < TF_TASK_STATUS_COUNT ? st[i] : 0]++;
    }
    free(st);
    return rc;
}

enum tf_status tf_h5out_scan(struct tf_h5out *h,
                             void (*fn)(uint64_t id, int status, int attempts, void *arg),
                             void *arg)
{
    enum { BLOCK = 1 << 16 };
    TF_TRY(tf_h5out_flush(h));
    int8_t *st = tf_xmalloc(BLOCK);
    int32_t *att = tf_xmalloc(BLOCK * sizeof *att);
    int rc = 0;
    for (uint64_t first = 0; first < h->ntasks && rc == 0; first += BLOCK) {
        size_t n = h->ntasks - first < BLOCK ? (size_t)(h->ntasks - first) : BLOCK;
        rc = read_col(h->group, cols[C_STATUS].name, h->status_type, first, n, st);
        if (rc == 0)
            rc = read_col(h->group, cols[C_ATTEMPTS].name, H5T_NATIVE_INT32, first, n, att);
        for (size_t i = 0; i < n && rc == 0; i++)
            fn(first + i, st[i], att[i], arg);
    }
    free(st);
    free(att);
    return rc < 0 ? tf_h5_fail("reading the status of tasks in the result file", NULL, 0) : TF_OK;
}

enum tf_status tf_h5out_note_str(struct tf_h5out *h, const char *name, const char *value)
{
    if (attr_str(h, h->file, name, value) < 0)
        return tf_h5_fail("writing an attribute to the output file", NULL, 0);
    return TF_OK;
}

enum tf_status tf_h5out_close(struct tf_h5out *h, double end_time,
                              uint64_t counts[TF_TASK_STATUS_COUNT])
{
    if (h == NULL)
        return TF_OK;
    enum tf_status st = tf_h5out_flush(h);
    static const char *const names[TF_TASK_STATUS_COUNT] = {"tasks_not_run",   "tasks_succeeded",
                                                            "tasks_failed",    "tasks_killed",
                                                            "tasks_timed_out", "tasks_lost"};
    uint64_t local[TF_TASK_STATUS_COUNT];
    uint64_t *c = counts ? counts : local;
    int rc = st == TF_OK ? count_statuses(h, c) : -1;
    rc |= attr_f64(h->file, "end_time", end_time);
    for (int i = 0; i < TF_TASK_STATUS_COUNT && rc == 0; i++)
        rc |= attr_i64(h->file, names[i], (int64_t)c[i]);
    /* Written last: "closed" promises that everything before it is on disk. */
    if (rc == 0 && st == TF_OK)
        rc |= attr_str(h, h->file, "state", "closed");
    if (rc < 0 && st == TF_OK)
        st = tf_h5_fail("writing run summary to the output file", NULL, 0);
    for (int c2 = 0; c2 < NCOLS; c2++) {
        H5Dclose(h->dset[c2]);
        h->dset[c2] = 0;
    }
    H5Gclose(h->group);
    h->group = 0;
    if (H5Fclose(h->file) < 0 || st != TF_OK) {
        /* a failed flush leaves HDF5 holding what it could not write, whether or not the
         * close itself reports it */
        tf_h5_close_failed();
        if (st == TF_OK)
            st = tf_h5_fail("closing the output file", NULL, 0);
    }
    h->file = 0;
    release(h);
    return st;
}

/* ---- opening an existing file ------------------------------------------------------------ */

/* Read-only and without a file lock (see tf_h5_open_result: status works while the run that
 * writes the file holds its lock). */
static hid_t open_for_reading(const char *path)
{
    char err[16]; /* the callers checked the file; this only keeps a FIFO swapped in since
                   * from blocking the open */
    return tf_h5_open_result(path, err, sizeof err);
}

/* The optional attributes taskfarm merge needs (absent ones stay 0 or ""). */
static void inspect_more(hid_t f, struct tf_h5out_info *info)
{
    int64_t v = 0;
    if (tf_h5_read_attr_i64(f, "first_task", &v) == 0 && v >= 0)
        info->first_task = (uint64_t)v;
    info->taskfile_ntasks = info->ntasks;
    if (tf_h5_read_attr_i64(f, "taskfile_ntasks", &v) == 0 && v >= 0)
        info->taskfile_ntasks = (uint64_t)v;
    if (tf_h5_read_attr_i64(f, "capture_bytes", &v) == 0 && v >= 0)
        info->capture_bytes = (uint64_t)v;
    tf_h5_read_attr_i64(f, "nworkers", &info->nworkers);
    if (tf_h5_read_attr_i64(f, "nslots", &info->nslots) < 0)
        info->nslots = info->nworkers;
    tf_h5_read_attr_f64(f, "start_time", &info->start_time);
    tf_h5_read_attr_f64(f, "end_time", &info->end_time);
    tf_h5_read_attr_str(f, "slurm_job_ids", info->slurm_job_ids, sizeof info->slurm_job_ids);
    H5Eclear2(H5E_DEFAULT);
}

enum tf_status tf_h5out_inspect(const char *path, struct tf_h5out_info *info, char *errmsg,
                                size_t errlen)
{
    memset(info, 0, sizeof *info);
    hid_t f = tf_h5_open_result(path, errmsg, errlen);
    if (f < 0)
        return TF_EINPUT;
    struct tf_h5check chk;
    enum tf_status st = tf_h5check_tasks(f, path, true, &chk, errmsg, errlen);
    if (st == TF_OK) {
        char state[32];
        info->format_version = chk.format_version;
        info->ntasks = chk.ntasks;
        tf_h5_read_attr_str(f, "taskfile_sha256", info->taskfile_sha256,
                            sizeof info->taskfile_sha256);
        tf_h5_read_attr_str(f, "taskfile", info->taskfile, sizeof info->taskfile);
        tf_h5_read_attr_str(f, "run_id", info->run_id, sizeof info->run_id);
        tf_h5_read_attr_str(f, "state", state, sizeof state);
        info->closed = strcmp(state, "closed") == 0;
        tf_h5_read_attr_str(f, "slice", info->slice, sizeof info->slice);
        inspect_more(f, info);
    }
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    return st;
}

/* count_statuses for a file opened read-only (no handle): in blocks, so millions of tasks
 * cost little memory. */
static int count_file_statuses(hid_t f, uint64_t counts[TF_TASK_STATUS_COUNT])
{
    enum { BLOCK = 1 << 20 };
    hid_t d = H5Dopen2(f, "tasks/status", H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t space = H5Dget_space(d), raw = H5Dget_type(d); /* checked: 1-byte status enum */
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int8_t *buf = tf_xmalloc(BLOCK);
    int rc = n < 0 ? -1 : 0;
    for (hsize_t at = 0; rc == 0 && at < (hsize_t)n; at += BLOCK) {
        hsize_t len = (hsize_t)n - at < BLOCK ? (hsize_t)n - at : BLOCK;
        hid_t mem = H5Screate_simple(1, &len, NULL);
        rc = H5Sselect_hyperslab(space, H5S_SELECT_SET, &at, NULL, &len, NULL) < 0 ||
                     H5Dread(d, raw, mem, space, H5P_DEFAULT, buf) < 0
                 ? -1
                 : 0;
        H5Sclose(mem);
        for (hsize_t i = 0; rc == 0 && i < len; i++)
            counts[buf[i] >= 0 && buf[i] < TF_TASK_STATUS_COUNT ? buf[i] : TF_TASK_NOT_RUN]++;
    }
    free(buf);
    H5Tclose(raw);
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

enum tf_status tf_h5out_count(const char *path, uint64_t counts[TF_TASK_STATUS_COUNT], bool *closed,
                              char *errmsg, size_t errlen)
{
    memset(counts, 0, TF_TASK_STATUS_COUNT * sizeof *counts);
    hid_t f = tf_h5_open_result(path, errmsg, errlen);
    if (f < 0)
        return TF_EINPUT;
    char state[32] = "";
    tf_h5_read_attr_str(f, "state", state, sizeof state);
    *closed = strcmp(state, "closed") == 0;
    struct tf_h5check chk;
    enum tf_status st = tf_h5_is_map(f) ? tf_h5check_map(f, path, errmsg, errlen)
                                        : tf_h5check_tasks(f, path, true, &chk, errmsg, errlen);
    if (st == TF_OK && tf_h5_is_map(f)) {
        int64_t v[3] = {0, 0, 0}; /* checked: 0 <= failed <= done, not_run <= nitems - done */
        if (tf_h5_read_attr_i64(f, "items_done", &v[0]) == 0 &&
            tf_h5_read_attr_i64(f, "items_failed", &v[1]) == 0 &&
            tf_h5_read_attr_i64(f, "items_not_run", &v[2]) == 0) {
            counts[TF_TASK_SUCCEEDED] = (uint64_t)(v[0] - v[1]);
            counts[TF_TASK_FAILED] = (uint64_t)v[1];
            counts[TF_TASK_NOT_RUN] = (uint64_t)v[2];
        } else {
            int64_t n = 0; /* a map its run never closed: no counts yet */
            tf_h5_read_attr_i64(f, "nitems", &n);
            counts[TF_TASK_NOT_RUN] = (uint64_t)n;
        }
    } else if (st == TF_OK && count_file_statuses(f, counts) != 0) {
        snprintf(errmsg, errlen, "'%s': cannot read /tasks/status (damaged)", path);
        st = TF_EINPUT;
    }
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    return st;
}

static int open_columns(struct tf_h5out *h)
{
    for (int c = 0; c < NCOLS; c++) {
        /* A file of format 2 has no slot column: it gets one, "not run" until rows come
         * (format_version is raised by tf_h5out_open, after the status column). */
        if (c == C_SLOT && H5Lexists(h->group, cols[c].name, H5P_DEFAULT) == 0 &&
            create_column(h, c) < 0)
            return -1;
        h->dset[c] = h->dset[c] > 0 ? h->dset[c] : H5Dopen2(h->group, cols[c].name, H5P_DEFAULT);
        if (h->dset[c] < 0)
            return -1;
        hid_t space = H5Dget_space(h->dset[c]);
        hssize_t n = H5Sget_simple_extent_npoints(space);
        H5Sclose(space);
        if (n < 0 || (uint64_t)n != h->ntasks)
            return -1;
    }
    return 0;
}

#define STATUS_NEW "status.format4" /* the upgraded status column until it is in place */

/* A file of format 2 or 3 has a status enum without LOST, and HDF5 cannot change the type of
 * a dataset: the column is written again with the format-4 enum under a temporary name
 * (values read through the new enum: the 5 old members keep their values), then linked in
 * place of the old one. Called once the file says "running" (note_resume), so a crash half
 * way leaves a file --resume rebuilds from its journal. Costs a byte per task of file space.
 * RATIONALE: keeping old files at 5 members would have a resumed run refuse, in the middle,
 * the first task its workers lost; upgrading is what format 2 files already got (a slot
 * column). */
static int upgrade_status(struct tf_h5out *h)
{
    enum { BLOCK = 1 << 20 };
    if (H5Lexists(h->group, STATUS_NEW, H5P_DEFAULT) > 0 &&
        H5Ldelete(h->group, STATUS_NEW, H5P_DEFAULT) < 0) /* left by a crash in here */
        return -1;
    H5Dclose(h->dset[C_STATUS]);
    h->dset[C_STATUS] = 0;
    if (create_column_as(h, C_STATUS, STATUS_NEW) < 0)
        return -1;
    int8_t *buf = tf_xmalloc(BLOCK);
    int rc = 0;
    for (uint64_t at = 0; rc == 0 && at < h->ntasks; at += BLOCK) {
        size_t n = h->ntasks - at < BLOCK ? (size_t)(h->ntasks - at) : BLOCK;
        rc = read_col(h->group, cols[C_STATUS].name, h->status_type, at, n, buf);
        if (rc == 0)
            rc = write_col(h, C_STATUS, at, n, buf);
    }
    free(buf);
    if (rc == 0 && (H5Ldelete(h->group, cols[C_STATUS].name, H5P_DEFAULT) < 0 ||
                    H5Lmove(h->group, STATUS_NEW, h->group, cols[C_STATUS].name, H5P_DEFAULT,
                            H5P_DEFAULT) < 0))
        rc = -1;
    return rc;
}

/* An older file made format 4: its status column (the slot column came in open_columns),
 * then the version that says so. */
static int upgrade(struct tf_h5out *h, int64_t from)
{
    if (from >= TF_H5OUT_FORMAT_VERSION)
        return 0;
    if (upgrade_status(h) < 0 || H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0)
        return -1;
    return attr_i64(h->file, "format_version", TF_H5OUT_FORMAT_VERSION);
}

/* Whether HDF5 can look up every attribute note_resume replaces, before anything is written:
 * a damaged attribute message fails a lookup, and a resume that failed half-way through its
 * writes would leave a file changed by a refusal (C10). */
static bool attrs_replaceable(hid_t f)
{
    static const char *const names[] = {
        "resumes", "last_command_line", "last_start_time", "taskfarm_version", "nworkers",
        "mode",    "mode_reason",       "order",           "taskfile_sha256",  "end_time",
        "state",   "format_version",    "slurm_job_ids"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (H5Aexists(f, names[i]) < 0)
            return false;
    struct tf_slurm_var vars[32];
    size_t n = tf_slurm_vars(vars, sizeof vars / sizeof vars[0]);
    for (size_t i = 0; i < n; i++)
        if (H5Aexists(f, vars[i].attr) < 0)
            return false;
    return true;
}

static int note_resume(struct tf_h5out *h, const struct tf_run_meta *m)
{
    hid_t f = h->file;
    int64_t resumes = 0;
    tf_h5_read_attr_i64(f, "resumes", &resumes);
    int rc = attr_i64(f, "resumes", resumes + 1);
    rc |= attr_str(h, f, "last_command_line", m->command_line);
    rc |= attr_f64(f, "last_start_time", m->start_time);
    rc |= attr_str(h, f, "taskfarm_version", m->version);
    rc |= attr_i64(f, "nworkers", m->nworkers);
    rc |= attr_str(h, f, "mode", m->mode);
    rc |= attr_str(h, f, "mode_reason", m->mode_reason);
    rc |= attr_str(h, f, "order", m->order ? m->order : "file order");
    rc |= attr_str(h, f, "taskfile_sha256", m->taskfile_sha256);
    rc |= attr_f64(f, "end_time", NAN);
    rc |= tf_h5_note_slurm(f);
    rc |= attr_str(h, f, "state", "running");
    return rc;
}

enum tf_status tf_h5out_open(const char *path, const struct tf_run_meta *meta,
                             struct tf_h5out **out, char *errmsg, size_t errlen)
{
    if (!tf_check_regular(path, errmsg, errlen))
        return TF_EINPUT;
    struct tf_h5out *h = handle_new(meta->ntasks);
    h->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (h->file < 0) {
        H5Eclear2(H5E_DEFAULT);
        snprintf(errmsg, errlen,
                 "cannot open result file '%s' to resume it (truncated, damaged, or not HDF5)",
                 path);
        release(h);
        return TF_EINPUT;
    }
    /* Checked before a single attribute is written: writing into a damaged object header
     * crashed inside HDF5 (C10). */
    struct tf_h5check chk;
    enum tf_status vst = tf_h5check_tasks(h->file, path, false, &chk, errmsg, errlen);
    if (vst == TF_OK && chk.ntasks != meta->ntasks) {
        snprintf(errmsg, errlen, "'%s' has %llu tasks; this run has %llu", path,
                 (unsigned long long)chk.ntasks, (unsigned long long)meta->ntasks);
        vst = TF_EINPUT;
    }
    if (vst == TF_OK && !attrs_replaceable(h->file)) {
        H5Eclear2(H5E_DEFAULT);
        snprintf(errmsg, errlen, "'%s': its root attributes are damaged", path);
        vst = TF_EINPUT;
    }
    if (vst != TF_OK) {
        release(h);
        return vst;
    }
    h->group = H5Gopen2(h->file, "tasks", H5P_DEFAULT);
    if (h->group < 0 || open_columns(h) < 0 || note_resume(h, meta) < 0 ||
        H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0 || upgrade(h, chk.format_version) < 0 ||
        H5Fflush(h->file, H5F_SCOPE_GLOBAL) < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot open result file '%s' to resume it", path);
        enum tf_status st = tf_h5_fail(what, errmsg, errlen);
        release(h);
        return st;
    }
    *out = h;
    return TF_OK;
}

/* ---- reading ---------------------------------------------------------------------------- */

static int read_col(hid_t group, const char *name, hid_t type, uint64_t first, size_t n, void *buf)
{
    hsize_t start = first, count = n;
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL);
    if (rc >= 0)
        rc = H5Dread(d, type, ms, fs, H5P_DEFAULT, buf);
    if (rc < 0)
        note_cause();
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    return rc < 0 ? -1 : 0;
}

/* Move HDF5-allocated strings into malloc'd copies we own. */
static void adopt_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *s = tf_xstrdup(v[i] ? v[i] : "");
        if (v[i])
            H5free_memory(v[i]);
        v[i] = s;
    }
}

static void scatter(enum col_id c, struct tf_result *rows, size_t n, const void *buf)
{
    for (size_t i = 0; i < n; i++) {
        struct tf_result *r = &rows[i];
        switch (c) {
        case C_STATUS:
            r->status = ((const int8_t *)buf)[i];
            break;
        case C_LINE:
            r->line = (uint64_t)((const int64_t *)buf)[i];
            break;
        case C_EXIT_CODE:
            r->exit_code = ((const int32_t *)buf)[i];
            break;
        case C_SIGNAL:
            r->signal = ((const int32_t *)buf)[i];
            break;
        case C_RANK:
            r->rank = ((const int32_t *)buf)[i];
            break;
        case C_SLOT:
            r->slot = ((const int32_t *)buf)[i];
            break;
        case C_ATTEMPTS:
            r->attempts = ((const int32_t *)buf)[i];
            break;
        case C_MAX_RSS:
            r->max_rss = ((const int64_t *)buf)[i];
            break;
        case C_CPU_USER:
            r->cpu_user = ((const double *)buf)[i];
            break;
        case C_CPU_SYSTEM:
            r->cpu_system = ((const double *)buf)[i];
            break;
        case C_HOST:
            r->host = ((char *const *)buf)[i];
            break;
        case C_START:
            r->start = ((const double *)buf)[i];
            break;
        case C_END:
            r->end = ((const double *)buf)[i];
            break;
        case C_STDOUT:
            r->out = ((char *const *)buf)[i], r->out_len = strlen(r->out);
            break;
        case C_STDERR:
            r->err = ((char *const *)buf)[i], r->err_len = strlen(r->err);
            break;
        case C_STDOUT_TRUNC:
            r->out_truncated = ((const int8_t *)buf)[i];
            break;
        case C_STDERR_TRUNC:
            r->err_truncated = ((const int8_t *)buf)[i];
            break;
        default:
            break;
        }
    }
}

/* An open result file for reading; `h` only lends its memory types to mem_type(). */
struct reader {
    struct tf_h5out h;
    hid_t file, group;
};

static void reader_open(struct reader *r, const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    r->h = (struct tf_h5out){.str_type = tf_h5_str_type(), .status_type = make_status_type()};
    r->file = open_for_reading(path);
    r->group = r->file < 0 ? -1 : H5Gopen2(r->file, "tasks", H5P_DEFAULT);
}

static void reader_close(struct reader *r)
{
    if (r->group >= 0)
        H5Gclose(r->group);
    if (r->file >= 0)
        H5Fclose(r->file);
    H5Tclose(r->h.str_type);
    H5Tclose(r->h.status_type);
}

/* Keep the k slowest (longest first) in s. */
static void note_slow(struct tf_h5out_summary *s, uint64_t id, double secs)
{
    int at = s->nslowest < TF_SUMMARY_SLOWEST ? s->nslowest++ : TF_SUMMARY_SLOWEST - 1;
    if (at == TF_SUMMARY_SLOWEST - 1 && s->nslowest == TF_SUMMARY_SLOWEST &&
        secs <= s->slowest_seconds[at])
        return;
    while (at > 0 && s->slowest_seconds[at - 1] < secs) {
        s->slowest[at] = s->slowest[at - 1];
        s->slowest_seconds[at] = s->slowest_seconds[at - 1];
        at--;
    }
    s->slowest[at] = id;
    s->slowest_seconds[at] = secs;
}

/* One block of rows into the summary; the ids of the first failures into fail_ids. */
static void summarize(struct tf_h5out_summary *s, uint64_t first, size_t n, const int8_t *st,
                      const double *start, const double *end, uint64_t *fail_ids)
{
    for (size_t i = 0; i < n; i++) {
        int v = st[i] >= 0 && st[i] < TF_TASK_STATUS_COUNT ? st[i] : TF_TASK_NOT_RUN;
        s->counts[v]++;
        if (v != TF_TASK_SUCCEEDED && v != TF_TASK_NOT_RUN && s->nfailed < TF_SUMMARY_FAILED)
            fail_ids[s->nfailed++] = first + i;
        /* inf, or times so far apart their difference overflows, tell nothing (C1) */
        if (v == TF_TASK_NOT_RUN || !isfinite(start[i]) || !isfinite(end[i]) ||
            !isfinite(end[i] - start[i]))
            continue;
        s->first_start =
            isnan(s->first_start) || start[i] < s->first_start ? start[i] : s->first_start;
        s->last_end = isnan(s->last_end) || end[i] > s->last_end ? end[i] : s->last_end;
        s->busy += end[i] - start[i];
        note_slow(s, first + i, end[i] - start[i]);
    }
}

enum tf_status tf_h5out_summary(const char *path, struct tf_h5out_summary *s, char *errmsg,
                                size_t errlen)
{
    enum { BLOCK = 1 << 16 };
    struct tf_h5out_info info;
    memset(s, 0, sizeof *s);
    s->first_start = s->last_end = NAN;
    if (tf_h5out_inspect(path, &info, errmsg, errlen) != TF_OK)
        return TF_EINPUT;
    s->closed = info.closed;
    struct reader r;
    reader_open(&r, path);
    tf_h5_read_attr_i64(r.file, "nworkers", &s->nworkers);
    if (tf_h5_read_attr_i64(r.file, "nslots", &s->nslots) < 0)
        s->nslots = s->nworkers; /* format 2: a worker was a slot */
    H5Eclear2(H5E_DEFAULT);
    int8_t *st = tf_xmalloc(BLOCK);
    double *start = tf_xmalloc(BLOCK * sizeof *start), *end = tf_xmalloc(BLOCK * sizeof *end);
    uint64_t fail_ids[TF_SUMMARY_FAILED];
    int rc = r.group < 0 ? -1 : 0;
    for (uint64_t at = 0; rc == 0 && at < info.ntasks; at += BLOCK) {
        size_t n = info.ntasks - at < BLOCK ? (size_t)(info.ntasks - at) : BLOCK;
        rc = read_col(r.group, cols[C_STATUS].name, r.h.status_type, at, n, st) |
             read_col(r.group, cols[C_START].name, H5T_NATIVE_DOUBLE, at, n, start) |
             read_col(r.group, cols[C_END].name, H5T_NATIVE_DOUBLE, at, n, end);
        if (rc == 0)
            summarize(s, at, n, st, start, end, fail_ids);
    }
    free(st);
    free(start);
    free(end);
    reader_close(&r);
    for (int i = 0; rc == 0 && i < s->nfailed; i++)
        if (tf_h5out_read_rows(path, fail_ids[i], 1, &s->failed[i], &s->failed_command[i]) != TF_OK)
            rc = -1;
    if (rc != 0) {
        snprintf(errmsg, errlen, "cannot read '%s' (if its run is writing it, try again)", path);
        tf_h5out_summary_fini(s);
        return TF_EINPUT;
    }
    return TF_OK;
}

enum tf_status tf_h5out_each_timing(const char *path,
                                    void (*fn)(const struct tf_timing *t, void *arg), void *arg,
                                    char *errmsg, size_t errlen)
{
    enum { BLOCK = 1 << 16 };
    struct tf_h5out_info info;
    if (tf_h5out_inspect(path, &info, errmsg, errlen) != TF_OK)
        return TF_EINPUT;
    struct reader r;
    reader_open(&r, path);
    int8_t *st = tf_xmalloc(BLOCK);
    int32_t *rank = tf_xmalloc(BLOCK * sizeof *rank), *slot = tf_xmalloc(BLOCK * sizeof *slot);
    double *start = tf_xmalloc(BLOCK * sizeof *start), *end = tf_xmalloc(BLOCK * sizeof *end);
    int rc = r.group < 0 ? -1 : 0;
    bool slots = rc == 0 && H5Lexists(r.group, cols[C_SLOT].name, H5P_DEFAULT) > 0;
    for (uint64_t at = 0; rc == 0 && at < info.ntasks; at += BLOCK) {
        size_t n = info.ntasks - at < BLOCK ? (size_t)(info.ntasks - at) : BLOCK;
        rc = read_col(r.group, cols[C_STATUS].name, r.h.status_type, at, n, st) |
             read_col(r.group, cols[C_RANK].name, H5T_NATIVE_INT32, at, n, rank) |
             read_col(r.group, cols[C_START].name, H5T_NATIVE_DOUBLE, at, n, start) |
             read_col(r.group, cols[C_END].name, H5T_NATIVE_DOUBLE, at, n, end);
        if (rc == 0 && slots)
            rc = read_col(r.group, cols[C_SLOT].name, H5T_NATIVE_INT32, at, n, slot);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            struct tf_timing t = {at + i, rank[i], slots ? slot[i] : 0, st[i], start[i], end[i]};
            fn(&t, arg);
        }
    }
    free(st);
    free(rank);
    free(slot);
    free(start);
    free(end);
    reader_close(&r);
    if (rc != 0) {
        snprintf(errmsg, errlen, "cannot read '%s' (if its run is writing it, try again)", path);
        return TF_EINPUT;
    }
    return TF_OK;
}

int tf_h5out_read_slots(const char *path, int32_t *slots_per_rank, int max)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = open_for_reading(path);
    int n = 0;
    hid_t a = f < 0 || H5Aexists(f, "slots_per_rank") <= 0
                  ? -1
                  : H5Aopen(f, "slots_per_rank", H5P_DEFAULT);
    hid_t space = a < 0 ? -1 : H5Aget_space(a);
    hssize_t k = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (k > 0 && k <= max && H5Sget_simple_extent_ndims(space) == 1 &&
        H5Aread(a, H5T_NATIVE_INT32, slots_per_rank) >= 0)
        n = (int)k;
    for (int i = 0; i < n; i++)
        if (slots_per_rank[i] < 0 || slots_per_rank[i] > 1 << 20)
            n = 0; /* not what taskfarm writes: no layout */
    if (space >= 0)
        H5Sclose(space);
    if (a >= 0)
        H5Aclose(a);
    if (f >= 0)
        H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return n;
}

void tf_h5out_summary_fini(struct tf_h5out_summary *s)
{
    for (int i = 0; i < s->nfailed; i++) {
        tf_result_fini(&s->failed[i]);
        free(s->failed_command[i]);
    }
    s->nfailed = 0;
}

enum tf_status tf_h5out_read_rows(const char *path, uint64_t first, size_t n,
                                  struct tf_result *rows, char **commands)
{
    struct reader r;
    reader_open(&r, path);
    hid_t group = r.group;
    enum tf_status st = TF_OK;
    void *buf = tf_xmalloc(n * 8 + 8);
    if (n > 0)
        memset(rows, 0, n * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i].id = first + i;
    for (int c = 0; c < NCOLS && group >= 0 && st == TF_OK; c++) {
        if (c == C_COMMAND && commands == NULL)
            continue;
        void *dst = c == C_COMMAND ? (void *)commands : buf;
        if (c == C_SLOT && H5Lexists(group, cols[c].name, H5P_DEFAULT) == 0) {
            for (size_t i = 0; i < n; i++) /* format 2: no slots recorded */
                rows[i].slot = -1;
            continue;
        }
        if (read_col(group, cols[c].name, mem_type(&r.h, cols[c].kind), first, n, dst) < 0) {
            char what[1200];
            snprintf(what, sizeof what, "reading /tasks/%s of '%s'", cols[c].name, path);
            st = tf_h5_fail(what, NULL, 0);
            break;
        }
        if (cols[c].kind == K_STR)
            adopt_strings(dst, n);
        if (c != C_COMMAND)
            scatter((enum col_id)c, rows, n, buf);
    }
    if (group < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot open /tasks of '%s'", path);
        st = tf_h5_fail(what, NULL, 0);
    }
    free(buf);
    reader_close(&r);
    return st;
}

/* ---- durations of an earlier run ---------------------------------------------------------- */

enum tf_status tf_h5out_read_durations(const char *path,
                                       void (*fn)(const char *command, double seconds, void *arg),
                                       void *arg, char *errmsg, size_t errlen)
{
    struct tf_h5out_info info;
    if (tf_h5out_inspect(path, &info, errmsg, errlen) != TF_OK)
        return TF_EINPUT;
    struct reader r;
    reader_open(&r, path);
    struct tf_h5out h = r.h;
    hid_t group = r.group;
    enum tf_status st = TF_OK;
    hid_t d = group < 0 ? -1 : H5Dopen2(group, "command", H5P_DEFAULT);
    if (d < 0) {
        char what[600];
        snprintf(what, sizeof what, "'%s' is not a taskfarm result file", path);
        st = tf_h5_fail(what, errmsg, errlen);
        goto out;
    }
    hid_t space = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    H5Dclose(d);
    enum { BLOCK = 65536 };
    char **cmds = tf_xmalloc(BLOCK * sizeof *cmds);
    double *start = tf_xmalloc(BLOCK * sizeof *start), *end = tf_xmalloc(BLOCK * sizeof *end);
    int8_t *status = tf_xmalloc(BLOCK);
    for (hssize_t first = 0; first < n && st == TF_OK; first += BLOCK) {
        size_t k = (size_t)(n - first < BLOCK ? n - first : BLOCK);
        if (read_col(group, "command", h.str_type, (uint64_t)first, k, cmds) < 0 ||
            read_col(group, "start", H5T_NATIVE_DOUBLE, (uint64_t)first, k, start) < 0 ||
            read_col(group, "end", H5T_NATIVE_DOUBLE, (uint64_t)first, k, end) < 0 ||
            read_col(group, "status", h.status_type, (uint64_t)first, k, status) < 0) {
            char what[600];
            snprintf(what, sizeof what, "cannot read durations from '%s'", path);
            st = tf_h5_fail(what, errmsg, errlen);
            break;
        }
        for (size_t i = 0; i < k; i++) {
            /* any task that ran tells how long it takes; "not run" rows say nothing */
            if (status[i] != TF_TASK_NOT_RUN && cmds[i] && end[i] >= start[i] &&
                isfinite(end[i] - start[i]))
                fn(cmds[i], end[i] - start[i], arg);
            if (cmds[i])
                H5free_memory(cmds[i]);
        }
    }
    free(cmds);
    free(start);
    free(end);
    free(status);
out:
    reader_close(&r);
    return st;
}
