/* mapsched.h - batch sizes for an in-process map: which range of items a worker gets next.
 * Plain C, no MPI, so the policy is tested on its own.
 *
 * Batches start at one item and grow (x4) per worker until one takes about `batch_seconds`
 * (measured per item over finished batches), so a map of slow items never hands one worker
 * a long tail, and a map of fast items soon has batches long enough that per-message costs
 * vanish. Towards the end a batch is at most 1/(2 threads) of what is left, so the threads
 * finish together. Resumed maps hand out only the ranges still pending.
 *
 * Ranges given back (a worker was lost, issue 15) go out before the rest. Those that were
 * running when their worker died carry how many lost workers they were running on: they are
 * suspects (one of their items may kill its process) and go out one item at a time, to a
 * worker that holds no other suspect, so that the next death names the item exactly.
 */
#ifndef TF_MAPSCHED_H
#define TF_MAPSCHED_H

#include <stdbool.h>
#include <stdint.h>

struct tf_mapsched;

/* Nothing pending yet: add ranges with tf_mapsched_add. nthreads: compute threads of all
 * workers together (the tail is shared out among them). batch_max >= 1. */
struct tf_mapsched *tf_mapsched_new(int nworkers, int nthreads, double batch_seconds,
                                    uint64_t batch_max);
void tf_mapsched_free(struct tf_mapsched *s);
/* Items [lo, hi) are to be done; ranges are added in increasing order without overlap. */
void tf_mapsched_add(struct tf_mapsched *s, uint64_t lo, uint64_t hi);
/* The next batch for worker (0-based): false when nothing is left (or the map stops). */
bool tf_mapsched_next(struct tf_mapsched *s, int worker, uint64_t *lo, uint64_t *count);
/* The same, and *losses: how many lost workers the batch's items were running on (0: a plain
 * batch). A suspect (losses > 0, one item) is handed out only when may_suspect. */
bool tf_mapsched_next_ex(struct tf_mapsched *s, int worker, bool may_suspect, uint64_t *lo,
                         uint64_t *count, unsigned *losses);
/* Items [lo, lo+count) go back to be handed out again (their worker was lost); losses as
 * above. Any order, any time. */
void tf_mapsched_give_back(struct tf_mapsched *s, uint64_t lo, uint64_t count, unsigned losses);
/* Items given back and not handed out again yet, suspects among them. */
uint64_t tf_mapsched_returned(const struct tf_mapsched *s);
/* A batch of count items took seconds of computing. */
void tf_mapsched_done(struct tf_mapsched *s, uint64_t count, double seconds);
/* No more batches from now on. */
void tf_mapsched_stop(struct tf_mapsched *s);
/* Items not handed out yet. */
uint64_t tf_mapsched_left(const struct tf_mapsched *s);
/* Seconds per item measured so far (0: nothing finished yet). */
double tf_mapsched_per_item(const struct tf_mapsched *s);

#endif
