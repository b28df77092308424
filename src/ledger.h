/* ledger.h - the master's record of which tasks are outstanding at which worker, so that it
 * knows what a dead worker held and can drop late messages; and how many workers each task
 * has been lost with. Plain C, no MPI: the master reports what it sent and what came back.
 *
 * A task is outstanding at worker w from tf_ledger_assigned(w, id) until a result or a
 * release of it from w is accepted, or w is declared lost (tf_ledger_take_lost). A message
 * about a task that is not outstanding at its sender - a late result from a worker declared
 * lost, a duplicate, a result for a task already given to another worker - is refused, and
 * the master drops it: each result is accepted at most once, from the worker that holds the
 * task. Every operation is O(1) on average (hash maps, entries from a pool that only grows
 * to the number of tasks in flight at once); tf_ledger_take_lost is O(k log k) for the k tasks
 * the worker held. Loss counters are kept, for the whole run, only for tasks lost at least
 * once.
 */
#ifndef TF_LEDGER_H
#define TF_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_ledger;

/* What the master needs to send a task again when its worker is lost: where it is in the
 * task file (for tf_taskfile_read_at) and its runs so far. */
struct tf_ledger_task {
    uint64_t id, line, offset;
    int32_t attempts; /* as sent: runs before this one */
    bool started;     /* tf_ledger_started was called for it */
    bool ended;       /* and tf_ledger_ended: its run is over, its result on the way */
};

/* Workers are 0..nworkers-1 (nworkers >= 1), as in the scheduler. */
struct tf_ledger *tf_ledger_new(int nworkers);
void tf_ledger_free(struct tf_ledger *l); /* NULL-safe */

/* Task t->id was sent to w (t is copied; `started` is ignored). An id still outstanding at
 * another worker moves to w (the newest assignment is the one whose result is accepted). */
void tf_ledger_assigned(struct tf_ledger *l, int w, const struct tf_ledger_task *t);
/* A result of id came from w: true when id was outstanding at w (accept it; it is no longer
 * outstanding), false otherwise (late, duplicate, or from the wrong worker: drop it). */
bool tf_ledger_result(struct tf_ledger *l, int w, uint64_t id);
/* w gave id back (a steal's answer, a shed): the same rule as a result. */
bool tf_ledger_released(struct tf_ledger *l, int w, uint64_t id);

/* Optional. By default every task a lost worker held counts as lost with it, since the
 * master cannot tell the running ones from those queued behind them. After this call, only
 * those reported with tf_ledger_started count: for a master whose workers say which tasks
 * they started (a queued task was not what killed the node). */
void tf_ledger_track_starts(struct tf_ledger *l);
/* w started id: true when id is outstanding at w. */
bool tf_ledger_started(struct tf_ledger *l, int w, uint64_t id);
/* w's run of id is over, though its result has not come yet: if w is lost now, id goes back
 * (its result went with w) but was not lost with it (it did not kill w). */
bool tf_ledger_ended(struct tf_ledger *l, int w, uint64_t id);

/* w is gone: every task outstanding at it, sorted by id, into *tasks (malloc'd, the caller
 * frees; NULL when none), removed from the ledger, and the loss counter of each (each started
 * one, with tf_ledger_track_starts) incremented. Returns how many. Later messages from w are
 * refused; w may be given tasks again (a worker that came back) and starts from nothing. */
size_t tf_ledger_take_lost(struct tf_ledger *l, int w, struct tf_ledger_task **tasks);
/* How many workers id has been lost with, for the whole run: the master records a task as
 * lost rather than run it again once this reaches its limit (2 by default). */
uint32_t tf_ledger_losses(const struct tf_ledger *l, uint64_t id);

/* Tasks outstanding at w; at all workers; the worker id is outstanding at (-1: none). */
size_t tf_ledger_outstanding(const struct tf_ledger *l, int w);
size_t tf_ledger_total(const struct tf_ledger *l);
int tf_ledger_holder(const struct tf_ledger *l, uint64_t id);

#endif
