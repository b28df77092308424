/* agent.c - a process's task slots and queue (see agent.h). The master's messages start
 * and stop work; tasks start as soon as a slot is free; the policy of when to ask, report,
 * give back is the scheduler's (scheduler.h, worker's side), so the simulated cluster of
 * the unit tests runs the same rules.
 */
#include "agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "liveness.h"
#include "log.h"
#include "scheduler.h"
#include "slots.h"
#include "stopsig.h"
#include "util.h"
#include "wire.h"

/* Results are sent early once this many bytes are waiting, so neither the message nor the
 * worker's memory grows with the batch size times the capture cap. */
#define RESULTS_MAX_BYTES (8u << 20)
/* While tasks run, the agent looks at the time this often (long tasks, waiting results). */
#define TICK_SECONDS 0.1

struct slot {
    struct tf_child *child; /* NULL: free */
    bool just_freed;        /* its task ended this turn: it takes the next one next turn */
    struct tf_task task;    /* the running task (its command owned) */
    double since;           /* monotonic start */
    struct tf_exec_slot where;
    char **env; /* owned copy of the slot's environment strings */
    uint64_t cpus[TF_MAX_CPUS / 64];
};

struct tf_agent {
    struct tf_exec_env env;
    char host[256];
    int nslots, busy;
    struct slot *slot;
    struct pollfd *fds;    /* TF_EXEC_NFDS per slot */
    struct tf_task *queue; /* owned copies; ring */
    size_t head, len, cap;
    uint64_t received;
    bool requested, stopped, draining, shed;
    bool settle;       /* slots freed this turn (see agent_step) */
    int cancel;        /* 1 stop running tasks (TERM, then KILL), 2 kill them now */
    struct tf_buf out; /* results waiting to be sent */
    uint64_t nout;
    double oldest_out; /* monotonic time the oldest waiting result came in */
    double busy_total; /* for the mean task duration */
    uint64_t ndone;
    /* A worker that can be lost (recovery on, not rank 0): it says when it starts tasks and
     * when it is quiet, and leaves when the master has been silent for too long. */
    bool watched;
    struct tf_heartbeat beat;
    double last_heard, master_timeout; /* monotonic */
    bool lost;       /* told it was declared lost, or the master is gone: say nothing more */
    uint64_t *ended; /* tasks whose run ended since the master last heard of them */
    size_t nended, cap_ended;
};

static double mean_duration(const struct tf_agent *A)
{
    return A->ndone ? A->busy_total / (double)A->ndone : 0;
}

static struct tf_report report_of(const struct tf_agent *A, uint64_t want)
{
    return (struct tf_report){A->host, A->len, A->received, want};
}

static void begin_out(struct tf_agent *A)
{
    struct tf_report rep = report_of(A, 0);
    tf_wire_begin(&A->out, TF_MSG_RESULTS);
    tf_wire_put_report(&A->out, &rep);
    A->nout = 0;
}

/* Every message to the master goes here: it is what the heartbeat counts from, and a worker
 * that was declared lost says nothing more. */
static enum tf_status to_master(struct tf_agent *A, enum tf_msg_kind kind, void *data, size_t len)
{
    if (A->lost) {
        free(data);
        return TF_OK;
    }
    A->beat.last_sent = tf_monotonic();
    return tf_comm_isend(0, kind, data, len);
}

/* Send the waiting results (a REQUEST also asks for work for `want` slots), with the queue
 * as it is now. */
static enum tf_status send_out(struct tf_agent *A, enum tf_msg_kind kind, int want)
{
    struct tf_report rep = report_of(A, (uint64_t)want);
    tf_wire_patch_report(&A->out, &rep);
    void *data = A->out.data;
    size_t len = A->out.len;
    A->out = (struct tf_buf){0};
    if (kind == TF_MSG_REQUEST)
        A->requested = true;
    A->nended = 0; /* their results are in this message */
    begin_out(A);
    return to_master(A, kind, data, len);
}

static void enqueue(struct tf_agent *A, const struct tf_task *t)
{
    if (A->len == A->cap) {
        size_t cap = A->cap ? 2 * A->cap : 64;
        struct tf_task *q = tf_xmalloc(cap * sizeof *q);
        for (size_t i = 0; i < A->len; i++)
            q[i] = A->queue[(A->head + i) % A->cap];
        free(A->queue);
        A->queue = q;
        A->head = 0;
        A->cap = cap;
    }
    struct tf_task *c = &A->queue[(A->head + A->len++) % A->cap];
    *c = *t;
    c->command = tf_xstrndup(t->command, t->command_len);
}

static struct tf_task dequeue(struct tf_agent *A)
{
    struct tf_task t = A->queue[A->head];
    A->head = (A->head + 1) % A->cap;
    A->len--;
    return t;
}

/* Give the first n queued tasks back to the master (they start elsewhere sooner: every
 * slot here is busy, or the run is stopping). */
static enum tf_status release(struct tf_agent *A, uint64_t n, bool shed)
{
    struct tf_buf b = {0};
    struct tf_report rep = report_of(A, 0);
    rep.queued = A->len - n;
    tf_wire_begin(&b, TF_MSG_RELEASE);
    tf_wire_put_report(&b, &rep);
    for (uint64_t i = 0; i < n; i++) {
        struct tf_task t = dequeue(A);
        tf_wire_put_task(&b, &t);
        free((char *)t.command);
    }
    tf_wire_put_u64(&b, shed);
    if (shed)
        A->requested = false; /* the master forgets our request with the shed */
    tf_log(TF_LOG_DEBUG, "gave back %llu queued tasks (%s)", (unsigned long long)n,
           shed ? "held by long tasks" : (A->draining ? "stopping" : "stolen"));
    return to_master(A, TF_MSG_RELEASE, b.data, b.len);
}

/* ---- slots ------------------------------------------------------------------------------ */

static void start_task(struct tf_agent *A, int i)
{
    struct slot *s = &A->slot[i];
    s->task = dequeue(A);
    s->since = tf_monotonic();
    s->child = tf_exec_start(&A->env, &s->where, &s->task);
    A->busy++;
}

/* A watched worker tells the master which tasks start, before they do, and which ended
 * since it last said (their results wait to be sent): if it dies, the master counts the
 * starts (attempts) and blames only the tasks that were running (--lost-after). */
static enum tf_status say_started(struct tf_agent *A, size_t n)
{
    struct tf_buf b = {0};
    tf_wire_begin(&b, TF_MSG_STARTED);
    tf_wire_put_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        tf_wire_put_u64(&b, A->queue[(A->head + i) % A->cap].id);
    tf_wire_put_u64(&b, A->nended);
    for (size_t i = 0; i < A->nended; i++)
        tf_wire_put_u64(&b, A->ended[i]);
    A->nended = 0;
    return to_master(A, TF_MSG_STARTED, b.data, b.len);
}

static void note_ended(struct tf_agent *A, uint64_t id)
{
    if (!A->watched)
        return;
    if (A->nended == A->cap_ended) {
        A->cap_ended = A->cap_ended ? 2 * A->cap_ended : 16;
        A->ended = tf_xrealloc(A->ended, A->cap_ended * sizeof *A->ended);
    }
    A->ended[A->nended++] = id;
}

/* Start queued tasks in the free slots (not those freed this turn). */
static enum tf_status start_tasks(struct tf_agent *A)
{
    size_t n = 0;
    for (int i = 0; i < A->nslots; i++)
        n += A->slot[i].child == NULL && !A->slot[i].just_freed;
    if (n > A->len)
        n = A->len;
    if (n == 0 || A->draining || A->lost)
        return TF_OK;
    if (A->watched)
        TF_TRY(say_started(A, n));
    for (int i = 0; i < A->nslots && n > 0; i++)
        if (A->slot[i].child == NULL && !A->slot[i].just_freed) {
            start_task(A, i);
            n--;
        }
    return TF_OK;
}

static void cancel_running(struct tf_agent *A)
{
    for (int i = 0; i < A->nslots; i++)
        if (A->slot[i].child)
            tf_exec_cancel(A->slot[i].child, A->cancel);
}

/* Slot i's task is over: its result joins the waiting ones. */
static void task_over(struct tf_agent *A, int i)
{
    struct slot *s = &A->slot[i];
    struct tf_result r;
    tf_exec_finish(s->child, &r);
    s->child = NULL;
    A->busy--;
    /* A task killed by a signal while the job is being stopped (Slurm signals every
     * process of the job) did not fail: it was interrupted and will run again. */
    if (r.status == TF_TASK_KILLED && (A->draining || tf_stopsig_count() > 0))
        r.status = TF_TASK_NOT_RUN;
    free((char *)s->task.command);
    s->task.command = NULL;
    note_ended(A, r.id);
    tf_wire_put_result(&A->out, &r);
    if (A->nout++ == 0)
        A->oldest_out = tf_monotonic();
    A->busy_total += r.end - r.start;
    A->ndone++;
    s->just_freed = A->settle = true;
    tf_result_fini(&r);
}

/* Step every slot whose descriptors are ready (fds: NULL after a wait that readied none) or
 * whose timer is due. */
static void service_slots(struct tf_agent *A, const struct pollfd *fds)
{
    double now = tf_monotonic();
    for (int i = 0; i < A->nslots; i++) {
        struct slot *s = &A->slot[i];
        if (s->child == NULL)
            continue;
        const struct pollfd *mine = fds ? fds + i * TF_EXEC_NFDS : NULL;
        bool ready = mine && (mine[0].revents || mine[1].revents || mine[2].revents);
        double due = tf_exec_deadline(s->child);
        if ((ready || (due > 0 && now >= due)) && tf_exec_step(s->child, ready ? mine : NULL))
            task_over(A, i);
    }
}

/* ---- messages from the master ------------------------------------------------------------ */

static bool agent_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_ASSIGN || kind == TF_MSG_STEAL || kind == TF_MSG_STOP ||
           kind == TF_MSG_DRAIN || kind == TF_MSG_ALIVE;
}

static void drop_queue(struct tf_agent *A)
{
    while (A->len > 0)
        free((char *)dequeue(A).command);
}

/* Declared lost, or the master is gone: the tasks here are someone else's now. */
static void leave(struct tf_agent *A, const char *why)
{
    tf_log(TF_LOG_WARN, "%s: stopping this process's %d running tasks and leaving", why, A->busy);
    A->lost = A->stopped = A->draining = true;
    A->cancel = 2;
    cancel_running(A);
    drop_queue(A);
    tf_comm_skip_collectives();
}

/* STOP: the run is over (or over for us). */
static void on_stop(struct tf_agent *A, uint64_t kind)
{
    if (kind == TF_WHY_YOU_LOST) {
        leave(A, "the master declared this process lost (it was not heard from in time)");
        return;
    }
    if (kind == TF_WHY_PEER_LOST)
        tf_comm_skip_collectives(); /* a rank died: no barrier or MPI_Finalize would end */
    A->stopped = true;
}

static enum tf_status agent_on_message(void *self, struct tf_msg *msg)
{
    struct tf_agent *A = self;
    struct tf_wire_reader rd;
    A->last_heard = tf_monotonic();
    if (msg->kind == TF_MSG_ALIVE)
        return TF_OK;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK)
        return TF_EPROTO;
    if (A->lost)
        return TF_OK; /* whatever the master still sent us is another's now */
    if (msg->kind == TF_MSG_ASSIGN) {
        for (uint32_t i = 0; i < rd.count; i++) {
            struct tf_task t;
            if (!tf_wire_get_task(&rd, &t))
                return TF_EPROTO;
            enqueue(A, &t);
        }
        A->received += rd.count;
        A->requested = false;
        return TF_OK;
    }
    uint64_t n, extra;
    if (!tf_wire_get_u64(&rd, &n) || !tf_wire_get_u64(&rd, &extra))
        return TF_EPROTO;
    if (msg->kind == TF_MSG_STEAL)
        return release(A, tf_sched_release_count(n, A->len, (int)extra, A->nslots), false);
    if (msg->kind == TF_MSG_STOP) {
        on_stop(A, n);
        return TF_OK;
    }
    A->draining = true; /* DRAIN: n is how far the stop has got (enum tf_stop) */
    if (n >= TF_STOP_TERM) {
        A->cancel = n >= TF_STOP_KILL ? 2 : 1;
        cancel_running(A);
    }
    return TF_OK;
}

/* ---- what to tell the master --------------------------------------------------------------- */

static double newest_run(const struct tf_agent *A, double now)
{
    double newest = 0;
    bool any = false;
    for (int i = 0; i < A->nslots; i++)
        if (A->slot[i].child && (!any || now - A->slot[i].since < newest)) {
            newest = now - A->slot[i].since;
            any = true;
        }
    return newest;
}

/* A watched worker: a heartbeat when quiet, and leave when the master is gone. */
static enum tf_status watch_master(struct tf_agent *A)
{
    if (!A->watched)
        return TF_OK;
    double now = tf_monotonic();
    char why[128];
    if (tf_liveness_master_gone(A->last_heard, now, A->master_timeout, why, sizeof why)) {
        leave(A, why);
        return TF_OK;
    }
    if (!tf_heartbeat_due(&A->beat, now))
        return TF_OK;
    struct tf_buf b = {0};
    tf_wire_begin(&b, TF_MSG_HEARTBEAT);
    return to_master(A, TF_MSG_HEARTBEAT, b.data, b.len);
}

static enum tf_status talk(struct tf_agent *A)
{
    double now = tf_monotonic();
    struct tf_agent_state st = {A->nslots, A->busy, A->len, mean_duration(A), 0};
    if (A->busy > 0)
        st.newest_run = newest_run(A, now);
    if (A->shed && tf_sched_should_shed(&st)) {
        TF_TRY(release(A, A->len, true));
        st.queued = 0;
    }
    int want = tf_sched_want(&st);
    bool idle = A->busy == 0 && A->len == 0;
    if (!A->requested && want > 0)
        return send_out(A, TF_MSG_REQUEST, want);
    if (A->nout > 0 && (idle || A->out.len >= RESULTS_MAX_BYTES ||
                        tf_sched_should_report(A->nout, now - A->oldest_out)))
        return send_out(A, TF_MSG_RESULTS, want); /* a waiting request grows with it */
    return TF_OK;
}

/* RATIONALE: a queued task starts one turn of the loop after a task ended, once the
 * results went out and the messages that came in were handled: on rank 0 the master then
 * stores the result before the next task starts, so a --fail-fast stop (or a drain) there
 * starts nothing more; elsewhere the turn costs a few microseconds. */
static enum tf_status agent_step(void *self)
{
    struct tf_agent *A = self;
    service_slots(A, NULL);
    if (A->draining && A->len > 0) /* queued tasks (and a batch that crossed the drain) */
        TF_TRY(release(A, A->len, false));
    TF_TRY(start_tasks(A));
    bool waiting = false; /* slots freed this turn take queued tasks next turn */
    for (int i = 0; A->settle && i < A->nslots; i++) {
        waiting |= A->slot[i].just_freed && A->len > 0 && !A->draining;
        A->slot[i].just_freed = false;
    }
    A->settle = waiting;
    if (A->stopped)
        return TF_OK;
    TF_TRY(talk(A));
    /* Ended tasks not said yet: with the next starts when tasks wait for the freed slots,
     * else now. */
    if (A->nended > 0 && !A->settle && !A->lost)
        TF_TRY(say_started(A, 0));
    return watch_master(A);
}

static enum tf_status agent_on_ready(void *self, const struct pollfd *fds)
{
    service_slots(self, fds);
    return TF_OK;
}

static struct pollfd *agent_pollfds(void *self, nfds_t *n)
{
    struct tf_agent *A = self;
    for (int i = 0; i < A->nslots; i++) {
        struct pollfd *f = A->fds + i * TF_EXEC_NFDS;
        if (A->slot[i].child)
            tf_exec_pollfds(A->slot[i].child, f);
        else
            for (int k = 0; k < TF_EXEC_NFDS; k++)
                f[k] = (struct pollfd){.fd = -1};
    }
    *n = (nfds_t)A->nslots * TF_EXEC_NFDS;
    return A->fds;
}

static double agent_deadline(void *self)
{
    struct tf_agent *A = self;
    double at = 0;
    for (int i = 0; i < A->nslots; i++) {
        double d = A->slot[i].child ? tf_exec_deadline(A->slot[i].child) : 0;
        if (d > 0 && (at == 0 || d < at))
            at = d;
    }
    if (A->settle)
        return tf_monotonic(); /* queued tasks wait to start: at once */
    /* While tasks run, look up now and then: shedding and reporting depend on time. */
    double tick = A->busy > 0 ? tf_monotonic() + TICK_SECONDS : 0;
    if (A->watched && !A->stopped) { /* the heartbeat, and watching the master */
        double beat = tf_heartbeat_deadline(&A->beat);
        if (tick == 0 || beat < tick)
            tick = beat;
    }
    return tick > 0 && (at == 0 || tick < at) ? tick : at;
}

static bool agent_done(void *self)
{
    const struct tf_agent *A = self;
    return A->stopped && A->busy == 0;
}

struct tf_part tf_agent_part(struct tf_agent *a)
{
    return (struct tf_part){.self = a,
                            .name = "agent",
                            .takes = agent_takes,
                            .on_message = agent_on_message,
                            .pollfds = agent_pollfds,
                            .on_ready = agent_on_ready,
                            .step = agent_step,
                            .deadline = agent_deadline,
                            .done = agent_done};
}

/* ---- life ------------------------------------------------------------------------------- */

static char **copy_env(const char *const *env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    char **c = tf_xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = tf_xstrdup(env[i]);
    return c;
}

struct tf_agent *tf_agent_new(const struct tf_config *cfg, int rank, int nslots,
                              const struct tf_agent_slot_spec *spec, uint64_t ntasks,
                              uint64_t first_task)
{
    struct tf_agent *A = tf_xcalloc(1, sizeof *A);
    A->env = (struct tf_exec_env){.ntasks = ntasks,
                                  .id_offset = first_task,
                                  .rank = rank,
                                  .capture_max = cfg->capture_bytes,
                                  .timeout = cfg->timeout,
                                  .kill_grace = cfg->kill_grace};
    A->nslots = nslots;
    A->slot = tf_xcalloc((size_t)nslots, sizeof *A->slot);
    A->fds = tf_xcalloc((size_t)nslots * TF_EXEC_NFDS, sizeof *A->fds);
    for (int i = 0; i < nslots; i++) {
        struct slot *s = &A->slot[i];
        s->env = copy_env(spec ? spec[i].env : NULL);
        if (spec && spec[i].cpus)
            memcpy(s->cpus, spec[i].cpus, sizeof s->cpus);
        s->where = (struct tf_exec_slot){.index = i,
                                         .env = (const char *const *)s->env,
                                         .cpus = spec && spec[i].cpus ? s->cpus : NULL};
    }
    A->requested = true; /* the first batch comes unasked */
    A->shed = !cfg->no_steal;
    A->watched = rank != 0 && tf_comm_recovery_on() && cfg->worker_timeout > 0;
    A->beat = (struct tf_heartbeat){A->watched ? cfg->worker_timeout / 4 : 0, tf_monotonic()};
    A->last_heard = tf_monotonic();
    A->master_timeout = tf_liveness_master_timeout(cfg->worker_timeout);
    gethostname(A->host, sizeof A->host - 1);
    begin_out(A);
    return A;
}

void tf_agent_free(struct tf_agent *A)
{
    if (A == NULL)
        return;
    A->cancel = 2;
    for (int i = 0; i < A->nslots; i++) {
        struct slot *s = &A->slot[i];
        if (s->child) { /* only after a failure: kill and reap it, drop its result */
            struct tf_result r;
            tf_exec_cancel(s->child, 2);
            while (!tf_exec_step(s->child, NULL))
                usleep(1000);
            tf_exec_finish(s->child, &r);
            tf_result_fini(&r);
            free((char *)s->task.command);
        }
        for (char **e = s->env; e && *e; e++)
            free(*e);
        free(s->env);
    }
    drop_queue(A);
    free(A->queue);
    free(A->ended);
    free(A->slot);
    free(A->fds);
    tf_buf_fini(&A->out);
    free(A);
}
