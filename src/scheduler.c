/* scheduler.c - the Process model (a fixed share per worker, handed out at once) and the Pool
 * (guided self-scheduling: each batch is a fraction of what is left, so batches are large
 * early, single tasks at the end, and the tail stays short).
 *
 * Invariant: 0 <= completed <= next_id <= ntasks; every id below next_id was handed to
 * exactly one worker, and the run is finished when completed == ntasks.
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* RATIONALE: GSS with divisor 2*P is the classic "factoring" compromise: half of what is
 * left is spread over the workers each round, so no batch can hold more than about half a
 * worker's fair share of the remaining work. The cap bounds message size and the work lost
 * to a worker that dies with its batch. */
#define POOL_DIVISOR   2
#define POOL_MAX_BATCH 4096

struct tf_sched {
    enum tf_mode mode;
    const char *reason;
    uint64_t ntasks, next_id, completed;
    int nworkers;
    uint64_t *share_left; /* process mode: ids each worker may still receive */
};

const char *tf_mode_name(enum tf_mode mode)
{
    switch (mode) {
    case TF_MODE_PROCESS:
        return "process";
    case TF_MODE_POOL:
        return "pool";
    default:
        return "auto";
    }
}

bool tf_mode_parse(const char *s, enum tf_mode *out)
{
    static const enum tf_mode all[] = {TF_MODE_AUTO, TF_MODE_PROCESS, TF_MODE_POOL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, tf_mode_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

struct tf_sched *tf_sched_new(enum tf_mode requested, uint64_t ntasks, int nworkers)
{
    struct tf_sched *s = tf_xcalloc(1, sizeof *s);
    s->ntasks = ntasks;
    s->nworkers = nworkers;
    s->mode = requested;
    if (requested == TF_MODE_PROCESS) {
        s->reason = "requested with --mode process";
    } else if (requested == TF_MODE_POOL) {
        s->reason = "requested with --mode pool";
    } else if (ntasks <= (uint64_t)nworkers) {
        s->mode = TF_MODE_PROCESS;
        s->reason = "no more tasks than workers: each task starts at once on its own worker";
    } else {
        s->mode = TF_MODE_POOL;
        s->reason = "more tasks than workers: dynamic batches balance uneven task durations";
    }
    if (s->mode == TF_MODE_PROCESS) {
        s->share_left = tf_xcalloc((size_t)nworkers, sizeof *s->share_left);
        for (int w = 0; w < nworkers; w++)
            s->share_left[w] =
                ntasks / (uint64_t)nworkers + ((uint64_t)w < ntasks % (uint64_t)nworkers);
    }
    return s;
}

void tf_sched_free(struct tf_sched *s)
{
    if (s == NULL)
        return;
    free(s->share_left);
    free(s);
}

enum tf_mode tf_sched_mode(const struct tf_sched *s)
{
    return s->mode;
}

const char *tf_sched_reason(const struct tf_sched *s)
{
    return s->reason;
}

uint64_t tf_sched_batch_size(const struct tf_sched *s, int worker)
{
    uint64_t left = s->ntasks - s->next_id;
    if (left == 0)
        return 0;
    if (s->mode == TF_MODE_PROCESS)
        return s->share_left[worker] < left ? s->share_left[worker] : left;
    uint64_t div = (uint64_t)s->nworkers * POOL_DIVISOR;
    uint64_t n = (left + div - 1) / div;
    return n > POOL_MAX_BATCH ? POOL_MAX_BATCH : n;
}

void tf_sched_assigned(struct tf_sched *s, int worker, uint64_t n)
{
    s->next_id += n;
    if (s->share_left)
        s->share_left[worker] -= n;
}

void tf_sched_completed(struct tf_sched *s, int worker, uint64_t n)
{
    (void)worker;
    s->completed += n;
}

uint64_t tf_sched_next_id(const struct tf_sched *s)
{
    return s->next_id;
}

uint64_t tf_sched_outstanding(const struct tf_sched *s)
{
    return s->next_id - s->completed;
}

bool tf_sched_finished(const struct tf_sched *s)
{
    return s->completed == s->ntasks;
}
