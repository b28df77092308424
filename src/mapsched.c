/* mapsched.c - batch sizing for in-process maps (see mapsched.h for the policy). */
#include "mapsched.h"

#include <stdlib.h>

#include "util.h"

/* Weight of the newest batch in the per-item estimate: it follows a drifting item cost
 * within a few batches without jumping on one odd batch. */
#define EWMA_WEIGHT 0.3
/* A worker's batches grow at most this much from one to the next: fast enough that a map of
 * cheap items reaches full-size batches in a few round trips (each one a wait for the
 * master), slow enough that a misleading first estimate costs a few batches, not a stall. */
#define GROWTH 4

struct range {
    uint64_t lo, hi;
};

struct tf_mapsched {
    struct range *ranges;
    size_t nranges, cap, cur;
    uint64_t left;
    uint64_t *size; /* per worker: its last batch size */
    int nworkers, nthreads;
    double batch_seconds;
    uint64_t batch_max;
    double per_item; /* seconds, 0: unknown */
    bool stopped;
};

struct tf_mapsched *tf_mapsched_new(int nworkers, int nthreads, double batch_seconds,
                                    uint64_t batch_max)
{
    struct tf_mapsched *s = tf_xcalloc(1, sizeof *s);
    s->nworkers = nworkers > 0 ? nworkers : 1;
    s->nthreads = nthreads > s->nworkers ? nthreads : s->nworkers;
    s->size = tf_xcalloc((size_t)s->nworkers, sizeof *s->size);
    s->batch_seconds = batch_seconds;
    s->batch_max = batch_max > 0 ? batch_max : 1;
    return s;
}

void tf_mapsched_free(struct tf_mapsched *s)
{
    if (s == NULL)
        return;
    free(s->ranges);
    free(s->size);
    free(s);
}

void tf_mapsched_add(struct tf_mapsched *s, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return;
    if (s->nranges > 0 && s->ranges[s->nranges - 1].hi == lo) {
        s->ranges[s->nranges - 1].hi = hi;
    } else {
        if (s->nranges == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 16;
            s->ranges = tf_xrealloc(s->ranges, s->cap * sizeof *s->ranges);
        }
        s->ranges[s->nranges++] = (struct range){lo, hi};
    }
    s->left += hi - lo;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* How many items the worker's next batch should hold, before the pending range cuts it. */
static uint64_t batch_size(const struct tf_mapsched *s, int worker)
{
    uint64_t last = s->size[worker], grow = last ? GROWTH * last : 1;
    uint64_t want = grow;
    if (s->per_item > 0) {
        double fit = s->batch_seconds / s->per_item;
        want = fit >= (double)s->batch_max ? s->batch_max : (uint64_t)fit;
        if (want > grow)
            want = grow; /* one cheap item says little */
    }
    uint64_t tail = s->left / (2 * (uint64_t)s->nthreads);
    if (want > tail)
        want = tail;
    return clamp_u64(want, 1, s->batch_max);
}

bool tf_mapsched_next(struct tf_mapsched *s, int worker, uint64_t *lo, uint64_t *count)
{
    if (s->stopped || s->left == 0 || worker < 0 || worker >= s->nworkers)
        return false;
    while (s->ranges[s->cur].lo == s->ranges[s->cur].hi)
        s->cur++;
    struct range *r = &s->ranges[s->cur];
    uint64_t n = batch_size(s, worker);
    if (n > r->hi - r->lo)
        n = r->hi - r->lo;
    *lo = r->lo;
    *count = n;
    r->lo += n;
    s->left -= n;
    s->size[worker] = n;
    return true;
}

void tf_mapsched_done(struct tf_mapsched *s, uint64_t count, double seconds)
{
    if (count == 0 || !(seconds >= 0))
        return;
    double per = seconds / (double)count;
    s->per_item = s->per_item > 0 ? (1 - EWMA_WEIGHT) * s->per_item + EWMA_WEIGHT * per : per;
    if (s->per_item <= 0)
        s->per_item = 1e-12; /* too fast for the clock: as good as free */
}

void tf_mapsched_stop(struct tf_mapsched *s)
{
    s->stopped = true;
}

uint64_t tf_mapsched_left(const struct tf_mapsched *s)
{
    return s->left;
}

double tf_mapsched_per_item(const struct tf_mapsched *s)
{
    return s->per_item;
}
