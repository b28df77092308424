/* mapagent.c - one process's share of an in-process map: its slots are compute threads
 * (mapthreads.c). Batches the master sends wait in a queue until a thread is free; each
 * finished batch goes back as one MAP_RESULT message. The agent lives in the event loop,
 * which hears of finished batches through the threads' descriptor.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map_impl.h"
#include "mapthreads.h"
#include "util.h"

struct tf_mapagent {
    struct taskfarm_map *map;
    int rank, nthreads, busy;
    struct tf_compute *c; /* per thread */
    bool *working;
    struct tf_mapthreads *threads;
    struct tf_msg *queue; /* MAP_ASSIGN messages not started */
    size_t nq, capq;
    bool stop, bye_sent;
    int rc; /* taskfarm_error: the first failure */
    struct pollfd fd;
    /* A rank the master may declare lost (tf_mapagent_watch): it says when batches start and
     * when it is quiet, and leaves when told it was lost or when the master is gone. */
    const char *host;
    bool watched, lost;
    double timeout, master_timeout;
    struct tf_heartbeat beat;
    double last_heard, last_beat; /* tf_monotonic() */
    _Atomic double write_until;   /* see tf_compute.write_until */
};

/* A rank leaves when the master has been silent this many timeouts (at least a minute): the
 * master answers every heartbeat, so only a dead master is this quiet. */
static bool mapagent_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_MAP_ASSIGN || kind == TF_MSG_STOP;
}

/* A watched rank also hears the master's answers to its heartbeats (TF_MSG_ALIVE). */
static bool mapagent_takes_watched(enum tf_msg_kind kind)
{
    return mapagent_takes(kind) || kind == TF_MSG_ALIVE;
}

static enum tf_status to_master(struct tf_mapagent *A, enum tf_msg_kind kind, void *data,
                                size_t len)
{
    if (A->lost) {
        free(data);
        return TF_OK;
    }
    A->beat.last_sent = tf_monotonic();
    return tf_comm_isend(0, kind, data, len);
}

static void drop_queue(struct tf_mapagent *A)
{
    for (size_t i = 0; i < A->nq; i++)
        tf_msg_clear(&A->queue[i]);
    A->nq = 0;
}

/* Declared lost, or the master is gone: the batches here are someone else's now. What the
 * threads are computing is dropped when it ends; nothing more is sent. */
static void leave(struct tf_mapagent *A, const char *why)
{
    tf_log(TF_LOG_WARN, "%s: rank %d leaves the map (%d batches in hand dropped)", why, A->rank,
           A->busy);
    A->lost = A->stop = true;
    atomic_store(&A->write_until, 0.0);
    drop_queue(A);
    tf_comm_skip_collectives();
    if (A->rc == TASKFARM_OK)
        A->rc = tf_map_fail(A->map, TASKFARM_EMPI, "rank %d: %s: it left the map", A->rank, why);
}

/* STOP's first value (enum tf_stop_why; none from older masters: done). */
static uint64_t stop_why(const struct tf_msg *msg)
{
    struct tf_wire_reader rd;
    uint64_t why = TF_WHY_DONE;
    if (msg->len > 0 && tf_wire_open(&rd, msg->data, msg->len) == TF_OK &&
        tf_wire_get_u64(&rd, &why))
        return why;
    return TF_WHY_DONE;
}

static enum tf_status mapagent_on_message(void *self, struct tf_msg *msg)
{
    struct tf_mapagent *A = self;
    if (A->watched) {
        A->last_heard = tf_monotonic();
        if (!A->lost)
            atomic_store(&A->write_until, A->last_heard + A->timeout / 2);
    }
    if (msg->kind == TF_MSG_ALIVE || A->lost)
        return TF_OK;               /* lost: whatever the master still sent is another's now */
    if (msg->kind == TF_MSG_STOP) { /* what has not started stays not run */
        uint64_t why = stop_why(msg);
        if (why == TF_WHY_YOU_LOST) {
            leave(A, "the master declared this process lost (it was not heard from in time)");
            return TF_OK;
        }
        if (why == TF_WHY_PEER_LOST)
            tf_comm_skip_collectives(); /* a rank died: no barrier or MPI_Finalize would end */
        A->stop = true;
        drop_queue(A);
        return TF_OK;
    }
    if (A->nq == A->capq) {
        A->capq = A->capq ? 2 * A->capq : 8;
        A->queue = tf_xrealloc(A->queue, A->capq * sizeof *A->queue);
    }
    A->queue[A->nq++] = *msg;
    msg->data = NULL; /* ours now */
    return TF_OK;
}

static enum tf_status fail(struct tf_mapagent *A, int code, const char *what)
{
    if (A->rc == TASKFARM_OK)
        A->rc = tf_map_fail(A->map, code, "rank %d: %s", A->rank, what);
    return code == TASKFARM_EMPI ? TF_EMPI : TF_EPROTO;
}

/* Thread i takes the first queued batch. */
static enum tf_status start_batch(struct tf_mapagent *A, int i)
{
    struct tf_msg m = A->queue[0];
    memmove(A->queue, A->queue + 1, --A->nq * sizeof *A->queue);
    struct tf_wire_reader rd;
    uint64_t lo, n;
    const char *items = NULL;
    size_t ilen = 0;
    struct tf_compute *c = &A->c[i];
    bool ok = tf_wire_open(&rd, m.data, m.len) == TF_OK && tf_wire_get_u64(&rd, &lo) &&
              tf_wire_get_u64(&rd, &n) && (rd.p == rd.end || tf_wire_get_str(&rd, &items, &ilen)) &&
              (!items || ilen == n * A->map->item_size);
    if (ok && items) { /* copied: the message does not keep the records aligned */
        tf_mapbatch_reserve(&c->items, &c->items_cap, ilen);
        memcpy(c->items, items, ilen);
    }
    tf_msg_clear(&m);
    if (!ok)
        return fail(A, TASKFARM_EMPI, "a malformed batch");
    if (A->watched) { /* before it starts: if this process dies, the master knows it ran */
        struct tf_buf b = {0};
        tf_wire_begin(&b, TF_MSG_STARTED);
        tf_wire_put_u64(&b, lo);
        tf_wire_put_str(&b, A->host, strlen(A->host));
        if (to_master(A, TF_MSG_STARTED, b.data, b.len) != TF_OK)
            return fail(A, TASKFARM_EMPI, "sending failed");
    }
    A->working[i] = true;
    A->busy++;
    tf_mapthreads_give(A->threads, i, lo, n);
    return TF_OK;
}

/* Finished batches go to the master, one message each. */
static enum tf_status mapagent_on_ready(void *self, const struct pollfd *fds)
{
    struct tf_mapagent *A = self;
    (void)fds;
    for (int i; (i = tf_mapthreads_take(A->threads)) >= 0;) {
        struct tf_compute *c = &A->c[i];
        void *data = c->msg.data;
        size_t len = c->msg.len;
        c->msg = (struct tf_buf){0};
        A->working[i] = false;
        A->busy--;
        if (to_master(A, TF_MSG_MAP_RESULT, data, len) != TF_OK)
            return fail(A, TASKFARM_EMPI, "sending results failed");
    }
    return TF_OK;
}

/* A watched rank: a heartbeat when it has sent nothing, or heard nothing, for a quarter of
 * the timeout (the answer keeps its direct writes going), and leave when the master is gone. */
static enum tf_status watch_master(struct tf_mapagent *A)
{
    if (!A->watched || A->lost)
        return TF_OK;
    double now = tf_monotonic();
    char why[128];
    if (tf_liveness_master_gone(A->last_heard, now, A->master_timeout, why, sizeof why)) {
        leave(A, why);
        return TF_OK;
    }
    bool quiet = now - A->last_heard >= A->beat.period && now - A->last_beat >= A->beat.period;
    if (!tf_heartbeat_due(&A->beat, now) && !quiet)
        return TF_OK;
    A->last_beat = now;
    struct tf_buf b = {0};
    tf_wire_begin(&b, TF_MSG_HEARTBEAT);
    return to_master(A, TF_MSG_HEARTBEAT, b.data, b.len);
}

static enum tf_status mapagent_step(void *self)
{
    struct tf_mapagent *A = self;
    for (int i = 0; i < A->nthreads && A->nq > 0 && !A->stop; i++)
        if (!A->working[i])
            TF_TRY(start_batch(A, i));
    if (A->stop && A->busy == 0 && !A->bye_sent) {
        A->bye_sent = true;
        if (to_master(A, TF_MSG_MAP_BYE, tf_xmalloc(1), 0) != TF_OK)
            return fail(A, TASKFARM_EMPI, "sending failed");
    }
    if (!A->bye_sent)
        TF_TRY(watch_master(A));
    return TF_OK;
}

static double mapagent_deadline(void *self)
{
    const struct tf_mapagent *A = self;
    if (!A->watched || A->lost || A->bye_sent)
        return 0;
    double beat = tf_heartbeat_deadline(&A->beat), heard = A->last_heard + A->beat.period;
    return beat < heard ? beat : heard;
}

static struct pollfd *mapagent_pollfds(void *self, nfds_t *n)
{
    struct tf_mapagent *A = self;
    A->fd = (struct pollfd){.fd = tf_mapthreads_fd(A->threads), .events = POLLIN};
    *n = 1;
    return &A->fd;
}

static bool mapagent_done(void *self)
{
    return ((struct tf_mapagent *)self)->bye_sent;
}

struct tf_part tf_mapagent_part(struct tf_mapagent *a)
{
    return (struct tf_part){.self = a,
                            .name = "map agent",
                            .takes = a->watched ? mapagent_takes_watched : mapagent_takes,
                            .on_message = mapagent_on_message,
                            .pollfds = mapagent_pollfds,
                            .on_ready = mapagent_on_ready,
                            .step = mapagent_step,
                            .deadline = mapagent_deadline,
                            .done = mapagent_done};
}

struct tf_mapagent *tf_mapagent_new(struct taskfarm_map *map, int rank, const char *host,
                                    int nthreads, const struct tf_rank_plan *plan, bool direct,
                                    uint64_t data_offset)
{
    struct tf_mapagent *A = tf_xcalloc(1, sizeof *A);
    A->map = map;
    A->rank = rank;
    A->host = host;
    A->nthreads = nthreads;
    A->c = tf_xcalloc((size_t)nthreads, sizeof *A->c);
    A->working = tf_xcalloc((size_t)nthreads, sizeof *A->working);
    for (int i = 0; i < nthreads; i++) {
        struct tf_compute *c = &A->c[i];
        *c = (struct tf_compute){
            .map = map, .rank = rank, .host = host, .rows_fd = -1, .data_offset = data_offset};
        if (direct)
            c->rows_fd = tf_h5map_open_rows(map->output);
        c->item = tf_xcalloc(1, map->item_size ? map->item_size : 1);
    }
    A->threads = tf_mapthreads_start(A->c, nthreads, plan);
    if (A->threads == NULL) {
        tf_map_fail(map, TASKFARM_ENOMEM, "rank %d: cannot start %d compute threads", rank,
                    nthreads);
        tf_mapagent_free(A);
        return NULL;
    }
    return A;
}

void tf_mapagent_watch(struct tf_mapagent *A, double timeout)
{
    A->watched = true;
    A->timeout = timeout;
    A->master_timeout = tf_liveness_master_timeout(timeout);
    A->beat = (struct tf_heartbeat){.period = timeout / 4, .last_sent = tf_monotonic()};
    A->last_heard = A->last_beat = tf_monotonic();
    atomic_store(&A->write_until, A->last_heard + timeout / 2);
    for (int i = 0; i < A->nthreads; i++)
        A->c[i].write_until = &A->write_until;
}

int tf_mapagent_free(struct tf_mapagent *A)
{
    if (A == NULL)
        return TASKFARM_OK;
    tf_mapthreads_stop(A->threads);
    for (int i = 0; i < A->nthreads; i++)
        tf_mapbatch_fini(&A->c[i]);
    drop_queue(A);
    free(A->queue);
    free(A->c);
    free(A->working);
    int rc = A->rc;
    free(A);
    return rc;
}
