/* liveness.c - last-heard times of peers and the timeout check (see liveness.h). O(1) per
 * message; a check scans every watched peer, a few times per timeout.
 */
#include "liveness.h"

#include <stdio.h>
#include <stdlib.h>

#include "util.h"

struct tf_liveness {
    int n;
    double timeout;
    double *heard; /* < 0: not watched */
    double last_look;
};

struct tf_liveness *tf_liveness_new(int npeers, double timeout, double now)
{
    struct tf_liveness *l = tf_xcalloc(1, sizeof *l);
    l->n = npeers > 0 ? npeers : 0;
    l->timeout = timeout;
    l->heard = tf_xcalloc((size_t)l->n + 1, sizeof *l->heard);
    for (int i = 0; i < l->n; i++)
        l->heard[i] = timeout > 0 ? now : -1;
    l->last_look = now;
    return l;
}

void tf_liveness_free(struct tf_liveness *l)
{
    if (l == NULL)
        return;
    free(l->heard);
    free(l);
}

void tf_liveness_heard(struct tf_liveness *l, int peer, double now)
{
    if (l && peer >= 0 && peer < l->n && l->heard[peer] >= 0 && now > l->heard[peer])
        l->heard[peer] = now;
}

void tf_liveness_ignore(struct tf_liveness *l, int peer)
{
    if (l && peer >= 0 && peer < l->n)
        l->heard[peer] = -1;
}

/* The watcher was away for `away` seconds more than it should have been: nobody's silence
 * grows by that. */
static void forgive(struct tf_liveness *l, double away)
{
    for (int i = 0; i < l->n; i++)
        if (l->heard[i] >= 0)
            l->heard[i] += away;
}

int tf_liveness_check(struct tf_liveness *l, double now)
{
    if (l == NULL || l->timeout <= 0)
        return -1;
    double quarter = l->timeout / 4;
    if (now - l->last_look > quarter)
        forgive(l, now - l->last_look - quarter);
    l->last_look = now;
    for (int i = 0; i < l->n; i++)
        if (l->heard[i] >= 0 && now - l->heard[i] > l->timeout) {
            l->heard[i] = -1; /* once */
            return i;
        }
    return -1;
}

double tf_liveness_silence(const struct tf_liveness *l, int peer, double now)
{
    if (l == NULL || peer < 0 || peer >= l->n || l->heard[peer] < 0)
        return 0;
    return now - l->heard[peer];
}

double tf_liveness_deadline(const struct tf_liveness *l)
{
    if (l == NULL || l->timeout <= 0)
        return 0;
    return l->last_look + l->timeout / 8; /* looks well within the quarter it forgives */
}

double tf_liveness_master_timeout(double worker_timeout)
{
    double t = 4 * worker_timeout;
    return t > 60.0 ? t : 60.0;
}

bool tf_liveness_master_gone(double last_heard, double now, double limit, char *why, size_t n)
{
    if (now - last_heard <= limit)
        return false;
    snprintf(why, n, "no word from the master (rank 0) for %.0f s", now - last_heard);
    return true;
}
