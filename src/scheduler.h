/* scheduler.h - scheduling policy: which mode a run uses and how many tasks each worker gets
 * when it asks. Plain C with no MPI, so unit tests drive it with simulated workloads.
 *
 * Task ids are handed out in file order, as contiguous batches, so the master can read the
 * task file as a stream. The master asks tf_sched_batch_size(), packs up to that many
 * tasks (fewer when a message would grow too large), then reports what it handed out with
 * tf_sched_assigned() and what came back with tf_sched_completed().
 */
#ifndef TF_SCHED_H
#define TF_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tf_mode { TF_MODE_AUTO = 0, TF_MODE_PROCESS, TF_MODE_POOL };

const char *tf_mode_name(enum tf_mode mode); /* "auto", "process", "pool" */
/* Parses a --mode value; false for anything else. */
bool tf_mode_parse(const char *s, enum tf_mode *out);

struct tf_sched;

/* nworkers >= 1; worker indices run 0..nworkers-1. `requested` may be TF_MODE_AUTO. */
struct tf_sched *tf_sched_new(enum tf_mode requested, uint64_t ntasks, int nworkers);
void tf_sched_free(struct tf_sched *s); /* NULL-safe */

enum tf_mode tf_sched_mode(const struct tf_sched *s);  /* never AUTO */
const char *tf_sched_reason(const struct tf_sched *s); /* why this mode, one sentence */

/* How many tasks to hand `worker` now, 0 when nothing is left for it (send it STOP). */
uint64_t tf_sched_batch_size(const struct tf_sched *s, int worker);
/* The next n ids (from tf_sched_next_id) went to `worker`; n <= tf_sched_batch_size(). */
void tf_sched_assigned(struct tf_sched *s, int worker, uint64_t n);
void tf_sched_completed(struct tf_sched *s, int worker, uint64_t n);

uint64_t tf_sched_next_id(const struct tf_sched *s);
uint64_t tf_sched_outstanding(const struct tf_sched *s); /* assigned, not yet completed */
bool tf_sched_finished(const struct tf_sched *s);        /* all assigned and completed */

#endif
