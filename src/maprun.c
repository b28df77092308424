/* maprun.c - taskfarm_map_run: an in-process map on every rank. Rank 0 hands out ranges of
 * items (mapsched.c) and stores what comes back, journal first, then the result file
 * (h5map.c); the other ranks call the user's function over their batches. Alone, rank 0
 * does both. Resume and the record of items that crashed a process live here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bgsync.h"
#include "comm.h"
#include "h5map.h"
#include "journal.h"
#include "log.h"
#include "map.h"
#include "mapsched.h"
#include "stopsig.h"
#include "util.h"
#include "wire.h"

#define OUTSTANDING   2           /* batches queued per worker: the next is there when one ends */
#define MSG_BYTES     (16u << 20) /* most bytes of items or results in one batch */
#define FLUSH_SECONDS 2.0         /* the result file is flushed, the journal synced, this often */
#define WATCH_SECONDS 0.2         /* how often an idle master looks at signals */
#define BYE_KIND      TF_MSG_RELEASE

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

/* ---- crashes: which item took the process down -------------------------------------------- */

static volatile uint64_t crash_item;
static volatile sig_atomic_t crash_armed;
static int crash_rank;
static char crash_path[4096]; /* "" when there is no result file to note it beside */
static struct sigaction crash_saved[5];
static const int crash_signals[5] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static void *crash_stack;

/* Async-signal-safe decimal. */
static size_t put_dec(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0, i = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0)
        p[i++] = tmp[--n];
    return i;
}

static size_t put_text(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return n;
}

/* Say which item crashed the process, on stderr and in OUT.h5.crashes (which a resume reads
 * to record the item as failed instead of crashing on it again); then die of the signal. */
static void on_crash(int sig)
{
    if (crash_armed) {
        char line[256];
        size_t n = put_text(line, "item ");
        n += put_dec(line + n, crash_item);
        n += put_text(line + n, " signal ");
        n += put_dec(line + n, (uint64_t)sig);
        n += put_text(line + n, " rank ");
        n += put_dec(line + n, (uint64_t)crash_rank);
        line[n++] = '\n';
        (void)!write(STDERR_FILENO, "taskfarm: the function crashed the process: ", 44);
        (void)!write(STDERR_FILENO, line, n);
        if (crash_path[0]) {
            int fd = open(crash_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0) {
                (void)!write(fd, line, n);
                fsync(fd);
                close(fd);
            }
        }
    }
    /* SA_RESETHAND restored the default action; the signal is blocked in here, so this one
     * is delivered on return and ends the process, whether the signal came from a fault or
     * from raise(). */
    raise(sig);
}

static void crash_guard_on(const char *output, int rank)
{
    crash_rank = rank;
    crash_path[0] = '\0';
    if (output && strlen(output) + 9 < sizeof crash_path)
        snprintf(crash_path, sizeof crash_path, "%s.crashes", output);
    /* A stack overflow in the function needs a stack of its own to report from. */
    size_t size = 64 * 1024;
    crash_stack = tf_xmalloc(size);
    stack_t ss = {.ss_sp = crash_stack, .ss_size = size, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 5; i++)
        sigaction(crash_signals[i], &sa, &crash_saved[i]);
}

static void crash_guard_off(void)
{
    for (int i = 0; i < 5; i++)
        sigaction(crash_signals[i], &crash_saved[i], NULL);
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(crash_stack);
    crash_stack = NULL;
}

/* ---- computing a batch -------------------------------------------------------------------- */

struct fails {
    struct tf_item_failure *v;
    size_t n, cap;
};

static void fail_add(struct fails *f, uint64_t item, int code, int sig, int rank)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = tf_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    f->v[f->n++] = (struct tf_item_failure){item, code, sig, rank};
}

/* Scratch space a computing rank reuses from batch to batch. */
struct compute {
    struct taskfarm_map *map;
    int rank;
    const char *host;
    unsigned char *items, *item; /* item: one generated item */
    size_t items_cap;
    struct fails fails;
    struct tf_buf msg;
    bool send_failed;
    int rows_fd; /* >= 0: results go straight into the file (see tf_h5map_open_rows) */
    uint64_t data_offset;
    unsigned char *rows;
    size_t rows_cap;
};

static void ensure(unsigned char **p, size_t *cap, size_t need)
{
    if (*cap < need) {
        free(*p);
        *p = tf_xmalloc(need ? need : 1);
        *cap = need;
    }
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The MAP_RESULT message: lo, count, rank, start, end, compute seconds, flags, host, padding,
 * the results (count records, or none when the worker wrote them into the file itself:
 * BATCH_WRITTEN), then the failures (item, code, signal). */
#define BATCH_WRITTEN 1u

static unsigned char *begin_result(struct tf_buf *b, uint64_t lo, uint64_t n, int rank,
                                   const char *host, size_t rbytes, uint64_t flags)
{
    tf_wire_begin(b, TF_MSG_MAP_RESULT);
    uint64_t head[7] = {lo, n, (uint64_t)rank, 0, 0, 0, flags};
    for (size_t i = 0; i < 7; i++)
        tf_wire_put_u64(b, head[i]);
    tf_wire_put_str(b, host, strlen(host));
    /* Padding, so the results start 16-byte aligned in the message (malloc'd, so aligned):
     * the function writes its structs there in place. */
    static const char zeros[16] = {0};
    size_t pad = (16 - (b->len + 9) % 16) % 16;
    tf_wire_put_str(b, zeros, pad);
    unsigned char *results = tf_wire_put_blob(b, rbytes);
    memset(results, 0, rbytes);
    return results;
}

/* Times go into the header begin_result left zero (fixed offsets: after the wire header and
 * lo, count, rank). */
static void finish_result(struct tf_buf *b, double t0, double seconds, const struct fails *f)
{
    uint64_t times[3] = {f64_bits(t0), f64_bits(t0 + seconds), f64_bits(seconds)};
    size_t at = b->len;
    b->len = 16 + 3 * 8;
    for (size_t i = 0; i < 3; i++)
        tf_wire_put_u64(b, times[i]);
    b->len = at;
    tf_wire_put_u64(b, f->n);
    for (size_t k = 0; k < f->n; k++) {
        tf_wire_put_u64(b, f->v[k].item);
        tf_wire_put_u64(b, (uint64_t)(uint32_t)f->v[k].code);
        tf_wire_put_u64(b, (uint64_t)f->v[k].signal);
    }
}

/* Items [lo+i, lo+end): the user's function, each item's index noted for the crash report. */
static void compute_slice(struct compute *c, uint64_t lo, uint64_t i, uint64_t end,
                          unsigned char *results)
{
    struct taskfarm_map *map = c->map;
    size_t isize = map->item_size, rsize = map->result.size;
    for (; i < end; i++) {
        uint64_t idx = lo + i;
        const void *item;
        crash_item = idx;
        if (map->items_kind == TF_ITEMS_RANGE) {
            item = &idx;
        } else if (map->items_kind == TF_ITEMS_GEN) {
            memset(c->item, 0, isize);
            int rc = map->gen(idx, c->item, map->gen_user);
            if (rc != 0) {
                fail_add(&c->fails, idx, rc, 0, c->rank);
                continue;
            }
            item = c->item;
        } else {
            item = c->items + i * isize;
        }
        int rc = map->fn(item, results + i * rsize, map->user);
        if (rc != 0) { /* half-made results must not pass for results */
            memset(results + i * rsize, 0, rsize);
            fail_add(&c->fails, idx, rc, 0, c->rank);
        }
    }
}

/* Run the function over items [lo, lo+n) (their bytes in c->items when they travel) and
 * leave the MAP_RESULT message in c->msg, results computed in place. Between slices, MPI
 * gets to move the previous batch's results: a large message travels only while the
 * sender calls MPI, and the master should have it (and send the next batch) long before
 * this one ends. */
static void compute_batch(struct compute *c, uint64_t lo, uint64_t n)
{
    size_t rsize = c->map->result.size, rbytes = n * rsize;
    unsigned char *results;
    if (c->rows_fd >= 0) {
        ensure(&c->rows, &c->rows_cap, rbytes);
        memset(c->rows, 0, rbytes);
        results = c->rows;
    } else {
        results = begin_result(&c->msg, lo, n, c->rank, c->host, rbytes, 0);
    }
    c->fails.n = 0;
    double t0 = tf_now(), m0 = tf_monotonic();
    uint64_t slice = n / 32 + 1;
    crash_armed = 1;
    for (uint64_t i = 0; i < n; i += slice) {
        compute_slice(c, lo, i, i + slice < n ? i + slice : n, results);
        if (tf_comm_progress(false) != TF_OK)
            c->send_failed = true;
    }
    crash_armed = 0;
    double seconds = tf_monotonic() - m0;
    if (c->rows_fd >= 0) {
        if (tf_h5map_write_rows(c->rows_fd, c->data_offset, lo, rsize, c->rows, n) == TF_OK) {
            begin_result(&c->msg, lo, n, c->rank, c->host, 0, BATCH_WRITTEN);
        } else { /* from now on through the master, as from another node */
            close(c->rows_fd);
            c->rows_fd = -1;
            memcpy(begin_result(&c->msg, lo, n, c->rank, c->host, rbytes, 0), c->rows, rbytes);
        }
    }
    finish_result(&c->msg, t0, seconds, &c->fails);
}

static void compute_fini(struct compute *c)
{
    free(c->items);
    free(c->item);
    free(c->rows);
    if (c->rows_fd >= 0)
        close(c->rows_fd);
    free(c->fails.v);
    tf_buf_fini(&c->msg);
}

/* A MAP_RESULT message, decoded; pointers into the message. */
struct batch_msg {
    struct tf_batch_row row;
    double seconds;
    bool written; /* the results are in the file already */
    const unsigned char *results;
    size_t rlen;
};

static bool parse_result(const void *data, size_t len, struct batch_msg *bm, struct fails *f)
{
    struct tf_wire_reader rd;
    uint64_t rank, t0, t1, secs, flags, nf;
    size_t hlen;
    if (tf_wire_open(&rd, data, len) != TF_OK || rd.kind != TF_MSG_MAP_RESULT ||
        !tf_wire_get_u64(&rd, &bm->row.first) || !tf_wire_get_u64(&rd, &bm->row.count) ||
        !tf_wire_get_u64(&rd, &rank) || !tf_wire_get_u64(&rd, &t0) || !tf_wire_get_u64(&rd, &t1) ||
        !tf_wire_get_u64(&rd, &secs) || !tf_wire_get_u64(&rd, &flags) ||
        !tf_wire_get_str(&rd, &bm->row.host, &hlen))
        return false;
    const char *res, *pad;
    size_t padlen;
    if (!tf_wire_get_str(&rd, &pad, &padlen) || !tf_wire_get_str(&rd, &res, &bm->rlen) ||
        !tf_wire_get_u64(&rd, &nf) || nf > bm->row.count)
        return false;
    f->n = 0;
    for (uint64_t k = 0; k < nf; k++) {
        uint64_t item, code, sig;
        if (!tf_wire_get_u64(&rd, &item) || !tf_wire_get_u64(&rd, &code) ||
            !tf_wire_get_u64(&rd, &sig))
            return false;
        fail_add(f, item, (int32_t)(uint32_t)code, (int32_t)sig, (int32_t)rank);
    }
    bm->results = (const unsigned char *)res;
    bm->row.rank = (int32_t)rank;
    bm->row.start = bits_f64(t0);
    bm->row.end = bits_f64(t1);
    bm->row.failed = nf;
    bm->seconds = bits_f64(secs);
    bm->written = (flags & BATCH_WRITTEN) != 0;
    if (bm->written)
        bm->results = NULL;
    return true;
}

/* ---- the master's state ------------------------------------------------------------------- */

struct master {
    struct taskfarm_map *map;
    struct tf_mapsched *sched;
    struct tf_h5map *h5;
    struct tf_journal *journal;
    struct tf_bgsync *bg; /* syncs the result file and journal; NULL: in line */
    struct tf_h5items *items;
    char *jpath, *cpath;
    const char *host;
    uint64_t nitems;
    int nworkers;
    int *outstanding;
    uint64_t done, failed; /* this run */
    double last_flush;
    int signals_seen, stops; /* stops: signals during this run */
    bool stopping, interrupted;
    struct fails fails;
    struct tf_buf assign, jbuf;
    int old_fd;          /* rebuild: the file the run left, or -1 */
    uint64_t old_offset; /* rebuild: where its results start */
    uint64_t lost;       /* rebuild: journaled items whose bytes were not in the file */
    unsigned char *ibuf;
    size_t ibuf_cap;
    char run_id[64], identity[72];
    /* resume: finished ranges, collected before the pending ones are known */
    struct done_range {
        uint64_t first, count;
    } * ranges;
    size_t nranges, cap_ranges;
    int replay_error;
};

static void note_range(uint64_t first, uint64_t count, void *arg)
{
    struct master *m = arg;
    if (m->nranges == m->cap_ranges) {
        m->cap_ranges = m->cap_ranges ? 2 * m->cap_ranges : 256;
        m->ranges = tf_xrealloc(m->ranges, m->cap_ranges * sizeof *m->ranges);
    }
    m->ranges[m->nranges++] = (struct done_range){first, count};
}

/* The journal's record of a stored batch: the batch message without its results, which
 * are in the result file by then (at the file's data offset + first * record size). */
static int journal_batch(struct master *m, const struct batch_msg *bm, const struct fails *f)
{
    begin_result(&m->jbuf, bm->row.first, bm->row.count, bm->row.rank, bm->row.host, 0, 0);
    finish_result(&m->jbuf, bm->row.start, bm->seconds, f);
    if (tf_journal_append(m->journal, m->jbuf.data, m->jbuf.len) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EIO, "cannot write the journal '%s'", m->jpath);
    return TASKFARM_OK;
}

/* Store a batch: results into the file, then its journal record (from then on it is
 * finished, whatever is killed next), the results buffer, the counts. */
static int store_parsed(struct master *m, const struct batch_msg *bm, const struct fails *f)
{
    struct taskfarm_map *map = m->map;
    if (m->h5 && tf_h5map_write(m->h5, &bm->row, bm->results, f->v, f->n) != TF_OK)
        return tf_map_fail(map, TASKFARM_EHDF5, "cannot write results to '%s'", map->output);
    if (m->journal) {
        int rc = journal_batch(m, bm, f);
        if (rc != TASKFARM_OK)
            return rc;
    }
    if (map->results_buffer && bm->results)
        memcpy((unsigned char *)map->results_buffer + bm->row.first * map->result.size, bm->results,
               bm->rlen);
    m->done += bm->row.count;
    m->failed += bm->row.failed;
    if (m->sched)
        tf_mapsched_done(m->sched, bm->row.count, bm->seconds);
    note_range(bm->row.first, bm->row.count, m);
    return TASKFARM_OK;
}

static bool parse_batch(struct master *m, const void *data, size_t len, struct batch_msg *bm)
{
    return parse_result(data, len, bm, &m->fails) && bm->row.first <= m->nitems &&
           bm->row.count <= m->nitems - bm->row.first;
}

static int store_batch(struct master *m, const void *data, size_t len)
{
    struct batch_msg bm;
    if (!parse_batch(m, data, len, &bm) ||
        bm.rlen != (bm.written ? 0 : bm.row.count * m->map->result.size) ||
        (bm.written && m->map->results_buffer))
        return tf_map_fail(m->map, TASKFARM_EMPI, "a malformed batch result reached the master");
    return store_parsed(m, &bm, &m->fails);
}

/* Rebuild: a journal record, its results read back from the file the run left. A batch whose
 * bytes are not there (a file cut short) is left to run again. */
static void replay_batch(const void *data, size_t len, void *arg)
{
    struct master *m = arg;
    struct batch_msg bm;
    if (m->replay_error != TASKFARM_OK)
        return;
    if (!parse_batch(m, data, len, &bm) || bm.rlen != 0) {
        m->replay_error = tf_map_fail(m->map, TASKFARM_EINVAL,
                                      "journal '%s' holds a malformed "
                                      "record",
                                      m->jpath);
        return;
    }
    size_t bytes = bm.row.count * m->map->result.size;
    ensure(&m->ibuf, &m->ibuf_cap, bytes);
    off_t at = (off_t)(m->old_offset + bm.row.first * m->map->result.size);
    if (m->old_fd < 0 || pread(m->old_fd, m->ibuf, bytes, at) != (ssize_t)bytes) {
        m->lost += bm.row.count;
        return;
    }
    bm.results = m->ibuf;
    bm.rlen = bytes;
    m->replay_error = store_parsed(m, &bm, &m->fails);
}

static int persist(struct master *m, bool now)
{
    if (!now && tf_monotonic() - m->last_flush < FLUSH_SECONDS)
        return TASKFARM_OK;
    m->last_flush = tf_monotonic();
    if (m->h5 && tf_h5map_flush(m->h5) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EHDF5, "cannot flush '%s'", m->map->output);
    if (m->journal == NULL)
        return TASKFARM_OK;
    /* To the disk (what survives a node crash, not only a killed process), the results
     * before the journal records that point at them; in the background, because a sync
     * of what the workers produce in 2 s takes long enough to let them run dry. */
    if (m->bg) {
        tf_bgsync_request(m->bg, tf_h5map_fd(m->h5), tf_journal_fd(m->journal));
        return TASKFARM_OK;
    }
    if (tf_h5map_sync(m->h5) != TF_OK || tf_journal_sync(m->journal) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EIO, "cannot sync '%s' and its journal",
                           m->map->output);
    return TASKFARM_OK;
}

/* A stop signal: hand out nothing more; what is running finishes and is stored. */
static void watch_signals(struct master *m)
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

/* ---- setting up the master: output, journal, resume --------------------------------------- */

static void describe_items(const struct taskfarm_map *map, char *out, size_t len)
{
    switch (map->items_kind) {
    case TF_ITEMS_RANGE:
        snprintf(out, len, "range 0..%llu", (unsigned long long)map->nitems);
        break;
    case TF_ITEMS_ARRAY:
        snprintf(out, len, "array of %llu records of %zu bytes", (unsigned long long)map->nitems,
                 map->item_size);
        break;
    case TF_ITEMS_GEN:
        snprintf(out, len, "generator of %llu items of %zu bytes", (unsigned long long)map->nitems,
                 map->item_size);
        break;
    default:
        snprintf(out, len, "%s:%s", map->items_path, map->items_dataset);
    }
}

/* What a resume must find unchanged: the items and the result type. */
static void map_identity(const struct taskfarm_map *map, const char *items, char hex[65])
{
    struct tf_sha256 c;
    tf_sha256_init(&c);
    char line[600];
    int n = snprintf(line, sizeof line, "items=%s\nn=%llu\nisize=%zu\nresult=%s\nrsize=%zu\n",
                     items, (unsigned long long)map->nitems, map->item_size, map->result_name,
                     map->result.size);
    tf_sha256_update(&c, line, (size_t)n);
    for (size_t i = 0; i < map->result.nfields; i++) {
        const struct taskfarm_field *f = &map->result.fields[i];
        n = snprintf(line, sizeof line, "%s:%d:%zu:%zu\n", f->name ? f->name : "", (int)f->type,
                     f->offset, f->count);
        tf_sha256_update(&c, line, (size_t)n);
    }
    tf_sha256_hex(&c, hex);
}

static void new_run_id(char *out, size_t len)
{
    snprintf(out, len, "%08lx-%06lx-%05ld", (unsigned long)tf_now(),
             (unsigned long)(tf_monotonic() * 1e6) & 0xffffffUL, (long)getpid());
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static int open_journal_new(struct master *m, const char *path, bool overwrite, double start)
{
    if (!m->map->journal)
        return TASKFARM_OK;
    struct tf_journal_header hdr = {.ntasks = m->nitems, .start_time = start};
    snprintf(hdr.run_id, sizeof hdr.run_id, "%s", m->run_id);
    snprintf(hdr.taskfile_sha256, sizeof hdr.taskfile_sha256, "%s", m->identity);
    hdr.data_offset = tf_h5map_data_offset(m->h5);
    char err[1200];
    if (tf_journal_create(path, overwrite, &hdr, &m->journal, err, sizeof err) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EIO, "%s", err);
    return TASKFARM_OK;
}

static int setup_fresh(struct master *m, struct tf_h5map_meta *meta)
{
    struct taskfarm_map *map = m->map;
    bool overwrite = (map->flags & TASKFARM_OVERWRITE) != 0;
    if (!overwrite && exists(map->output))
        return tf_map_fail(map, TASKFARM_EEXIST,
                           "output file '%s' exists: resume it, or overwrite it (--force)",
                           map->output);
    if (!overwrite && exists(m->jpath))
        return tf_map_fail(map, TASKFARM_EEXIST,
                           "journal '%s' of an unfinished run exists: resume it, or start again "
                           "with --force",
                           m->jpath);
    if (overwrite)
        unlink(m->cpath);
    new_run_id(m->run_id, sizeof m->run_id);
    meta->run_id = m->run_id;
    char err[1200];
    if (tf_h5map_create(map->output, overwrite, meta, &m->h5, err, sizeof err) != TF_OK)
        return tf_map_fail(map, TASKFARM_EINVAL, "%s", err);
    return open_journal_new(m, m->jpath, overwrite, meta->start_time);
}

/* Fill the new file and its new journal from the old journal and the results the old file
 * holds; both new ones are on disk when this returns TASKFARM_OK. */
static int replay_into(struct master *m, const char *tmp, const char *jtmp)
{
    struct tf_journal_header hdr;
    struct tf_journal *old = NULL;
    char err[1200];
    if (tf_journal_open_raw(m->jpath, &hdr, replay_batch, m, &old, err, sizeof err) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EIO, "%s", err);
    tf_journal_close(old, false);
    int rc = m->replay_error;
    if (rc == TASKFARM_OK && (tf_h5map_sync(m->h5) != TF_OK || tf_journal_sync(m->journal)))
        rc = tf_map_fail(m->map, TASKFARM_EIO, "cannot write '%s' or '%s'", tmp, jtmp);
    if (m->lost > 0)
        tf_log(TF_LOG_WARN, "%llu journaled items had no results left in '%s': they run again",
               (unsigned long long)m->lost, m->map->output);
    return rc;
}

/* A file its run did not close (kill -9, a node crash): make it again, into OUT.rebuild, from
 * the journal and the results the old file holds at its data offset, which is known even
 * when HDF5 cannot open the file; then rename it, and a fresh journal, over the old ones. */
static int rebuild(struct master *m, struct tf_h5map_meta *meta)
{
    struct taskfarm_map *map = m->map;
    struct tf_journal_header hdr;
    struct tf_h5map_info info;
    char err[1200];
    if (tf_journal_peek(m->jpath, &hdr, err, sizeof err) != TF_OK)
        return tf_map_fail(map, TASKFARM_EINVAL, "%s", err);
    if (strcmp(hdr.taskfile_sha256, m->identity) != 0)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "journal '%s' belongs to a different map (other items or result type)",
                           m->jpath);
    snprintf(m->run_id, sizeof m->run_id, "%s", hdr.run_id);
    meta->run_id = m->run_id;
    /* The file's own record of its data offset wins: the journal may describe a file that a
     * rebuild interrupted just before renaming the journal replaced. */
    m->old_offset = hdr.data_offset;
    if (tf_h5map_inspect(map->output, &info, err, sizeof err) == TF_OK && info.data_offset)
        m->old_offset = info.data_offset;
    m->old_fd = open(map->output, O_RDONLY | O_CLOEXEC);
    size_t olen = strlen(map->output);
    char *tmp = tf_xmalloc(olen + 16), *jtmp = tf_xmalloc(olen + 32);
    sprintf(tmp, "%s.rebuild", map->output);
    sprintf(jtmp, "%s.journal.rebuild", map->output);
    tf_log(TF_LOG_WARN, "'%s' was not closed by its run: rebuilding it from '%s'", map->output,
           m->jpath);
    int rc = TASKFARM_OK;
    if (tf_h5map_create(tmp, true, meta, &m->h5, err, sizeof err) != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EIO, "%s", err);
    if (rc == TASKFARM_OK)
        rc = open_journal_new(m, jtmp, true, meta->start_time);
    if (rc == TASKFARM_OK)
        rc = replay_into(m, tmp, jtmp);
    if (m->old_fd >= 0)
        close(m->old_fd);
    m->old_fd = -1;
    tf_journal_close(m->journal, false);
    m->journal = NULL;
    if (rc == TASKFARM_OK && (rename(tmp, map->output) != 0 || rename(jtmp, m->jpath) != 0))
        rc = tf_map_fail(map, TASKFARM_EIO, "cannot rename the rebuilt '%s' into place: %s", tmp,
                         strerror(errno));
    if (rc == TASKFARM_OK && map->journal) {
        struct tf_journal_header again;
        if (tf_journal_open_raw(m->jpath, &again, NULL, NULL, &m->journal, err, sizeof err) !=
            TF_OK)
            rc = tf_map_fail(map, TASKFARM_EIO, "%s", err);
    }
    free(tmp);
    free(jtmp);
    return rc;
}

static int setup_resume(struct master *m, struct tf_h5map_meta *meta)
{
    struct taskfarm_map *map = m->map;
    if (!exists(map->output) && !exists(m->jpath))
        return setup_fresh(m, meta);
    struct tf_h5map_info info;
    char err[1200];
    bool have_file = exists(map->output);
    if (have_file && tf_h5map_inspect(map->output, &info, err, sizeof err) == TF_OK &&
        info.closed) {
        if (strcmp(info.identity, m->identity) != 0)
            return tf_map_fail(map, TASKFARM_EINVAL,
                               "'%s' holds the results of a different map (other items or "
                               "result type); nothing was changed",
                               map->output);
        snprintf(m->run_id, sizeof m->run_id, "%s", info.run_id);
        meta->run_id = m->run_id;
        if (tf_h5map_open(map->output, meta, &m->h5, err, sizeof err) != TF_OK)
            return tf_map_fail(map, TASKFARM_EINVAL, "%s", err);
        if (tf_h5map_scan(m->h5, note_range, m) != TF_OK)
            return tf_map_fail(map, TASKFARM_EHDF5, "cannot read /batches of '%s'", map->output);
        if (!map->journal)
            return TASKFARM_OK;
        if (!exists(m->jpath))
            return open_journal_new(m, m->jpath, false, meta->start_time);
        struct tf_journal_header hdr;
        if (tf_journal_open_raw(m->jpath, &hdr, NULL, NULL, &m->journal, err, sizeof err) != TF_OK)
            return tf_map_fail(map, TASKFARM_EIO, "%s", err);
        return TASKFARM_OK;
    }
    if (!exists(m->jpath))
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "'%s' was not closed by its run and has no journal: cannot tell which "
                           "results are whole; start again with --force",
                           map->output);
    return rebuild(m, meta);
}

/* Items that crashed a process in an earlier run: record each as failed (signal and rank from
 * OUT.h5.crashes), so the resume does not crash on it again. */
static int record_crashes(struct master *m)
{
    FILE *fp = fopen(m->cpath, "r");
    if (fp == NULL)
        return TASKFARM_OK;
    unsigned long long item;
    int sig, rank, rc = TASKFARM_OK;
    struct tf_buf b = {0};
    while (rc == TASKFARM_OK &&
           fscanf(fp, "item %llu signal %d rank %d\n", &item, &sig, &rank) == 3) {
        if (item >= m->nitems)
            continue;
        bool covered = false;
        for (size_t i = 0; i < m->nranges && !covered; i++)
            covered = item >= m->ranges[i].first && item - m->ranges[i].first < m->ranges[i].count;
        if (covered)
            continue;
        tf_log(TF_LOG_WARN, "item %llu crashed rank %d with signal %d: recorded as failed", item,
               rank, sig);
        struct fails one = {0};
        fail_add(&one, item, 128 + sig, sig, rank);
        begin_result(&b, item, 1, rank, "", m->map->result.size, 0);
        finish_result(&b, tf_now(), 0, &one);
        free(one.v);
        rc = store_batch(m, b.data, b.len);
    }
    tf_buf_fini(&b);
    fclose(fp);
    if (rc == TASKFARM_OK && m->journal && tf_journal_sync(m->journal) == TF_OK)
        unlink(m->cpath); /* the journal holds them now */
    return rc;
}

static int by_first(const void *a, const void *b)
{
    const struct done_range *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Pending = [0, nitems) minus the finished ranges. */
static void plan_pending(struct master *m)
{
    if (m->nranges > 1)
        qsort(m->ranges, m->nranges, sizeof *m->ranges, by_first);
    uint64_t at = 0;
    for (size_t i = 0; i < m->nranges; i++) {
        if (m->ranges[i].first > at)
            tf_mapsched_add(m->sched, at, m->ranges[i].first);
        uint64_t end = m->ranges[i].first + m->ranges[i].count;
        if (end > at)
            at = end;
    }
    tf_mapsched_add(m->sched, at, m->nitems);
    m->nranges = 0;
    m->done = m->failed = 0; /* from here on: counts of this run */
}

/* ---- the master's loop -------------------------------------------------------------------- */

static int ship_items(struct master *m, uint64_t lo, uint64_t n)
{
    struct taskfarm_map *map = m->map;
    size_t bytes = n * map->item_size;
    if (map->items_kind == TF_ITEMS_ARRAY) {
        tf_wire_put_str(&m->assign, (const char *)map->items + lo * map->item_size, bytes);
    } else if (map->items_kind == TF_ITEMS_HDF5) {
        ensure(&m->ibuf, &m->ibuf_cap, bytes);
        if (tf_h5items_read(m->items, lo, n, m->ibuf) != TF_OK)
            return tf_map_fail(map, TASKFARM_EHDF5, "cannot read items %llu..%llu of %s:%s",
                               (unsigned long long)lo, (unsigned long long)(lo + n),
                               map->items_path, map->items_dataset);
        tf_wire_put_str(&m->assign, (const char *)m->ibuf, bytes);
    }
    return TASKFARM_OK;
}

/* Keep OUTSTANDING batches queued at worker rank `w`. */
static int fill(struct master *m, int w)
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

static int master_loop(struct master *m)
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
                rc = store_batch(m, msg.data, msg.len);
            if (rc == TASKFARM_OK && !told)
                rc = fill(m, msg.peer);
        }
        tf_msg_clear(&msg);
        watch_signals(m);
        if (rc == TASKFARM_OK)
            rc = persist(m, false);
    }
    if (tf_comm_progress(true) != TF_OK && rc == TASKFARM_OK)
        rc = tf_map_fail(m->map, TASKFARM_EMPI, "sending to the workers failed");
    return rc;
}

/* One rank alone: rank 0 computes its own batches. */
static int local_loop(struct master *m, struct compute *c)
{
    uint64_t lo, n;
    int rc = TASKFARM_OK;
    while (rc == TASKFARM_OK && tf_mapsched_next(m->sched, 0, &lo, &n)) {
        if (m->map->items_kind == TF_ITEMS_ARRAY)
            c->items = (unsigned char *)m->map->items + lo * m->map->item_size;
        else if (m->map->items_kind == TF_ITEMS_HDF5) {
            ensure(&m->ibuf, &m->ibuf_cap, n * m->map->item_size);
            if (tf_h5items_read(m->items, lo, n, m->ibuf) != TF_OK)
                return tf_map_fail(m->map, TASKFARM_EHDF5, "cannot read items of %s:%s",
                                   m->map->items_path, m->map->items_dataset);
            c->items = m->ibuf;
        }
        compute_batch(c, lo, n);
        c->items = NULL; /* borrowed */
        rc = store_batch(m, c->msg.data, c->msg.len);
        watch_signals(m);
        if (rc == TASKFARM_OK)
            rc = persist(m, false);
    }
    return rc;
}

/* ---- the worker's loop ------------------------------------------------------------------- */

static int worker_loop(struct compute *c)
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
            ensure(&c->items, &c->items_cap, ilen);
            memcpy(c->items, items, ilen);
        }
        tf_msg_clear(&queue[0]);
        memmove(queue, queue + 1, --nq * sizeof *queue);
        compute_batch(c, lo, n);
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

/* ---- the entry point ---------------------------------------------------------------------- */

static int master_setup(struct master *m, double start)
{
    struct taskfarm_map *map = m->map;
    char err[1200], items_desc[1200];
    if (map->items_kind == TF_ITEMS_HDF5) {
        if (tf_h5items_open(map->items_path, map->items_dataset, &map->item_type, &m->items,
                            &map->item_size, &map->nitems, err, sizeof err) != TF_OK)
            return tf_map_fail(map, TASKFARM_EINVAL, "%s", err);
    }
    if (map->items_kind == TF_ITEMS_ARRAY && map->items == NULL && map->nitems > 0)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_items_array: items is NULL on rank 0");
    m->nitems = map->nitems;
    describe_items(map, items_desc, sizeof items_desc);
    char hex[65];
    map_identity(map, items_desc, hex);
    snprintf(m->identity, sizeof m->identity, "%s", hex);
    if (map->output == NULL)
        return TASKFARM_OK;
    size_t olen = strlen(map->output);
    m->jpath = tf_xmalloc(olen + 16);
    m->cpath = tf_xmalloc(olen + 16);
    sprintf(m->jpath, "%s.journal", map->output);
    sprintf(m->cpath, "%s.crashes", map->output);
    struct tf_h5map_meta meta = {.version = TF_VERSION,
                                 .identity = m->identity,
                                 .items_source = items_desc,
                                 .master_host = m->host,
                                 .nitems = m->nitems,
                                 .nworkers = m->nworkers,
                                 .start_time = start,
                                 .map = map};
    double t = tf_monotonic();
    int rc = (map->flags & TASKFARM_RESUME) ? setup_resume(m, &meta) : setup_fresh(m, &meta);
    tf_log(TF_LOG_DEBUG, "result file and journal ready in %.3f s", tf_monotonic() - t);
    if (rc == TASKFARM_OK && (map->flags & TASKFARM_RESUME))
        rc = record_crashes(m);
    return rc;
}

static void master_fini(struct master *m)
{
    tf_mapsched_free(m->sched);
    tf_h5items_close(m->items);
    free(m->outstanding);
    free(m->jpath);
    free(m->cpath);
    free(m->fails.v);
    free(m->ranges);
    free(m->ibuf);
    tf_buf_fini(&m->assign);
    tf_buf_fini(&m->jbuf);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* Close the files; the run's outcome as a return code; the summary's counts. */
/* Close the result file; *done and *failed over the whole file. A run that is not
 * complete will be resumed from its journal, so the results go to the disk first. */
static int close_result_file(struct master *m, int rc, uint64_t *done, uint64_t *failed)
{
    struct taskfarm_map *map = m->map;
    /* What the master itself cost: it must stay small beside the workers. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if ((tf_h5map_note(m->h5, "master_cpu_seconds", cpu_seconds()) != TF_OK ||
         tf_h5map_note(m->h5, "master_peak_rss_mib", (double)ru.ru_maxrss / 1024.0) != TF_OK) &&
        rc == TASKFARM_OK)
        rc = tf_map_fail(map, TASKFARM_EHDF5, "cannot write to '%s'", map->output);
    if (rc == TASKFARM_OK && tf_h5map_counts(m->h5, done, failed) != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EHDF5, "cannot read back /batches of '%s'", map->output);
    if (rc == TASKFARM_OK && *done != m->nitems && m->journal && tf_h5map_sync(m->h5) != TF_OK)
        rc = tf_map_fail(map, TASKFARM_EIO, "cannot sync '%s'", map->output);
    if (tf_h5map_close(m->h5, tf_now(), done, failed) != TF_OK && rc == TASKFARM_OK)
        rc = tf_map_fail(map, TASKFARM_EHDF5, "cannot close '%s'", map->output);
    m->h5 = NULL;
    return rc;
}

/* Close the files; the run's outcome as a return code; the summary's counts. */
static int master_close(struct master *m, int rc, struct taskfarm_summary *s)
{
    struct taskfarm_map *map = m->map;
    uint64_t done = m->done, failed = m->failed;
    if (m->h5)
        rc = close_result_file(m, rc, &done, &failed);
    bool complete = rc == TASKFARM_OK && done == m->nitems;
    /* Complete: the journal goes, and nothing needs to wait for the disk. */
    if (!tf_bgsync_stop(m->bg, !complete) && rc == TASKFARM_OK)
        rc = tf_map_fail(map, TASKFARM_EIO, "cannot sync '%s' to disk", map->output);
    m->bg = NULL;
    if (tf_journal_close(m->journal, complete) != TF_OK && rc == TASKFARM_OK)
        rc = tf_map_fail(map, TASKFARM_EIO, "cannot close the journal '%s'", m->jpath);
    m->journal = NULL;
    s->items = m->nitems;
    s->done = done;
    s->failed = failed;
    s->not_run = m->nitems - done;
    s->output = map->output;
    if (rc != TASKFARM_OK)
        return rc;
    if (!complete) {
        tf_map_fail(map, TASKFARM_EINCOMPLETE,
                    "stopped with %llu of %llu items not run; resume to finish",
                    (unsigned long long)(m->nitems - done), (unsigned long long)m->nitems);
        return TASKFARM_EINCOMPLETE;
    }
    if (failed > 0) {
        tf_map_fail(map, TASKFARM_EFAILED, "the function failed on %llu of %llu items",
                    (unsigned long long)failed, (unsigned long long)m->nitems);
        return TASKFARM_EFAILED;
    }
    return TASKFARM_OK;
}

/* Whether workers on this node write their results into the file themselves: the master
 * then only records batches, instead of receiving and writing every byte (at 10^7 items/s,
 * 80 MB/s that would cost it a good part of a core). Not with a results buffer (rank 0
 * needs the bytes), and TASKFARM_DIRECT_WRITES=0 turns it off to measure it. */
static uint64_t direct_writes(const struct master *m)
{
    const char *env = getenv("TASKFARM_DIRECT_WRITES");
    return m->h5 && m->map->results_buffer == NULL && m->nitems > 0 &&
           !(env && strcmp(env, "0") == 0);
}

static int run_master(struct taskfarm_map *map, int nworkers, const char *host,
                      struct taskfarm_summary *s)
{
    struct master m = {.map = map, .host = host, .nworkers = nworkers, .old_fd = -1};
    m.outstanding = tf_xcalloc((size_t)nworkers + 1, sizeof *m.outstanding);
    m.last_flush = tf_monotonic();
    m.signals_seen = tf_stopsig_count();
    double start = tf_now();
    int rc = master_setup(&m, start);
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
        plan_pending(&m);
        if (m.journal)
            m.bg = tf_bgsync_start();
        if (nworkers > 0) {
            rc = master_loop(&m);
        } else {
            struct compute c = {.map = map, .rank = 0, .host = host, .rows_fd = -1};
            c.item = tf_xcalloc(1, map->item_size ? map->item_size : 1);
            crash_guard_on(map->output, 0);
            rc = local_loop(&m, &c);
            crash_guard_off();
            compute_fini(&c);
        }
    } else {
        tf_h5map_close(m.h5, tf_now(), NULL, NULL);
        m.h5 = NULL;
        tf_journal_close(m.journal, false);
        m.journal = NULL;
        master_fini(&m);
        return rc;
    }
    rc = master_close(&m, rc, s);
    master_fini(&m);
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
    struct compute c = {
        .map = map, .rank = rank, .host = host, .rows_fd = -1, .data_offset = shared[4]};
    if (shared[3] && tf_comm_on_master_node())
        c.rows_fd = tf_h5map_open_rows(map->output);
    c.item = tf_xcalloc(1, map->item_size ? map->item_size : 1);
    crash_guard_on(map->output, rank);
    int rc = worker_loop(&c);
    crash_guard_off();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    tf_log(TF_LOG_DEBUG, "rank %d: %.3f CPU seconds, %ld page faults, %ld involuntary switches",
           rank, cpu_seconds(), ru.ru_minflt, ru.ru_nivcsw);
    compute_fini(&c);
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
