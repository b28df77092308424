/* h5check.h - PRIVATE to the result-file module: the one validation every reader of a result
 * file goes through (layout, types, shapes, lengths, attribute ranges, link kinds), so no
 * reader trusts a file it did not write, and the HDF5 attribute readers that check shapes.
 */
#ifndef TF_H5CHECK_H
#define TF_H5CHECK_H

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* More rows than this is not a file taskfarm reads: readers loop over every row. */
#define TF_H5_MAX_ROWS     1000000000ull
#define TF_H5_MAX_ROWS_TXT "10^9"
/* Items of an in-process map (counted in attributes only). */
#define TF_H5_MAX_ITEMS (1ull << 48)
/* Ranks of a run (nworkers), slots of a run (nslots), ranks in slots_per_rank. */
#define TF_H5_MAX_RANKS (1 << 24)
#define TF_H5_MAX_SLOTS 2147483647LL

/* What a valid task result file holds. */
struct tf_h5check {
    int64_t format_version;
    uint64_t ntasks;
    bool has_slot; /* /tasks/slot (format 3) */
    int nstatus;   /* members of its status enum: tf_h5_status_count(format_version) */
};

/* The statuses a file of this format version can hold: NOT_RUN..TIMED_OUT (5) before
 * format 4, which added LOST (TF_TASK_STATUS_COUNT). */
int tf_h5_status_count(int64_t format_version);

/* Call when H5Fclose has failed (a full disk): the process's exit then skips HDF5's own exit
 * handler, which would close that file again and crash in H5F__close_cb (C6). The file is as
 * good as it will get; its journal is what --resume rebuilds it from. Registered with
 * on_exit after HDF5's handler, so it runs first and keeps the exit status. */
void tf_h5_close_failed(void);

/* The file at `path` read-only, after checking it names a regular file (a FIFO would block).
 * < 0 with one line in errmsg. Takes no lock (see h5out.c). */
hid_t tf_h5_open_result(const char *path, char *errmsg, size_t errlen);
/* Whether the open file is the result file of an in-process map (root attribute kind="map"). */
bool tf_h5_is_map(hid_t f);
/* Validate an open task result file. `deep` also reads /tasks/status to check every value is
 * a status. TF_EINPUT with "'path': object: what is wrong" in errmsg. */
enum tf_status tf_h5check_tasks(hid_t f, const char *path, bool deep, struct tf_h5check *out,
                                char *errmsg, size_t errlen);
/* Validate an open map result file's attributes and links. */
enum tf_status tf_h5check_map(hid_t f, const char *path, char *errmsg, size_t errlen);
/* Every component of `dataset` (a path such as /a/b) is a hard link: no soft or external link
 * is followed. TF_EINPUT with one line naming `where`. */
enum tf_status tf_h5check_path(hid_t f, const char *dataset, const char *where, char *errmsg,
                               size_t errlen);

#endif
