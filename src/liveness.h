/* liveness.h - who has been heard from lately. The master watches its workers (and a worker
 * its master) by the time of the last message from each; a process with nothing to say sends
 * a heartbeat when it has been quiet for a quarter of the timeout. Plain C, no MPI: callers
 * pass the time, so the unit tests run the clock.
 */
#ifndef TF_LIVENESS_H
#define TF_LIVENESS_H

#include <stdbool.h>
#include <stddef.h>

struct tf_liveness;

/* Watch npeers peers (0..npeers-1), all heard from at `now`; timeout <= 0 watches nobody. */
struct tf_liveness *tf_liveness_new(int npeers, double timeout, double now);
void tf_liveness_free(struct tf_liveness *l);
/* A message from peer came at `now`. */
void tf_liveness_heard(struct tf_liveness *l, int peer, double now);
/* Stop watching peer (the watcher's own process, a worker stopped or already lost). */
void tf_liveness_ignore(struct tf_liveness *l, int peer);
/* A watched peer silent for longer than the timeout, each only once (-1: none). Time the
 * watcher itself did not look (calls further apart than a quarter of the timeout: its own
 * process was busy, stopped or starved) is not counted against anyone, so a master that
 * spent ten seconds in a slow flush does not then declare every worker lost. */
int tf_liveness_check(struct tf_liveness *l, double now);
/* How long peer has been silent, as tf_liveness_check counts it. */
double tf_liveness_silence(const struct tf_liveness *l, int peer, double now);
/* When tf_liveness_check should run again (0: never). */
double tf_liveness_deadline(const struct tf_liveness *l);

/* A worker's watch on its master: the master answers every heartbeat, so only a dead one is
 * silent for 4 worker timeouts (at least a minute, so a master slow in a flush is not left). */
double tf_liveness_master_timeout(double worker_timeout);
/* The master, last heard from at `last_heard`, counts as gone at `now`: *why (n bytes) says so
 * for the log line. */
bool tf_liveness_master_gone(double last_heard, double now, double limit, char *why, size_t n);

/* The sending side: say something when nothing was sent for `period` seconds. */
struct tf_heartbeat {
    double period; /* <= 0: never */
    double last_sent;
};
static inline bool tf_heartbeat_due(const struct tf_heartbeat *h, double now)
{
    return h->period > 0 && now - h->last_sent >= h->period;
}
static inline double tf_heartbeat_deadline(const struct tf_heartbeat *h)
{
    return h->period > 0 ? h->last_sent + h->period : 0;
}

#endif
