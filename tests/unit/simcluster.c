/* simcluster.c - the simulated cluster of simcluster.h: a discrete-event simulation whose
 * workers follow the agent's rules (tf_sched_want, tf_sched_should_shed, ...) and whose
 * master follows master.c, both through the real scheduler, with the real ledger.
 */
#include "simcluster.h"

#include "ledger.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK            0.1 /* an agent with running tasks looks at the time this often */
#define DEFAULT_LATENCY 0.0005

enum ev_kind { EV_TASK_END, EV_TO_MASTER, EV_TO_WORKER, EV_TICK, EV_KILL };
enum msg_kind { M_REQUEST, M_RESULTS, M_RELEASE, M_SHED, M_LOST, W_ASSIGN, W_STEAL, W_STOP };

struct event {
    double t;
    enum ev_kind kind;
    enum msg_kind msg;
    int w, slot;
    uint64_t n;     /* steal count */
    uint64_t *done; /* RESULTS / REQUEST: ids of the finished tasks */
    uint64_t ndone;
    uint64_t queued, received;
    int want;      /* REQUEST: slots; STEAL: the thief's slots */
    uint64_t *ids; /* ASSIGN / RELEASE payload */
    uint64_t nids;
};

struct sim_worker {
    int slots, busy;
    int64_t *running; /* per slot: task id, -1 free */
    double *since;
    uint64_t *queue; /* ring of task ids */
    uint64_t head, len, cap;
    bool requested, stopped, tick_pending;
    uint64_t unreported, received, *udone, capdone; /* udone: ids of unreported results */
    double oldest_unreported, busy_total;
    uint64_t ndone;
    bool dead, zombie;
};

struct sim {
    const struct sim_config *c;
    struct tf_sched *s;
    double latency, master_free;
    uint64_t next_stream;
    struct sim_worker *w;
    struct event *heap;
    size_t nheap, capheap;
    uint64_t *pool; /* given-back ids at the master (a ring) */
    uint64_t pool_head, pool_len;
    unsigned char *runs;     /* times each task ran */
    unsigned char *recorded; /* 0 not yet, 1 its result accepted, 2 recorded lost */
    struct tf_ledger *ledger;
    struct sim_result *r;
};

static void fail(struct sim *S, const char *what, uint64_t v)
{
    if (S->r->ok)
        snprintf(S->r->error, sizeof S->r->error, "%s (%llu)", what, (unsigned long long)v);
    S->r->ok = false;
}

static void push(struct sim *S, struct event e)
{
    if (S->nheap == S->capheap) {
        S->capheap = S->capheap ? 2 * S->capheap : 1024;
        S->heap = realloc(S->heap, S->capheap * sizeof *S->heap);
    }
    size_t i = S->nheap++;
    S->heap[i] = e;
    while (i > 0 && S->heap[(i - 1) / 2].t > S->heap[i].t) {
        struct event tmp = S->heap[i];
        S->heap[i] = S->heap[(i - 1) / 2];
        S->heap[(i - 1) / 2] = tmp;
        i = (i - 1) / 2;
    }
}

static struct event pop(struct sim *S)
{
    struct event top = S->heap[0];
    S->heap[0] = S->heap[--S->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < S->nheap && S->heap[l].t < S->heap[m].t)
            m = l;
        if (r < S->nheap && S->heap[r].t < S->heap[m].t)
            m = r;
        if (m == i)
            break;
        struct event tmp = S->heap[i];
        S->heap[i] = S->heap[m];
        S->heap[m] = tmp;
        i = m;
    }
    return top;
}

static void queue_push(struct sim_worker *W, uint64_t id)
{
    if (W->len == W->cap) {
        uint64_t cap = W->cap ? 2 * W->cap : 64;
        uint64_t *q = malloc(cap * sizeof *q);
        for (uint64_t i = 0; i < W->len; i++)
            q[i] = W->queue[(W->head + i) % W->cap];
        free(W->queue);
        W->queue = q;
        W->head = 0;
        W->cap = cap;
    }
    W->queue[(W->head + W->len++) % W->cap] = id;
}

static uint64_t queue_pop(struct sim_worker *W)
{
    uint64_t id = W->queue[W->head];
    W->head = (W->head + 1) % W->cap;
    W->len--;
    return id;
}

/* A message to the master; results travel only with RESULTS and REQUEST (as in agent.c). */
static void to_master(struct sim *S, double t, enum msg_kind k, int w, int want, uint64_t *ids,
                      uint64_t nids)
{
    struct sim_worker *W = &S->w[w];
    bool results = k == M_REQUEST || k == M_RESULTS;
    struct event e = {.t = t + S->latency,
                      .kind = EV_TO_MASTER,
                      .msg = k,
                      .w = w,
                      .queued = W->len,
                      .received = W->received,
                      .want = want,
                      .ids = ids,
                      .nids = nids};
    if (results && W->unreported > 0) {
        e.done = malloc(W->unreported * sizeof *e.done);
        memcpy(e.done, W->udone, W->unreported * sizeof *e.done);
        e.ndone = W->unreported;
        W->unreported = 0;
    }
    S->r->messages++;
    push(S, e);
}

static double newest_run(const struct sim_worker *W, double now)
{
    double newest = 0;
    bool any = false;
    for (int i = 0; i < W->slots; i++)
        if (W->running[i] >= 0 && (!any || now - W->since[i] < newest)) {
            newest = now - W->since[i];
            any = true;
        }
    return newest;
}

/* What the real agent does after any event: start tasks in free slots, shed, ask, report. */
static void worker_step(struct sim *S, int w, double now)
{
    struct sim_worker *W = &S->w[w];
    if (W->dead)
        return;
    for (int i = 0; i < W->slots && W->len > 0; i++) {
        if (W->running[i] >= 0)
            continue;
        uint64_t id = queue_pop(W);
        if (S->recorded[id] && !W->zombie)
            fail(S, "a task recorded done started again", id);
        W->running[i] = (int64_t)id;
        W->since[i] = now;
        W->busy++;
        push(S, (struct event){.t = now + S->c->dur[id], .kind = EV_TASK_END, .w = w, .slot = i});
    }
    if (W->busy > 0 && !W->tick_pending) {
        push(S, (struct event){.t = now + TICK, .kind = EV_TICK, .w = w});
        W->tick_pending = true;
    }
    if (W->stopped)
        return;
    struct tf_agent_state st = {W->slots, W->busy, W->len,
                                W->ndone ? W->busy_total / (double)W->ndone : 0, 0};
    if (W->busy > 0)
        st.newest_run = newest_run(W, now);
    if (!S->c->no_stealing && tf_sched_should_shed(&st)) {
        uint64_t k = W->len, *ids = malloc((k ? k : 1) * sizeof *ids);
        for (uint64_t i = 0; i < k; i++)
            ids[i] = queue_pop(W);
        W->requested = false;
        to_master(S, now, M_SHED, w, 0, ids, k);
        st.queued = 0;
    }
    int want = tf_sched_want(&st);
    if (!W->requested && want > 0) {
        W->requested = true;
        to_master(S, now, M_REQUEST, w, want, NULL, 0);
    } else if (W->unreported > 0 &&
               ((W->busy == 0 && W->len == 0) ||
                tf_sched_should_report(W->unreported, now - W->oldest_unreported))) {
        to_master(S, now, M_RESULTS, w, want, NULL, 0);
    }
}

static void master_act(struct sim *S, double now)
{
    struct tf_action a;
    uint64_t ring = S->c->ntasks + 1;
    while (tf_sched_next_action(S->s, &a)) {
        struct event e = {.t = now + S->latency, .kind = EV_TO_WORKER, .w = a.worker};
        S->r->messages++;
        if (a.kind == TF_ACT_ASSIGN) {
            e.msg = W_ASSIGN;
            e.ids = malloc(a.count * sizeof *e.ids);
            uint64_t from_pool = 0, from_stream = 0;
            while (a.from_returned && e.nids < a.count && S->pool_len > 0) {
                e.ids[e.nids++] = S->pool[S->pool_head];
                S->pool_head = (S->pool_head + 1) % ring;
                S->pool_len--;
                from_pool++;
            }
            while (!a.from_returned && e.nids < a.count && S->next_stream < S->c->ntasks) {
                e.ids[e.nids++] = S->next_stream++;
                from_stream++;
            }
            for (uint64_t i = 0; i < e.nids; i++)
                tf_ledger_assigned(S->ledger, a.worker, &(struct tf_ledger_task){.id = e.ids[i]});
            if (e.nids == 0)
                fail(S, "an empty ASSIGN", a.count);
            if (from_pool)
                tf_sched_on_assign(S->s, a.worker, from_pool, false);
            if (from_stream)
                tf_sched_on_assign(S->s, a.worker, from_stream, true);
        } else if (a.kind == TF_ACT_STEAL) {
            e.msg = W_STEAL;
            e.w = a.victim;
            e.n = a.count;
            e.want = a.thief_slots;
            if (a.victim == a.worker)
                fail(S, "a worker asked to steal from itself", (uint64_t)a.worker);
        } else {
            e.msg = W_STOP;
        }
        push(S, e);
    }
}

static void pool_push(struct sim *S, uint64_t id)
{
    S->pool[(S->pool_head + S->pool_len++) % (S->c->ntasks + 1)] = id;
}

/* The master notices that w is gone: what it held goes back, or is recorded lost. */
static void master_lost(struct sim *S, int w)
{
    struct tf_ledger_task *held;
    uint64_t back = 0;
    size_t n = tf_ledger_take_lost(S->ledger, w, &held);
    for (size_t i = 0; i < n; i++) {
        uint64_t id = held[i].id;
        if (S->c->max_losses > 0 && tf_ledger_losses(S->ledger, id) >= S->c->max_losses) {
            S->recorded[id] = 2;
            S->r->lost_tasks++;
        } else {
            pool_push(S, id);
            back++;
        }
    }
    free(held);
    tf_sched_on_worker_lost(S->s, w, back);
    S->r->workers_lost++;
}

/* Results through the ledger: only those outstanding at their sender count. */
static uint64_t accept_results(struct sim *S, const struct event *e, double *busy)
{
    uint64_t n = 0;
    *busy = 0;
    for (uint64_t i = 0; i < e->ndone; i++) {
        uint64_t id = e->done[i];
        if (!tf_ledger_result(S->ledger, e->w, id)) {
            S->r->late++;
            continue;
        }
        if (S->recorded[id])
            fail(S, "a result accepted twice", id);
        S->recorded[id] = 1;
        *busy += S->c->dur[id];
        n++;
    }
    return n;
}

static uint64_t accept_released(struct sim *S, const struct event *e)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < e->nids; i++) {
        if (tf_ledger_released(S->ledger, e->w, e->ids[i])) {
            pool_push(S, e->ids[i]);
            n++;
        } else {
            S->r->late++;
        }
    }
    return n;
}

static void on_master(struct sim *S, struct event *e)
{
    if (S->master_free > e->t) { /* the master is busy: the message waits */
        e->t = S->master_free;
        push(S, *e);
        return;
    }
    double cost = S->c->master_per_msg + S->c->master_per_task * (double)(e->ndone + e->nids);
    S->r->master_busy += cost;
    S->master_free = e->t + cost;
    if (e->msg == M_LOST) {
        master_lost(S, e->w);
        master_act(S, S->master_free);
        return;
    }
    double busy;
    uint64_t n = accept_results(S, e, &busy);
    free(e->done);
    tf_sched_on_done(S->s, e->w, n, busy);
    tf_sched_on_report(S->s, e->w, e->queued, e->received);
    if (e->msg == M_RELEASE || e->msg == M_SHED) {
        tf_sched_on_release(S->s, e->w, accept_released(S, e), e->msg == M_SHED);
        free(e->ids);
    }
    if (e->msg == M_REQUEST)
        tf_sched_on_request(S->s, e->w, e->want);
    else if (e->msg == M_RESULTS && e->want > 0)
        tf_sched_on_want(S->s, e->w, e->want);
    master_act(S, S->master_free);
}

static void on_worker(struct sim *S, struct event *e)
{
    struct sim_worker *W = &S->w[e->w];
    if (W->dead) { /* lost on the way */
        free(e->ids);
        return;
    }
    if (e->msg == W_ASSIGN) {
        for (uint64_t i = 0; i < e->nids; i++)
            queue_push(W, e->ids[i]);
        W->received += e->nids;
        W->requested = false;
        free(e->ids);
    } else if (e->msg == W_STEAL) { /* give back the head of the queue */
        uint64_t k = tf_sched_release_count(e->n, W->len, e->want, W->slots);
        uint64_t *ids = malloc((k ? k : 1) * sizeof *ids);
        for (uint64_t i = 0; i < k; i++)
            ids[i] = queue_pop(W);
        to_master(S, e->t, M_RELEASE, e->w, 0, ids, k);
    } else {
        if (W->busy != 0 || W->len != 0) /* STOP only reaches idle workers */
            fail(S, "STOP reached a busy worker", (uint64_t)e->w);
        W->stopped = true;
    }
    worker_step(S, e->w, e->t);
}

static void on_task_end(struct sim *S, struct event *e)
{
    struct sim_worker *W = &S->w[e->w];
    if (W->dead)
        return; /* the task died with its worker */
    uint64_t id = (uint64_t)W->running[e->slot];
    double d = S->c->dur[id];
    if (S->runs[id] < 255)
        S->runs[id]++;
    W->running[e->slot] = -1;
    W->busy--;
    if (W->unreported == W->capdone) {
        W->capdone = W->capdone ? 2 * W->capdone : 64;
        W->udone = realloc(W->udone, W->capdone * sizeof *W->udone);
    }
    W->udone[W->unreported] = id;
    if (W->unreported++ == 0)
        W->oldest_unreported = e->t;
    W->busy_total += d;
    W->ndone++;
    S->r->slot_busy += d;
    if (e->t > S->r->makespan && !tf_sched_worker_lost(S->s, e->w)) /* not a zombie's */
        S->r->makespan = e->t;
    worker_step(S, e->w, e->t);
}

/* A worker dies (or is cut off, a zombie); the master notices `detect` seconds later. */
static void on_kill(struct sim *S, const struct event *e)
{
    struct sim_worker *W = &S->w[e->w];
    if (W->dead || W->zombie)
        return;
    if (e->n)
        W->zombie = true;
    else
        W->dead = true;
    push(S,
         (struct event){.t = e->t + S->c->detect, .kind = EV_TO_MASTER, .msg = M_LOST, .w = e->w});
}

static void setup_kills(struct sim *S)
{
    const struct sim_config *c = S->c;
    for (int i = 0; i < c->nkills; i++)
        push(S,
             (struct event){
                 .t = c->kills[i].t, .kind = EV_KILL, .w = c->kills[i].w, .n = c->kills[i].zombie});
    if (c->nkills > 0 && !c->stop_idle_early)
        tf_sched_expect_losses(S->s);
}

static void setup_workers(struct sim *S)
{
    const struct sim_config *c = S->c;
    S->w = calloc((size_t)c->nworkers, sizeof *S->w);
    for (int w = 0; w < c->nworkers; w++) {
        struct sim_worker *W = &S->w[w];
        W->slots = c->slots_of ? c->slots_of[w] : 1;
        W->running = malloc((size_t)W->slots * sizeof *W->running);
        W->since = calloc((size_t)W->slots, sizeof *W->since);
        for (int i = 0; i < W->slots; i++)
            W->running[i] = -1;
        W->requested = true; /* the master sends every worker its first batch unasked */
        tf_sched_on_request(S->s, w, W->slots);
    }
}

/* Every task recorded exactly once (the ledger's guarantee), having run at least once; run
 * exactly once when no worker was lost. Tasks are left unrecorded only when no worker was
 * left to run them, and then they are exactly those the scheduler still has to hand out. */
static void check_end(struct sim *S)
{
    const struct sim_config *c = S->c;
    struct sim_result *r = S->r;
    for (uint64_t i = 0; i < c->ntasks; i++) {
        if (S->runs[i] > 1 && c->nkills == 0)
            fail(S, "a task ran more than once", i);
        r->reruns += S->runs[i] > 1 ? S->runs[i] - 1u : 0;
        if (S->recorded[i] == 1 && S->runs[i] == 0)
            fail(S, "a task recorded without running", i);
        r->unfinished += S->recorded[i] == 0;
    }
    bool none_left = r->workers_lost == c->nworkers || c->stop_idle_early;
    if (r->unfinished > 0 && !none_left)
        fail(S, "a task never recorded", r->unfinished);
    if (r->unfinished != tf_sched_unassigned(S->s))
        fail(S, "tasks left at the end", tf_sched_unassigned(S->s));
    if (r->unfinished == 0 && !tf_sched_finished(S->s))
        fail(S, "the scheduler did not see every task finish", 0);
    if (tf_sched_stopped(S->s) != c->nworkers || tf_sched_workers_left(S->s) != 0)
        fail(S, "workers not stopped", (uint64_t)(c->nworkers - tf_sched_stopped(S->s)));
    for (int w = 0; w < c->nworkers; w++)
        if (!S->w[w].stopped && !tf_sched_worker_lost(S->s, w))
            fail(S, "a worker never stopped", (uint64_t)w);
    if (tf_ledger_total(S->ledger) != 0)
        fail(S, "tasks still outstanding in the ledger", tf_ledger_total(S->ledger));
}

void sim_run(const struct sim_config *c, struct sim_result *r)
{
    struct sim S = {.c = c, .latency = c->latency > 0 ? c->latency : DEFAULT_LATENCY, .r = r};
    memset(r, 0, sizeof *r);
    r->ok = true;
    S.s = tf_sched_new(c->mode, c->ntasks, c->nworkers, c->node_of, c->slots_of);
    if (c->no_stealing)
        tf_sched_disable_stealing(S.s);
    S.pool = malloc((c->ntasks + 1) * sizeof *S.pool); /* a task is given back once at a time */
    S.runs = calloc(c->ntasks + 1, 1);
    S.recorded = calloc(c->ntasks + 1, 1);
    S.ledger = tf_ledger_new(c->nworkers);
    setup_workers(&S);
    setup_kills(&S);
    master_act(&S, 0);
    while (S.nheap > 0) {
        struct event e = pop(&S);
        if (e.kind == EV_TICK) { /* an agent with running tasks looks at the time */
            S.w[e.w].tick_pending = false;
            worker_step(&S, e.w, e.t);
        } else if (e.kind == EV_KILL) {
            on_kill(&S, &e);
        } else if (e.kind == EV_TASK_END) {
            on_task_end(&S, &e);
        } else if (e.kind == EV_TO_MASTER) {
            on_master(&S, &e);
        } else {
            on_worker(&S, &e);
        }
    }
    check_end(&S);
    r->steals = tf_sched_steals(S.s);
    tf_sched_free(S.s);
    for (int w = 0; w < c->nworkers; w++) {
        free(S.w[w].queue);
        free(S.w[w].running);
        free(S.w[w].since);
        free(S.w[w].udone);
    }
    tf_ledger_free(S.ledger);
    free(S.recorded);
    free(S.w);
    free(S.pool);
    free(S.runs);
    free(S.heap);
}

double sim_greedy(const double *dur, uint64_t n, int p)
{
    /* a binary heap of the slots' free times */
    double *h = calloc((size_t)p, sizeof *h), end = 0;
    for (uint64_t i = 0; i < n; i++) {
        double t = h[0] + dur[i];
        end = t > end ? t : end;
        size_t k = 0;
        h[0] = t;
        for (;;) {
            size_t l = 2 * k + 1, r = l + 1, m = k;
            if (l < (size_t)p && h[l] < h[m])
                m = l;
            if (r < (size_t)p && h[r] < h[m])
                m = r;
            if (m == k)
                break;
            double tmp = h[k];
            h[k] = h[m];
            h[m] = tmp;
            k = m;
        }
    }
    free(h);
    return end;
}

double *sim_heavy_tailed(uint64_t n, unsigned seed, double min)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    srand(seed);
    for (uint64_t i = 0; i < n; i++) { /* Pareto, shape 1.5 */
        double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
        d[i] = fmin(min / pow(u, 1 / 1.5), 600.0 * min);
    }
    return d;
}
