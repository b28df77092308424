/* maprun.c - taskfarm_map_run: an in-process map on every rank, in the same event loop as a
 * task-file run. Every rank computes its batches on its compute threads (mapagent.c); rank
 * 0 also hands out ranges of items (mapsched.c) and stores what comes back (mapstore.c), as
 * its master's part of the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "comm.h"
#include "layout.h"
#include "log.h"
#include "map_impl.h"
#include "util.h"

#define MSG_BYTES (16u << 20) /* most bytes of items or results in one batch */

/* ---- the master's part of the loop ------------------------------------------------------ */

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

static void hold(struct tf_mapmaster *m, int w, uint64_t lo, uint64_t n, unsigned losses)
{
    struct tf_heldset *h = &m->held[w];
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 8;
        h->v = tf_xrealloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n++] = (struct tf_held){lo, n, losses, false};
    m->outstanding[w]++;
}

/* The batch of w that starts at lo (n items), or NULL. */
static struct tf_held *held_at(struct tf_mapmaster *m, int w, uint64_t lo, uint64_t n)
{
    struct tf_heldset *h = &m->held[w];
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].lo == lo && (n == UINT64_MAX || h->v[i].n == n))
            return &h->v[i];
    return NULL;
}

static void unhold(struct tf_mapmaster *m, int w, struct tf_held *b)
{
    struct tf_heldset *h = &m->held[w];
    *b = h->v[--h->n];
    m->outstanding[w]--;
}

/* A rank holds at most one suspect (an item of a batch that was running on a lost rank):
 * when it dies with one, that item is the likeliest cause. */
static bool holds_suspect(const struct tf_mapmaster *m, int w)
{
    const struct tf_heldset *h = &m->held[w];
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].losses > 0)
            return true;
    return false;
}

/* Whether rank w may take a suspect now: one at a time, and never rank 0 (whose death ends
 * the map) while another rank is left. */
static bool may_suspect(const struct tf_mapmaster *m, int w)
{
    if (holds_suspect(m, w))
        return false;
    for (int v = 1; w == 0 && v < m->nworkers; v++)
        if (!m->is_lost[v])
            return false;
    return true;
}

/* Keep a batch queued at rank w for each of its threads, and one more: the next is there
 * when one ends. */
static int fill(struct tf_mapmaster *m, int w)
{
    uint64_t lo, n;
    unsigned losses;
    if (m->is_lost && m->is_lost[w])
        return TASKFARM_OK;
    while (m->watch.stop == TF_RUNNING && m->outstanding[w] < m->threads_of[w] + 1 &&
           tf_mapsched_next_ex(m->sched, w, m->is_lost == NULL || may_suspect(m, w), &lo, &n,
                               &losses)) {
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
        hold(m, w, lo, n, losses);
    }
    return TASKFARM_OK;
}

/* The loop goes on only while the map does: a failure is kept in m->rc. */
static enum tf_status keep(struct tf_mapmaster *m, int rc)
{
    if (m->rc == TASKFARM_OK)
        m->rc = rc;
    return TF_OK;
}

static bool master_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_MAP_RESULT || kind == TF_MSG_MAP_BYE || kind == TF_MSG_HEARTBEAT ||
           kind == TF_MSG_STARTED;
}

/* ---- ranks that die ------------------------------------------------------------------------ */

/* STOP: why (enum tf_stop_why), then for the verdict after the map (final) its code. */
static enum tf_status send_why(int rank, uint64_t why, bool final, uint64_t verdict)
{
    struct tf_buf b = {0};
    tf_wire_begin(&b, TF_MSG_STOP);
    tf_wire_put_u64(&b, why);
    tf_wire_put_u64(&b, final);
    tf_wire_put_u64(&b, verdict);
    return tf_comm_isend(rank, TF_MSG_STOP, b.data, b.len);
}

/* Items that were running on --lost-after ranks that died: failed with TASKFARM_ITEM_LOST
 * (code and signal), as a crash is recorded, and never computed again. */
static int record_lost(struct tf_mapmaster *m, const struct tf_held *b, int rank)
{
    struct tf_fails f = {0};
    struct tf_buf msg = {0};
    for (uint64_t i = 0; i < b->n; i++)
        tf_mapbatch_fail(&f, b->lo + i, TASKFARM_ITEM_LOST, TASKFARM_ITEM_LOST, rank);
    tf_mapbatch_begin(&msg, b->lo, b->n, rank, m->host_of[rank], b->n * m->map->result.size, 0);
    tf_mapbatch_finish(&msg, tf_now(), 0, &f);
    if (b->n == 1)
        tf_log(TF_LOG_WARN,
               "item %llu was running on %u processes that were lost: recorded as failed "
               "(lost), not computed again",
               (unsigned long long)b->lo, b->losses + 1);
    else
        tf_log(TF_LOG_WARN,
               "items %llu..%llu were running on %u processes that were lost: recorded as "
               "failed (lost), not computed again",
               (unsigned long long)b->lo, (unsigned long long)(b->lo + b->n - 1), b->losses + 1);
    struct tf_mapsched *sched = m->sched;
    m->sched = NULL; /* no time measured: the batch sizes are not to learn from it */
    int rc = tf_mapstore_batch(m, msg.data, msg.len);
    m->sched = sched;
    m->items_lost += b->n;
    tf_buf_fini(&msg);
    free(f.v);
    return rc;
}

/* Rank w is dead or cut off: tell it so (if it is only slow, it leaves when it wakes), forget
 * it, and give what it held to the others. */
static int declare_lost(struct tf_mapmaster *m, int w)
{
    if (m->is_lost[w])
        return TASKFARM_OK;
    if (m->host_of[w][0] == '\0')
        snprintf(m->host_of[w], sizeof m->host_of[w], "?");
    (void)send_why(w, TF_WHY_YOU_LOST, false, 0); /* best effort: it may be gone */
    tf_comm_forget_peer(w);
    tf_liveness_ignore(m->live, w);
    m->is_lost[w] = true;
    struct tf_heldset *h = &m->held[w];
    uint64_t items = 0, running = 0;
    size_t nbatches = h->n;
    int rc = TASKFARM_OK;
    for (size_t i = 0; i < h->n; i++) {
        struct tf_held *b = &h->v[i];
        items += b->n;
        if (!b->started) { /* queued there: just back */
            tf_mapsched_give_back(m->sched, b->lo, b->n, b->losses);
            continue;
        }
        running += b->n;
        if (b->losses + 1 >= (unsigned)m->map->lost_after) {
            int r = record_lost(m, b, w);
            if (rc == TASKFARM_OK)
                rc = r;
        } else {
            tf_mapsched_give_back(m->sched, b->lo, b->n, b->losses + 1);
        }
    }
    h->n = 0;
    m->outstanding[w] = 0;
    tf_log(TF_LOG_WARN,
           "rank %d on %s not heard from for %.1f s: lost; its %zu batches (%llu items, %llu "
           "running) go to the others",
           w, m->host_of[w], m->map->worker_timeout, nbatches, (unsigned long long)items,
           (unsigned long long)running);
    m->lost_ranks = tf_xrealloc(m->lost_ranks, (size_t)(m->nlost + 1) * sizeof *m->lost_ranks);
    struct tf_lost_rank *l = &m->lost_ranks[m->nlost++];
    l->rank = w;
    snprintf(l->host, sizeof l->host, "%s", m->host_of[w]);
    l->time = tf_now();
    for (int v = 0; v < m->nworkers && rc == TASKFARM_OK && !m->told; v++)
        rc = fill(m, v);
    return rc;
}

static void check_ranks(struct tf_mapmaster *m)
{
    if (m->live == NULL)
        return;
    int w;
    while ((w = tf_liveness_check(m->live, tf_monotonic())) >= 0)
        keep(m, declare_lost(m, w));
    while ((w = tf_comm_take_unresponsive()) >= 0) /* died half-way through a message */
        if (w > 0 && w < m->nworkers)
            keep(m, declare_lost(m, w));
}

/* A heartbeat (answered with ALIVE: the rank watches us too), or a batch that starts (first item,
 * host). */
static enum tf_status on_liveness(struct tf_mapmaster *m, const struct tf_msg *msg)
{
    if (msg->kind == TF_MSG_HEARTBEAT) {
        struct tf_buf b = {0};
        tf_wire_begin(&b, TF_MSG_ALIVE);
        return tf_comm_isend(msg->peer, TF_MSG_ALIVE, b.data, b.len);
    }
    struct tf_wire_reader rd;
    uint64_t lo;
    const char *host;
    size_t hlen;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK || !tf_wire_get_u64(&rd, &lo) ||
        !tf_wire_get_str(&rd, &host, &hlen))
        return TF_EPROTO;
    if (m->host_of[msg->peer][0] == '\0')
        snprintf(m->host_of[msg->peer], sizeof m->host_of[msg->peer], "%.*s",
                 (int)(hlen < 63 ? hlen : 63), host);
    struct tf_held *b = held_at(m, msg->peer, lo, UINT64_MAX);
    if (b)
        b->started = true;
    return TF_OK;
}

static enum tf_status master_on_message(void *self, struct tf_msg *msg)
{
    struct tf_mapmaster *m = self;
    if (msg->peer < 0 || msg->peer >= m->nworkers)
        return keep(m, tf_map_fail(m->map, TASKFARM_EMPI, "a message from rank %d", msg->peer));
    if (m->is_lost && m->is_lost[msg->peer])
        return TF_OK; /* declared lost: its batches are someone else's now */
    tf_liveness_heard(m->live, msg->peer, tf_monotonic());
    if (msg->kind == TF_MSG_HEARTBEAT || msg->kind == TF_MSG_STARTED) {
        if (m->live && on_liveness(m, msg) != TF_OK)
            keep(m,
                 tf_map_fail(m->map, TASKFARM_EMPI, "a malformed message from rank %d", msg->peer));
        return TF_OK;
    }
    if (msg->kind == TF_MSG_MAP_BYE) {
        m->byes++;
        tf_liveness_ignore(m->live, msg->peer); /* nothing more comes from it */
        return TF_OK;
    }
    struct tf_wire_reader rd;
    uint64_t lo, n;
    struct tf_held *b = NULL;
    if (tf_wire_open(&rd, msg->data, msg->len) == TF_OK && tf_wire_get_u64(&rd, &lo) &&
        tf_wire_get_u64(&rd, &n))
        b = held_at(m, msg->peer, lo, n);
    if (b == NULL)
        return keep(m,
                    tf_map_fail(m->map, TASKFARM_EMPI,
                                "rank %d sent the result of a batch it was not given", msg->peer));
    unhold(m, msg->peer, b);
    if (m->rc == TASKFARM_OK)
        keep(m, tf_mapstore_batch(m, msg->data, msg->len));
    if (m->rc == TASKFARM_OK && !m->told)
        keep(m, fill(m, msg->peer));
    return TF_OK;
}

/* Signals; STOP to every worker once nothing is left or the map stops; persisting. */
static enum tf_status master_step(void *self)
{
    struct tf_mapmaster *m = self;
    if (tf_stopwatch_poll(&m->watch, tf_monotonic(), 0) && m->watch.stop == TF_STOP_NEW)
        tf_log(TF_LOG_WARN, "no new batches; %llu items not handed out",
               (unsigned long long)tf_mapsched_left(m->sched));
    check_ranks(m);
    int pending = 0;
    for (int w = 0; w < m->nworkers; w++)
        pending += m->outstanding[w];
    if (!m->told && pending == 0 && m->rc == TASKFARM_OK && m->watch.stop == TF_RUNNING &&
        tf_mapsched_left(m->sched) > 0) /* given back while every rank was idle */
        for (int w = 0; w < m->nworkers && m->rc == TASKFARM_OK; w++)
            keep(m, fill(m, w));
    for (int w = pending = 0; w < m->nworkers; w++)
        pending += m->outstanding[w];
    if (!m->told && (pending == 0 || m->rc != TASKFARM_OK || m->watch.stop != TF_RUNNING)) {
        /* Workers drop what they have not started, finish the batches in hand, say bye. */
        uint64_t why = m->nlost ? TF_WHY_PEER_LOST : TF_WHY_DONE;
        for (int w = 0; w < m->nworkers; w++)
            if (!(m->is_lost && m->is_lost[w]) && send_why(w, why, false, 0) != TF_OK)
                keep(m, tf_map_fail(m->map, TASKFARM_EMPI, "cannot stop rank %d", w));
        m->told = true;
    }
    if (tf_comm_progress(false) != TF_OK)
        keep(m, tf_map_fail(m->map, TASKFARM_EMPI, "sending to the workers failed"));
    if (m->rc == TASKFARM_OK)
        keep(m, tf_mapstore_persist(m, false));
    return TF_OK;
}

static double master_deadline(void *self)
{
    const struct tf_mapmaster *m = self;
    double at = tf_monotonic() + 0.2; /* signals and the flush are looked at this often */
    double live = tf_liveness_deadline(m->live);
    return live > 0 && live < at ? live : at;
}

/* Every worker said bye; after a second stop signal, no waiting for the batches in hand (the
 * journal keeps what was stored; a resume redoes the rest). */
static bool master_done(void *self)
{
    const struct tf_mapmaster *m = self;
    return m->byes + m->nlost == m->nworkers || m->watch.stop == TF_STOP_KILL;
}

static struct tf_part master_part(struct tf_mapmaster *m)
{
    return (struct tf_part){.self = m,
                            .name = "map master",
                            .takes = master_takes,
                            .on_message = master_on_message,
                            .step = master_step,
                            .deadline = master_deadline,
                            .done = master_done};
}

/* ---- every rank ---------------------------------------------------------------------------- */

/* Whether workers on the master's node write their results into the file themselves: the
 * master then only records batches, instead of receiving and writing every byte (at 10^7
 * items/s, 80 MB/s that would cost it a good part of a core). Not with a results buffer
 * (rank 0 needs the bytes), and TASKFARM_DIRECT_WRITES=0 turns it off to measure it. */
static uint64_t direct_writes(const struct tf_mapmaster *m)
{
    const char *env = getenv("TASKFARM_DIRECT_WRITES");
    return m->h5 && m->map->results_buffer == NULL && m->nitems > 0 &&
           !(env && strcmp(env, "0") == 0);
}

/* Compute threads of each rank: its slots when the function may run on several threads at
 * once, else one. */
static int threads_of(const struct taskfarm_map *map, int slots)
{
    return map->thread_safe ? (slots > 0 ? slots : 1) : 1;
}

/* What every rank needs to know from rank 0 before it computes: the outcome of the set-up,
 * the item count and size (only rank 0 may know them: HDF5 items), and whether and where to
 * write results into the file itself. */
struct shared {
    uint64_t rc, nitems, item_size, direct, data_offset;
};

static void share(struct shared *sh)
{
    uint64_t *v = &sh->rc;
    for (int i = 0; i < 5; i++)
        tf_comm_bcast_u64(&v[i]);
}

/* Whether a rank's death can leave the map running, and so ranks watch each other: Open MPI's
 * recovery on, and more than one rank. Every rank computes the same answer. */
static bool watched_job(const struct taskfarm_map *map)
{
    return tf_comm_size() > 1 && tf_comm_recovery_on() && map->worker_timeout > 0;
}

/* The master watches every rank but itself (rank 0's threads die with it). */
static void watch_ranks(struct tf_mapmaster *m)
{
    if (tf_comm_size() < 2)
        return;
    if (!tf_comm_recovery_on()) {
        static bool said;
        if (!said)
            tf_log(TF_LOG_WARN, "a process that dies ends this job; to go on without it, run "
                                "mpirun --mca orte_enable_recovery 1 (README: when a worker "
                                "dies)");
        said = true;
        return;
    }
    if (!watched_job(m->map))
        return;
    m->live = tf_liveness_new(m->nworkers, m->map->worker_timeout, tf_monotonic());
    tf_liveness_ignore(m->live, 0);
    m->is_lost = tf_xcalloc((size_t)m->nworkers, sizeof *m->is_lost);
    /* A rank that dies half-way through sending a batch's results leaves that receive. */
    tf_comm_set_recv_deadline(m->map->worker_timeout);
}

/* This rank's agent and, on rank 0, the master, in one loop. */
static int run_loop(struct taskfarm_map *map, struct tf_mapmaster *m, int rank, int nthreads,
                    const struct tf_layout *lay, const char *host, const struct shared *sh)
{
    bool direct = sh->direct && tf_comm_on_master_node(); /* collective */
    struct tf_mapagent *agent = tf_mapagent_new(
        map, rank, host, nthreads, nthreads > 1 ? &lay->mine : NULL, direct, sh->data_offset);
    if (agent == NULL && tf_comm_size() > 1) {
        tf_log(TF_LOG_ERROR, "%s", map->err); /* the others would wait for it for ever */
        tf_comm_abort(TF_EXIT_INTERNAL);
    }
    if (agent == NULL)
        return TASKFARM_ENOMEM;
    if (rank != 0 && watched_job(map))
        tf_mapagent_watch(agent, map->worker_timeout);
    struct tf_part parts[2] = {tf_mapagent_part(agent)};
    int n = 1, rc = TASKFARM_OK;
    if (m) {
        watch_ranks(m);
        parts[n++] = master_part(m);
        for (int w = 0; w < m->nworkers && m->rc == TASKFARM_OK; w++)
            keep(m, fill(m, w));
    }
    tf_mapbatch_guard_on(map->output, rank);
    if (tf_loop_run(parts, n) != TF_OK || tf_comm_progress(true) != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EMPI, "rank %d: the event loop failed", rank);
    if (m)
        m->busy_seconds = parts[n - 1].seconds; /* scheduling and storing, not computing */
    if (m)
        tf_comm_set_recv_deadline(0);
    tf_mapbatch_guard_off();
    int arc = tf_mapagent_free(agent);
    return arc != TASKFARM_OK ? arc : rc;
}

/* The lost ranks, as attributes of the result file: who, where, when. */
static int note_lost(struct tf_mapmaster *m)
{
    if (m->h5 == NULL || m->live == NULL)
        return TASKFARM_OK;
    int32_t *ranks = tf_xcalloc((size_t)m->nlost + 1, sizeof *ranks);
    double *times = tf_xcalloc((size_t)m->nlost + 1, sizeof *times);
    const char **hosts = tf_xcalloc((size_t)m->nlost + 1, sizeof *hosts);
    for (int i = 0; i < m->nlost; i++) {
        ranks[i] = m->lost_ranks[i].rank;
        times[i] = m->lost_ranks[i].time;
        hosts[i] = m->lost_ranks[i].host;
    }
    enum tf_status st = tf_h5map_note_lost(m->h5, m->nlost, ranks, hosts, times, m->items_lost);
    free(ranks);
    free(times);
    free(hosts);
    return st == TF_OK
               ? TASKFARM_OK
               : tf_map_fail(m->map, TASKFARM_EHDF5, "cannot write to '%s'", m->map->output);
}

/* When ranks can die the verdict goes to each rank left as a message, not a broadcast (a
 * collective would wait for the dead for ever); it says whether collectives are still safe. */
static void send_verdicts(struct tf_mapmaster *m, int rc)
{
    uint64_t why = m->nlost ? TF_WHY_PEER_LOST : TF_WHY_DONE;
    for (int w = 1; w < m->nworkers; w++)
        if (!m->is_lost[w])
            (void)send_why(w, why, true, (uint64_t)rc);
    if (tf_comm_progress(true) != TF_OK)
        tf_log(TF_LOG_WARN, "the verdict may not have reached every rank");
}

static int run_master(struct taskfarm_map *map, const struct tf_layout *lay, const char *host,
                      struct taskfarm_summary *s)
{
    int nworkers = tf_comm_size();
    struct tf_mapmaster m = {.map = map, .host = host, .nworkers = nworkers, .old_fd = -1};
    m.outstanding = tf_xcalloc((size_t)nworkers, sizeof *m.outstanding);
    m.held = tf_xcalloc((size_t)nworkers, sizeof *m.held);
    m.host_of = tf_xcalloc((size_t)nworkers, sizeof *m.host_of);
    m.threads_of = tf_xcalloc((size_t)nworkers, sizeof *m.threads_of);
    snprintf(m.host_of[0], sizeof m.host_of[0], "%s", host);
    int nthreads = 0;
    for (int w = 0; w < nworkers; w++)
        nthreads += m.threads_of[w] = threads_of(map, lay->slots_of[w]);
    m.last_flush = tf_monotonic();
    tf_stopwatch_init(&m.watch, -1, 0); /* batches are short: what runs finishes */
    double start = tf_now();
    int rc = tf_mapstore_setup(&m, start);
    struct shared sh = {(uint64_t)rc, map->nitems, map->item_size, direct_writes(&m),
                        m.h5 ? tf_h5map_data_offset(m.h5) : 0};
    share(&sh);
    if (rc != TASKFARM_OK) {
        tf_h5map_close(m.h5, tf_now(), NULL, NULL);
        m.h5 = NULL;
        tf_journal_close(m.journal, false);
        m.journal = NULL;
        free(m.threads_of);
        tf_mapstore_fini(&m);
        return rc;
    }
    uint64_t max_bytes = map->result.size > map->item_size ? map->result.size : map->item_size;
    uint64_t cap = MSG_BYTES / (max_bytes ? max_bytes : 1);
    m.sched = tf_mapsched_new(nworkers, nthreads, map->batch_seconds,
                              map->batch_max < cap ? map->batch_max : (cap ? cap : 1));
    tf_log(TF_LOG_DEBUG, "set up in %.3f s", tf_now() - start);
    tf_mapstore_plan(&m);
    if (m.journal)
        m.bg = tf_bgsync_start();
    rc = run_loop(map, &m, 0, m.threads_of[0], lay, host, &sh);
    if (m.h5 && tf_h5map_note(m.h5, "master_busy_seconds", m.busy_seconds) != TF_OK &&
        rc == TASKFARM_OK)
        rc = tf_map_fail(map, TASKFARM_EHDF5, "cannot write to '%s'", map->output);
    if (rc == TASKFARM_OK)
        rc = note_lost(&m);
    if (m.rc != TASKFARM_OK)
        rc = m.rc;
    if (rc == TASKFARM_OK && m.watch.stop != TF_RUNNING)
        tf_log(TF_LOG_WARN, "stopped early (%s)", m.watch.reason ? m.watch.reason : "a signal");
    rc = tf_mapstore_close(&m, rc, s);
    if (m.live)
        send_verdicts(&m, rc);
    free(m.threads_of);
    tf_mapstore_fini(&m);
    return rc;
}

/* A watched rank, after its loop: the master's verdict (see send_verdicts). A rank that was
 * declared lost, or hears nothing for max(4 timeouts, 60 s), keeps its own outcome. */
static int take_verdict(struct taskfarm_map *map, int rc)
{
    if (tf_comm_collectives_skipped() && rc != TASKFARM_OK)
        return rc; /* declared lost: the master sends it nothing more */
    double limit = 4 * map->worker_timeout > 60 ? 4 * map->worker_timeout : 60;
    double until = tf_monotonic() + limit;
    while (tf_monotonic() < until) {
        struct tf_msg msg = {0};
        bool got = false;
        if (tf_comm_recv(&msg, until - tf_monotonic(), &got) != TF_OK)
            break;
        if (!got)
            continue;
        struct tf_wire_reader rd;
        uint64_t why, last = 0, verdict;
        bool final = msg.kind == TF_MSG_STOP && msg.peer == 0 &&
                     tf_wire_open(&rd, msg.data, msg.len) == TF_OK && tf_wire_get_u64(&rd, &why) &&
                     tf_wire_get_u64(&rd, &last) && tf_wire_get_u64(&rd, &verdict) && last;
        tf_msg_clear(&msg); /* anything else (a late heartbeat's answer) is dropped */
        if (!final)
            continue;
        if (why != TF_WHY_DONE)
            tf_comm_skip_collectives();
        if (rc == TASKFARM_OK && verdict != TASKFARM_OK)
            rc = tf_map_fail(map, (int)verdict, "%s (see rank 0)", taskfarm_strerror((int)verdict));
        return rc;
    }
    tf_comm_skip_collectives();
    return rc != TASKFARM_OK
               ? rc
               : tf_map_fail(map, TASKFARM_EMPI,
                             "no word from the master (rank 0) after the map: it may be gone");
}

static int run_worker(struct taskfarm_map *map, const struct tf_layout *lay, int rank,
                      const char *host)
{
    struct shared sh = {0};
    share(&sh);
    if (sh.rc != TASKFARM_OK)
        return tf_map_fail(map, (int)sh.rc, "the map could not start on rank 0 (see there)");
    map->nitems = sh.nitems;
    map->item_size = (size_t)sh.item_size;
    int rc = run_loop(map, NULL, rank, threads_of(map, lay->mine.nslots), lay, host, &sh);
    if (watched_job(map))
        rc = take_verdict(map, rc);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    tf_log(TF_LOG_DEBUG, "rank %d: %.3f CPU seconds, %ld page faults, %ld involuntary switches",
           rank, tf_cpu_seconds(), ru.ru_minflt, ru.ru_nivcsw);
    return rc;
}

/* How many threads compute, and the note that says how to have more. */
static void report_threads(const struct taskfarm_map *map, const struct tf_layout *lay)
{
    int total = 0;
    for (int r = 0; r < lay->nranks; r++)
        total += threads_of(map, lay->slots_of[r]);
    tf_log(TF_LOG_INFO, "%d compute thread%s in %d process%s", total, total == 1 ? "" : "s",
           lay->nranks, lay->nranks == 1 ? "" : "es");
    if (!map->thread_safe && lay->mine.nslots > 1)
        tf_log(TF_LOG_WARN,
               "the function is not declared thread-safe: one compute thread per process, not "
               "%d; declare it with taskfarm_map_thread_safe() to use them all",
               lay->mine.nslots);
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
    struct tf_layout lay;
    struct tf_slot_ask ask = {.jobs = map->threads, .launched = tf_comm_launcher_rank() >= 0};
    char err[256];
    tf_layout_take(&ask, false, &lay, err, sizeof err); /* no GPUs: every rank has a slot */
    s.workers = lay.nranks;
    for (int r = 0; r < lay.nranks; r++)
        s.threads += threads_of(map, lay.slots_of[r]);
    if (s.rank == 0)
        report_threads(map, &lay);
    if (s.rank == 0)
        rc = run_master(map, &lay, host, &s);
    else
        rc = run_worker(map, &lay, s.rank, host);
    tf_layout_fini(&lay);
    /* Every rank returns the master's verdict (when ranks can die, it came as a message). */
    uint64_t verdict = (uint64_t)rc;
    if (!watched_job(map))
        tf_comm_bcast_u64(&verdict);
    else if (s.rank != 0)
        verdict = (uint64_t)rc;
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
