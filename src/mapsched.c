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

struct back {
    uint64_t lo, hi;
    unsigned losses;
};

struct tf_mapsched {
    struct back *back; /* given back: handed out first (plain ones before suspects) */
    size_t nback, cap_back;
    uint64_t nreturned;
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
    free(s->back);
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

/* A batch cut from the front of given-back range k. */
static bool from_back(struct tf_mapsched *s, size_t k, int worker, uint64_t *lo, uint64_t *count,
                      unsigned *losses)
{
    struct back *b = &s->back[k];
    uint64_t n = b->losses > 0 ? 1 : batch_size(s, worker);
    if (n > b->hi - b->lo)
        n = b->hi - b->lo;
    *lo = b->lo;
    *count = n;
    *losses = b->losses;
    b->lo += n;
    s->left -= n;
    s->nreturned -= n;
    if (b->losses == 0)
        s->size[worker] = n;
    if (b->lo == b->hi)
        s->back[k] = s->back[--s->nback];
    return true;
}

bool tf_mapsched_next_ex(struct tf_mapsched *s, int worker, bool may_suspect, uint64_t *lo,
                         uint64_t *count, unsigned *losses)
{
    *losses = 0;
    if (s->stopped || s->left == 0 || worker < 0 || worker >= s->nworkers)
        return false;
    size_t suspect = s->nback;
    for (size_t k = 0; k < s->nback; k++) {
        if (s->back[k].losses == 0)
            return from_back(s, k, worker, lo, count, losses);
        if (suspect == s->nback || s->back[k].losses > s->back[suspect].losses)
            suspect = k; /* the likeliest killer first: it is named sooner */
    }
    if (suspect < s->nback && may_suspect)
        return from_back(s, suspect, worker, lo, count, losses);
    if (s->left == s->nreturned)
        return false; /* only suspects left, and this worker may not take one now */
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

bool tf_mapsched_next(struct tf_mapsched *s, int worker, uint64_t *lo, uint64_t *count)
{
    unsigned losses;
    return tf_mapsched_next_ex(s, worker, true, lo, count, &losses);
}

void tf_mapsched_give_back(struct tf_mapsched *s, uint64_t lo, uint64_t count, unsigned losses)
{
    if (count == 0)
        return;
    if (s->nback == s->cap_back) {
        s->cap_back = s->cap_back ? 2 * s->cap_back : 16;
        s->back = tf_xrealloc(s->back, s->cap_back * sizeof *s->back);
    }
    s->back[s->nback++] = (struct back){lo, lo + count, losses};
    s->left += count;
    s->nreturned += count;
}

uint64_t tf_mapsched_returned(const struct tf_mapsched *s)
{
    return s->nreturned;
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
