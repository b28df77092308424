/* h5map.h - the result file of an in-process map: /results/<name> (row i = item i, in the
 * type the user declared), /batches (one row per batch: items, rank, host, times, failures)
 * and /failures (one row per failed item). Also reads items from an HDF5 dataset. Master
 * rank only; part of the result-file module, so no HDF5 type appears here.
 */
#ifndef TF_H5MAP_H
#define TF_H5MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"
#include "status.h"

#define TF_H5MAP_FORMAT_VERSION 1

struct tf_h5map_meta {
    const char *version;
    const char *run_id;
    const char *identity; /* SHA-256 of items and result type: a resume must match it */
    const char *items_source;
    const char *master_host;
    uint64_t nitems;
    int nworkers;
    double start_time;
    const struct taskfarm_map *map; /* result name and type, descriptions */
};

/* One finished batch. */
struct tf_batch_row {
    uint64_t first, count, failed;
    int32_t rank;
    double start, end; /* wall clock, seconds since the epoch */
    const char *host;
};

struct tf_item_failure {
    uint64_t item;
    int32_t code;   /* what the function returned */
    int32_t signal; /* the signal that killed the process running it, or 0 */
    int32_t rank;
};

struct tf_h5map;

/* Create the file (refused when it exists, unless overwrite). One line in errmsg. */
enum tf_status tf_h5map_create(const char *path, bool overwrite, const struct tf_h5map_meta *meta,
                               struct tf_h5map **out, char *errmsg, size_t errlen) TF_NODISCARD;

struct tf_h5map_info {
    bool is_map;
    bool closed;
    uint64_t nitems;
    char run_id[64];
    char identity[72];
    uint64_t data_offset; /* where the results start in the file */
};
/* What a resume needs to know; TF_EINPUT with one line when it is not a map result file. */
enum tf_status tf_h5map_inspect(const char *path, struct tf_h5map_info *info, char *errmsg,
                                size_t errlen) TF_NODISCARD;
/* Open a closed map result file to go on writing it. */
enum tf_status tf_h5map_open(const char *path, const struct tf_h5map_meta *meta,
                             struct tf_h5map **out, char *errmsg, size_t errlen) TF_NODISCARD;
/* Call fn(first, count) for every batch stored. */
enum tf_status tf_h5map_scan(struct tf_h5map *h, void (*fn)(uint64_t first, uint64_t count, void *),
                             void *arg) TF_NODISCARD;

/* Store a batch: its results (count records), its row and its failures. */
enum tf_status tf_h5map_write(struct tf_h5map *h, const struct tf_batch_row *b, const void *results,
                              const struct tf_item_failure *fails, size_t nfails) TF_NODISCARD;
enum tf_status tf_h5map_flush(struct tf_h5map *h) TF_NODISCARD;
/* Flush, then have the kernel put the file on disk (results included). */
enum tf_status tf_h5map_sync(struct tf_h5map *h) TF_NODISCARD;
/* The file descriptor under the file, for a sync elsewhere (bgsync.h); -1 on failure. */
int tf_h5map_fd(struct tf_h5map *h);
/* Where row 0 of /results/<name> lies in the file: the results are one contiguous run of
 * bytes there from creation on, written in place by tf_h5map_write, so a file its run did
 * not close still holds them (see maprun.c, rebuild). */
uint64_t tf_h5map_data_offset(const struct tf_h5map *h);
enum tf_status tf_h5map_note(struct tf_h5map *h, const char *name, double value) TF_NODISCARD;
/* Ranks lost during the run (issue 15): workers_lost and items_lost, and when n > 0 the
 * arrays lost_worker_ranks (int32), lost_worker_hosts (strings), lost_worker_times (Unix s). */
enum tf_status tf_h5map_note_lost(struct tf_h5map *h, int n, const int32_t *ranks,
                                  const char *const *hosts, const double *times,
                                  uint64_t items_lost) TF_NODISCARD;
/* Items done (with an outcome) and failed over the whole file, earlier runs included. */
enum tf_status tf_h5map_counts(struct tf_h5map *h, uint64_t *done, uint64_t *failed) TF_NODISCARD;
/* Flush, count items done and failed over the whole file, mark it closed, free (NULL-safe). */
enum tf_status tf_h5map_close(struct tf_h5map *h, double end_time, uint64_t *done,
                              uint64_t *failed);

/* Workers on the master's node write their results straight into the file, at
 * data_offset + first * record size: the dataset is contiguous, placed at creation and never
 * filled or cached by HDF5, so these bytes are the dataset's rows. A descriptor for that
 * (plain POSIX, no HDF5), or -1. */
int tf_h5map_open_rows(const char *path);
enum tf_status tf_h5map_write_rows(int fd, uint64_t data_offset, uint64_t first, size_t rsize,
                                   const void *rows, uint64_t count) TF_NODISCARD;

/* Items from a 1-D dataset, converted to `want` (by member name) when it declares fields. */
struct tf_h5items;
enum tf_status tf_h5items_open(const char *path, const char *dataset, const struct tf_rectype *want,
                               struct tf_h5items **out, size_t *item_size, uint64_t *nitems,
                               char *errmsg, size_t errlen) TF_NODISCARD;
enum tf_status tf_h5items_read(struct tf_h5items *it, uint64_t first, uint64_t count,
                               void *buf) TF_NODISCARD;
void tf_h5items_close(struct tf_h5items *it);

#endif
