/* worker.c - a worker's loop: keep a local queue of assigned tasks, run them one by one,
 * send results back with a report of the queue, ask for more ahead of time when tasks are
 * short, give queued tasks back when the master asks (steal) or when a long task holds
 * them (shed), and leave when told to stop.
 *
 * While a task runs, the executor calls tick() every TICK_SECONDS, so a steal request is
 * answered even during an hour-long task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "farm.h"
#include "log.h"
#include "stopsig.h"
#include "util.h"
#include "wire.h"

/* Results are sent early once this many bytes are waiting, so neither the message nor the
 * worker's memory grows with the batch size times the capture cap. */
#define RESULTS_MAX_BYTES (8u << 20)
#define TICK_SECONDS      0.1

struct worker {
    struct tf_exec_env env;
    char host[256];
    struct tf_task *queue; /* owned copies; ring */
    size_t head, len, cap;
    uint64_t received;
    bool requested, stopped;
    struct tf_buf out; /* results waiting to be sent */
    uint64_t nout;
    double out_busy;
    double busy_total; /* for the mean task duration */
    uint64_t ndone;
    double running_since; /* 0 when no task runs */
    bool shed;            /* give queued tasks back when a long task holds them */
    enum tf_status error; /* first failure seen inside tick() */
    bool draining;        /* the run is stopping: start nothing more */
    volatile int cancel;  /* read by the executor: stop the running task (1 TERM, 2 KILL) */
};

static double mean_duration(const struct worker *W)
{
    return W->ndone ? W->busy_total / (double)W->ndone : 0;
}

static void begin_out(struct worker *W)
{
    tf_wire_begin(&W->out, TF_MSG_RESULTS);
    tf_wire_put_report(&W->out, W->host, W->len, W->received);
    W->nout = 0;
    W->out_busy = 0;
}

/* Send the waiting results (a REQUEST also asks for work), with the queue as it is now. */
static enum tf_status send_out(struct worker *W, enum tf_msg_kind kind)
{
    tf_wire_patch_report(&W->out, W->len, W->received);
    enum tf_status st = tf_comm_send(0, kind, W->out.data, W->out.len);
    if (kind == TF_MSG_REQUEST)
        W->requested = true;
    begin_out(W);
    return st;
}

static void enqueue(struct worker *W, const struct tf_task *t)
{
    if (W->len == W->cap) {
        size_t cap = W->cap ? 2 * W->cap : 64;
        struct tf_task *q = tf_xmalloc(cap * sizeof *q);
        for (size_t i = 0; i < W->len; i++)
            q[i] = W->queue[(W->head + i) % W->cap];
        free(W->queue);
        W->queue = q;
        W->head = 0;
        W->cap = cap;
    }
    struct tf_task *c = &W->queue[(W->head + W->len++) % W->cap];
    *c = *t;
    c->command = tf_xstrndup(t->command, t->command_len);
}

static struct tf_task dequeue(struct worker *W)
{
    struct tf_task t = W->queue[W->head];
    W->head = (W->head + 1) % W->cap;
    W->len--;
    return t;
}

/* Give n queued tasks back to the master: the first ones, or, when no task is running,
 * the ones after the head (which this worker starts next anyway) - unless draining. */
static enum tf_status release(struct worker *W, uint64_t n, bool shed)
{
    bool keep_head = W->running_since == 0 && W->len > 0 && !W->draining;
    struct tf_task head;
    if (keep_head)
        head = dequeue(W);
    struct tf_buf b = {0};
    tf_wire_begin(&b, TF_MSG_RELEASE);
    tf_wire_put_report(&b, W->host, W->len - n + keep_head, W->received);
    for (uint64_t i = 0; i < n; i++) {
        struct tf_task t = dequeue(W);
        tf_wire_put_task(&b, &t);
        free((char *)t.command);
    }
    tf_wire_put_u64(&b, shed);
    if (keep_head) { /* put it back in front */
        W->head = (W->head + W->cap - 1) % W->cap;
        W->queue[W->head] = head;
        W->len++;
    }
    if (shed)
        W->requested = false; /* the master forgets our request with the shed */
    tf_log(TF_LOG_DEBUG, "gave back %llu queued tasks (%s)", (unsigned long long)n,
           shed ? "held by a long task" : "stolen");
    enum tf_status st = tf_comm_send(0, TF_MSG_RELEASE, b.data, b.len);
    tf_buf_fini(&b);
    return st;
}

/* Tasks that could go elsewhere: the queue, less the head when nothing runs yet. */
static uint64_t movable(const struct worker *W)
{
    return W->running_since == 0 && W->len > 0 ? W->len - 1 : W->len;
}

static enum tf_status handle(struct worker *W, const struct tf_msg *msg)
{
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK)
        return TF_EPROTO;
    if (msg->kind == TF_MSG_ASSIGN) {
        for (uint32_t i = 0; i < rd.count; i++) {
            struct tf_task t;
            if (!tf_wire_get_task(&rd, &t))
                return TF_EPROTO;
            enqueue(W, &t);
        }
        W->received += rd.count;
        W->requested = false;
        return TF_OK;
    }
    uint64_t n;
    if (!tf_wire_get_u64(&rd, &n))
        return TF_EPROTO;
    if (msg->kind == TF_MSG_STEAL)
        return release(W, tf_sched_release_count(n, movable(W)), false);
    if (msg->kind == TF_MSG_STOP) {
        W->stopped = true;
        return TF_OK;
    }
    if (msg->kind == TF_MSG_DRAIN) {
        W->draining = true;
        if (n >= 2) /* tf_stop: 2 stop the running task, 3 kill it now */
            W->cancel = n >= 3 ? 2 : 1;
        return TF_OK;
    }
    return TF_EPROTO;
}

/* Handle every message already here; with `wait`, first wait for one. */
static enum tf_status drain_messages(struct worker *W, bool wait)
{
    for (;;) {
        struct tf_msg msg = {0};
        bool got;
        TF_TRY(tf_comm_recv(&msg, wait ? -1 : 0, &got));
        if (!got)
            return TF_OK;
        enum tf_status st = handle(W, &msg);
        tf_msg_clear(&msg);
        TF_TRY(st);
        /* While draining, queued tasks (and any batch that crossed the drain) go back. */
        if (W->draining && W->len > 0)
            TF_TRY(release(W, W->len, false));
        wait = false;
    }
}

/* Decide what to tell the master now. */
static enum tf_status talk(struct worker *W)
{
    double now = tf_monotonic();
    double ran = W->running_since > 0 ? now - W->running_since : 0;
    bool idle = W->running_since == 0 && W->len == 0;
    double mean = mean_duration(W);
    if (W->shed && W->running_since > 0 && tf_sched_should_shed(W->len, mean, ran))
        TF_TRY(release(W, W->len, true));
    if (!W->requested && (idle || tf_sched_should_prefetch(W->len, mean, ran)))
        return send_out(W, TF_MSG_REQUEST);
    if (W->nout > 0 &&
        (idle || W->out.len >= RESULTS_MAX_BYTES || tf_sched_should_report(W->nout, W->out_busy)))
        return send_out(W, TF_MSG_RESULTS);
    return TF_OK;
}

static void tick(void *arg)
{
    struct worker *W = arg;
    if (W->error == TF_OK)
        W->error = drain_messages(W, false);
    if (W->error == TF_OK)
        W->error = talk(W);
}

static enum tf_status run_next(struct worker *W)
{
    struct tf_task t = dequeue(W);
    struct tf_result r;
    W->running_since = tf_monotonic();
    tf_exec_run(&W->env, &t, &r);
    W->running_since = 0;
    /* A task killed by a signal while the job is being stopped (Slurm signals every
     * process of the job) did not fail: it was interrupted and will run again. */
    if (r.status == TF_TASK_KILLED && (W->draining || tf_stopsig_count() > 0))
        r.status = TF_TASK_NOT_RUN;
    free((char *)t.command);
    tf_wire_put_result(&W->out, &r);
    W->nout++;
    W->out_busy += r.end - r.start;
    W->busy_total += r.end - r.start;
    W->ndone++;
    tf_result_fini(&r);
    return W->error;
}

enum tf_status tf_worker_run(const struct tf_config *cfg, int rank, uint64_t ntasks,
                             uint64_t first_task, const char *const *extra_env)
{
    struct worker W = {.env = {.ntasks = ntasks,
                               .id_offset = first_task,
                               .rank = rank,
                               .extra_env = extra_env,
                               .capture_max = cfg->capture_bytes,
                               .timeout = cfg->timeout,
                               .kill_grace = cfg->kill_grace,
                               .tick_seconds = TICK_SECONDS},
                       .requested = true, /* the first batch comes unasked */
                       .shed = !cfg->no_steal};
    W.env.tick = tick;
    W.env.tick_arg = &W;
    W.env.cancel = &W.cancel;
    gethostname(W.host, sizeof W.host - 1);
    begin_out(&W);
    enum tf_status st = TF_OK;
    while (st == TF_OK && !W.stopped) {
        bool idle = W.len == 0;
        st = drain_messages(&W, idle && W.requested);
        if (st == TF_OK && W.len > 0 && !W.draining)
            st = run_next(&W);
        if (st == TF_OK)
            st = talk(&W);
    }
    if (st != TF_OK)
        tf_log(TF_LOG_ERROR, "worker stopped: %s", tf_status_str(st));
    while (W.len > 0)
        free((char *)dequeue(&W).command);
    free(W.queue);
    tf_buf_fini(&W.out);
    return st;
}
