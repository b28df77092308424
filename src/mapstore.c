/* mapstore.c - the master's side of an in-process map: the result file and journal of a
 * new run, resuming one (rebuilt from the journal when its run did not close it), the items
 * that crashed a process, storing each batch (results, then journal record), and closing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "map_impl.h"
#include "util.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

static void note_range(uint64_t first, uint64_t count, void *arg)
{
    struct tf_mapmaster *m = arg;
    if (m->nranges == m->cap_ranges) {
        m->cap_ranges = m->cap_ranges ? 2 * m->cap_ranges : 256;
        m->ranges = tf_xrealloc(m->ranges, m->cap_ranges * sizeof *m->ranges);
    }
    m->ranges[m->nranges++] = (struct done_range){first, count};
}

/* The journal's record of a stored batch: the batch message without its results, which
 * are in the result file by then (at the file's data offset + first * record size). */
static int journal_batch(struct tf_mapmaster *m, const struct tf_batch_msg *bm,
                         const struct tf_fails *f)
{
    tf_mapbatch_begin(&m->jbuf, bm->row.first, bm->row.count, bm->row.rank, bm->row.host, 0, 0);
    tf_mapbatch_finish(&m->jbuf, bm->row.start, bm->seconds, f);
    if (tf_journal_append(m->journal, m->jbuf.data, m->jbuf.len) != TF_OK)
        return tf_map_fail(m->map, TASKFARM_EIO, "cannot write the journal '%s'", m->jpath);
    return TASKFARM_OK;
}

/* Store a batch: results into the file, then its journal record (from then on it is
 * finished, whatever is killed next), the results buffer, the counts. */
static int store_parsed(struct tf_mapmaster *m, const struct tf_batch_msg *bm,
                        const struct tf_fails *f)
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

static bool parse_batch(struct tf_mapmaster *m, const void *data, size_t len,
                        struct tf_batch_msg *bm)
{
    return tf_mapbatch_parse(data, len, bm, &m->fails) && bm->row.first <= m->nitems &&
           bm->row.count <= m->nitems - bm->row.first;
}

int tf_mapstore_batch(struct tf_mapmaster *m, const void *data, size_t len)
{
    struct tf_batch_msg bm;
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
    struct tf_mapmaster *m = arg;
    struct tf_batch_msg bm;
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
    tf_mapbatch_reserve(&m->ibuf, &m->ibuf_cap, bytes);
    off_t at = (off_t)(m->old_offset + bm.row.first * m->map->result.size);
    if (m->old_fd < 0 || pread(m->old_fd, m->ibuf, bytes, at) != (ssize_t)bytes) {
        m->lost += bm.row.count;
        return;
    }
    bm.results = m->ibuf;
    bm.rlen = bytes;
    m->replay_error = store_parsed(m, &bm, &m->fails);
}

int tf_mapstore_persist(struct tf_mapmaster *m, bool now)
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

static int open_journal_new(struct tf_mapmaster *m, const char *path, bool overwrite, double start)
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

static int setup_fresh(struct tf_mapmaster *m, struct tf_h5map_meta *meta)
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
static int replay_into(struct tf_mapmaster *m, const char *tmp, const char *jtmp)
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
static int rebuild(struct tf_mapmaster *m, struct tf_h5map_meta *meta)
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

static int setup_resume(struct tf_mapmaster *m, struct tf_h5map_meta *meta)
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

/* One line of OUT.h5.crashes, "item N signal S rank R", parsed with bounds (C11): false for
 * anything else. */
static bool parse_crash(const char *line, uint64_t *item, int *sig, int *rank)
{
    unsigned long long it;
    long sg, rk;
    char *end;
    if (strncmp(line, "item ", 5) != 0 || !isdigit((unsigned char)line[5]))
        return false;
    errno = 0;
    it = strtoull(line + 5, &end, 10);
    if (errno || strncmp(end, " signal ", 8) != 0 || !isdigit((unsigned char)end[8]))
        return false;
    sg = strtol(end + 8, &end, 10);
    if (errno || sg < 1 || sg > 127 || strncmp(end, " rank ", 6) != 0 ||
        !isdigit((unsigned char)end[6]))
        return false;
    rk = strtol(end + 6, &end, 10);
    if (errno || rk > INT_MAX || (*end != '\0' && *end != '\n'))
        return false;
    *item = it;
    *sig = (int)sg;
    *rank = (int)rk;
    return true;
}

struct crash {
    uint64_t item;
    int sig, rank;
    size_t order; /* line order: the first line of an item wins */
};

static int by_item(const void *a, const void *b)
{
    const struct crash *x = a, *y = b;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_first(const void *a, const void *b);

/* The crash lines for items below nitems, sorted by item, one per item. NULL with *n 0 when
 * there are none; -1 when the file is there but not a regular file. */
static int read_crashes(struct tf_mapmaster *m, struct crash **out, size_t *n)
{
    char why[600];
    *out = NULL;
    *n = 0;
    struct stat st;
    if (lstat(m->cpath, &st) != 0 && errno == ENOENT)
        return TASKFARM_OK; /* no item crashed */
    int fd = tf_open_regular(m->cpath, why, sizeof why);
    if (fd < 0)
        return tf_map_fail(m->map, TASKFARM_EINVAL, "%s", why);
    FILE *fp = fdopen(fd, "r");
    if (fp == NULL) {
        close(fd);
        return tf_map_fail(m->map, TASKFARM_EIO, "cannot read '%s'", m->cpath);
    }
    char line[256];
    size_t cap = 0, bad = 0, lines = 0;
    struct crash *v = NULL;
    while (fgets(line, sizeof line, fp)) {
        size_t len = strlen(line);
        bool whole = len > 0 && line[len - 1] == '\n';
        if (!whole && !feof(fp)) { /* longer than any crash line: skip the rest of it */
            int c;
            while ((c = getc(fp)) != EOF && c != '\n')
                ;
        }
        struct crash c = {.order = lines++};
        if (!whole && !feof(fp)) {
            bad++;
            continue;
        }
        if (!parse_crash(line, &c.item, &c.sig, &c.rank)) {
            bad++;
            continue;
        }
        if (c.item >= m->nitems)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            v = tf_xrealloc(v, cap * sizeof *v);
        }
        v[(*n)++] = c;
    }
    fclose(fp);
    if (bad)
        tf_log(TF_LOG_WARN, "%s: %zu line%s not of the form 'item N signal S rank R': skipped",
               m->cpath, bad, bad == 1 ? "" : "s");
    if (*n > 1)
        qsort(v, *n, sizeof *v, by_item);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (k == 0 || v[k - 1].item != v[i].item)
            v[k++] = v[i];
    *n = k;
    *out = v;
    return TASKFARM_OK;
}

/* Items that crashed a process in an earlier run: record each as failed (signal and rank from
 * OUT.h5.crashes), so the resume does not crash on it again. Sorted items against sorted
 * finished ranges: O(n log n) for any number of lines (H7). */
static int record_crashes(struct tf_mapmaster *m, const struct crash *v, size_t n)
{
    int rc = TASKFARM_OK;
    if (m->nranges > 1)
        qsort(m->ranges, m->nranges, sizeof *m->ranges, by_first);
    size_t nr = m->nranges, r = 0; /* the ranges finished before; storing adds more */
    uint64_t reach = 0;            /* the end of ranges[0..r) */
    struct tf_buf b = {0};
    size_t recorded = 0;
    for (size_t i = 0; i < n && rc == TASKFARM_OK; i++) {
        uint64_t item = v[i].item;
        while (r < nr && m->ranges[r].first <= item) {
            uint64_t end = m->ranges[r].first + m->ranges[r].count;
            if (end > reach)
                reach = end;
            r++;
        }
        if (item < reach)
            continue; /* finished: covered by a range */
        if (++recorded <= 10)
            tf_log(TF_LOG_WARN, "item %llu crashed rank %d with signal %d: recorded as failed",
                   (unsigned long long)item, v[i].rank, v[i].sig);
        struct tf_fails one = {0};
        tf_mapbatch_fail(&one, item, 128 + v[i].sig, v[i].sig, v[i].rank);
        tf_mapbatch_begin(&b, item, 1, v[i].rank, "", m->map->result.size, 0);
        tf_mapbatch_finish(&b, tf_now(), 0, &one);
        free(one.v);
        rc = tf_mapstore_batch(m, b.data, b.len);
    }
    if (recorded > 10)
        tf_log(TF_LOG_WARN, "%zu items in all from '%s' recorded as failed", recorded, m->cpath);
    tf_buf_fini(&b);
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
void tf_mapstore_plan(struct tf_mapmaster *m)
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

/* ---- the entry point ---------------------------------------------------------------------- */

int tf_mapstore_setup(struct tf_mapmaster *m, double start)
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
    /* The crash list is read before any file is made: a bad one refuses the run untouched. */
    struct crash *crashes = NULL;
    size_t ncrashes = 0;
    int rc = (map->flags & TASKFARM_RESUME) ? read_crashes(m, &crashes, &ncrashes) : TASKFARM_OK;
    if (rc == TASKFARM_OK)
        rc = (map->flags & TASKFARM_RESUME) ? setup_resume(m, &meta) : setup_fresh(m, &meta);
    tf_log(TF_LOG_DEBUG, "result file and journal ready in %.3f s", tf_monotonic() - t);
    if (rc == TASKFARM_OK && ncrashes > 0)
        rc = record_crashes(m, crashes, ncrashes);
    free(crashes);
    return rc;
}

void tf_mapstore_fini(struct tf_mapmaster *m)
{
    tf_mapsched_free(m->sched);
    tf_h5items_close(m->items);
    free(m->outstanding);
    for (int w = 0; m->held && w < m->nworkers; w++)
        free(m->held[w].v);
    free(m->held);
    tf_liveness_free(m->live);
    free(m->is_lost);
    free(m->host_of);
    free(m->lost_ranks);
    free(m->jpath);
    free(m->cpath);
    free(m->fails.v);
    free(m->ranges);
    free(m->ibuf);
    tf_buf_fini(&m->assign);
    tf_buf_fini(&m->jbuf);
}

/* Close the files; the run's outcome as a return code; the summary's counts. */
/* Close the result file; *done and *failed over the whole file. A run that is not
 * complete will be resumed from its journal, so the results go to the disk first. */
static int close_result_file(struct tf_mapmaster *m, int rc, uint64_t *done, uint64_t *failed)
{
    struct taskfarm_map *map = m->map;
    /* What the master itself cost: it must stay small beside the workers. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if ((tf_h5map_note(m->h5, "master_cpu_seconds", tf_cpu_seconds()) != TF_OK ||
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
int tf_mapstore_close(struct tf_mapmaster *m, int rc, struct taskfarm_summary *s)
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
