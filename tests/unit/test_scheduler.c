/* test_scheduler.c - the policy against a simulated cluster: workers with local queues,
 * prefetch and message latency, driven through exactly the calls the master makes. Checks
 * that every task runs exactly once, that every worker is stopped, and how close the
 * makespan comes to greedy list scheduling with zero overhead, over uniform, heavy-tailed,
 * "one huge task at the end" and "everything fails at once" workloads.
 */
#include <math.h>

#include "scheduler.h"
#include "tf_check.h"

#define LATENCY 0.0005 /* one-way message time, seconds */

enum ev_kind { EV_TASK_END, EV_TO_MASTER, EV_TO_WORKER, EV_TICK };
#define TICK 0.1
enum msg_kind { M_REQUEST, M_RESULTS, M_RELEASE, M_SHED, W_ASSIGN, W_STEAL, W_STOP };

struct event {
    double t;
    enum ev_kind kind;
    enum msg_kind msg;
    int w;
    uint64_t n;  /* done count, steal count */
    double busy; /* seconds of the done tasks */
    uint64_t queued, received;
    uint64_t *ids; /* ASSIGN / RELEASE payload */
    uint64_t nids;
};

static bool no_stealing; /* measure what stealing buys */

struct sim_worker {
    uint64_t *queue; /* ring of task ids */
    uint64_t head, len, cap;
    int64_t running;
    double running_since;
    bool requested, stopped;
    uint64_t unreported, received;
    double unreported_busy, busy_total, mean;
    uint64_t ndone;
};

struct sim {
    struct tf_sched *s;
    const double *dur;
    uint64_t ntasks, next_stream;
    int nworkers;
    struct sim_worker *w;
    struct event *heap;
    size_t nheap, capheap;
    uint64_t *pool; /* given-back ids at the master */
    uint64_t pool_head, pool_len;
    unsigned char *runs; /* times each task ran */
    double makespan;
    uint64_t messages;
};

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

static void to_master(struct sim *S, double t, enum msg_kind k, int w, uint64_t *ids, uint64_t nids)
{
    struct sim_worker *W = &S->w[w];
    struct event e = {t + LATENCY,        EV_TO_MASTER, k,           w,   W->unreported,
                      W->unreported_busy, W->len,       W->received, ids, nids};
    W->unreported = 0;
    W->unreported_busy = 0;
    S->messages++;
    push(S, e);
}

/* What the real worker does after any event: start the next task, ask ahead, report. */
static void worker_step(struct sim *S, int w, double now)
{
    struct sim_worker *W = &S->w[w];
    if (W->running < 0 && W->len > 0) {
        W->running = (int64_t)W->queue[W->head];
        W->running_since = now;
        W->head = (W->head + 1) % W->cap;
        W->len--;
        push(S, (struct event){.t = now + S->dur[W->running], .kind = EV_TASK_END, .w = w});
        push(S, (struct event){.t = now + TICK, .kind = EV_TICK, .w = w, .n = W->ndone});
    }
    if (W->stopped)
        return;
    double ran = W->running >= 0 ? now - W->running_since : 0;
    if (!no_stealing && W->running >= 0 && tf_sched_should_shed(W->len, W->mean, ran)) {
        uint64_t *ids = malloc(W->len * sizeof *ids);
        uint64_t k = W->len;
        for (uint64_t i = 0; i < k; i++)
            ids[i] = W->queue[(W->head + i) % W->cap];
        W->len = 0;
        W->requested = false;
        to_master(S, now, M_SHED, w, ids, k);
    } else if (!W->requested && ((W->running < 0 && W->len == 0) ||
                                 tf_sched_should_prefetch(W->len, W->mean, ran))) {
        W->requested = true;
        to_master(S, now, M_REQUEST, w, NULL, 0);
    } else if ((W->running < 0 && W->len == 0 && W->unreported > 0) ||
               tf_sched_should_report(W->unreported, W->unreported_busy)) {
        to_master(S, now, M_RESULTS, w, NULL, 0);
    }
}

static void master_act(struct sim *S, double now)
{
    struct tf_action a;
    while (tf_sched_next_action(S->s, &a)) {
        struct event e = {.t = now + LATENCY, .kind = EV_TO_WORKER, .w = a.worker};
        S->messages++;
        if (a.kind == TF_ACT_ASSIGN) {
            e.msg = W_ASSIGN;
            e.ids = malloc(a.count * sizeof *e.ids);
            uint64_t from_pool = 0, from_stream = 0;
            while (a.from_returned && e.nids < a.count && S->pool_len > 0) {
                e.ids[e.nids++] = S->pool[S->pool_head];
                S->pool_head = (S->pool_head + 1) % (S->ntasks + 1);
                S->pool_len--;
                from_pool++;
            }
            while (!a.from_returned && e.nids < a.count && S->next_stream < S->ntasks) {
                e.ids[e.nids++] = S->next_stream++;
                from_stream++;
            }
            ck_assert_uint_gt(e.nids, 0);
            if (from_pool)
                tf_sched_on_assign(S->s, a.worker, from_pool, false);
            if (from_stream)
                tf_sched_on_assign(S->s, a.worker, from_stream, true);
        } else if (a.kind == TF_ACT_STEAL) {
            e.msg = W_STEAL;
            e.w = a.victim;
            e.n = a.count;
            ck_assert_int_ne(a.victim, a.worker);
        } else {
            e.msg = W_STOP;
        }
        push(S, e);
    }
}

static void on_master(struct sim *S, struct event *e)
{
    tf_sched_on_done(S->s, e->w, e->n, e->busy);
    tf_sched_on_report(S->s, e->w, e->queued, e->received);
    if (e->msg == M_RELEASE || e->msg == M_SHED) {
        for (uint64_t i = 0; i < e->nids; i++)
            S->pool[(S->pool_head + S->pool_len++) % (S->ntasks + 1)] = e->ids[i];
        tf_sched_on_release(S->s, e->w, e->nids, e->msg == M_SHED);
        free(e->ids);
    }
    if (e->msg == M_REQUEST)
        tf_sched_on_request(S->s, e->w);
    master_act(S, e->t);
}

static void on_worker(struct sim *S, struct event *e)
{
    struct sim_worker *W = &S->w[e->w];
    if (e->msg == W_ASSIGN) {
        for (uint64_t i = 0; i < e->nids; i++) {
            W->queue[(W->head + W->len) % W->cap] = e->ids[i];
            W->len++;
        }
        W->received += e->nids;
        W->requested = false;
        free(e->ids);
    } else if (e->msg == W_STEAL) { /* give back the head of the queue */
        uint64_t k = tf_sched_release_count(e->n, W->len);
        uint64_t *ids = malloc((k ? k : 1) * sizeof *ids);
        for (uint64_t i = 0; i < k; i++)
            ids[i] = W->queue[(W->head + i) % W->cap];
        W->head = (W->head + k) % W->cap;
        W->len -= k;
        to_master(S, e->t, M_RELEASE, e->w, ids, k);
    } else {
        ck_assert_int_eq(W->running, -1); /* STOP only reaches idle workers */
        ck_assert_uint_eq(W->len, 0);
        W->stopped = true;
    }
    worker_step(S, e->w, e->t);
}

static void on_task_end(struct sim *S, struct event *e)
{
    struct sim_worker *W = &S->w[e->w];
    double d = S->dur[W->running];
    S->runs[W->running]++;
    W->running = -1;
    W->unreported++;
    W->unreported_busy += d;
    W->busy_total += d;
    W->ndone++;
    W->mean = W->busy_total / (double)W->ndone;
    if (e->t > S->makespan)
        S->makespan = e->t;
    worker_step(S, e->w, e->t);
}

/* Run the workload; returns the makespan. */
static double simulate(enum tf_mode mode, const double *dur, uint64_t ntasks, int nworkers,
                       const int *node_of, uint64_t *messages, uint64_t *steals)
{
    struct sim S = {.dur = dur, .ntasks = ntasks, .nworkers = nworkers};
    S.s = tf_sched_new(mode, ntasks, nworkers, node_of);
    if (no_stealing)
        tf_sched_disable_stealing(S.s);
    S.w = calloc((size_t)nworkers, sizeof *S.w);
    S.pool = malloc((ntasks + 1) * sizeof *S.pool); /* a ring: a task is given back at most
                                                        once at a time */
    S.runs = calloc(ntasks + 1, 1);
    for (int w = 0; w < nworkers; w++) {
        S.w[w].cap = ntasks + 1;
        S.w[w].queue = malloc(S.w[w].cap * sizeof(uint64_t));
        S.w[w].running = -1;
        S.w[w].requested = true; /* the master sends every worker its first batch unasked */
        tf_sched_on_request(S.s, w);
    }
    master_act(&S, 0);
    while (S.nheap > 0) {
        struct event e = pop(&S);
        if (e.kind == EV_TICK) { /* the worker looks up during a long task */
            if (S.w[e.w].running >= 0 && S.w[e.w].ndone == e.n) {
                worker_step(&S, e.w, e.t);
                push(&S, (struct event){.t = e.t + TICK, .kind = EV_TICK, .w = e.w, .n = e.n});
            }
        } else if (e.kind == EV_TASK_END)
            on_task_end(&S, &e);
        else if (e.kind == EV_TO_MASTER)
            on_master(&S, &e);
        else
            on_worker(&S, &e);
    }
    for (uint64_t i = 0; i < ntasks; i++)
        ck_assert_msg(S.runs[i] == 1, "task %llu ran %d times", (unsigned long long)i, S.runs[i]);
    ck_assert_int_eq(tf_sched_stopped(S.s), nworkers);
    ck_assert(tf_sched_finished(S.s));
    ck_assert_uint_eq(tf_sched_unassigned(S.s), 0);
    for (int w = 0; w < nworkers; w++) {
        ck_assert(S.w[w].stopped);
        free(S.w[w].queue);
    }
    if (messages)
        *messages = S.messages;
    if (steals)
        *steals = tf_sched_steals(S.s);
    tf_sched_free(S.s);
    free(S.w);
    free(S.pool);
    free(S.runs);
    free(S.heap);
    return S.makespan;
}

/* Greedy list scheduling in file order with zero overhead. */
static double greedy(const double *dur, uint64_t n, int p)
{
    double *free_at = calloc((size_t)p, sizeof *free_at), end = 0;
    for (uint64_t i = 0; i < n; i++) {
        int best = 0;
        for (int w = 1; w < p; w++)
            if (free_at[w] < free_at[best])
                best = w;
        free_at[best] += dur[i];
        end = free_at[best] > end ? free_at[best] : end;
    }
    free(free_at);
    return end;
}

static double *heavy_tailed(uint64_t n, unsigned seed)
{
    double *d = malloc(n * sizeof *d);
    srand(seed);
    for (uint64_t i = 0; i < n; i++) { /* Pareto, shape 1.5, minimum 0.1 s, capped at 60 s */
        double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
        d[i] = fmin(0.1 / pow(u, 1 / 1.5), 60.0);
    }
    return d;
}

static void check_efficiency(const char *name, enum tf_mode mode, const double *dur, uint64_t n,
                             int p, double min_eff)
{
    uint64_t msgs, steals;
    double ideal = greedy(dur, n, p);
    double got = simulate(mode, dur, n, p, NULL, &msgs, &steals);
    double eff = ideal / got;
    printf("%-28s %-7s P=%-3d n=%-6llu ideal %8.2f s makespan %8.2f s eff %.3f msgs %llu "
           "steals %llu\n",
           name, tf_mode_name(mode), p, (unsigned long long)n, ideal, got, eff,
           (unsigned long long)msgs, (unsigned long long)steals);
    ck_assert_msg(eff >= min_eff, "%s: efficiency %.3f < %.3f", name, eff, min_eff);
}

START_TEST(uniform)
{
    double *d = malloc(2000 * sizeof *d);
    for (int i = 0; i < 2000; i++)
        d[i] = 0.05;
    check_efficiency("uniform 0.05 s", TF_MODE_POOL, d, 2000, 16, 0.97);
    check_efficiency("uniform 0.05 s", TF_MODE_POOL, d, 2000, 128, 0.9);
    check_efficiency("uniform 0.05 s", TF_MODE_PROCESS, d, 2000, 16, 0.97);
    free(d);
    /* thousands of workers: each scheduler decision must stay O(workers) */
    d = malloc(40000 * sizeof *d);
    for (int i = 0; i < 40000; i++)
        d[i] = 0.5;
    check_efficiency("uniform 0.5 s", TF_MODE_POOL, d, 40000, 2048, 0.9);
    free(d);
}
END_TEST

START_TEST(heavy_tailed_durations)
{
    for (unsigned seed = 1; seed <= 5; seed++) {
        double *d = heavy_tailed(400, seed);
        check_efficiency("heavy-tailed", TF_MODE_POOL, d, 400, 16, 0.98);
        /* shares are blocks, not file order: greedy is not its yardstick, stealing keeps it
         * within reach (0.79-1.10 over these seeds) */
        check_efficiency("heavy-tailed", TF_MODE_PROCESS, d, 400, 16, 0.75);
        free(d);
    }
}
END_TEST

START_TEST(one_huge_task_at_the_end)
{
    double *d = malloc(1000 * sizeof *d);
    for (int i = 0; i < 999; i++)
        d[i] = 1.0;
    d[999] = 100.0;
    check_efficiency("huge task last", TF_MODE_POOL, d, 1000, 16, 0.95);
    check_efficiency("huge task last", TF_MODE_PROCESS, d, 1000, 16, 0.95);
    free(d);
}
END_TEST

START_TEST(long_task_does_not_hold_a_share)
{
    /* Process model, 4 workers: worker 0's share starts with a 50 s task; the 9 short tasks
     * queued behind it must be stolen by the others, not wait 50 s. */
    double d[40];
    for (int i = 0; i < 40; i++)
        d[i] = 1.0;
    d[0] = 50.0;
    uint64_t steals;
    double got = simulate(TF_MODE_PROCESS, d, 40, 4, NULL, NULL, &steals);
    ck_assert_double_lt(got, 50.5);
    ck_assert_uint_gt(steals, 0);
}
END_TEST

START_TEST(everything_fails_instantly)
{
    double *d = malloc(100000 * sizeof *d);
    for (int i = 0; i < 100000; i++)
        d[i] = 1e-6;
    uint64_t msgs;
    simulate(TF_MODE_POOL, d, 100000, 8, NULL, &msgs, NULL);
    ck_assert_uint_lt(msgs, 100000 / 20); /* batching: far fewer messages than tasks */
    free(d);
}
END_TEST

START_TEST(every_id_once_all_shapes)
{
    static const uint64_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 100, 1000};
    static const int workers[] = {1, 2, 3, 8, 64};
    static const enum tf_mode modes[] = {TF_MODE_AUTO, TF_MODE_PROCESS, TF_MODE_POOL};
    double *d = heavy_tailed(1000, 9);
    for (size_t m = 0; m < 3; m++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (size_t j = 0; j < sizeof workers / sizeof workers[0]; j++)
                simulate(modes[m], d, sizes[i], workers[j], NULL, NULL, NULL);
    free(d);
}
END_TEST

START_TEST(steal_prefers_same_node)
{
    const int node_of[4] = {0, 0, 1, 1};
    struct tf_sched *s = tf_sched_new(TF_MODE_PROCESS, 4 + 3 + 0 + 9, 4, node_of);
    struct tf_action a;
    for (int w = 0; w < 4; w++)
        tf_sched_on_request(s, w);
    uint64_t share[4];
    for (int i = 0; i < 4; i++) {
        ck_assert(tf_sched_next_action(s, &a));
        ck_assert_int_eq(a.kind, TF_ACT_ASSIGN);
        share[a.worker] = a.count;
        tf_sched_on_assign(s, a.worker, a.count, true);
    }
    /* worker 0 finishes everything; 1 (same node) has 2 queued, 3 (other node) has more */
    tf_sched_on_done(s, 0, share[0], 1.0);
    tf_sched_on_report(s, 0, 0, share[0]);
    tf_sched_on_report(s, 1, 2, share[1]);
    tf_sched_on_report(s, 3, share[3] - 1, share[3]);
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a));
    ck_assert_int_eq(a.kind, TF_ACT_STEAL);
    ck_assert_int_eq(a.worker, 0);
    ck_assert_int_eq(a.victim, 1);
    ck_assert_uint_eq(a.count, 1);
    ck_assert(!tf_sched_next_action(s, &a)); /* one steal per idle worker at a time */
    tf_sched_on_release(s, 1, 1, false);
    ck_assert(tf_sched_next_action(s, &a));
    ck_assert_int_eq(a.kind, TF_ACT_ASSIGN);
    ck_assert_int_eq(a.worker, 0);
    ck_assert_uint_eq(a.count, 1);
    tf_sched_free(s);
}
END_TEST

START_TEST(auto_mode_choice)
{
    struct tf_sched *s = tf_sched_new(TF_MODE_AUTO, 8, 8, NULL);
    ck_assert_int_eq(tf_sched_mode(s), TF_MODE_PROCESS);
    tf_sched_free(s);
    s = tf_sched_new(TF_MODE_AUTO, 9, 8, NULL);
    ck_assert_int_eq(tf_sched_mode(s), TF_MODE_POOL);
    ck_assert_ptr_nonnull(strstr(tf_sched_reason(s), "more tasks than workers"));
    tf_sched_free(s);
}
END_TEST

START_TEST(prefetch_rule)
{
    ck_assert(!tf_sched_should_prefetch(0, 10.0, 1.0)); /* long tasks: ask when idle */
    ck_assert(!tf_sched_should_prefetch(0, 0, 0));      /* durations unknown */
    ck_assert(tf_sched_should_prefetch(0, 0.05, 0.01));
    ck_assert(!tf_sched_should_prefetch(2, 0.05, 0.01));
    ck_assert(tf_sched_should_prefetch(40, 0.001, 0)); /* 40 ms of work left */
    ck_assert(!tf_sched_should_prefetch(100, 0.001, 0));
    ck_assert(!tf_sched_should_prefetch(0, 0.01, 5.0)); /* the running task is unusually long */
    ck_assert(tf_sched_should_shed(3, 0.1, 5.0));
    ck_assert(!tf_sched_should_shed(0, 0.1, 5.0));
    ck_assert(!tf_sched_should_shed(3, 10.0, 5.0));
}
END_TEST

START_TEST(mode_names_round_trip)
{
    enum tf_mode m;
    ck_assert(tf_mode_parse("pool", &m) && m == TF_MODE_POOL);
    ck_assert(tf_mode_parse("process", &m) && m == TF_MODE_PROCESS);
    ck_assert(tf_mode_parse("auto", &m) && m == TF_MODE_AUTO);
    ck_assert(!tf_mode_parse("static", &m));
}
END_TEST

/* Stealing as a mode of its own or always on? Measured here without it, on the same
 * workloads: it is what lets the Process model and the end of every run balance. */
START_TEST(what_stealing_buys)
{
    double d[40];
    for (int i = 0; i < 40; i++)
        d[i] = 1.0;
    d[0] = 50.0;
    double *h = heavy_tailed(400, 2);
    double with_held = simulate(TF_MODE_PROCESS, d, 40, 4, NULL, NULL, NULL);
    double with_heavy = simulate(TF_MODE_PROCESS, h, 400, 16, NULL, NULL, NULL);
    double with_pool = simulate(TF_MODE_POOL, h, 400, 16, NULL, NULL, NULL);
    no_stealing = true;
    double without_held = simulate(TF_MODE_PROCESS, d, 40, 4, NULL, NULL, NULL);
    double without_heavy = simulate(TF_MODE_PROCESS, h, 400, 16, NULL, NULL, NULL);
    double without_pool = simulate(TF_MODE_POOL, h, 400, 16, NULL, NULL, NULL);
    no_stealing = false;
    printf("stealing on/off: process, long task first %.1f/%.1f s; process heavy-tailed "
           "%.2f/%.2f s; pool heavy-tailed %.2f/%.2f s\n",
           with_held, without_held, with_heavy, without_heavy, with_pool, without_pool);
    ck_assert_double_lt(with_held, 51.0);    /* the long task alone */
    ck_assert_double_gt(without_held, 58.0); /* long task + the 9 queued behind it */
    ck_assert_double_lt(with_heavy, without_heavy);
    ck_assert_double_le(with_pool, without_pool * 1.001);
    free(h);
}
END_TEST

START_TEST(stop_new_hands_out_nothing_more)
{
    struct tf_sched *s = tf_sched_new(TF_MODE_POOL, 100, 2, NULL);
    struct tf_action a;
    tf_sched_on_request(s, 0);
    tf_sched_on_request(s, 1);
    uint64_t got[2] = {0};
    while (tf_sched_next_action(s, &a)) {
        ck_assert_int_eq(a.kind, TF_ACT_ASSIGN);
        tf_sched_on_assign(s, a.worker, a.count, true);
        got[a.worker] += a.count;
    }
    tf_sched_stop_new(s);
    ck_assert(tf_sched_stopping(s));
    /* worker 0 gives its queue back and finishes nothing: it holds nothing, so STOP */
    tf_sched_on_release(s, 0, got[0], false);
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a));
    ck_assert_int_eq(a.kind, TF_ACT_STOP);
    ck_assert_int_eq(a.worker, 0);
    /* worker 1 still runs a task: it must wait, even though tasks wait to be handed out */
    tf_sched_on_release(s, 1, got[1] - 1, false);
    tf_sched_on_request(s, 1);
    ck_assert(!tf_sched_next_action(s, &a));
    tf_sched_on_done(s, 1, 1, 0.5);
    ck_assert(tf_sched_next_action(s, &a));
    ck_assert_int_eq(a.kind, TF_ACT_STOP);
    ck_assert_int_eq(tf_sched_stopped(s), 2);
    ck_assert(tf_sched_unassigned(s) > 90); /* they stay not run */
    tf_sched_free(s);
}
END_TEST

START_TEST(requeued_tasks_run_again_before_the_end)
{
    struct tf_sched *s = tf_sched_new(TF_MODE_POOL, 1, 1, NULL);
    struct tf_action a;
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.count == 1);
    tf_sched_on_assign(s, 0, 1, true);
    tf_sched_on_done(s, 0, 1, 0.1);
    tf_sched_on_requeue(s, 1, 0); /* it failed and has a retry left */
    ck_assert(!tf_sched_finished(s));
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a));
    ck_assert_int_eq(a.kind, TF_ACT_ASSIGN);
    ck_assert(a.from_returned); /* on the worker it failed on: there is no other */
    tf_sched_on_assign(s, 0, 1, false);
    tf_sched_on_retry_assigned(s, 0);
    tf_sched_on_done(s, 0, 1, 0.1);
    ck_assert(tf_sched_finished(s));
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_STOP);
    ck_assert_double_eq_tol(tf_sched_mean(s), 0.1, 1e-12);
    tf_sched_free(s);
}
END_TEST

/* Two workers, each handed its first batch and running its first task; got: the sizes. */
static struct tf_sched *two_started(enum tf_mode mode, uint64_t ntasks, uint64_t got[2])
{
    struct tf_sched *s = tf_sched_new(mode, ntasks, 2, NULL);
    struct tf_action a;
    tf_sched_on_request(s, 0);
    tf_sched_on_request(s, 1);
    for (int i = 0; i < 2; i++) {
        ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && !a.from_returned);
        got[a.worker] = a.count;
        tf_sched_on_assign(s, a.worker, a.count, true);
        tf_sched_on_report(s, a.worker, a.count - 1, a.count); /* one running */
    }
    return s;
}

/* Worker 0 finished everything it had; its first task failed and goes round again. */
static void zero_fails_one(struct tf_sched *s, uint64_t got0)
{
    tf_sched_on_done(s, 0, got0, 0.1 * (double)got0);
    tf_sched_on_report(s, 0, 0, got0);
    tf_sched_on_requeue(s, 1, 0);
    tf_sched_on_request(s, 0);
}

START_TEST(retry_goes_to_another_worker_while_new_tasks_last)
{
    uint64_t got[2];
    struct tf_sched *s = two_started(TF_MODE_POOL, 100, got);
    struct tf_action a;
    zero_fails_one(s, got[0]);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.worker == 0);
    ck_assert(!a.from_returned); /* new tasks for the worker it failed on */
    tf_sched_on_assign(s, 0, a.count, true);
    ck_assert_uint_eq(tf_sched_unassigned(s), 100 - got[0] - got[1] - a.count + 1);
    /* worker 1 asks ahead, busy: the retry is for it even so, since no idle worker may run it */
    tf_sched_on_request(s, 1);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.worker == 1);
    ck_assert(a.from_returned);
    ck_assert_uint_eq(a.count, 1);
    tf_sched_on_assign(s, 1, 1, false);
    tf_sched_on_retry_assigned(s, 0);
    ck_assert(!tf_sched_next_action(s, &a));
    tf_sched_free(s);
}
END_TEST

START_TEST(retry_waits_while_its_worker_can_steal)
{
    uint64_t got[2];
    struct tf_sched *s = two_started(TF_MODE_PROCESS, 2 + 2, got); /* all handed out */
    ck_assert_uint_eq(got[1], 2);
    struct tf_action a;
    zero_fails_one(s, got[0]);
    /* worker 1 runs a task with one queued behind it: worker 0 steals that, not its retry */
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_STEAL);
    ck_assert_int_eq(a.worker, 0);
    ck_assert_int_eq(a.victim, 1);
    ck_assert(!tf_sched_next_action(s, &a));
    tf_sched_on_release(s, 1, 1, false);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.worker == 0);
    ck_assert(a.from_returned);
    ck_assert_uint_eq(a.count, 1); /* the stolen task, not the retry */
    tf_sched_on_assign(s, 0, 1, false);
    /* worker 1 finishes and asks: the retry goes there */
    tf_sched_on_done(s, 1, 1, 0.1);
    tf_sched_on_report(s, 1, 0, 2);
    tf_sched_on_request(s, 1);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.worker == 1);
    ck_assert(a.from_returned);
    tf_sched_on_assign(s, 1, 1, false);
    tf_sched_on_retry_assigned(s, 0);
    ck_assert_uint_eq(tf_sched_unassigned(s), 0);
    tf_sched_free(s);
}
END_TEST

START_TEST(retry_runs_on_its_worker_rather_than_wait)
{
    uint64_t got[2];
    struct tf_sched *s = two_started(TF_MODE_POOL, 1 + 1, got); /* worker 1 runs one long task */
    struct tf_action a;
    zero_fails_one(s, got[0]);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.worker == 0);
    ck_assert(a.from_returned);
    ck_assert_uint_eq(a.count, 1);
    tf_sched_on_assign(s, 0, 1, false);
    tf_sched_on_retry_assigned(s, 0);
    tf_sched_on_done(s, 0, 1, 0.1);
    tf_sched_on_request(s, 0);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_STOP && a.worker == 0);
    ck_assert(!tf_sched_finished(s)); /* worker 1's task is still running */
    tf_sched_on_done(s, 1, 1, 9.0);
    tf_sched_on_report(s, 1, 0, 1);
    tf_sched_on_request(s, 1);
    ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_STOP && a.worker == 1);
    ck_assert(tf_sched_finished(s));
    tf_sched_free(s);
}
END_TEST

START_TEST(retries_of_two_workers_cross_over)
{
    uint64_t got[2];
    struct tf_sched *s = two_started(TF_MODE_POOL, 1 + 1, got);
    struct tf_action a;
    tf_sched_on_done(s, 0, 1, 0.1);
    tf_sched_on_done(s, 1, 1, 0.1);
    tf_sched_on_report(s, 0, 0, 1);
    tf_sched_on_report(s, 1, 0, 1);
    tf_sched_on_requeue(s, 1, 0);
    tf_sched_on_requeue(s, 1, 1);
    tf_sched_on_request(s, 0);
    tf_sched_on_request(s, 1);
    for (int i = 0; i < 2; i++) {
        ck_assert(tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN && a.from_returned);
        ck_assert_uint_eq(a.count, 1); /* one each: the one that failed on the other */
        tf_sched_on_assign(s, a.worker, 1, false);
        tf_sched_on_retry_assigned(s, 1 - a.worker);
    }
    ck_assert_uint_eq(tf_sched_unassigned(s), 0);
    tf_sched_free(s);
}
END_TEST

static Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, uniform);
    tcase_add_test(tc, heavy_tailed_durations);
    tcase_add_test(tc, one_huge_task_at_the_end);
    tcase_add_test(tc, long_task_does_not_hold_a_share);
    tcase_add_test(tc, everything_fails_instantly);
    tcase_add_test(tc, every_id_once_all_shapes);
    tcase_add_test(tc, steal_prefers_same_node);
    tcase_add_test(tc, auto_mode_choice);
    tcase_add_test(tc, prefetch_rule);
    tcase_add_test(tc, mode_names_round_trip);
    tcase_add_test(tc, what_stealing_buys);
    tcase_add_test(tc, stop_new_hands_out_nothing_more);
    tcase_add_test(tc, requeued_tasks_run_again_before_the_end);
    tcase_add_test(tc, retry_goes_to_another_worker_while_new_tasks_last);
    tcase_add_test(tc, retry_waits_while_its_worker_can_steal);
    tcase_add_test(tc, retry_runs_on_its_worker_rather_than_wait);
    tcase_add_test(tc, retries_of_two_workers_cross_over);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(scheduler_suite)
