/* maprun.c - taskfarm_map_run: an in-process map on every rank, in the same event loop as a
 * task-file run. Every rank computes its batches on its compute threads (mapagent.c); rank
 * 0 also hands out ranges of items (mapsched.c) and stores what comes back (mapstore.c), as
 * its master's part of the loop.
 */
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

/* Keep a batch queued at rank w for each of its threads, and one more: the next is there
 * when one ends. */
static int fill(struct tf_mapmaster *m, int w)
{
    uint64_t lo, n;
    while (m->watch.stop == TF_RUNNING && m->outstanding[w] < m->threads_of[w] + 1 &&
           tf_mapsched_next(m->sched, w, &lo, &n)) {
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

/* The loop goes on only while the map does: a failure is kept in m->rc. */
static enum tf_status keep(struct tf_mapmaster *m, int rc)
{
    if (m->rc == TASKFARM_OK)
        m->rc = rc;
    return TF_OK;
}

static bool master_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_MAP_RESULT || kind == TF_MSG_MAP_BYE;
}

static enum tf_status master_on_message(void *self, struct tf_msg *msg)
{
    struct tf_mapmaster *m = self;
    if (msg->peer < 0 || msg->peer >= m->nworkers)
        return keep(m, tf_map_fail(m->map, TASKFARM_EMPI, "a message from rank %d", msg->peer));
    if (msg->kind == TF_MSG_MAP_BYE) {
        m->byes++;
        return TF_OK;
    }
    m->outstanding[msg->peer]--;
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
    int pending = 0;
    for (int w = 0; w < m->nworkers; w++)
        pending += m->outstanding[w];
    if (!m->told && (pending == 0 || m->rc != TASKFARM_OK || m->watch.stop != TF_RUNNING)) {
        /* Workers drop what they have not started, finish the batches in hand, say bye. */
        for (int w = 0; w < m->nworkers; w++)
            if (tf_comm_isend(w, TF_MSG_STOP, tf_xmalloc(1), 0) != TF_OK)
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
    (void)self;
    return tf_monotonic() + 0.2; /* signals and the flush are looked at this often */
}

/* Every worker said bye; after a second stop signal, no waiting for the batches in hand (the
 * journal keeps what was stored; a resume redoes the rest). */
static bool master_done(void *self)
{
    const struct tf_mapmaster *m = self;
    return m->byes == m->nworkers || m->watch.stop == TF_STOP_KILL;
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
    struct tf_part parts[2] = {tf_mapagent_part(agent)};
    int n = 1, rc = TASKFARM_OK;
    if (m) {
        parts[n++] = master_part(m);
        for (int w = 0; w < m->nworkers && m->rc == TASKFARM_OK; w++)
            keep(m, fill(m, w));
    }
    tf_mapbatch_guard_on(map->output, rank);
    if (tf_loop_run(parts, n) != TF_OK || tf_comm_progress(true) != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EMPI, "rank %d: the event loop failed", rank);
    if (m)
        m->busy_seconds = parts[n - 1].seconds; /* scheduling and storing, not computing */
    tf_mapbatch_guard_off();
    int arc = tf_mapagent_free(agent);
    return arc != TASKFARM_OK ? arc : rc;
}

static int run_master(struct taskfarm_map *map, const struct tf_layout *lay, const char *host,
                      struct taskfarm_summary *s)
{
    int nworkers = tf_comm_size();
    struct tf_mapmaster m = {.map = map, .host = host, .nworkers = nworkers, .old_fd = -1};
    m.outstanding = tf_xcalloc((size_t)nworkers, sizeof *m.outstanding);
    m.threads_of = tf_xcalloc((size_t)nworkers, sizeof *m.threads_of);
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
    if (m.rc != TASKFARM_OK)
        rc = m.rc;
    if (rc == TASKFARM_OK && m.watch.stop != TF_RUNNING)
        tf_log(TF_LOG_WARN, "stopped early (%s)", m.watch.reason ? m.watch.reason : "a signal");
    rc = tf_mapstore_close(&m, rc, s);
    free(m.threads_of);
    tf_mapstore_fini(&m);
    return rc;
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
