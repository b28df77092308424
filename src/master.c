/* master.c - rank 0's master: turn worker messages into scheduler events, carry out the
 * scheduler's actions (assign, steal, stop), store results, retry, stop early, and close
 * the run.
 *
 * The master never blocks on a worker: every send is non-blocking, and the event loop
 * waits for it. Termination is the scheduler's: a worker is sent STOP only when it holds
 * no task and none is queued anywhere, so once every worker is stopped every result is in,
 * and no message is left unmatched (a worker sends nothing after its last report, and is
 * sent nothing after STOP).
 */
#include "master.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "wire.h"

/* A batch message is cut at this size even when the scheduler allows more tasks: long
 * command lines must not make messages of gigabytes. */
#define ASSIGN_MAX_BYTES (4u << 20)
/* Signals, the walltime and drain deadlines are looked at least this often. */
#define WATCH_SECONDS 0.2

/* ---- tasks given back, waiting to go out again ---------------------------------------- */

static void returned_push(struct tf_returned *q, const struct tf_task *t)
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

static void returned_clear(struct tf_returned *q)
{
    for (size_t i = 0; i < q->len; i++)
        free((char *)q->v[q->head + i].command);
    q->head = q->len = 0;
}

/* Where in q the next task for the worker on `rank` is: the first that did not just fail
 * there, or -1 when every one did (looking at most this far). */
#define AVOID_LOOKAHEAD 64
static long returned_find(const struct tf_returned *q, int rank)
{
    for (size_t i = 0; i < q->len && i < AVOID_LOOKAHEAD; i++)
        if (q->v[q->head + i].avoid_rank != rank)
            return (long)i;
    return -1;
}

/* Take the next task from q for the worker on `rank`: one it may run, or a retry that failed
 * there when the scheduler found nothing else for it. */
static struct tf_task returned_take(struct tf_returned *q, int rank)
{
    long at = returned_find(q, rank);
    size_t pick = at < 0 ? 0 : (size_t)at;
    struct tf_task t = q->v[q->head + pick];
    memmove(q->v + q->head + 1, q->v + q->head, pick * sizeof *q->v);
    q->head++;
    q->len--;
    return t;
}

/* ---- tasks out -------------------------------------------------------------------------- */

static int32_t prior_attempts(const struct tf_master *m, uint64_t id)
{
    size_t lo = 0, hi = m->nprior;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->prior[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nprior && m->prior[lo].id == id ? m->prior[lo].attempts : 0;
}

/* The stop reason of a run whose task file changed: compared by address in summarize. */
static const char taskfile_changed[] = "the task file changed during the run";

/* The task file is no longer the one scanned (D6): stop like a drain, the running tasks
 * finish and nothing more starts; summarize says how to finish. */
static void stop_on_changed_file(struct tf_master *m, const struct tf_taskfile *tf)
{
    const char *why = tf_taskfile_changed(tf);
    tf_log(TF_LOG_WARN, "task file '%s' changed during the run (%s)", m->cfg->taskfile,
           why ? why : "it ends early");
    tf_stopwatch_begin(&m->watch, taskfile_changed, -1, true);
    tf_sched_stop_new(m->sched);
}

/* The next task from the task file, its command recorded in the result file. *got is false
 * when the file changed during the run: the run is then stopping. */
static enum tf_status next_task(struct tf_master *m, struct tf_task *t, bool *got)
{
    *got = false;
    if (m->watch.reason == taskfile_changed)
        return TF_OK;
    if (m->plan) {
        const struct tf_planned *p = &m->plan[m->planned];
        *got = tf_taskfile_read_at(m->tasks, p->id, p->line, p->offset, t) == TF_OK;
        m->planned += *got;
    }
    while (!m->plan && tf_taskfile_next(m->tasks, t, got) == TF_OK && *got && m->skip &&
           t->id < m->ntotal && m->skip[t->id])
        ;
    if (!*got) {
        stop_on_changed_file(m, m->tasks);
        return TF_OK;
    }
    if (m->nprior)
        t->attempts = prior_attempts(m, t->id);
    return tf_h5out_put_command(m->h5, t);
}

static int worker_index(const struct tf_master *m, int rank)
{
    return rank >= 0 && rank < m->nranks ? m->worker_of[rank] : -1;
}

/* With workers that may die: the ledger holds what w was sent, to send it again. */
static void note_assigned(struct tf_master *m, int w, const struct tf_task *t)
{
    if (m->ledger)
        tf_ledger_assigned(
            m->ledger, w,
            &(struct tf_ledger_task){t->id, t->line, t->offset, t->attempts, false, false});
}

/* Pack up to `count` tasks for worker w, given-back ones or new ones from the file. */
static enum tf_status assign(struct tf_master *m, int w, uint64_t count, bool from_returned)
{
    struct tf_buf buf = {0};
    uint64_t from_back = 0, from_stream = 0;
    int rank = m->rank_of[w];
    tf_wire_begin(&buf, TF_MSG_ASSIGN);
    while (from_returned && from_back < count && m->back.len > 0 && buf.len < ASSIGN_MAX_BYTES) {
        struct tf_task t = returned_take(&m->back, rank);
        int failed_on = worker_index(m, t.avoid_rank);
        if (failed_on >= 0)
            tf_sched_on_retry_assigned(m->sched, failed_on);
        tf_wire_put_task(&buf, &t);
        note_assigned(m, w, &t);
        free((char *)t.command);
        from_back++;
    }
    while (!from_returned && from_stream < count && buf.len < ASSIGN_MAX_BYTES) {
        struct tf_task t;
        bool got;
        enum tf_status st = next_task(m, &t, &got);
        if (st != TF_OK) {
            tf_buf_fini(&buf);
            return st;
        }
        if (!got)
            break;
        tf_wire_put_task(&buf, &t);
        note_assigned(m, w, &t);
        from_stream++;
    }
    if (from_back)
        tf_sched_on_assign(m->sched, w, from_back, false);
    if (from_stream)
        tf_sched_on_assign(m->sched, w, from_stream, true);
    if (from_back + from_stream == 0) {
        /* The file changed before the first one: the worker still waits for an answer, so it
         * asks again, and the stopping scheduler answers STOP once its tasks are done. */
        tf_buf_fini(&buf);
        tf_sched_on_request(m->sched, w, (int)count);
        return TF_OK;
    }
    tf_log(TF_LOG_DEBUG, "assigned %llu tasks to rank %d",
           (unsigned long long)(from_back + from_stream), rank);
    return tf_comm_isend(rank, TF_MSG_ASSIGN, buf.data, buf.len);
}

static enum tf_status send_values(int rank, enum tf_msg_kind kind, uint64_t a, uint64_t b)
{
    struct tf_buf buf = {0};
    tf_wire_begin(&buf, (uint16_t)kind);
    tf_wire_put_u64(&buf, a);
    tf_wire_put_u64(&buf, b);
    return tf_comm_isend(rank, kind, buf.data, buf.len);
}

/* Carry out every action the scheduler has for us now. */
static enum tf_status act(struct tf_master *m)
{
    struct tf_action a;
    while (tf_sched_next_action(m->sched, &a)) {
        int rank = m->rank_of[a.worker];
        switch (a.kind) {
        case TF_ACT_ASSIGN:
            TF_TRY(assign(m, a.worker, a.count, a.from_returned));
            break;
        case TF_ACT_STEAL:
            tf_log(TF_LOG_DEBUG, "rank %d has free slots: asking rank %d for %llu queued tasks",
                   rank, m->rank_of[a.victim], (unsigned long long)a.count);
            TF_TRY(
                send_values(m->rank_of[a.victim], TF_MSG_STEAL, a.count, (uint64_t)a.thief_slots));
            break;
        case TF_ACT_STOP: /* after a loss, nobody waits for the dead in MPI_Finalize */
            tf_liveness_ignore(m->live, a.worker);
            TF_TRY(send_values(rank, TF_MSG_STOP, m->nlost ? TF_WHY_PEER_LOST : TF_WHY_DONE, 0));
            break;
        default:
            break;
        }
    }
    return TF_OK;
}

/* Open MPI's recovery keeps the job when a rank dies, and MPI then says nothing: the master
 * watches its workers itself. Without recovery, mpirun ends the job at a death. */
static void watch_workers(struct tf_master *m)
{
    if (m->nranks < 2)
        return;
    if (!tf_comm_recovery_on()) {
        tf_log(TF_LOG_WARN, "a process that dies ends this job; to go on without it, run "
                            "mpirun --mca orte_enable_recovery 1 (README: when a worker dies)");
        return;
    }
    if (m->cfg->worker_timeout <= 0)
        return;
    m->ledger = tf_ledger_new(m->nworkers);
    tf_ledger_track_starts(m->ledger);
    m->live = tf_liveness_new(m->nworkers, m->cfg->worker_timeout, tf_monotonic());
    tf_liveness_ignore(m->live, worker_index(m, 0)); /* rank 0's own slots die with us */
    tf_sched_expect_losses(m->sched);
}

enum tf_status tf_master_begin(struct tf_master *m)
{
    watch_workers(m);
    /* A walltime already too short for one task, or a signal during start-up: no task. */
    TF_TRY(tf_master_step(m));
    for (int w = 0; w < m->nworkers; w++)
        tf_sched_on_request(m->sched, w, tf_sched_slots(m->sched, w));
    m->started = true;
    return act(m);
}

static enum tf_status tell_stop(struct tf_master *m);

/* ---- results in --------------------------------------------------------------------------- */

static bool retry_left(const struct tf_master *m, const struct tf_result *r)
{
    int32_t this_run = r->attempts - (m->nprior ? prior_attempts(m, r->id) : 0);
    if (m->ledger) /* runs lost with their worker are not the task's failures */
        this_run -= (int32_t)tf_ledger_losses(m->ledger, r->id);
    return m->watch.stop == TF_RUNNING && this_run <= m->cfg->retries;
}

/* A task came back: store it (journal, then result file) and count it, or, when it did not
 * succeed and has retries left, queue it to run once more. An interrupted task (NOT_RUN) is
 * neither: it stays NOT_RUN for --resume. */
static enum tf_status store_result(struct tf_master *m, const struct tf_result *r, const char *host)
{
    if (r->status == TF_TASK_NOT_RUN) {
        tf_log(TF_LOG_INFO, "task %llu was stopped by the drain: NOT_RUN, --resume runs it",
               (unsigned long long)r->id);
        return TF_OK;
    }
    bool ok = r->status == TF_TASK_SUCCEEDED;
    if (!ok && r->status != TF_TASK_LOST && retry_left(m, r)) {
        struct tf_task again;
        if (tf_taskfile_read_at(m->retry_reader, r->id, r->line, r->offset, &again) != TF_OK) {
            /* Not run again from a changed file: this attempt's outcome is stored. */
            stop_on_changed_file(m, m->retry_reader);
            return store_result(m, r, host);
        }
        again.attempts = r->attempts;
        again.avoid_rank = r->rank;
        returned_push(&m->back, &again);
        tf_sched_on_requeue(m->sched, 1, worker_index(m, r->rank));
        tf_log(TF_LOG_INFO, "task %llu %s (attempt %d): running it again",
               (unsigned long long)r->id, tf_task_status_name(r->status), r->attempts);
        return TF_OK;
    }
    if (r->status >= 0 && r->status < TF_TASK_STATUS_COUNT)
        m->counts[r->status]++;
    if (m->journal)
        tf_journal_add(m->journal, r, host);
    TF_TRY(tf_h5out_put_result(m->h5, r, host));
    if (!ok && ++m->failures >= m->cfg->max_failures && m->cfg->max_failures > 0) {
        tf_stopwatch_begin(&m->watch, "--max-failures reached", -1, false);
        tf_sched_stop_new(m->sched);
    }
    return TF_OK;
}

/* A watched worker's heartbeat (answered: the worker watches us too) or its starts. */
static enum tf_status on_liveness(struct tf_master *m, int w, const struct tf_msg *msg)
{
    struct tf_wire_reader rd;
    uint64_t n, id;
    if (msg->kind == TF_MSG_HEARTBEAT) {
        struct tf_buf b = {0};
        tf_wire_begin(&b, TF_MSG_ALIVE);
        return tf_comm_isend(msg->peer, TF_MSG_ALIVE, b.data, b.len);
    }
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK || !tf_wire_get_u64(&rd, &n))
        return TF_EPROTO;
    for (uint64_t i = 0; i < n; i++) {
        if (!tf_wire_get_u64(&rd, &id))
            return TF_EPROTO;
        if (m->ledger)
            tf_ledger_started(m->ledger, w, id);
    }
    if (!tf_wire_get_u64(&rd, &n)) /* then the runs that ended, their results on the way */
        return TF_EPROTO;
    for (uint64_t i = 0; i < n; i++) {
        if (!tf_wire_get_u64(&rd, &id))
            return TF_EPROTO;
        if (m->ledger)
            tf_ledger_ended(m->ledger, w, id);
    }
    return TF_OK;
}

/* Results and given-back tasks from w; *accepted counts those the ledger took (all of them
 * when no worker can be lost), and *busy their run time. */
static enum tf_status take_tasks(struct tf_master *m, int w, const struct tf_msg *msg,
                                 struct tf_wire_reader *rd, const char *host, uint32_t *accepted,
                                 double *busy)
{
    for (uint32_t i = 0; i < rd->count; i++) {
        if (msg->kind == TF_MSG_RELEASE) {
            struct tf_task t;
            if (!tf_wire_get_task(rd, &t))
                return TF_EPROTO;
            if (m->ledger && !tf_ledger_released(m->ledger, w, t.id))
                continue;
            returned_push(&m->back, &t);
            ++*accepted;
            continue;
        }
        struct tf_result r;
        if (!tf_wire_get_result(rd, &r))
            return TF_EPROTO;
        if (m->ledger && !tf_ledger_result(m->ledger, w, r.id)) {
            tf_log(TF_LOG_DEBUG, "late result of task %llu from rank %d ignored",
                   (unsigned long long)r.id, msg->peer);
            continue;
        }
        ++*accepted;
        *busy += r.end - r.start;
        TF_TRY(store_result(m, &r, host));
    }
    return TF_OK;
}

enum tf_status tf_master_on_message(struct tf_master *m, const struct tf_msg *msg)
{
    struct tf_wire_reader rd;
    struct tf_report rep;
    int w = worker_index(m, msg->peer);
    if (w < 0)
        goto bad;
    if (m->live && tf_sched_worker_lost(m->sched, w))
        return TF_OK; /* declared lost: whatever it says now is someone else's business */
    tf_liveness_heard(m->live, w, tf_monotonic());
    if (msg->kind == TF_MSG_HEARTBEAT || msg->kind == TF_MSG_STARTED) {
        if (on_liveness(m, w, msg) != TF_OK)
            goto bad;
        return TF_OK;
    }
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK || !tf_wire_get_report(&rd, &rep))
        goto bad;
    double busy = 0;
    uint32_t accepted = 0;
    enum tf_status st = take_tasks(m, w, msg, &rd, rep.host, &accepted, &busy);
    if (st == TF_EPROTO)
        goto bad;
    TF_TRY(st);
    TF_TRY(tf_master_persist(m, false)); /* from here on these tasks are finished */
    if (msg->kind == TF_MSG_RELEASE) {
        uint64_t shed;
        if (!tf_wire_get_u64(&rd, &shed))
            goto bad;
        tf_sched_on_release(m->sched, w, accepted, shed != 0);
    } else {
        tf_sched_on_done(m->sched, w, accepted, busy);
    }
    tf_sched_on_report(m->sched, w, rep.queued, rep.received);
    if (msg->kind == TF_MSG_REQUEST)
        tf_sched_on_request(m->sched, w, (int)(rep.want < 1 ? 1 : rep.want));
    else if (rep.want > 0)
        tf_sched_on_want(m->sched, w, (int)rep.want);
    TF_TRY(act(m));
    return tell_stop(m); /* a --max-failures stop reaches the workers at once */
bad:
    tf_log(TF_LOG_ERROR, "malformed message (kind %d) from rank %d", msg->kind, msg->peer);
    return TF_EPROTO;
}

/* ---- stopping, persisting, progress --------------------------------------------------- */

/* Tell every worker still working how far the stop has got: 1 no new tasks (give the queue
 * back), 2 stop the running tasks (SIGTERM, then SIGKILL), 3 kill them now. */
static enum tf_status tell_stop(struct tf_master *m)
{
    if (m->watch.stop == m->told)
        return TF_OK;
    m->told = m->watch.stop;
    if (m->watch.stop >= TF_STOP_NEW)
        returned_clear(&m->back); /* tasks given back stay NOT_RUN */
    TF_TRY(tf_master_persist(m, true));
    for (int w = 0; w < m->nworkers; w++)
        if (!tf_sched_worker_stopped(m->sched, w))
            TF_TRY(send_values(m->rank_of[w], TF_MSG_DRAIN, (uint64_t)m->watch.stop, 0));
    return act(m);
}

enum tf_status tf_master_persist(struct tf_master *m, bool now)
{
    TF_TRY(tf_journal_commit(m->journal));
    if (!now && tf_monotonic() - tf_h5out_last_flush(m->h5) < TF_FLUSH_SECONDS)
        return TF_OK;
    TF_TRY(tf_journal_sync(m->journal));
    return tf_h5out_flush(m->h5);
}

static void report_progress(struct tf_master *m, bool force)
{
    uint64_t done = m->counts[1] + m->counts[2] + m->counts[3] + m->counts[4] + m->counts[5];
    uint64_t out = m->ntasks - tf_sched_unassigned(m->sched); /* handed out */
    uint64_t running = out > done ? out - done : 0;
    if (running > (uint64_t)m->nslots)
        running = (uint64_t)m->nslots; /* the rest wait in workers' queues */
    tf_progress_update(&m->progress, tf_monotonic(), done, done - m->counts[1], running, force);
}

/* ---- workers that die ---------------------------------------------------------------- */

/* A task that was running on --lost-after workers that died: recorded, never started again. */
static enum tf_status record_lost(struct tf_master *m, const struct tf_ledger_task *t, int rank)
{
    struct tf_result r = {.id = t->id,
                          .line = t->line,
                          .offset = t->offset,
                          .status = TF_TASK_LOST,
                          .exit_code = -1,
                          .rank = rank,
                          .slot = -1,
                          .attempts = t->attempts + 1,
                          .max_rss = -1};
    r.start = r.end = tf_now();
    tf_log(TF_LOG_WARN,
           "task %llu (line %llu) was running on %u processes that were lost: LOST, "
           "not started again",
           (unsigned long long)t->id, (unsigned long long)t->line,
           tf_ledger_losses(m->ledger, t->id));
    return store_result(m, &r, m->host_of[worker_index(m, rank)]);
}

/* Send the task again: it did not fail, its worker did. */
static enum tf_status send_back(struct tf_master *m, const struct tf_ledger_task *t, bool *back)
{
    struct tf_task again;
    *back = false;
    if (tf_taskfile_read_at(m->retry_reader, t->id, t->line, t->offset, &again) != TF_OK) {
        stop_on_changed_file(m, m->retry_reader); /* it stays NOT_RUN for --resume */
        return TF_OK;
    }
    again.attempts = t->attempts + (t->started ? 1 : 0); /* attempts: every start */
    again.avoid_rank = -1;
    returned_push(&m->back, &again);
    *back = true;
    return TF_OK;
}

static void remember_lost(struct tf_master *m, int w)
{
    m->lost = tf_xrealloc(m->lost, (size_t)(m->nlost + 1) * sizeof *m->lost);
    struct tf_lost_worker *l = &m->lost[m->nlost++];
    l->rank = m->rank_of[w];
    snprintf(l->host, sizeof l->host, "%s", m->host_of[w][0] ? m->host_of[w] : "?");
    l->time = tf_now();
}

/* Worker w is dead or cut off: tell it so (if it is only slow, it leaves when it wakes),
 * forget it, and give what it held to the others. */
static enum tf_status declare_lost(struct tf_master *m, int w)
{
    int rank = m->rank_of[w];
    if (m->host_of[w][0] == '\0')
        snprintf(m->host_of[w], sizeof m->host_of[w], "?");
    TF_TRY(send_values(rank, TF_MSG_STOP, TF_WHY_YOU_LOST, 0));
    tf_comm_forget_peer(rank);
    struct tf_ledger_task *held = NULL;
    size_t n = tf_ledger_take_lost(m->ledger, w, &held);
    uint64_t back = 0, running = 0;
    enum tf_status st = TF_OK;
    for (size_t i = 0; i < n && st == TF_OK; i++) {
        bool sent = false;
        running += held[i].started && !held[i].ended;
        if (held[i].started && !held[i].ended &&
            tf_ledger_losses(m->ledger, held[i].id) >= (uint32_t)m->cfg->lost_after)
            st = record_lost(m, &held[i], rank);
        else
            st = send_back(m, &held[i], &sent);
        back += sent;
    }
    free(held);
    tf_log(TF_LOG_WARN,
           "rank %d on %s not heard from for %.1f s: lost; its %zu tasks (%llu "
           "running there) go to the others",
           rank, m->host_of[w], m->cfg->worker_timeout, n, (unsigned long long)running);
    remember_lost(m, w);
    tf_sched_on_worker_lost(m->sched, w, back);
    TF_TRY(st);
    if (tf_sched_workers_left(m->sched) == 0 && tf_sched_unassigned(m->sched) > 0) {
        tf_log(TF_LOG_ERROR, "every process that runs tasks was lost: stopping");
        tf_stopwatch_begin(&m->watch, "every process that runs tasks was lost", -1, true);
        tf_sched_stop_new(m->sched);
        returned_clear(&m->back);
    }
    return act(m);
}

static enum tf_status check_workers(struct tf_master *m, double now)
{
    int w;
    while ((w = tf_liveness_check(m->live, now)) >= 0)
        if (!tf_sched_worker_stopped(m->sched, w))
            TF_TRY(declare_lost(m, w));
    return TF_OK;
}

enum tf_status tf_master_step(struct tf_master *m)
{
    double now = tf_monotonic();
    double expected =
        m->cfg->expected_duration > 0 ? m->cfg->expected_duration : tf_sched_mean(m->sched);
    if (tf_stopwatch_poll(&m->watch, now, expected) && m->watch.stop >= TF_STOP_NEW)
        tf_sched_stop_new(m->sched);
    m->next_watch = now + WATCH_SECONDS;
    if (m->started)
        TF_TRY(check_workers(m, now));
    if (m->started)
        TF_TRY(tell_stop(m));
    TF_TRY(tf_comm_progress(false));
    TF_TRY(tf_master_persist(m, false));
    report_progress(m, false);
    return TF_OK;
}

double tf_master_deadline(const struct tf_master *m)
{
    double live = tf_liveness_deadline(m->live);
    return live > 0 && live < m->next_watch ? live : m->next_watch;
}

bool tf_master_done(const struct tf_master *m)
{
    return tf_sched_stopped(m->sched) == m->nworkers;
}

/* ---- the end ---------------------------------------------------------------------------- */

static void collect_row(uint64_t id, const char *out, void *arg)
{
    tf_collect_row(arg, id, out, strlen(out));
}

/* --collect: /results from every row's output, earlier runs' rows too (a resume). */
static enum tf_status collect_results(struct tf_master *m)
{
    struct tf_collect *c = tf_collect_new(m->ntotal);
    enum tf_status st = tf_h5out_each_stdout(m->h5, collect_row, c);
    if (st == TF_OK)
        st = tf_h5out_put_results(m->h5, c);
    if (st == TF_OK)
        tf_log(TF_LOG_INFO, "--collect: %d result column%s in /results", tf_collect_keys(c),
               tf_collect_keys(c) == 1 ? "" : "s");
    tf_collect_free(c);
    return st;
}

void tf_master_fini(struct tf_master *m)
{
    tf_params_free(m->params);
    tf_taskfile_close(m->tasks);
    tf_taskfile_close(m->retry_reader);
    tf_sched_free(m->sched);
    returned_clear(&m->back);
    free(m->back.v);
    free(m->plan);
    free(m->skip);
    free(m->prior);
    free(m->rank_of);
    free(m->worker_of);
    tf_ledger_free(m->ledger);
    tf_liveness_free(m->live);
    free(m->host_of);
    free(m->lost);
    memset(m, 0, sizeof *m);
}

static const char *lost_text(const struct tf_master *m)
{
    static char text[64];
    snprintf(text, sizeof text, " (%d lost)", m->nlost);
    return text;
}

/* The lost workers, as attributes: who, where, when. */
static enum tf_status note_lost(struct tf_master *m)
{
    TF_TRY(tf_h5out_note_i64(m->h5, "workers_lost", m->nlost));
    if (m->nlost == 0)
        return TF_OK;
    int32_t *ranks = tf_xcalloc((size_t)m->nlost, sizeof *ranks);
    double *times = tf_xcalloc((size_t)m->nlost, sizeof *times);
    const char **hosts = tf_xcalloc((size_t)m->nlost, sizeof *hosts);
    for (int i = 0; i < m->nlost; i++) {
        ranks[i] = m->lost[i].rank;
        times[i] = m->lost[i].time;
        hosts[i] = m->lost[i].host;
    }
    enum tf_status st = tf_h5out_note_i32s(m->h5, "lost_worker_ranks", ranks, m->nlost);
    if (st == TF_OK)
        st = tf_h5out_note_f64s(m->h5, "lost_worker_times", times, m->nlost);
    if (st == TF_OK)
        st = tf_h5out_note_strs(m->h5, "lost_worker_hosts", hosts, m->nlost);
    free(ranks);
    free(times);
    free(hosts);
    return st;
}

/* The summary line on stdout and, for a run stopped early, how to finish it. */
static int summarize(const struct tf_master *m, const uint64_t c[TF_TASK_STATUS_COUNT], double end)
{
    char counts[256];
    tf_task_counts_text(c, counts, sizeof counts);
    if (m->cfg->verbosity > TF_QUIET)
        printf("taskfarm: %llu tasks: %s; %.1f s in %d slot%s of %d process%s%s; results in %s\n",
               (unsigned long long)m->ntotal, counts, end - m->start, m->nslots,
               m->nslots == 1 ? "" : "s", m->nworkers, m->nworkers == 1 ? "" : "es",
               m->nlost ? lost_text(m) : "", m->cfg->output);
    bool incomplete = m->watch.interrupted && c[0] > 0;
    if (incomplete && m->watch.reason == taskfile_changed) {
        const char *why = tf_taskfile_changed(m->tasks);
        if (why == NULL)
            why = tf_taskfile_changed(m->retry_reader);
        tf_print_error("task file '%s' changed during the run (%s); the finished results are "
                       "in %s: restore the file and --resume",
                       m->cfg->taskfile, why ? why : "it ends early", m->cfg->output);
    } else if (incomplete)
        fprintf(stderr,
                "taskfarm: stopped early (%s): %llu tasks not run; run the same "
                "command with --resume to finish\n",
                m->watch.reason, (unsigned long long)c[0]);
    fflush(stdout);
    if (incomplete)
        return TF_EXIT_INCOMPLETE;
    return c[TF_TASK_SUCCEEDED] == m->ntotal ? TF_EXIT_OK : TF_EXIT_TASKS;
}

int tf_master_finish(struct tf_master *m, enum tf_status st)
{
    double end = tf_now();
    uint64_t c[TF_TASK_STATUS_COUNT] = {0};
    struct rusage ru;
    if (m->progress.live)
        report_progress(m, true); /* the live line ends with the final count */
    tf_progress_end(&m->progress);
    getrusage(RUSAGE_SELF, &ru);
    enum tf_status nst = tf_h5out_note(m->h5, "master_peak_rss_mib", (double)ru.ru_maxrss / 1024.0);
    if (nst == TF_OK) /* the scheduling and storing alone, not rank 0's own tasks */
        nst = tf_h5out_note(m->h5, "master_busy_seconds", m->busy_seconds);
    if (nst == TF_OK && m->watch.reason)
        nst = tf_h5out_note_str(m->h5, "stop_reason", m->watch.reason);
    if (nst == TF_OK && m->live)
        nst = note_lost(m);
    if (nst == TF_OK && m->cfg->collect)
        nst = collect_results(m);
    enum tf_status jst = tf_journal_commit(m->journal);
    enum tf_status cst = tf_h5out_close(m->h5, end, c);
    if (cst == TF_OK)
        cst = nst != TF_OK ? nst : jst;
    /* The journal goes only when the result file holds every task's final outcome. */
    enum tf_status jcl = tf_journal_close(m->journal, cst == TF_OK && c[TF_TASK_NOT_RUN] == 0);
    if (st == TF_OK)
        st = cst != TF_OK ? cst : jcl;
    int code = TF_EXIT_INTERNAL;
    if (st != TF_OK)
        tf_log(TF_LOG_ERROR, /* not "results are in it": a full disk can leave it unreadable */
               "run failed (%s); %s may be incomplete: --resume goes on from it and its journal",
               tf_status_str(st), m->cfg->output);
    else
        code = summarize(m, c, end);
    tf_log(TF_LOG_DEBUG, "%llu steals", (unsigned long long)tf_sched_steals(m->sched));
    m->h5 = NULL;
    m->journal = NULL;
    tf_master_fini(m);
    return code;
}
