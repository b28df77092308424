/* map_impl.h - PRIVATE to the in-process map's files: maprun.c (the master's part of the
 * event loop and the entry point), mapagent.c (a process's compute threads in the loop),
 * mapthreads.c (the threads), mapbatch.c (computing a batch, its message, the crash guard)
 * and mapstore.c (the master's result file, journal, resume). Other modules include
 * taskfarm.h or map.h.
 */
#ifndef TF_MAP_IMPL_H
#define TF_MAP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bgsync.h"
#include "h5map.h"
#include "journal.h"
#include "liveness.h"
#include "loop.h"
#include "map.h"
#include "mapsched.h"
#include "slots.h"
#include "stopsig.h"
#include "wire.h"

#define FLUSH_SECONDS 2.0 /* the result file is flushed, the journal synced, this often */
#define BATCH_WRITTEN 1u  /* a batch whose worker wrote its results into the file itself */

struct tf_fails {
    struct tf_item_failure *v;
    size_t n, cap;
};

/* Scratch space a computing rank reuses from batch to batch. */
struct tf_compute {
    struct taskfarm_map *map;
    int rank;
    const char *host;
    unsigned char *items, *item; /* item: one generated item */
    size_t items_cap;
    struct tf_fails fails;
    struct tf_buf msg;
    int rows_fd; /* >= 0: results go straight into the file (see tf_h5map_open_rows) */
    /* A rank that can be declared lost writes into the file only until this tf_monotonic()
     * time (set by its agent from the master's last word): one that was stopped long enough
     * to be declared lost sends its results instead, and the master drops them. NULL: always. */
    _Atomic double *write_until;
    uint64_t data_offset;
    unsigned char *rows;
    size_t rows_cap;
};

/* A MAP_RESULT message, decoded; pointers into the message. */
struct tf_batch_msg {
    struct tf_batch_row row;
    double seconds;
    bool written; /* the results are in the file already */
    const unsigned char *results;
    size_t rlen;
};

/* A batch a rank holds: sent, its result not back yet. */
struct tf_held {
    uint64_t lo, n;
    unsigned losses; /* lost ranks its items were running on before (tf_mapsched_next_ex) */
    bool started;    /* the rank said a thread began it (TF_MSG_STARTED) */
};
struct tf_heldset {
    struct tf_held *v;
    size_t n, cap;
};

/* A rank lost during the map (issue 15): recorded in the result file's attributes. */
struct tf_lost_rank {
    int32_t rank;
    char host[64];
    double time; /* Unix seconds */
};

struct tf_mapmaster {
    struct taskfarm_map *map;
    struct tf_mapsched *sched;
    struct tf_h5map *h5;
    struct tf_journal *journal;
    struct tf_bgsync *bg; /* syncs the result file and journal; NULL: in line */
    struct tf_h5items *items;
    char *jpath, *cpath;
    const char *host;
    uint64_t nitems;
    int nworkers;            /* every rank computes: worker w is rank w */
    int *threads_of;         /* per rank: its compute threads */
    int *outstanding;        /* per rank: batches sent, results not yet back */
    struct tf_heldset *held; /* per rank: those batches */
    /* ranks that die (Open MPI's recovery on, more than one rank; else live is NULL) */
    struct tf_liveness *live; /* when each rank was last heard from */
    bool *is_lost;            /* per rank */
    char (*host_of)[64];      /* per rank, from its TF_MSG_STARTED messages */
    struct tf_lost_rank *lost_ranks;
    int nlost;
    uint64_t items_lost;   /* recorded failed with TASKFARM_ITEM_LOST */
    uint64_t done, failed; /* this run */
    double last_flush;
    struct tf_stopwatch watch; /* signals */
    bool told;                 /* workers were sent STOP */
    int byes;
    int rc;              /* taskfarm_error: the first failure, the run then ends */
    double busy_seconds; /* the master part's own time in the loop */
    struct tf_fails fails;
    struct tf_buf assign, jbuf;
    int old_fd;          /* rebuild: the file the run left, or -1 */
    uint64_t old_offset; /* rebuild: where its results start */
    uint64_t lost;       /* rebuild: journaled items whose bytes were not in the file */
    unsigned char *ibuf;
    size_t ibuf_cap;
    char run_id[64], identity[72];
    /* resume: finished ranges, collected before the pending ones are known */
    struct done_range {
        uint64_t first, count;
    } * ranges;
    size_t nranges, cap_ranges;
    int replay_error;
};

/* mapagent.c: a process's compute threads as a part of the event loop. direct: results go
 * straight into the result file at data_offset. NULL (map->err set) when threads fail. */
struct tf_mapagent;
struct tf_mapagent *tf_mapagent_new(struct taskfarm_map *map, int rank, const char *host,
                                    int nthreads, const struct tf_rank_plan *plan, bool direct,
                                    uint64_t data_offset);
/* A rank the master may declare lost (recovery on, not rank 0): heartbeats, TF_MSG_STARTED, and
 * it leaves when told it was lost or when the master is silent for max(4 timeouts, 60 s). */
void tf_mapagent_watch(struct tf_mapagent *a, double timeout);
struct tf_part tf_mapagent_part(struct tf_mapagent *a);
/* Join the threads and free; returns the agent's own failure (taskfarm_error), if any. */
int tf_mapagent_free(struct tf_mapagent *a);

/* mapbatch.c: the computing side. */
void tf_mapbatch_fail(struct tf_fails *f, uint64_t item, int code, int sig, int rank);
/* Make *p hold at least need bytes (contents not kept). */
void tf_mapbatch_reserve(unsigned char **p, size_t *cap, size_t need);
/* Start a MAP_RESULT message in b; returns room for rbytes of results, zeroed and 16-byte
 * aligned. tf_mapbatch_finish adds the times and the failures. */
unsigned char *tf_mapbatch_begin(struct tf_buf *b, uint64_t lo, uint64_t n, int rank,
                                 const char *host, size_t rbytes, uint64_t flags);
void tf_mapbatch_finish(struct tf_buf *b, double t0, double seconds, const struct tf_fails *f);
bool tf_mapbatch_parse(const void *data, size_t len, struct tf_batch_msg *bm, struct tf_fails *f);
/* Run the function over items [lo, lo+n) into c->msg (see mapbatch.c). */
void tf_mapbatch_compute(struct tf_compute *c, uint64_t lo, uint64_t n);
void tf_mapbatch_fini(struct tf_compute *c);
/* While armed, a crash in the function is reported with its item (stderr, OUT.h5.crashes):
 * guard_on installs the handlers for the process, guard_thread gives each computing thread
 * the stack they report from (a stack overflow needs one of its own). */
void tf_mapbatch_guard_on(const char *output, int rank);
void tf_mapbatch_guard_off(void);
void tf_mapbatch_guard_thread(bool on);

/* mapstore.c: the master's side of storing. Each returns a taskfarm_error, the message in
 * m->map->err. */
int tf_mapstore_setup(struct tf_mapmaster *m, double start);
void tf_mapstore_plan(struct tf_mapmaster *m);
int tf_mapstore_batch(struct tf_mapmaster *m, const void *data, size_t len);
int tf_mapstore_persist(struct tf_mapmaster *m, bool now);
int tf_mapstore_close(struct tf_mapmaster *m, int rc, struct taskfarm_summary *s);
void tf_mapstore_fini(struct tf_mapmaster *m);

#endif
