/* mapagent.c - one process's share of an in-process map: its slots are compute threads
 * (mapthreads.c). Batches the master sends wait in a queue until a thread is free; each
 * finished batch goes back as one MAP_RESULT message. The agent lives in the event loop,
 * which hears of finished batches through the threads' descriptor.
 */
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
};

static bool mapagent_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_MAP_ASSIGN || kind == TF_MSG_STOP;
}

static void drop_queue(struct tf_mapagent *A)
{
    for (size_t i = 0; i < A->nq; i++)
        tf_msg_clear(&A->queue[i]);
    A->nq = 0;
}

static enum tf_status mapagent_on_message(void *self, struct tf_msg *msg)
{
    struct tf_mapagent *A = self;
    if (msg->kind == TF_MSG_STOP) { /* what has not started stays not run */
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
        if (tf_comm_isend(0, TF_MSG_MAP_RESULT, data, len) != TF_OK)
            return fail(A, TASKFARM_EMPI, "sending results failed");
    }
    return TF_OK;
}

static enum tf_status mapagent_step(void *self)
{
    struct tf_mapagent *A = self;
    for (int i = 0; i < A->nthreads && A->nq > 0 && !A->stop; i++)
        if (!A->working[i])
            TF_TRY(start_batch(A, i));
    if (A->stop && A->busy == 0 && !A->bye_sent) {
        A->bye_sent = true;
        if (tf_comm_isend(0, TF_MSG_MAP_BYE, tf_xmalloc(1), 0) != TF_OK)
            return fail(A, TASKFARM_EMPI, "sending failed");
    }
    return TF_OK;
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
                            .takes = mapagent_takes,
                            .on_message = mapagent_on_message,
                            .pollfds = mapagent_pollfds,
                            .on_ready = mapagent_on_ready,
                            .step = mapagent_step,
                            .done = mapagent_done};
}

struct tf_mapagent *tf_mapagent_new(struct taskfarm_map *map, int rank, const char *host,
                                    int nthreads, const struct tf_rank_plan *plan, bool direct,
                                    uint64_t data_offset)
{
    struct tf_mapagent *A = tf_xcalloc(1, sizeof *A);
    A->map = map;
    A->rank = rank;
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
