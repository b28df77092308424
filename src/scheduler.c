/* scheduler.c - the Process model (a fixed share per worker, handed out at once), the Pool
 * (guided self-scheduling with a floor from observed durations), and stealing, which
 * balances the end of every run whatever the mode.
 *
 * Counting: for each worker, outstanding = assigned - done - released: tasks it holds,
 * running or queued, or whose results are still travelling. The master's estimate of a
 * worker's queue (reported queue + tasks sent since the report) never undercounts, so a
 * worker is stopped only when no task is queued anywhere and no steal is under way; by then
 * its outstanding count is 0, so every result it produced has arrived.
 *
 * A lost worker (tf_sched_on_worker_lost) counts as stopped from then on and holds nothing:
 * what it held goes round again through the given-back pool, or, for the tasks the master
 * records as lost, counts as finished (`settled`).
 */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* RATIONALE: GSS with divisor 2*P (factoring): half of what is left is spread over the
 * workers each round, so a batch never holds more than half a fair share of the remaining
 * work. The cap bounds message size and what a crashed worker takes down with it. */
#define POOL_DIVISOR   2
#define POOL_MAX_BATCH 4096
/* A batch should keep a worker busy at least this long, so that messages stay a small
 * fraction of the work even for millisecond tasks. */
#define MIN_BATCH_SECONDS 0.02
/* ... and at most about this long, so queues stay short and results flow back steadily. */
#define MAX_BATCH_SECONDS 0.25
/* Before any duration is known: a task may take a millisecond or an hour. */
#define INITIAL_BATCH 2
/* Ask for the next batch when the queue would run dry within this time: a round trip to
 * the master costs well under this even on an oversubscribed node. */
#define PREFETCH_SECONDS  0.05
#define PREFETCH_MAX_MEAN 0.1
/* Finished results wait at most about this long on a worker before being sent. */
#define REPORT_SECONDS 0.25
/* A task running longer than SHED_FACTOR times the mean (and SHED_MIN_SECONDS) is "long":
 * the tasks queued behind it go back to the master for others to start. */
#define SHED_FACTOR      4.0
#define SHED_MIN_SECONDS 0.5

struct worker_state {
    uint64_t assigned, done, released;
    uint64_t reported_queued, reported_received;
    uint64_t share_left; /* Process model: new tasks this worker may still receive */
    int node;
    int slots;
    int want;     /* pending: for how many slots */
    bool pending; /* asked for work, not yet answered */
    bool stopped;
    bool steal_inflight; /* asked to give tasks back, has not answered yet */
    bool lost;           /* gone for good: counts as stopped, is never asked anything */
    uint64_t avoided;    /* retries waiting that failed here: another worker should run them */
};

struct tf_sched {
    enum tf_mode mode;
    const char *reason;
    uint64_t ntasks;
    uint64_t next_new; /* new tasks handed out so far (file order) */
    uint64_t returned; /* given back, waiting to be handed out again */
    uint64_t done_total;
    uint64_t settled;    /* held by lost workers and not run again (recorded as lost) */
    uint64_t held_total; /* outstanding summed over the workers */
    double busy_seconds; /* summed over done tasks, for the mean duration */
    double prior_mean;   /* known before the run, or 0 */
    bool no_stealing;
    bool stopping;      /* hand out nothing more */
    bool expect_losses; /* keep idle workers until every task is in: one may have to take over */
    uint64_t requeued;  /* done tasks that went round again */
    uint64_t steals;
    int steals_inflight;
    int nworkers, stopped, npending, cursor; /* stopped: sent STOP or lost */
    int total_slots, live_slots, lost;
    struct worker_state *w;
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

static void choose_mode(struct tf_sched *s, enum tf_mode requested)
{
    s->mode = requested;
    if (requested == TF_MODE_PROCESS) {
        s->reason = "requested with --mode process";
    } else if (requested == TF_MODE_POOL) {
        s->reason = "requested with --mode pool";
    } else if (s->ntasks <= (uint64_t)s->total_slots) {
        s->mode = TF_MODE_PROCESS;
        s->reason = "no more tasks than slots: each task starts at once in a slot of its own";
    } else {
        s->mode = TF_MODE_POOL;
        s->reason = "more tasks than slots: batches sized to what is left balance uneven "
                    "durations";
    }
}

/* Process model: worker i's share of the tasks, in proportion to its slots (the first
 * workers take the remainder, a task each, so the shares add up to ntasks). */
static void process_shares(struct tf_sched *s)
{
    uint64_t given = 0, total = (uint64_t)s->total_slots;
    for (int i = 0; i < s->nworkers; i++) {
        unsigned __int128 share = (unsigned __int128)s->ntasks * (uint64_t)s->w[i].slots / total;
        s->w[i].share_left = (uint64_t)share;
        given += (uint64_t)share;
    }
    for (int i = 0; given < s->ntasks; i = (i + 1) % s->nworkers, given++)
        s->w[i].share_left++;
}

struct tf_sched *tf_sched_new(enum tf_mode requested, uint64_t ntasks, int nworkers,
                              const int *node_of, const int *slots_of)
{
    struct tf_sched *s = tf_xcalloc(1, sizeof *s);
    s->ntasks = ntasks;
    s->nworkers = nworkers;
    s->w = tf_xcalloc((size_t)nworkers, sizeof *s->w);
    for (int i = 0; i < nworkers; i++) {
        s->w[i].node = node_of ? node_of[i] : 0;
        s->w[i].slots = slots_of && slots_of[i] > 0 ? slots_of[i] : 1;
        s->total_slots += s->w[i].slots;
    }
    s->live_slots = s->total_slots;
    choose_mode(s, requested);
    process_shares(s);
    return s;
}

void tf_sched_free(struct tf_sched *s)
{
    if (s == NULL)
        return;
    free(s->w);
    free(s);
}

void tf_sched_disable_stealing(struct tf_sched *s)
{
    s->no_stealing = true;
}

void tf_sched_expect_losses(struct tf_sched *s)
{
    s->expect_losses = true;
}

void tf_sched_hint_mean(struct tf_sched *s, double mean_task_seconds)
{
    s->prior_mean = mean_task_seconds;
}

enum tf_mode tf_sched_mode(const struct tf_sched *s)
{
    return s->mode;
}

const char *tf_sched_reason(const struct tf_sched *s)
{
    return s->reason;
}

/* ---- events ----------------------------------------------------------------------------- */

void tf_sched_on_request(struct tf_sched *s, int w, int want)
{
    struct worker_state *ws = &s->w[w];
    if (ws->stopped)
        return;
    ws->want = want < 1 ? 1 : (want > ws->slots ? ws->slots : want);
    if (!ws->pending) {
        ws->pending = true;
        s->npending++;
    }
}

void tf_sched_on_assign(struct tf_sched *s, int w, uint64_t n, bool from_stream)
{
    struct worker_state *ws = &s->w[w];
    ws->assigned += n;
    s->held_total += n;
    if (from_stream) {
        s->next_new += n;
        ws->share_left = ws->share_left > n ? ws->share_left - n : 0;
    } else {
        s->returned -= n;
    }
}

void tf_sched_on_done(struct tf_sched *s, int w, uint64_t n, double seconds)
{
    if (s->w[w].lost)
        return; /* what it held was settled when it was lost */
    s->w[w].done += n;
    s->held_total -= n;
    s->done_total += n;
    s->busy_seconds += seconds;
}

void tf_sched_on_release(struct tf_sched *s, int w, uint64_t n, bool shed)
{
    if (s->w[w].lost)
        return;
    s->w[w].released += n;
    s->held_total -= n;
    s->returned += n;
    if (shed && s->w[w].pending) {
        s->w[w].pending = false;
        s->npending--;
    }
    if (s->w[w].steal_inflight) {
        s->w[w].steal_inflight = false;
        s->steals_inflight--;
    }
}

void tf_sched_on_requeue(struct tf_sched *s, uint64_t n, int failed_on)
{
    s->returned += n;
    s->requeued += n;
    if (failed_on >= 0 && failed_on < s->nworkers)
        s->w[failed_on].avoided += n;
}

void tf_sched_on_retry_assigned(struct tf_sched *s, int failed_on)
{
    if (failed_on >= 0 && failed_on < s->nworkers && s->w[failed_on].avoided > 0)
        s->w[failed_on].avoided--;
}

void tf_sched_stop_new(struct tf_sched *s)
{
    s->stopping = true;
}

bool tf_sched_stopping(const struct tf_sched *s)
{
    return s->stopping;
}

double tf_sched_mean(const struct tf_sched *s)
{
    return s->done_total > 0 ? s->busy_seconds / (double)s->done_total : s->prior_mean;
}

void tf_sched_on_report(struct tf_sched *s, int w, uint64_t queued, uint64_t received_total)
{
    if (s->w[w].lost)
        return;
    s->w[w].reported_queued = queued;
    s->w[w].reported_received = received_total;
}

void tf_sched_on_want(struct tf_sched *s, int w, int want)
{
    struct worker_state *ws = &s->w[w];
    if (ws->pending && want > 0)
        ws->want = want > ws->slots ? ws->slots : want;
}

int tf_sched_slots(const struct tf_sched *s, int w)
{
    return s->w[w].slots;
}

int tf_sched_total_slots(const struct tf_sched *s)
{
    return s->total_slots;
}

/* ---- decisions -------------------------------------------------------------------------- */

static uint64_t outstanding(const struct worker_state *ws)
{
    return ws->assigned - ws->done - ws->released;
}

/* Whether w has a slot that nothing it holds will fill. */
static bool has_room(const struct worker_state *ws)
{
    return outstanding(ws) < (uint64_t)ws->slots;
}

/* Queued and not started, as far as the master can tell (never less than the truth). */
static uint64_t queued_estimate(const struct worker_state *ws)
{
    uint64_t travelling =
        ws->assigned > ws->reported_received ? ws->assigned - ws->reported_received : 0;
    uint64_t q = ws->reported_queued + travelling;
    uint64_t out = outstanding(ws);
    return q < out ? q : out;
}

static uint64_t new_left(const struct tf_sched *s)
{
    return s->ntasks - s->next_new;
}

/* Given-back tasks w may take: all but the retries of tasks that failed on w. */
static uint64_t returned_for(const struct tf_sched *s, int w)
{
    return s->returned > s->w[w].avoided ? s->returned - s->w[w].avoided : 0;
}

/* Tasks for one slot: a fraction of what is left per slot of the whole run, bounded by
 * durations once they are known. */
static uint64_t pool_batch_per_slot(const struct tf_sched *s)
{
    int slots = s->live_slots > 0 ? s->live_slots : s->total_slots;
    uint64_t left = new_left(s), div = (uint64_t)slots * POOL_DIVISOR;
    uint64_t n = (left + div - 1) / div; /* guided self-scheduling */
    double mean = s->done_total > 0 ? s->busy_seconds / (double)s->done_total : s->prior_mean;
    if (mean <= 0) {
        n = n < INITIAL_BATCH ? n : INITIAL_BATCH; /* durations unknown: start small */
    } else {
        /* Observed durations bound the batch from both sides: long enough to amortise a
         * round trip, short enough that no task waits long in a queue behind others. */
        double lo = MIN_BATCH_SECONDS / mean, hi = MAX_BATCH_SECONDS / mean;
        if ((double)n > hi)
            n = hi < 1 ? 1 : (uint64_t)hi;
        if ((double)n < lo)
            n = (uint64_t)lo + 1;
    }
    return n < 1 ? 1 : n;
}

/* A batch for worker w's `want` slots. */
static uint64_t pool_batch(const struct tf_sched *s, const struct worker_state *ws)
{
    uint64_t per = pool_batch_per_slot(s), left = new_left(s);
    uint64_t n = per > POOL_MAX_BATCH ? POOL_MAX_BATCH : per * (uint64_t)ws->want;
    return n > POOL_MAX_BATCH ? POOL_MAX_BATCH : (n > left ? left : n);
}

/* What one scan over the pending workers computes once, so a scan costs O(workers) rather
 * than O(workers^2): thousands of ranks must not make the master the bottleneck. */
struct scan {
    int pending;         /* workers asking for work */
    int idle;            /* pending workers with a slot that nothing they hold will fill */
    int idle_open;       /* ... of which some given-back task may go to */
    int queued_anywhere; /* -1 not computed yet, else 0 or 1 */
    bool no_victim;      /* a victim search found none (it would find none for others) */
};

static struct scan scan_pending(const struct tf_sched *s)
{
    struct scan sc = {.queued_anywhere = -1};
    for (int i = 0; i < s->nworkers; i++) {
        if (!s->w[i].pending || s->w[i].stopped)
            continue;
        sc.pending++;
        if (has_room(&s->w[i])) {
            sc.idle++;
            sc.idle_open += returned_for(s, i) > 0;
        }
    }
    return sc;
}

/* How many tasks to hand w now, and from where; 0 when nothing is meant for it. */
static uint64_t batch_size(const struct tf_sched *s, int w, const struct scan *sc,
                           bool *from_returned)
{
    /* Tasks given back go to idle workers first: a busy worker asking ahead must not take
     * what was stolen for an idle one. A retry avoids the worker it failed on, so a busy
     * worker does take retries when the only idle ones are those they failed on. */
    *from_returned = false;
    uint64_t mine = returned_for(s, w);
    if (mine > 0 && has_room(&s->w[w])) {
        uint64_t k = (uint64_t)(sc->idle_open > 0 ? sc->idle_open : 1);
        *from_returned = true;
        return (mine + k - 1) / k;
    }
    if (mine > 0 && sc->idle_open == 0) {
        /* Asking ahead, busy: its share by slots, not all - a dead worker's whole queue
         * must not pile up behind one other worker. */
        uint64_t live = (uint64_t)(s->live_slots > 0 ? s->live_slots : 1);
        *from_returned = true;
        return (mine * (uint64_t)s->w[w].slots + live - 1) / live;
    }
    if (new_left(s) == 0)
        return 0;
    if (s->mode == TF_MODE_PROCESS)
        return s->w[w].share_left < new_left(s) ? s->w[w].share_left : new_left(s);
    return pool_batch(s, &s->w[w]);
}

static int pick_victim(const struct tf_sched *s, int thief)
{
    int best = -1, best_local = -1;
    uint64_t q_best = 0, q_local = 0;
    for (int v = 0; v < s->nworkers; v++) {
        const struct worker_state *ws = &s->w[v];
        if (v == thief || ws->stopped || ws->steal_inflight)
            continue;
        uint64_t q = queued_estimate(ws);
        /* Only tasks waiting behind work in progress are worth moving: a worker holding
         * nothing but its queue starts the head of it at once, and stealing that would
         * only pass tasks around. */
        if (outstanding(ws) <= q)
            continue;
        if (q > q_best)
            best = v, q_best = q;
        if (ws->node == s->w[thief].node && q > q_local)
            best_local = v, q_local = q;
    }
    return best_local >= 0 ? best_local : best;
}

static bool work_queued_anywhere(const struct tf_sched *s)
{
    for (int v = 0; v < s->nworkers; v++)
        if (queued_estimate(&s->w[v]) > 0)
            return true;
    return false;
}

/* The decision for one pending worker; false when it must wait. */
static bool decide(struct tf_sched *s, int w, struct scan *sc, struct tf_action *a)
{
    struct worker_state *ws = &s->w[w];
    if (s->stopping) {
        if (outstanding(ws) > 0)
            return false; /* its running task finishes or is stopped; then it asks again */
        goto stop;
    }
    bool from_returned;
    uint64_t n = batch_size(s, w, sc, &from_returned);
    if (n > 0) {
        *a = (struct tf_action){.kind = TF_ACT_ASSIGN,
                                .worker = w,
                                .victim = -1,
                                .count = n,
                                .from_returned = from_returned};
        ws->pending = false;
        s->npending--;
        return true;
    }
    if (!has_room(ws) || new_left(s) > 0)
        return false; /* its slots are busy, or others' shares are still being sent */
    if (s->no_stealing && s->returned == 0)
        goto idle;
    int v = -1;
    if (!s->no_stealing && s->steals_inflight < sc->idle && !sc->no_victim) {
        v = pick_victim(s, w);
        sc->no_victim = v < 0;
    }
    if (v >= 0) {
        /* The thief's share of the victim's queue, by slots: half between equal workers. */
        uint64_t q = queued_estimate(&s->w[v]), t = (uint64_t)ws->slots;
        uint64_t all = t + (uint64_t)s->w[v].slots;
        *a = (struct tf_action){.kind = TF_ACT_STEAL,
                                .worker = w,
                                .victim = v,
                                .count = (q * t + all - 1) / all,
                                .thief_slots = ws->slots};
        s->w[v].steal_inflight = true;
        s->steals_inflight++;
        s->steals++;
        return true;
    }
    if (sc->queued_anywhere < 0)
        sc->queued_anywhere = work_queued_anywhere(s);
    if (s->steals_inflight > 0 || sc->queued_anywhere)
        return false;
    if (s->returned > 0) {
        /* Only retries that failed on w are left: another asking worker takes them in this
         * scan; with none, w does once it has nothing else to do (at once when no other
         * worker is left to take them) rather than wait. */
        bool others = s->nworkers - s->stopped > 1;
        if (sc->pending > 1 || (others && outstanding(ws) > 0))
            return false;
        *a = (struct tf_action){.kind = TF_ACT_ASSIGN,
                                .worker = w,
                                .victim = -1,
                                .count = s->returned,
                                .from_returned = true};
        ws->pending = false;
        s->npending--;
        return true;
    }
    if (outstanding(ws) > 0)
        return false; /* nothing left to steal: it asks again when its tasks are done */
idle:
    if (s->expect_losses && s->held_total > 0)
        return false; /* a worker still holding tasks may die: this one would take them */
stop:
    *a = (struct tf_action){.kind = TF_ACT_STOP, .worker = w, .victim = -1};
    ws->pending = false;
    ws->stopped = true;
    s->npending--;
    s->stopped++;
    s->live_slots -= ws->slots;
    return true;
}

bool tf_sched_next_action(struct tf_sched *s, struct tf_action *a)
{
    if (s->npending == 0)
        return false;
    struct scan sc = scan_pending(s);
    for (int i = 0; i < s->nworkers; i++) {
        int w = (s->cursor + i) % s->nworkers;
        if (!s->w[w].pending || s->w[w].stopped)
            continue;
        if (decide(s, w, &sc, a)) {
            s->cursor = (w + 1) % s->nworkers; /* round robin: no worker waits behind others */
            return true;
        }
    }
    return false;
}

/* ---- state ------------------------------------------------------------------------------ */

uint64_t tf_sched_unassigned(const struct tf_sched *s)
{
    return new_left(s) + s->returned;
}

bool tf_sched_finished(const struct tf_sched *s)
{
    return s->done_total + s->settled == s->ntasks + s->requeued;
}

int tf_sched_stopped(const struct tf_sched *s)
{
    return s->stopped;
}

bool tf_sched_worker_stopped(const struct tf_sched *s, int w)
{
    return s->w[w].stopped;
}

uint64_t tf_sched_steals(const struct tf_sched *s)
{
    return s->steals;
}

bool tf_sched_worker_lost(const struct tf_sched *s, int w)
{
    return w >= 0 && w < s->nworkers && s->w[w].lost;
}

int tf_sched_workers_left(const struct tf_sched *s)
{
    return s->nworkers - s->stopped;
}

/* Process model: a lost worker's share of the new tasks, in proportion to slots over the
 * workers that may still receive some (none left: the tasks stay unassigned). */
static void spread_share(struct tf_sched *s, uint64_t share)
{
    uint64_t total = (uint64_t)s->live_slots, given = 0;
    if (share == 0 || total == 0)
        return;
    for (int i = 0; i < s->nworkers; i++) {
        if (s->w[i].stopped)
            continue;
        unsigned __int128 part = (unsigned __int128)share * (uint64_t)s->w[i].slots / total;
        s->w[i].share_left += (uint64_t)part;
        given += (uint64_t)part;
    }
    for (int i = 0; given < share; i = (i + 1) % s->nworkers)
        if (!s->w[i].stopped) {
            s->w[i].share_left++;
            given++;
        }
}

/* Nobody waits for w any more: not its request, not its answer to a steal (the tasks it
 * would have given back are among those it held). A steal it asked for as a thief needs
 * nothing: the victim answers, and what it gives back goes to whoever asks. */
static void forget_worker(struct tf_sched *s, struct worker_state *ws)
{
    if (ws->pending) {
        ws->pending = false;
        s->npending--;
    }
    if (ws->steal_inflight) {
        ws->steal_inflight = false;
        s->steals_inflight--;
    }
    if (!ws->stopped) {
        ws->stopped = true;
        s->stopped++;
        s->live_slots -= ws->slots;
    }
}

void tf_sched_on_worker_lost(struct tf_sched *s, int w, uint64_t n_back)
{
    if (w < 0 || w >= s->nworkers || s->w[w].lost)
        return;
    struct worker_state *ws = &s->w[w];
    uint64_t held = outstanding(ws);
    ws->lost = true;
    s->lost++;
    forget_worker(s, ws);
    /* What it held: n_back tasks go round again, the rest are settled. Should the master's
     * count exceed ours, the extra ones run as well: finishing waits for them too. */
    if (n_back <= held)
        s->settled += held - n_back;
    else
        s->requeued += n_back - held;
    s->returned += n_back;
    s->held_total -= held;
    ws->assigned = ws->done + ws->released; /* it holds nothing: never a victim */
    ws->reported_queued = 0;
    uint64_t share = ws->share_left;
    ws->share_left = 0;
    spread_share(s, share);
}

static bool running_long(double mean_task_seconds, double running_seconds)
{
    double limit = SHED_FACTOR * mean_task_seconds;
    return running_seconds > (limit > SHED_MIN_SECONDS ? limit : SHED_MIN_SECONDS);
}

/* Every slot runs a task, and even the newest of them has run far longer than usual. */
static bool all_slots_held(const struct tf_agent_state *a)
{
    return a->busy >= a->slots && running_long(a->mean, a->newest_run);
}

int tf_sched_want(const struct tf_agent_state *a)
{
    int64_t free_slots = (int64_t)a->slots - a->busy - (int64_t)a->queued;
    if (free_slots > 0)
        return (int)free_slots;
    if (all_slots_held(a))
        return 0;
    /* RATIONALE: prefetch hides a round trip (about a millisecond), which matters only when
     * the process finishes tasks often: a slot ends a task every mean / slots seconds. For
     * a one-slot worker with long or unknown durations a prefetched task would wait behind
     * a long one, so it asks when its slot is free - exactly greedy list scheduling; a
     * process of 128 slots finishing one-second tasks every 8 ms asks ahead for all of them
     * (one message per slot-round, not per task), and a queued task waits for the next
     * slot to free, milliseconds away (or is shed when every slot is held by a long one). */
    double every = a->mean / (double)a->slots;
    if (a->mean <= 0 || every > PREFETCH_MAX_MEAN)
        return 0;
    return (double)a->queued * every < PREFETCH_SECONDS ? a->slots : 0;
}

bool tf_sched_should_shed(const struct tf_agent_state *a)
{
    return a->queued > 0 && all_slots_held(a);
}

uint64_t tf_sched_release_count(uint64_t asked, uint64_t movable, int thief_slots, int own_slots)
{
    uint64_t t = thief_slots > 0 ? (uint64_t)thief_slots : 1;
    uint64_t all = t + (uint64_t)(own_slots > 0 ? own_slots : 1);
    uint64_t share = (movable * t + all - 1) / all;
    return asked < share ? asked : share;
}

bool tf_sched_should_report(uint64_t unreported, double oldest_waiting_seconds)
{
    return unreported > 0 && oldest_waiting_seconds >= REPORT_SECONDS;
}
