/* mapthreads.h - the threads that compute a map agent's batches, one per slot. Each takes a
 * batch, runs the user's function over it (mapbatch.c) into its own scratch and message, and
 * hands it back; the agent hears of finished batches through one descriptor it polls in the
 * event loop. No MPI here: the threads never call it (MPI_THREAD_FUNNELED).
 */
#ifndef TF_MAPTHREADS_H
#define TF_MAPTHREADS_H

#include <stdint.h>

#include "slots.h"

struct tf_compute;
struct tf_mapthreads;

/* n threads, thread i computing into c[i] (which stays the caller's), each on every core of
 * the node (plan->node_cpus, undoing a launcher's binding of the process; plan may be NULL).
 * NULL when a thread cannot be started. */
struct tf_mapthreads *tf_mapthreads_start(struct tf_compute *c, int n,
                                          const struct tf_rank_plan *plan);
/* Thread i (idle) computes items [lo, lo + count); their bytes, when they travel, are in
 * c[i].items already. */
void tf_mapthreads_give(struct tf_mapthreads *t, int i, uint64_t lo, uint64_t count);
/* Readable while finished batches wait to be taken. */
int tf_mapthreads_fd(const struct tf_mapthreads *t);
/* The next thread whose batch is done (its message in c[i].msg; the thread is idle again),
 * or -1 when none is. */
int tf_mapthreads_take(struct tf_mapthreads *t);
/* Wait for the batches in hand, then end and join every thread. NULL-safe. */
void tf_mapthreads_stop(struct tf_mapthreads *t);

#endif
