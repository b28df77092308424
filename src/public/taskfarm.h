/* taskfarm.h - the public C API of libtaskfarm: apply a C function to millions of items over
 * the ranks of an MPI job, results stored as typed arrays in one HDF5 file.
 *
 * The only header a user includes. No MPI or HDF5 type appears here: link taskfarm::taskfarm
 * (CMake) or `pkg-config --libs taskfarm`; MPI and HDF5 come with the library.
 *
 *   struct taskfarm_map *map;
 *   taskfarm_map_new(&map);
 *   taskfarm_map_set_function(map, tax, NULL);
 *   taskfarm_map_items_range(map, 1000000);            item i is the uint64_t i
 *   taskfarm_map_result(map, "tax", sizeof(struct out), fields, nfields);
 *   taskfarm_map_output(map, "out.h5", 0);
 *   int rc = taskfarm_map_run(map, &summary);          every rank; rank 0 is the master
 *   if (rc != TASKFARM_OK) fprintf(stderr, "%s\n", taskfarm_map_error(map));
 *   taskfarm_map_free(map);
 *   taskfarm_finalize();
 *
 * Every rank makes the same calls with the same values, except the items of
 * taskfarm_map_items_array, which only rank 0 needs. Functions return an enum taskfarm_error;
 * the handle keeps a one-line message for the last error (taskfarm_map_error). No bad
 * argument, missing file or failing item makes the library abort or exit the process.
 */
#ifndef TASKFARM_H
#define TASKFARM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TASKFARM_API __attribute__((visibility("default")))
#else
#define TASKFARM_API
#endif

#define TASKFARM_VERSION_MAJOR 0
#define TASKFARM_VERSION_MINOR 2

enum taskfarm_error {
    TASKFARM_OK = 0,
    TASKFARM_EINVAL = 1,      /* a bad argument, or calls in the wrong order */
    TASKFARM_ENOMEM = 2,      /* out of memory */
    TASKFARM_EIO = 3,         /* a file could not be read or written */
    TASKFARM_EMPI = 4,        /* MPI failed */
    TASKFARM_EHDF5 = 5,       /* HDF5 failed */
    TASKFARM_EFAILED = 6,     /* the run finished; the function failed on some items */
    TASKFARM_EINCOMPLETE = 7, /* stopped early (signal); run again with TASKFARM_RESUME */
    TASKFARM_EEXIST = 8,      /* the output exists (pass TASKFARM_OVERWRITE or _RESUME) */
};

/* Element types of item and result fields (stored as the matching HDF5 native type). */
enum taskfarm_type {
    TASKFARM_INT8 = 1,
    TASKFARM_UINT8,
    TASKFARM_INT16,
    TASKFARM_UINT16,
    TASKFARM_INT32,
    TASKFARM_UINT32,
    TASKFARM_INT64,
    TASKFARM_UINT64,
    TASKFARM_FLOAT,
    TASKFARM_DOUBLE,
    TASKFARM_CHAR, /* a fixed-length, NUL-padded string of `count` bytes */
};

/* One field of a record: a member of a C struct. count > 1 makes it an array of that many
 * elements (a string's length for TASKFARM_CHAR). */
struct taskfarm_field {
    const char *name;
    enum taskfarm_type type;
    size_t offset;
    size_t count;
};
/* Bytes per element of a type, as a constant expression. */
#define TASKFARM_TYPE_SIZE(t)                                                                      \
    ((t) <= TASKFARM_UINT8 || (t) == TASKFARM_CHAR                                                 \
         ? 1u                                                                                      \
         : ((t) <= TASKFARM_UINT16 ? 2u                                                            \
                                   : ((t) <= TASKFARM_UINT32 || (t) == TASKFARM_FLOAT ? 4u : 8u)))
/* The field for `member` of struct type `stype`; arrays get their length as count. */
#define TASKFARM_FIELD(stype, member, ftype)                                                       \
    {                                                                                              \
#member, (ftype), offsetof(stype, member),                                                 \
            sizeof(((stype *)0)->member) / TASKFARM_TYPE_SIZE(ftype)                               \
    }
/* A plain (non-compound) result of one element type. */
#define TASKFARM_SCALAR(ftype)                                                                     \
    {                                                                                              \
        NULL, (ftype), 0, 1                                                                        \
    }

/* The work: compute *result from *item. Return 0 for success; anything else marks the item
 * failed (the code is recorded) and the run goes on. `result` starts zeroed. It runs on a
 * thread of taskfarm's, one at a time per process unless declared thread-safe
 * (taskfarm_map_thread_safe). */
typedef int (*taskfarm_fn)(const void *item, void *result, void *user);
/* An item generator: fill *item for index i (called on the rank that processes item i). */
typedef int (*taskfarm_item_fn)(uint64_t index, void *item, void *user);

struct taskfarm_map; /* opaque */

/* Flags of taskfarm_map_output. */
#define TASKFARM_OVERWRITE 1u /* replace an existing file */
#define TASKFARM_RESUME    2u /* go on with an existing file (created when absent) */

struct taskfarm_summary {
    uint64_t items;     /* items in the map */
    uint64_t done;      /* items with a result, over every run of this file */
    uint64_t failed;    /* items the function failed on (or crashed on) */
    uint64_t not_run;   /* items with no outcome yet (stopped early) */
    double seconds;     /* this call's wall time */
    int workers;        /* processes (ranks) that ran the function */
    int threads;        /* compute threads of all of them together */
    int rank;           /* this rank; the counts above are filled on rank 0 only */
    const char *output; /* rank 0: the result file (owned by the handle) */
};

TASKFARM_API size_t taskfarm_type_size(enum taskfarm_type type);
TASKFARM_API const char *taskfarm_strerror(int code);

/* A new, empty map (not collective). Only TASKFARM_ENOMEM can go wrong. */
TASKFARM_API int taskfarm_map_new(struct taskfarm_map **out);
TASKFARM_API void taskfarm_map_free(struct taskfarm_map *map); /* NULL-safe */
/* The message of the last error on this handle ("" when none). */
TASKFARM_API const char *taskfarm_map_error(const struct taskfarm_map *map);

TASKFARM_API int taskfarm_map_set_function(struct taskfarm_map *map, taskfarm_fn fn, void *user);

/* Where the items come from: exactly one of these. */
/* Item i is the uint64_t i, for i in 0..n-1. */
TASKFARM_API int taskfarm_map_items_range(struct taskfarm_map *map, uint64_t n);
/* n records of item_size bytes; read on rank 0 only (other ranks may pass NULL), and must stay
 * valid until taskfarm_map_run returns. */
TASKFARM_API int taskfarm_map_items_array(struct taskfarm_map *map, const void *items,
                                          size_t item_size, uint64_t n);
/* Item i made by gen(i, item, user) where it is processed: nothing travels but the index. */
TASKFARM_API int taskfarm_map_items_generator(struct taskfarm_map *map, taskfarm_item_fn gen,
                                              size_t item_size, uint64_t n, void *user);
/* The rows of a 1-D dataset in an HDF5 file, read by rank 0 in batches. */
TASKFARM_API int taskfarm_map_items_hdf5(struct taskfarm_map *map, const char *path,
                                         const char *dataset);
/* For HDF5 items: the C struct the function expects. HDF5 converts the dataset's records to
 * it, matching compound members by name, so the file's field order and widths do not matter.
 * Without it, items come in the dataset's own native layout. */
TASKFARM_API int taskfarm_map_item_type(struct taskfarm_map *map, size_t item_size,
                                        const struct taskfarm_field *fields, size_t nfields);

/* The result record: size bytes, stored as dataset /results/<name>, row i = item i. One field
 * with a NULL name stores a plain array of that type; otherwise a compound dataset with
 * these fields (what pandas reads as columns). */
TASKFARM_API int taskfarm_map_result(struct taskfarm_map *map, const char *name, size_t size,
                                     const struct taskfarm_field *fields, size_t nfields);
/* Where results go: the HDF5 file (rank 0 writes it), flags as above. */
TASKFARM_API int taskfarm_map_output(struct taskfarm_map *map, const char *path, unsigned flags);
/* Rank 0 may also have every result copied into buffer (items * size bytes); then the output
 * file is optional. */
TASKFARM_API int taskfarm_map_results_buffer(struct taskfarm_map *map, void *buffer);
/* Batch sizes: how long a batch should take (seconds, default 0.05) and the most items in
 * one (default 1048576). Batches start at one item and grow to that. */
TASKFARM_API int taskfarm_map_batching(struct taskfarm_map *map, double seconds,
                                       uint64_t max_items);
/* Declare that the function (and an item generator) may run on several threads of one
 * process at once: it keeps no state that two calls could share unguarded. Then every
 * process computes on as many threads as it has cores (its share of its node's), or as
 * taskfarm_map_threads sets; without it, one thread per process. */
TASKFARM_API int taskfarm_map_thread_safe(struct taskfarm_map *map);
/* Compute threads per process, >= 1 (0: its share of its node's cores, the default). For a
 * function declared thread-safe; any other computes on one thread. */
TASKFARM_API int taskfarm_map_threads(struct taskfarm_map *map, int threads);
/* Ranks that die (only with Open MPI's recovery on: `mpirun --mca orte_enable_recovery 1`,
 * i.e. OMPI_MCA_orte_enable_recovery=1 in the ranks' environment; without it a rank's death
 * ends the MPI job). Every rank but 0 sends a heartbeat when quiet for timeout/4; rank 0
 * declares a rank it has not heard from for `timeout` seconds lost (default 5), logs one
 * line naming it and its host, tells it to leave, and hands the batches it held to the
 * others. An item that was running on `lost_after` ranks that were lost (default 2) is
 * recorded failed with code and signal -1 (TASKFARM_ITEM_LOST) and not computed again, so an
 * item that kills its process cannot take down every node. A rank told it was lost returns
 * TASKFARM_EMPI. timeout in [0.5, 86400], lost_after in 1..1000. */
#define TASKFARM_ITEM_LOST (-1)
TASKFARM_API int taskfarm_map_worker_loss(struct taskfarm_map *map, double timeout, int lost_after);
/* Nonzero once a rank of the job was lost (or this rank was declared lost): from then on the
 * program must not enter an MPI collective or call MPI_Finalize itself (they would wait for
 * the dead rank for ever); taskfarm_finalize then skips MPI_Finalize. */
TASKFARM_API int taskfarm_workers_lost(void);
/* Free text recorded in the result file (the command line, a plugin name). */
TASKFARM_API int taskfarm_map_describe(struct taskfarm_map *map, const char *key,
                                       const char *value);

/* Run the map. Collective: every rank of MPI_COMM_WORLD calls it. Starts MPI when the
 * program has not (finish with taskfarm_finalize), or runs alone in this process when no MPI
 * launcher started it. Returns TASKFARM_OK when every item succeeded, TASKFARM_EFAILED when
 * some failed, or an error (the same on every rank); *summary (may be NULL) is filled. */
TASKFARM_API int taskfarm_map_run(struct taskfarm_map *map, struct taskfarm_summary *summary);

/* Finalize MPI if taskfarm started it. Call once at the end of the program. */
TASKFARM_API void taskfarm_finalize(void);

/* The `taskfarm` command-line tool: its exit code (see `taskfarm --help`). */
TASKFARM_API int taskfarm_cli_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
