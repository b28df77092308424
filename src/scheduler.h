/* scheduler.h - scheduling policy: which mode a run uses, how many tasks a worker gets, who
 * steals from whom, and when a worker may stop. Plain C with no MPI: the master reports
 * events and asks for actions, and unit tests drive the same calls from a simulated cluster.
 *
 * A worker is one process (an MPI rank) that runs several tasks at once, one per slot, from
 * its local queue. New tasks come from the task file in file order (so the master reads it
 * as a stream) or from tasks that a busy worker gave back. Batches are sized per slot: a
 * request says for how many slots the worker wants work. When no new task is left, a
 * request from a worker with a free slot turns into a steal: the worker with the most
 * queued, unstarted tasks (on the same node if any) gives back the thief's share of them
 * (half, between workers of equal slots) for redistribution.
 */
#ifndef TF_SCHED_H
#define TF_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tf_mode { TF_MODE_AUTO = 0, TF_MODE_PROCESS, TF_MODE_POOL };

const char *tf_mode_name(enum tf_mode mode); /* "auto", "process", "pool" */
bool tf_mode_parse(const char *s, enum tf_mode *out);

struct tf_sched;

/* nworkers >= 1; workers are 0..nworkers-1. node_of[w] groups workers by node (NULL: all on
 * one node), slots_of[w] >= 1 is how many tasks w runs at once (NULL: one each); the arrays
 * are copied. `requested` may be TF_MODE_AUTO. */
struct tf_sched *tf_sched_new(enum tf_mode requested, uint64_t ntasks, int nworkers,
                              const int *node_of, const int *slots_of);
void tf_sched_free(struct tf_sched *s); /* NULL-safe */

/* Diagnostic: never steal (idle workers stop as soon as no new task is left), to measure
 * what stealing buys. Workers must then not shed either. */
void tf_sched_disable_stealing(struct tf_sched *s);

/* Workers may die (recovery is on): an idle worker is sent STOP only once no task is held by
 * any worker, rather than as soon as nothing is left to hand out or steal, so that it is
 * still there to take over the tasks of a worker lost at the end of the run. */
void tf_sched_expect_losses(struct tf_sched *s);

/* Durations are known in advance (--durations-from): batches are sized by this mean until
 * tasks of this run have finished. */
void tf_sched_hint_mean(struct tf_sched *s, double mean_task_seconds);

enum tf_mode tf_sched_mode(const struct tf_sched *s);  /* never AUTO */
const char *tf_sched_reason(const struct tf_sched *s); /* why this mode, one sentence */

/* ---- events, reported by the master ---- */

/* w asks for work for `want` of its slots (it may still have tasks queued: that is
 * prefetch). A request already pending takes the new `want`. */
void tf_sched_on_request(struct tf_sched *s, int w, int want);
/* n tasks were handed to w (an ASSIGN). `from_stream` says they were new, not given back. */
void tf_sched_on_assign(struct tf_sched *s, int w, uint64_t n, bool from_stream);
/* w finished n tasks, busy for `seconds` in all. */
void tf_sched_on_done(struct tf_sched *s, int w, uint64_t n, double seconds);
/* w gave n tasks back: the answer to a steal (n may be 0), or unasked (`shed`), because a
 * long task held them; w then no longer counts as asking for work. */
void tf_sched_on_release(struct tf_sched *s, int w, uint64_t n, bool shed);
/* n finished tasks go round again (a retry): they wait with the given-back ones. They
 * failed on worker `failed_on` (-1: none), so they go to another worker when one asks, and
 * to that one only when it has nothing else to do (no new task, nothing to steal) and no
 * other worker is asking. */
void tf_sched_on_requeue(struct tf_sched *s, uint64_t n, int failed_on);
/* A retry that failed on `failed_on` was handed out (besides tf_sched_on_assign). */
void tf_sched_on_retry_assigned(struct tf_sched *s, int failed_on);
/* Worker w is gone for good (dead or unreachable): it is never again given work, asked to
 * give tasks back or sent STOP, and counts as stopped (tf_sched_stopped, _worker_stopped) and
 * no longer in tf_sched_workers_left. Its pending request is dropped, a steal from it is
 * resolved (others stop waiting for its answer), and in the Process model its share of the
 * new tasks goes to the others, by slots. Of the tasks it held (queued, running, or results
 * not yet in: the master's ledger says which), `n_back` go back to the given-back pool for
 * any worker, not as retries; the rest count as finished (the master recorded them as lost,
 * not to run again). Later calls about w (results, releases, reports, requests) change
 * nothing, as the master drops its late messages. Never tf_sched_on_assign to a lost worker.
 * Without any worker left, nothing more is handed out: the master takes over or stops. */
void tf_sched_on_worker_lost(struct tf_sched *s, int w, uint64_t n_back);
bool tf_sched_worker_lost(const struct tf_sched *s, int w);
/* Workers that may still be given work: neither sent STOP nor lost. */
int tf_sched_workers_left(const struct tf_sched *s);
/* Hand out nothing more (a stop signal, --max-failures, the walltime): each worker is sent
 * STOP once it holds no task. The master asks workers to give their queues back. */
void tf_sched_stop_new(struct tf_sched *s);
bool tf_sched_stopping(const struct tf_sched *s);
/* Mean duration of the tasks done so far (or the hint), 0 when unknown. */
double tf_sched_mean(const struct tf_sched *s);

/* What w said of itself in its latest message: tasks queued and not started, and how many
 * tasks it has received in all (so tasks still travelling to it are counted too). */
void tf_sched_on_report(struct tf_sched *s, int w, uint64_t queued, uint64_t received_total);
/* w's latest message says it would now take work for `want` of its slots: a request of its
 * still waiting to be answered is for that many (nothing when none is waiting). */
void tf_sched_on_want(struct tf_sched *s, int w, int want);
/* Slots of worker w, total slots, as given to tf_sched_new. */
int tf_sched_slots(const struct tf_sched *s, int w);
int tf_sched_total_slots(const struct tf_sched *s);

/* ---- actions ---- */

enum tf_action_kind { TF_ACT_NONE, TF_ACT_ASSIGN, TF_ACT_STEAL, TF_ACT_STOP };

struct tf_action {
    enum tf_action_kind kind;
    int worker;         /* ASSIGN/STOP: who; STEAL: the thief it is for */
    int victim;         /* STEAL: who gives tasks back */
    uint64_t count;     /* ASSIGN: at most this many; STEAL: ask for this many */
    int thief_slots;    /* STEAL: the thief's slots, which size the victim's answer */
    bool from_returned; /* ASSIGN: hand out tasks given back, not new ones */
};

/* The next thing to do, or false when nothing is to be done until the next event. After an
 * ASSIGN the master reports what it really sent with tf_sched_on_assign (it may send fewer,
 * to bound message size). STEAL and STOP take effect when returned. */
bool tf_sched_next_action(struct tf_sched *s, struct tf_action *a);

/* ---- state ---- */

uint64_t tf_sched_unassigned(const struct tf_sched *s); /* new + given back, not yet handed out */
bool tf_sched_finished(const struct tf_sched *s);       /* every task done */
int tf_sched_stopped(const struct tf_sched *s);         /* workers sent STOP, or lost */
bool tf_sched_worker_stopped(const struct tf_sched *s, int w); /* sent STOP, or lost */
uint64_t tf_sched_steals(const struct tf_sched *s);            /* steals started */

/* ---- the worker's side: what a process with slots does on its own ---- */

/* What a worker knows of itself. */
struct tf_agent_state {
    int slots;         /* tasks it runs at once */
    int busy;          /* slots running a task */
    uint64_t queued;   /* tasks waiting in its queue */
    double mean;       /* mean duration of the tasks it finished, 0: unknown */
    double newest_run; /* seconds the most recently started running task has run */
};

/* How many queued tasks to give back when asked for `asked` by a thief with thief_slots:
 * never more than the thief's share of the movable ones (half, between equal workers), so
 * thief and victim end up with similar amounts per slot. */
uint64_t tf_sched_release_count(uint64_t asked, uint64_t movable, int thief_slots, int own_slots);
/* Send finished results now rather than with the next request? Keeps the master's view of
 * queues fresh, and finished results safe, for long batches: true once the oldest result
 * waiting has waited REPORT_SECONDS. */
bool tf_sched_should_report(uint64_t unreported, double oldest_waiting_seconds);

/* For how many slots to ask for work now (0: do not ask): every slot that would be free with
 * nothing queued for it; or, when the process finishes tasks often (mean / slots under
 * 100 ms), all of them once the queue would run out within the time a request takes to be
 * answered (prefetch, so the next batch is there when needed) - but not while every slot
 * runs a task far longer than usual (it would only wait). */
int tf_sched_want(const struct tf_agent_state *a);
/* Give queued tasks back unasked? True when every slot is held by a task that has run so
 * much longer than usual that the tasks behind them would be better started elsewhere. */
bool tf_sched_should_shed(const struct tf_agent_state *a);

#endif
