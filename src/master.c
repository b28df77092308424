/* master.c - rank 0's loop: turn worker messages into scheduler events, carry out the
 * scheduler's actions (assign, steal, stop), store results.
 *
 * The master never blocks on a worker: every send is non-blocking, and receives poll with
 * a back-off. Termination is the scheduler's: a worker is sent STOP only when it holds no
 * task and none is queued anywhere, so once every worker is stopped every result is in,
 * and no message is left unmatched (a worker sends nothing after its last report, and is
 * sent nothing after STOP).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "farm.h"
#include "log.h"
#include "util.h"
#include "wire.h"

/* A batch message is cut at this size even when the scheduler allows more tasks: long
 * command lines must not make messages of gigabytes. */
#define ASSIGN_MAX_BYTES (4u << 20)
/* Signals, the walltime and drain deadlines are looked at least this often. */
#define WATCH_SECONDS 0.2

/* Tasks given back by workers, waiting to be handed out again; owned copies. */
struct returned {
    struct tf_task *v;
    size_t head, len, cap;
};

static void returned_push(struct returned *q, const struct tf_task *t)
{
    if (q->head + q->len == q->cap) {
        if (q->head > 0) { /* compact before growing */
            memmove(q->v, q->v + q->head, q->len * sizeof *q->v);
            q->head = 0;
        }
        if (q->len == q->cap) {
            q->cap = q->cap ? 2 * q->cap : 64;
            q->v = tf_xrealloc(q->v, q->cap * sizeof *q->v);
        }
    }
    struct tf_task *c = &q->v[q->head + q->len++];
    *c = *t;
    c->command = tf_xstrndup(t->command, t->command_len);
}

static void returned_fini(struct returned *q)
{
    for (size_t i = 0; i < q->len; i++)
        free((char *)q->v[q->head + i].command);
    free(q->v);
}

/* Where in q the next task for worker w is: the first that did not just fail on w, or -1
 * when every one did (looking at most this far). */
#define AVOID_LOOKAHEAD 64
static long returned_find(const struct returned *q, int w)
{
    for (size_t i = 0; i < q->len && i < AVOID_LOOKAHEAD; i++)
        if (q->v[q->head + i].avoid_rank != w)
            return (long)i;
    return -1;
}

/* Take the next task from q for worker w: one w may run, or a retry that failed on w when
 * the scheduler found nothing else for it. */
static struct tf_task returned_take(struct returned *q, int w)
{
    long at = returned_find(q, w);
    size_t pick = at < 0 ? 0 : (size_t)at;
    struct tf_task t = q->v[q->head + pick];
    memmove(q->v + q->head + 1, q->v + q->head, pick * sizeof *q->v);
    q->head++;
    q->len--;
    return t;
}

struct master_loop {
    struct tf_master *m;
    struct returned back;
    enum tf_stop told; /* the stop level workers were told about */
};

/* Pack up to `count` tasks for worker w, given-back ones or new ones from the file. */
static enum tf_status assign(struct master_loop *L, int w, uint64_t count, bool from_returned)
{
    struct tf_master *m = L->m;
    struct tf_buf buf = {0};
    uint64_t from_back = 0, from_stream = 0;
    tf_wire_begin(&buf, TF_MSG_ASSIGN);
    while (from_returned && from_back < count && L->back.len > 0 && buf.len < ASSIGN_MAX_BYTES) {
        struct tf_task t = returned_take(&L->back, w);
        if (t.avoid_rank > 0)
            tf_sched_on_retry_assigned(m->sched, t.avoid_rank - 1);
        tf_wire_put_task(&buf, &t);
        free((char *)t.command);
        from_back++;
    }
    while (!from_returned && from_stream < count && buf.len < ASSIGN_MAX_BYTES) {
        struct tf_task t;
        enum tf_status st = tf_master_next_task(m, &t);
        if (st != TF_OK) {
            tf_buf_fini(&buf);
            return st;
        }
        tf_wire_put_task(&buf, &t);
        from_stream++;
    }
    if (from_back)
        tf_sched_on_assign(m->sched, w - 1, from_back, false);
    if (from_stream)
        tf_sched_on_assign(m->sched, w - 1, from_stream, true);
    tf_log(TF_LOG_DEBUG, "assigned %llu tasks to rank %d",
           (unsigned long long)(from_back + from_stream), w);
    return tf_comm_isend(w, TF_MSG_ASSIGN, buf.data, buf.len);
}

static enum tf_status send_small(int w, enum tf_msg_kind kind, uint64_t value)
{
    struct tf_buf buf = {0};
    tf_wire_begin(&buf, (uint16_t)kind);
    tf_wire_put_u64(&buf, value);
    return tf_comm_isend(w, kind, buf.data, buf.len);
}

/* Carry out every action the scheduler has for us now. */
static enum tf_status act(struct master_loop *L)
{
    struct tf_action a;
    while (tf_sched_next_action(L->m->sched, &a)) {
        int w = a.worker + 1;
        switch (a.kind) {
        case TF_ACT_ASSIGN:
            TF_TRY(assign(L, w, a.count, a.from_returned));
            break;
        case TF_ACT_STEAL:
            tf_log(TF_LOG_DEBUG, "rank %d is idle: asking rank %d for %llu queued tasks", w,
                   a.victim + 1, (unsigned long long)a.count);
            TF_TRY(send_small(a.victim + 1, TF_MSG_STEAL, a.count));
            break;
        case TF_ACT_STOP:
            TF_TRY(send_small(w, TF_MSG_STOP, 0));
            break;
        default:
            break;
        }
    }
    return TF_OK;
}

static enum tf_status handle(struct master_loop *L, const struct tf_msg *msg)
{
    struct tf_master *m = L->m;
    struct tf_wire_reader rd;
    struct tf_report rep;
    int w = msg->peer - 1;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK || !tf_wire_get_report(&rd, &rep))
        goto bad;
    double busy = 0;
    for (uint32_t i = 0; i < rd.count; i++) {
        if (msg->kind == TF_MSG_RELEASE) {
            struct tf_task t;
            if (!tf_wire_get_task(&rd, &t))
                goto bad;
            returned_push(&L->back, &t);
            continue;
        }
        struct tf_result r;
        struct tf_task again;
        bool retry;
        if (!tf_wire_get_result(&rd, &r))
            goto bad;
        busy += r.end - r.start;
        TF_TRY(tf_master_finish(m, &r, rep.host, &retry, &again));
        if (retry) {
            returned_push(&L->back, &again);
            tf_sched_on_requeue(m->sched, 1, again.avoid_rank - 1);
        }
    }
    TF_TRY(tf_master_persist(m, false)); /* from here on these tasks are finished */
    if (msg->kind == TF_MSG_RELEASE) {
        uint64_t shed;
        if (!tf_wire_get_u64(&rd, &shed))
            goto bad;
        tf_sched_on_release(m->sched, w, rd.count, shed != 0);
    } else {
        tf_sched_on_done(m->sched, w, rd.count, busy);
    }
    tf_sched_on_report(m->sched, w, rep.queued, rep.received);
    if (msg->kind == TF_MSG_REQUEST)
        tf_sched_on_request(m->sched, w);
    return act(L);
bad:
    tf_log(TF_LOG_ERROR, "malformed message (kind %d) from rank %d", msg->kind, msg->peer);
    return TF_EPROTO;
}

/* Tell every worker still working how far the stop has got: 1 no new tasks (give the queue
 * back), 2 stop the running task (SIGTERM, then SIGKILL), 3 kill it now. */
static enum tf_status tell_stop(struct master_loop *L)
{
    struct tf_master *m = L->m;
    if (m->stop == L->told)
        return TF_OK;
    L->told = m->stop;
    if (m->stop == TF_STOP_NEW) {
        for (size_t i = 0; i < L->back.len; i++) /* tasks given back stay NOT_RUN */
            free((char *)L->back.v[L->back.head + i].command);
        L->back.len = 0;
    }
    TF_TRY(tf_master_persist(m, true));
    for (int w = 0; w < m->nworkers; w++)
        if (!tf_sched_worker_stopped(m->sched, w))
            TF_TRY(send_small(w + 1, TF_MSG_DRAIN, (uint64_t)m->stop));
    return act(L);
}

static void report_progress(struct master_loop *L, bool force)
{
    const struct tf_master *m = L->m;
    uint64_t done = m->counts[1] + m->counts[2] + m->counts[3] + m->counts[4];
    uint64_t out = m->ntasks - tf_sched_unassigned(m->sched); /* handed out */
    uint64_t running = out > done ? out - done : 0;
    if (running > (uint64_t)m->nworkers)
        running = (uint64_t)m->nworkers; /* the rest wait in workers' queues */
    tf_master_progress((struct tf_master *)m, running, force);
}

enum tf_status tf_master_run(struct tf_master *m)
{
    struct master_loop L = {.m = m};
    enum tf_status st = TF_OK;
    /* A walltime already too short for one task, or a signal during start-up: no task. */
    tf_master_watch(m);
    /* Every worker gets its first batch (or its whole share) without asking. */
    for (int w = 0; w < m->nworkers; w++)
        tf_sched_on_request(m->sched, w);
    st = act(&L);
    while (st == TF_OK && tf_sched_stopped(m->sched) < m->nworkers) {
        struct tf_msg msg = {0};
        bool got;
        st = tf_comm_recv(&msg, WATCH_SECONDS, &got);
        if (st == TF_OK && got)
            st = handle(&L, &msg);
        tf_msg_clear(&msg);
        tf_master_watch(m);
        if (st == TF_OK)
            st = tell_stop(&L);
        if (st == TF_OK)
            st = tf_comm_progress(false);
        if (st == TF_OK)
            st = tf_master_persist(m, false);
        report_progress(&L, false);
    }

    if (st == TF_OK)
        st = tf_comm_progress(true);
    tf_log(TF_LOG_DEBUG, "%llu steals", (unsigned long long)tf_sched_steals(m->sched));
    returned_fini(&L.back);
    return st;
}
