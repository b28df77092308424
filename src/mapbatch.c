/* mapbatch.c - the computing side of an in-process map: the user's function over a batch of
 * items (on one of the agent's compute threads), the MAP_RESULT message that carries the
 * outcome, and the guard that names the item when the function crashes the process.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "map_impl.h"
#include "util.h"

/* ---- crashes: which item took the process down -------------------------------------------- */

/* Per thread: a fault is delivered to the thread that caused it, which knows its item. */
static _Thread_local volatile uint64_t crash_item;
static _Thread_local volatile sig_atomic_t crash_armed;
static _Thread_local void *crash_stack;
static int crash_rank;
static char crash_path[4096]; /* "" when there is no result file to note it beside */
static struct sigaction crash_saved[5];
static const int crash_signals[5] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

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

void tf_mapbatch_guard_thread(bool on)
{
    if (on) { /* a stack overflow in the function needs a stack of its own to report from */
        size_t size = 64 * 1024;
        crash_stack = tf_xmalloc(size);
        stack_t ss = {.ss_sp = crash_stack, .ss_size = size, .ss_flags = 0};
        sigaltstack(&ss, NULL);
        return;
    }
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    free(crash_stack);
    crash_stack = NULL;
}

void tf_mapbatch_guard_on(const char *output, int rank)
{
    crash_rank = rank;
    crash_path[0] = '\0';
    if (output && strlen(output) + 9 < sizeof crash_path)
        snprintf(crash_path, sizeof crash_path, "%s.crashes", output);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 5; i++)
        sigaction(crash_signals[i], &sa, &crash_saved[i]);
}

void tf_mapbatch_guard_off(void)
{
    for (int i = 0; i < 5; i++)
        sigaction(crash_signals[i], &crash_saved[i], NULL);
}

/* ---- computing a batch -------------------------------------------------------------------- */

void tf_mapbatch_fail(struct tf_fails *f, uint64_t item, int code, int sig, int rank)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->v = tf_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    f->v[f->n++] = (struct tf_item_failure){item, code, sig, rank};
}

void tf_mapbatch_reserve(unsigned char **p, size_t *cap, size_t need)
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
unsigned char *tf_mapbatch_begin(struct tf_buf *b, uint64_t lo, uint64_t n, int rank,
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
void tf_mapbatch_finish(struct tf_buf *b, double t0, double seconds, const struct tf_fails *f)
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
static void compute_slice(struct tf_compute *c, uint64_t lo, uint64_t i, uint64_t end,
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
                tf_mapbatch_fail(&c->fails, idx, rc, 0, c->rank);
                continue;
            }
            item = c->item;
        } else {
            item = c->items + i * isize;
        }
        int rc = map->fn(item, results + i * rsize, map->user);
        if (rc != 0) { /* half-made results must not pass for results */
            memset(results + i * rsize, 0, rsize);
            tf_mapbatch_fail(&c->fails, idx, rc, 0, c->rank);
        }
    }
}

/* Run the function over items [lo, lo+n) (their bytes in c->items when they travel) and
 * leave the MAP_RESULT message in c->msg, results computed in place (or written into the
 * result file, with direct writes). Called on a compute thread: no MPI here. */
void tf_mapbatch_compute(struct tf_compute *c, uint64_t lo, uint64_t n)
{
    size_t rsize = c->map->result.size, rbytes = n * rsize;
    unsigned char *results;
    if (c->rows_fd >= 0) {
        tf_mapbatch_reserve(&c->rows, &c->rows_cap, rbytes);
        memset(c->rows, 0, rbytes);
        results = c->rows;
    } else {
        results = tf_mapbatch_begin(&c->msg, lo, n, c->rank, c->host, rbytes, 0);
    }
    c->fails.n = 0;
    double t0 = tf_now(), m0 = tf_monotonic();
    crash_armed = 1;
    compute_slice(c, lo, 0, n, results);
    crash_armed = 0;
    double seconds = tf_monotonic() - m0;
    /* A rank that may have been declared lost meanwhile (stopped, cut off) does not write
     * into the file: the batch is someone else's, and whoever computes it writes it. It
     * sends its results instead, which a master that declared it lost drops. */
    bool may_write = c->write_until == NULL || tf_monotonic() < atomic_load(c->write_until);
    if (c->rows_fd >= 0 && !may_write) {
        memcpy(tf_mapbatch_begin(&c->msg, lo, n, c->rank, c->host, rbytes, 0), c->rows, rbytes);
    } else if (c->rows_fd >= 0) {
        if (tf_h5map_write_rows(c->rows_fd, c->data_offset, lo, rsize, c->rows, n) == TF_OK) {
            tf_mapbatch_begin(&c->msg, lo, n, c->rank, c->host, 0, BATCH_WRITTEN);
        } else { /* from now on through the master, as from another node */
            close(c->rows_fd);
            c->rows_fd = -1;
            memcpy(tf_mapbatch_begin(&c->msg, lo, n, c->rank, c->host, rbytes, 0), c->rows, rbytes);
        }
    }
    tf_mapbatch_finish(&c->msg, t0, seconds, &c->fails);
}

void tf_mapbatch_fini(struct tf_compute *c)
{
    free(c->items);
    free(c->item);
    free(c->rows);
    if (c->rows_fd >= 0)
        close(c->rows_fd);
    free(c->fails.v);
    tf_buf_fini(&c->msg);
}

bool tf_mapbatch_parse(const void *data, size_t len, struct tf_batch_msg *bm, struct tf_fails *f)
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
        tf_mapbatch_fail(f, item, (int32_t)(uint32_t)code, (int32_t)sig, (int32_t)rank);
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
