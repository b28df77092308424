/* h5out.h - the result file: one HDF5 file, group /tasks with one 1-D column per field,
 * row i = task i (see README.md, "The result file"). Master rank only.
 *
 * The only module that includes <hdf5.h>; no HDF5 type appears here. Writes are staged in
 * memory and flushed in contiguous runs of rows, bounded by row count and bytes.
 */
#ifndef TF_H5OUT_H
#define TF_H5OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collect.h"
#include "params.h"
#include "status.h"
#include "task.h"

/* 3 added /tasks/slot; files of format 2 are read (no slots) and resumed (gaining it).
 * 4 added the status LOST=5 to the /tasks/status enum (and the attribute tasks_lost); files
 * of formats 2 and 3 are read as they are (5 statuses) and a resume upgrades them to 4, its
 * status column written again with the new enum (tf_h5out_open). */
#define TF_H5OUT_FORMAT_VERSION 4
#define TF_H5OUT_OLDEST_FORMAT  2

struct tf_run_meta {
    const char *version;
    const char *run_id; /* random, shared by the result file and its journal */
    const char *command_line;
    const char *taskfile;
    const char *taskfile_sha256;
    const char *mode;
    const char *mode_reason;
    const char *order; /* "file order", or how the order was chosen */
    const char *master_host;
    int nworkers;
    uint64_t ntasks;
    uint64_t capture_bytes;
    double start_time;
};

struct tf_h5out;

/* Create the file at `path` with every column at full length ntasks, filled with "not run"
 * values, and its `state` attribute "running" until tf_h5out_close makes it "closed". Without
 * `overwrite` an existing file is refused (atomically: O_EXCL). On failure errmsg holds one line
 * and nothing is left on disk. */
enum tf_status tf_h5out_create(const char *path, bool overwrite, const struct tf_run_meta *meta,
                               struct tf_h5out **out, char *errmsg, size_t errlen) TF_NODISCARD;

/* What a resume needs to know about an existing result file. */
struct tf_h5out_info {
    int64_t format_version;
    uint64_t ntasks;
    char run_id[64];
    char taskfile_sha256[72];
    char taskfile[1024];
    bool closed;    /* the run that wrote it last closed it (no kill -9, no crash) */
    char slice[48]; /* --slice "I/N" it holds; "" for a whole task file */
    /* for taskfarm merge: where the slice starts, the whole file's tasks, the run's times */
    uint64_t first_task, taskfile_ntasks, capture_bytes;
    int64_t nworkers, nslots; /* nslots: nworkers for a file of format 2 */
    double start_time, end_time;
    char slurm_job_ids[1024];
};

/* Read the attributes of the result file at `path`. A file that is not HDF5, is truncated
 * or damaged, or is not a taskfarm result file is TF_EINPUT with one line in errmsg. */
enum tf_status tf_h5out_inspect(const char *path, struct tf_h5out_info *info, char *errmsg,
                                size_t errlen) TF_NODISCARD;
/* Open an existing result file to go on writing it (--resume): state "running" again,
 * `resumes` counted, this run's command line, mode and workers recorded. A file of an older
 * format becomes format 4 (a slot column, the status enum with LOST), so every status can be
 * stored in it. */
enum tf_status tf_h5out_open(const char *path, const struct tf_run_meta *meta,
                             struct tf_h5out **out, char *errmsg, size_t errlen) TF_NODISCARD;
/* Call fn(id, status, attempts) for every row, reading in blocks (after a flush). */
enum tf_status tf_h5out_scan(struct tf_h5out *h,
                             void (*fn)(uint64_t id, int status, int attempts, void *arg),
                             void *arg) TF_NODISCARD;

/* Record the command and line of a task (any order; runs of consecutive ids write best). */
enum tf_status tf_h5out_put_command(struct tf_h5out *h, const struct tf_task *t) TF_NODISCARD;
/* Record a finished task. Strings are copied; host overrides r->host when not NULL. */
enum tf_status tf_h5out_put_result(struct tf_h5out *h, const struct tf_result *r,
                                   const char *host) TF_NODISCARD;
/* Write everything staged and flush the file to disk. */
enum tf_status tf_h5out_flush(struct tf_h5out *h) TF_NODISCARD;
/* tf_monotonic() time of the last flush. */
double tf_h5out_last_flush(const struct tf_h5out *h);

/* Write a number as a root attribute (run statistics such as the master's peak memory). */
enum tf_status tf_h5out_note(struct tf_h5out *h, const char *name, double value) TF_NODISCARD;
enum tf_status tf_h5out_note_i64(struct tf_h5out *h, const char *name, int64_t value) TF_NODISCARD;
/* A 1-D int32 attribute (slots_per_rank). */
enum tf_status tf_h5out_note_i32s(struct tf_h5out *h, const char *name, const int32_t *values,
                                  int n) TF_NODISCARD;
/* 1-D float64 and string attributes (the lost workers' times and hosts). */
enum tf_status tf_h5out_note_f64s(struct tf_h5out *h, const char *name, const double *values,
                                  int n) TF_NODISCARD;
enum tf_status tf_h5out_note_strs(struct tf_h5out *h, const char *name, const char *const *values,
                                  int n) TF_NODISCARD;
enum tf_status tf_h5out_note_str(struct tf_h5out *h, const char *name,
                                 const char *value) TF_NODISCARD;

/* Flush, count the rows by status over the whole file into counts[] (when not NULL), write
 * them and the end time, mark the file "closed", close and free. NULL-safe. Returns the
 * first error seen; the handle is freed whatever happens. */
enum tf_status tf_h5out_close(struct tf_h5out *h, double end_time,
                              uint64_t counts[TF_TASK_STATUS_COUNT]);

/* /params: the sweep's parameters of rows [first, first + n) as typed columns (int64,
 * float64 or strings; see tf_params_type). A file that has them (a resume) is left as it is. */
enum tf_status tf_h5out_put_params(struct tf_h5out *h, const struct tf_params *p, uint64_t first,
                                   uint64_t n) TF_NODISCARD;

/* Call fn for every row's captured stdout, in blocks (after a flush). */
enum tf_status tf_h5out_each_stdout(struct tf_h5out *h,
                                    void (*fn)(uint64_t id, const char *out, void *arg),
                                    void *arg) TF_NODISCARD;
/* /results/<key> from --collect, replacing any earlier ones (a resume collects every row). */
enum tf_status tf_h5out_put_results(struct tf_h5out *h, const struct tf_collect *c) TF_NODISCARD;

/* The result file as one table of text cells (taskfarm export): /tasks' columns, then
 * /params and /results ones (named "params.X"/"results.X" where a name is taken). */
struct tf_h5table;
enum tf_status tf_h5table_open(const char *path, struct tf_h5table **out, char *err,
                               size_t errlen) TF_NODISCARD;
int tf_h5table_cols(const struct tf_h5table *t);
uint64_t tf_h5table_rows(const struct tf_h5table *t);
const char *tf_h5table_name(const struct tf_h5table *t, int col);
bool tf_h5table_numeric(const struct tf_h5table *t, int col);
/* Rows [first, first + n): cells[row * cols + col], malloc'd text, NULL for a missing value
 * (NaN); the status column holds names. On failure err holds one line naming the column. */
enum tf_status tf_h5table_read(const struct tf_h5table *t, uint64_t first, size_t n, char **cells,
                               char *err, size_t errlen) TF_NODISCARD;
void tf_h5table_close(struct tf_h5table *t);

/* One task's place in time, for reports. */
struct tf_timing {
    uint64_t id;
    int32_t rank, slot;
    int8_t status;
    double start, end; /* NaN: not run */
};

/* The last run's slots of each rank (the slots_per_rank attribute) into slots_per_rank;
 * returns how many ranks, 0 when the file records none (format 2) or more than max. */
int tf_h5out_read_slots(const char *path, int32_t *slots_per_rank, int max);

/* Call fn for every row of the result file at path, in blocks (no lock taken). */
enum tf_status tf_h5out_each_timing(const char *path,
                                    void (*fn)(const struct tf_timing *t, void *arg), void *arg,
                                    char *errmsg, size_t errlen) TF_NODISCARD;

#define TF_SUMMARY_FAILED  5
#define TF_SUMMARY_SLOWEST 3

/* What `taskfarm status` shows beyond the counts. */
struct tf_h5out_summary {
    uint64_t counts[TF_TASK_STATUS_COUNT];
    bool closed;
    int64_t nworkers, nslots;
    double first_start, last_end, busy; /* over the tasks that ran; busy: sum of durations */
    int nfailed;                        /* rows in failed[] */
    struct tf_result failed[TF_SUMMARY_FAILED]; /* the first that did not succeed */
    char *failed_command[TF_SUMMARY_FAILED];
    int nslowest;
    uint64_t slowest[TF_SUMMARY_SLOWEST]; /* ids, longest first */
    double slowest_seconds[TF_SUMMARY_SLOWEST];
};

/* Read the summary of a task file's result file (works while its run writes it: no lock is
 * taken). Free with tf_h5out_summary_fini. */
enum tf_status tf_h5out_summary(const char *path, struct tf_h5out_summary *s, char *errmsg,
                                size_t errlen) TF_NODISCARD;
void tf_h5out_summary_fini(struct tf_h5out_summary *s);

/* How far the result file at `path` is: counts[status] over /tasks/status for a task file;
 * for an in-process map, counts[SUCCEEDED], [FAILED], [NOT_RUN] are its items. *closed says
 * whether the run that wrote it last closed it. Errors: one line in errmsg, TF_EINPUT. */
enum tf_status tf_h5out_count(const char *path, uint64_t counts[TF_TASK_STATUS_COUNT], bool *closed,
                              char *errmsg, size_t errlen) TF_NODISCARD;

/* Read rows [first, first+n) back: the reader used by tests and by resume. rows[] get owned
 * strings (tf_result_fini), commands[] (may be NULL) get malloc'd strings. */
enum tf_status tf_h5out_read_rows(const char *path, uint64_t first, size_t n,
                                  struct tf_result *rows, char **commands) TF_NODISCARD;

/* Call fn(command, seconds) for every task that ran in the result file at `path`, reading
 * it in blocks. On failure errmsg holds one line naming the file. */
enum tf_status tf_h5out_read_durations(const char *path,
                                       void (*fn)(const char *command, double seconds, void *arg),
                                       void *arg, char *errmsg, size_t errlen) TF_NODISCARD;

#endif
