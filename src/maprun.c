/* maprun.c - taskfarm_map_run: an in-process map on every rank. Rank 0 hands out ranges of
 * items (mapsched.c) and stores what comes back (mapstore.c); the other ranks compute their
 * batches (mapbatch.c). Alone, rank 0 does both.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "comm.h"
#include "log.h"
#include "map_impl.h"
#include "stopsig.h"
#include "util.h"

#define OUTSTANDING   2           /* batches queued per worker: the next is there when one ends */
#define MSG_BYTES     (16u << 20) /* most bytes of items or results in one batch */
#define WATCH_SECONDS 0.2         /* how often an idle master looks at signals */
#define BYE_KIND      TF_MSG_RELEASE

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

/* A stop signal: hand out nothing more; what is running finishes and is stored. */
static void watch_signals(struct tf_mapmaster *m)
{
    int seen = tf_stopsig_count();
    if (seen > m->signals_seen) {
        m->stops += seen - m->signals_seen;
        m->signals_seen = seen;
        if (!m->stopping)
            tf_log(TF_LOG_WARN, "stop signal: no new batches; %llu items not handed out",
                   (unsigned long long)tf_mapsched_left(m->sched));
        m->stopping = m->interrupted = true;
        tf_mapsched_stop(m->sched);
    }
}

/* ---- the master's loop -------------------------------------------------------------------- */

static int ship_items(struct tf_mapmaster *m, uint64_t lo, uint64_t n)
{
    struct taskfarm_map *map = m->map;
    size_t bytes = n * map->item_size;
    if (map->items_kind == TF_ITEMS_ARRAY) {
        tf_wire_put_str(&m->assign, (const char *)map->items + lo * map->item_size, bytes);
    } else if (map->items_kind == TF_ITEMS_HDF5) {
        tf_mapbatch_reserve(&m->ibuf, &m->ibuf_cap, bytes);
        if (tf_h5items_read(m->items, lo, n, m->ibuf) != TF_OK)
            return tf_map_fail(map, TASKFARM_EHDF5, "cannot read items %llu..%llu of %s:%s",
                               (unsigned long long)lo, (unsigned long long)(lo + n),
                               map->items_path, map->items_dataset);
        tf_wire_put_str(&m->assign, (const char *)m->ibuf, bytes);
    }
    return TASKFARM_OK;
}

/* Keep OUTSTANDING batches queued at worker rank `w`. */
static int fill(struct tf_mapmaster *m, int w)
{
    uint64_t lo, n;
    while (!m->stopping && m->outstanding[w] < OUTSTANDING &&
           tf_mapsched_next(m->sched, w - 1, &lo, &n)) {
        tf_wire_begin(&m->assign, TF_MSG_MAP_ASSIGN);
        tf_wire_put_u64(&m->assign, lo);
        tf_wire_put_u64(&m->assign, n);
        int rc = ship_items(m, lo, n);
        if (rc != TASKFARM_OK)
            return rc;
        void *data = m->assign.data;
        size_t len = m->assign.len;
        m->assign = (struct tf_buf){0};
        if (tf_comm_isend(w, TF_MSG_MAP_ASSIGN, data, len) != TF_OK)
            return tf_map_fail(m->map, TASKFARM_EMPI, "cannot send a batch to rank %d", w);
        m->outstanding[w]++;
    }
    return TASKFARM_OK;
}

static int master_loop(struct tf_mapmaster *m)
{
    int rc = TASKFARM_OK, byes = 0;
    bool told = false;
    for (int w = 1; w <= m->nworkers && rc == TASKFARM_OK; w++)
        rc = fill(m, w);
    /* A second stop signal: do not wait for the batches in hand (the journal keeps what
     * was stored; a resume redoes the rest). */
    while (byes < m->nworkers && m->stops < 2) {
        int pending = 0;
        for (int w = 1; w <= m->nworkers; w++)
            pending += m->outstanding[w];
        if (!told && (pending == 0 || rc != TASKFARM_OK || m->stopping)) {
            /* Workers drop what they have not started, finish the batch in hand, say bye. */
            for (int w = 1; w <= m->nworkers; w++)
                if (tf_comm_send(w, TF_MSG_STOP, NULL, 0) != TF_OK && rc == TASKFARM_OK)
                    rc = tf_map_fail(m->map, TASKFARM_EMPI, "cannot stop rank %d", w);
            told = true;
        }
        struct tf_msg msg = {0};
        bool got = false;
        if (tf_comm_recv(&msg, WATCH_SECONDS, &got) != TF_OK)
            return tf_map_fail(m->map, TASKFARM_EMPI, "receiving from the workers failed");
        if (got && msg.kind == BYE_KIND) {
            byes++;
        } else if (got && msg.kind == TF_MSG_MAP_RESULT) {
            m->outstanding[msg.peer]--;
            if (rc == TASKFARM_OK)
                rc = tf_mapstore_batch(m, msg.data, msg.len);
            if (rc == TASKFARM_OK && !told)
                rc = fill(m, msg.peer);
        }
        tf_msg_clear(&msg);
        watch_signals(m);
        if (rc == TASKFARM_OK)
            rc = tf_mapstore_persist(m, false);
    }
    if (tf_comm_progress(true) != TF_OK && rc == TASKFARM_OK)
        rc = tf_map_fail(m->map, TASKFARM_EMPI, "sending to the workers failed");
    return rc;
}

/* One rank alone: rank 0 computes its own batches. */
static int local_loop(struct tf_mapmaster *m, struct tf_compute *c)
{
    uint64_t lo, n;
    int rc = TASKFARM_OK;
    while (rc == TASKFARM_OK && tf_mapsched_next(m->sched, 0, &lo, &n)) {
        if (m->map->items_kind == TF_ITEMS_ARRAY)
            c->items = (unsigned char *)m->map->items + lo * m->map->item_size;
        else if (m->map->items_kind == TF_ITEMS_HDF5) {
            tf_mapbatch_reserve(&m->ibuf, &m->ibuf_cap, n * m->map->item_size);
            if (tf_h5items_read(m->items, lo, n, m->ibuf) != TF_OK)
                return tf_map_fail(m->map, TASKFARM_EHDF5, "cannot read items of %s:%s",
                                   m->map->items_path, m->map->items_dataset);
            c->items = m->ibuf;
        }
        tf_mapbatch_compute(c, lo, n);
        c->items = NULL; /* borrowed */
        rc = tf_mapstore_batch(m, c->msg.data, c->msg.len);
        watch_signals(m);
        if (rc == TASKFARM_OK)
            rc = tf_mapstore_persist(m, false);
    }
    return rc;
}

/* ---- the worker's loop ------------------------------------------------------------------- */

static int worker_loop(struct tf_compute *c)
{
    struct tf_msg queue[OUTSTANDING + 1];
    size_t nq = 0;
    bool stop = false;
    int rc = TASKFARM_OK;
    while (rc == TASKFARM_OK) {
        /* Take in what has arrived; wait only when there is nothing to compute. */
        for (;;) {
            struct tf_msg msg = {0};
            bool got = false;
            if (tf_comm_recv(&msg, nq == 0 && !stop ? WATCH_SECONDS : 0, &got) != TF_OK)
                return tf_map_fail(c->map, TASKFARM_EMPI, "rank %d: receiving failed", c->rank);
            if (!got)
                break;
            if (msg.kind == TF_MSG_STOP)
                stop = true;
            if (msg.kind == TF_MSG_MAP_ASSIGN && nq < OUTSTANDING + 1)
                queue[nq++] = msg;
            else
                tf_msg_clear(&msg);
        }
        if (stop)
            break;
        if (nq == 0)
            continue;
        struct tf_wire_reader rd;
        uint64_t lo, n;
        const char *items = NULL;
        size_t ilen = 0;
        if (tf_wire_open(&rd, queue[0].data, queue[0].len) != TF_OK || !tf_wire_get_u64(&rd, &lo) ||
            !tf_wire_get_u64(&rd, &n) || (rd.p < rd.end && !tf_wire_get_str(&rd, &items, &ilen)) ||
            (items && ilen != n * c->map->item_size))
            return tf_map_fail(c->map, TASKFARM_EMPI, "rank %d: a malformed batch", c->rank);
        if (items) { /* copied: the message does not keep the records aligned */
            tf_mapbatch_reserve(&c->items, &c->items_cap, ilen);
            memcpy(c->items, items, ilen);
        }
        tf_msg_clear(&queue[0]);
        memmove(queue, queue + 1, --nq * sizeof *queue);
        tf_mapbatch_compute(c, lo, n);
        void *data = c->msg.data;
        size_t len = c->msg.len;
        c->msg = (struct tf_buf){0};
        if (c->send_failed || tf_comm_isend(0, TF_MSG_MAP_RESULT, data, len) != TF_OK)
            rc = tf_map_fail(c->map, TASKFARM_EMPI, "rank %d: sending results failed", c->rank);
    }
    for (size_t i = 0; i < nq; i++)
        tf_msg_clear(&queue[i]);
    if (tf_comm_send(0, BYE_KIND, NULL, 0) != TF_OK || tf_comm_progress(true) != TF_OK)
        rc = rc ? rc : tf_map_fail(c->map, TASKFARM_EMPI, "rank %d: sending failed", c->rank);
    return rc;
}

/* Whether workers on this node write their results into the file themselves: the master
 * then only records batches, instead of receiving and writing every byte (at 10^7 items/s,
 * 80 MB/s that would cost it a good part of a core). Not with a results buffer (rank 0
 * needs the bytes), and TASKFARM_DIRECT_WRITES=0 turns it off to measure it. */
static uint64_t direct_writes(const struct tf_mapmaster *m)
{
    const char *env = getenv("TASKFARM_DIRECT_WRITES");
    return m->h5 && m->map->results_buffer == NULL && m->nitems > 0 &&
           !(env && strcmp(env, "0") == 0);
}

static int run_master(struct taskfarm_map *map, int nworkers, const char *host,
                      struct taskfarm_summary *s)
{
    struct tf_mapmaster m = {.map = map, .host = host, .nworkers = nworkers, .old_fd = -1};
    m.outstanding = tf_xcalloc((size_t)nworkers + 1, sizeof *m.outstanding);
    m.last_flush = tf_monotonic();
    m.signals_seen = tf_stopsig_count();
    double start = tf_now();
    int rc = tf_mapstore_setup(&m, start);
    /* Workers need the item count and size, which only rank 0 may know (HDF5 items), and
     * whether and where to write results into the file themselves. */
    uint64_t shared[5] = {(uint64_t)rc, map->nitems, map->item_size, direct_writes(&m),
                          m.h5 ? tf_h5map_data_offset(m.h5) : 0};
    for (int i = 0; i < 5; i++)
        tf_comm_bcast_u64(&shared[i]);
    if (rc == TASKFARM_OK && shared[3])
        (void)tf_comm_on_master_node(); /* collective: the workers ask it */
    if (rc == TASKFARM_OK) {
        uint64_t max_bytes = map->result.size > map->item_size ? map->result.size : map->item_size;
        uint64_t cap = MSG_BYTES / (max_bytes ? max_bytes : 1);
        m.sched = tf_mapsched_new(nworkers > 0 ? nworkers : 1, map->batch_seconds,
                                  map->batch_max < cap ? map->batch_max : (cap ? cap : 1));
        tf_log(TF_LOG_DEBUG, "set up in %.3f s", tf_now() - start);
        tf_mapstore_plan(&m);
        if (m.journal)
            m.bg = tf_bgsync_start();
        if (nworkers > 0) {
            rc = master_loop(&m);
        } else {
            struct tf_compute c = {.map = map, .rank = 0, .host = host, .rows_fd = -1};
            c.item = tf_xcalloc(1, map->item_size ? map->item_size : 1);
            tf_mapbatch_guard_on(map->output, 0);
            rc = local_loop(&m, &c);
            tf_mapbatch_guard_off();
            tf_mapbatch_fini(&c);
        }
    } else {
        tf_h5map_close(m.h5, tf_now(), NULL, NULL);
        m.h5 = NULL;
        tf_journal_close(m.journal, false);
        m.journal = NULL;
        tf_mapstore_fini(&m);
        return rc;
    }
    rc = tf_mapstore_close(&m, rc, s);
    tf_mapstore_fini(&m);
    return rc;
}

static int run_worker(struct taskfarm_map *map, int rank, const char *host)
{
    uint64_t shared[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 5; i++)
        tf_comm_bcast_u64(&shared[i]);
    if (shared[0] != TASKFARM_OK)
        return tf_map_fail(map, (int)shared[0], "the map could not start on rank 0 (see there)");
    map->nitems = shared[1];
    map->item_size = (size_t)shared[2];
    struct tf_compute c = {
        .map = map, .rank = rank, .host = host, .rows_fd = -1, .data_offset = shared[4]};
    if (shared[3] && tf_comm_on_master_node())
        c.rows_fd = tf_h5map_open_rows(map->output);
    c.item = tf_xcalloc(1, map->item_size ? map->item_size : 1);
    tf_mapbatch_guard_on(map->output, rank);
    int rc = worker_loop(&c);
    tf_mapbatch_guard_off();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    tf_log(TF_LOG_DEBUG, "rank %d: %.3f CPU seconds, %ld page faults, %ld involuntary switches",
           rank, tf_cpu_seconds(), ru.ru_minflt, ru.ru_nivcsw);
    tf_mapbatch_fini(&c);
    return rc;
}

int taskfarm_map_run(struct taskfarm_map *map, struct taskfarm_summary *summary)
{
    struct taskfarm_summary s = {0};
    if (map == NULL)
        return TASKFARM_EINVAL;
    map->err[0] = '\0';
    double t0 = tf_monotonic();
    int rc = tf_map_validate(map);
    if (rc == TASKFARM_OK && tf_comm_start() != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EMPI, "MPI could not be started");
    if (rc != TASKFARM_OK) {
        if (summary)
            *summary = s;
        return rc;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    s.rank = tf_comm_rank();
    tf_log_set_identity(s.rank, s.rank == 0 ? 'M' : 'W');
    tf_log_from_env(); /* TASKFARM_LOG_LEVEL: the library's only knob for its messages */
    s.workers = tf_comm_size() > 1 ? tf_comm_size() - 1 : 1;
    if (s.rank == 0)
        rc = run_master(map, tf_comm_size() - 1, host, &s);
    else
        rc = run_worker(map, s.rank, host);
    /* Every rank returns the master's verdict. */
    uint64_t verdict = (uint64_t)rc;
    tf_comm_bcast_u64(&verdict);
    if (s.rank != 0 && (int)verdict != rc && verdict != TASKFARM_OK)
        tf_map_fail(map, (int)verdict, "%s (see rank 0)", taskfarm_strerror((int)verdict));
    rc = rc != TASKFARM_OK && s.rank != 0 ? rc : (int)verdict;
    s.seconds = tf_monotonic() - t0;
    if (summary)
        *summary = s;
    return rc;
}

void taskfarm_finalize(void)
{
    tf_comm_finalize();
}
