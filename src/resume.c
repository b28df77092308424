/* resume.c - the result file and its journal at the start of a run: created for a new run;
 * for --resume, checked against the task file, rebuilt from the journal when the last run
 * did not close it, and read to find the tasks that are left.
 *
 * Invariant: while a run is incomplete, its journal holds every finished task since the
 * result file was created, so the result file can always be rebuilt from the journal.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "master.h"
#include "util.h"

static void input_error(const char *msg)
{
    fprintf(stderr, "taskfarm: error: %s\n", msg);
}

char *tf_journal_path_for(const char *output)
{
    size_t n = strlen(output);
    char *p = tf_xmalloc(n + sizeof ".journal");
    memcpy(p, output, n);
    memcpy(p + n, ".journal", sizeof ".journal");
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void tf_journal_header_for(const struct tf_run_meta *meta, struct tf_journal_header *h)
{
    memset(h, 0, sizeof *h);
    snprintf(h->run_id, sizeof h->run_id, "%s", meta->run_id);
    snprintf(h->taskfile_sha256, sizeof h->taskfile_sha256, "%s", meta->taskfile_sha256);
    h->ntasks = meta->ntasks;
    h->start_time = meta->start_time;
}

/* ---- rebuilding the result file from the journal ---------------------------------------- */

struct replay {
    struct tf_h5out *h5;
    enum tf_status st;
    uint64_t n;
};

static void replay_one(const struct tf_result *r, void *arg)
{
    struct replay *rp = arg;
    if (rp->st == TF_OK)
        rp->st = tf_h5out_put_result(rp->h5, r, NULL);
    rp->n++;
}

static enum tf_status put_all_commands(struct tf_h5out *h5, const char *taskfile)
{
    char err[1024];
    struct tf_taskfile *tf;
    if (tf_taskfile_open(taskfile, &tf, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EINPUT;
    }
    struct tf_task t;
    bool got;
    enum tf_status st;
    while ((st = tf_taskfile_next(tf, &t, &got)) == TF_OK && got)
        TF_TRY(tf_h5out_put_command(h5, &t));
    tf_taskfile_close(tf);
    return st;
}

/* Keep the result file a rebuild replaces as OUT.damaged, or OUT.damaged.N (N = 1, 2, ...)
 * when that name is taken: by a hard link, so OUT is never missing; by a rename where the
 * file system has no hard links. False with errno when no copy could be kept. */
static bool keep_aside(const char *out, char *aside, size_t n)
{
    for (int i = 0; i < 1000; i++) {
        if (i == 0)
            snprintf(aside, n, "%s.damaged", out);
        else
            snprintf(aside, n, "%s.damaged.%d", out, i);
        if (link(out, aside) == 0)
            return true;
        if (errno == EEXIST)
            continue;
        struct stat st;
        if (lstat(aside, &st) != 0 && errno == ENOENT)
            return rename(out, aside) == 0;
        return false;
    }
    errno = EEXIST;
    return false;
}

/* Write a new result file from the task file and the journal's results (the last of each
 * task), and put it in place of the old one, which is kept as OUT.damaged (keep_aside). The
 * journal stays open in m->journal for this run's records. */
static int rebuild(struct tf_master *m, const char *jpath, struct tf_run_meta *meta, bool have_old)
{
    char err[1024];
    const char *out = m->cfg->output;
    size_t n = strlen(out) + 32;
    char *tmp = tf_temp_name_for(out), *aside = tf_xmalloc(n);
    tf_log(TF_LOG_WARN, "%s was not closed by its run (killed or crashed): rebuilding it from %s",
           out, jpath);
    struct replay rp = {0};
    struct tf_journal_header h;
    int code = 0;
    if (tf_h5out_create(tmp, true, meta, &rp.h5, err, sizeof err) != TF_OK) {
        input_error(err);
        code = TF_EXIT_INTERNAL;
        goto out;
    }
    if (put_all_commands(rp.h5, m->cfg->taskfile) != TF_OK) {
        (void)tf_h5out_close(rp.h5, NAN, NULL);
        code = TF_EXIT_INTERNAL;
        goto out;
    }
    if (tf_journal_open(jpath, &h, replay_one, &rp, &m->journal, err, sizeof err) != TF_OK) {
        input_error(err);
        (void)tf_h5out_close(rp.h5, NAN, NULL);
        code = TF_EXIT_USAGE;
        goto out;
    }
    enum tf_status st = tf_h5out_note(rp.h5, "rebuilt_from_journal", 1.0);
    enum tf_status cst = tf_h5out_close(rp.h5, NAN, NULL);
    st = st != TF_OK ? st : cst;
    if (rp.st != TF_OK || st != TF_OK) {
        tf_log(TF_LOG_ERROR, "rebuilding %s from %s failed", out, jpath);
        code = TF_EXIT_INTERNAL;
        goto out;
    }
    if (have_old && !keep_aside(out, aside, n)) {
        tf_log(TF_LOG_ERROR, "cannot keep %s as %s before rebuilding it: %s; nothing replaced", out,
               aside, strerror(errno));
        code = TF_EXIT_INTERNAL;
        goto out;
    }
    if (have_old)
        tf_log(TF_LOG_WARN, "the %s being replaced is kept as %s", out, aside);
    if (tf_rename_into_place(tmp, out) != 0) {
        tf_log(TF_LOG_ERROR, "cannot put %s in place of %s: %s", tmp, out, strerror(errno));
        code = TF_EXIT_INTERNAL;
        goto out;
    }
    tf_log(TF_LOG_INFO, "rebuilt %s: %llu finished tasks from %s", out, (unsigned long long)rp.n,
           jpath);
out:
    if (code != 0)
        unlink(tmp);
    free(tmp);
    free(aside);
    return code;
}

/* A journal for a result file closed cleanly but with no journal (all tasks had finished,
 * or the journal was deleted): every finished row, so the invariant holds again. Written
 * under a temporary name (m->journal), given its own once the result file has been read
 * whole and opened (tf_journal_publish): a refused resume leaves no journal behind. */
static int seed_journal(struct tf_master *m, const char *jpath, const struct tf_run_meta *meta)
{
    char err[1024];
    struct tf_journal_header h;
    tf_journal_header_for(meta, &h);
    if (!tf_journal_creatable(jpath, false, err, sizeof err)) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    char *tmp = tf_temp_name_for(jpath);
    enum tf_status cst = tf_journal_create(tmp, true, &h, &m->journal, err, sizeof err);
    free(tmp);
    if (cst != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    enum { BLOCK = 4096 };
    struct tf_result *rows = tf_xmalloc(BLOCK * sizeof *rows);
    enum tf_status st = TF_OK;
    for (uint64_t first = 0; first < m->ntotal && st == TF_OK; first += BLOCK) {
        size_t k = m->ntotal - first < BLOCK ? (size_t)(m->ntotal - first) : BLOCK;
        st = tf_h5out_read_rows(m->cfg->output, first, k, rows, NULL);
        for (size_t i = 0; i < k && st == TF_OK; i++)
            if (rows[i].status != TF_TASK_NOT_RUN)
                tf_journal_add(m->journal, &rows[i], NULL);
        for (size_t i = 0; i < k && st == TF_OK; i++)
            tf_result_fini(&rows[i]);
        if (st == TF_OK)
            st = tf_journal_commit(m->journal);
    }
    free(rows);
    if (st == TF_OK)
        st = tf_journal_sync(m->journal);
    if (st != TF_OK) {
        (void)tf_journal_close(m->journal, true);
        m->journal = NULL;
    }
    return st == TF_OK ? 0 : st == TF_EINPUT ? TF_EXIT_USAGE : TF_EXIT_INTERNAL;
}

/* ---- what is left to run ----------------------------------------------------------------- */

struct left {
    struct tf_master *m;
    size_t prior_cap;
};

static void note_row(uint64_t id, int status, int attempts, void *arg)
{
    struct left *L = arg;
    struct tf_master *m = L->m;
    bool run = status == TF_TASK_NOT_RUN || (m->cfg->retry_failed && status != TF_TASK_SUCCEEDED);
    m->skip[id] = !run;
    m->ntasks += run;
    if (run && attempts > 0) { /* rows come in id order: prior stays sorted */
        if (m->nprior == L->prior_cap) {
            L->prior_cap = L->prior_cap ? 2 * L->prior_cap : 64;
            m->prior = tf_xrealloc(m->prior, L->prior_cap * sizeof *m->prior);
        }
        m->prior[m->nprior++] = (struct tf_prior){id, attempts};
    }
}

/* Refuse a result file that was not made from this task file. One line in err. */
static bool same_taskfile(const struct tf_master *m, const struct tf_taskfile_info *info,
                          const char *sha, uint64_t ntasks, const char *what, char *err,
                          size_t errlen)
{
    const char *out = m->cfg->output;
    if (ntasks != info->ntasks) {
        snprintf(err, errlen, "cannot resume %s: its %s has %llu tasks, task file '%s' has %llu",
                 out, what, (unsigned long long)ntasks, m->cfg->taskfile,
                 (unsigned long long)info->ntasks);
        return false;
    }
    if (strcmp(sha, info->sha256) != 0 && !m->cfg->allow_changed) {
        snprintf(err, errlen,
                 "cannot resume %s: task file '%s' is not the one its %s was made from "
                 "(SHA-256 %.12s..., recorded %.12s...); use --allow-changed-taskfile to "
                 "resume anyway",
                 out, m->cfg->taskfile, what, info->sha256, sha);
        return false;
    }
    return true;
}

/* Open the result file for this run and find what is left to run. */
static int open_and_scan(struct tf_master *m, const struct tf_run_meta *meta)
{
    char err[1024];
    if (tf_h5out_open(m->cfg->output, meta, &m->h5, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    m->skip = tf_xcalloc(m->ntotal ? m->ntotal : 1, 1);
    m->ntasks = 0;
    struct left L = {.m = m};
    return tf_h5out_scan(m->h5, note_row, &L) == TF_OK ? 0 : TF_EXIT_INTERNAL;
}

int tf_resume_setup(struct tf_master *m, const struct tf_taskfile_info *info,
                    struct tf_run_meta *meta)
{
    const struct tf_config *cfg = m->cfg;
    const char *out = cfg->output;
    char err[1400], *jpath = tf_journal_path_for(out);
    bool have_h5 = exists(out), have_j = exists(jpath);
    if (have_j && cfg->no_journal) {
        snprintf(err, sizeof err,
                 "%s has a journal ('%s'): resume it with the journal (no --no-journal)", out,
                 jpath);
        goto refuse;
    }
    struct tf_h5out_info hi;
    struct tf_journal_header jh;
    int code = 0;
    bool seeded = false;
    static char run_id[64]; /* meta points at it for the rest of the run */
    if (!have_h5 && !have_j) {
        /* The farm starts a new run when neither name exists; here one is a symbolic link
         * to nothing (or vanished meanwhile): refused, as a fresh run would refuse it. */
        snprintf(err, sizeof err, "--resume: '%s' or '%s' is a symbolic link to a missing file",
                 out, jpath);
        goto refuse;
    }
    bool h5_ok = have_h5 && tf_h5out_inspect(out, &hi, err, sizeof err) == TF_OK;
    if (have_h5 && !h5_ok && !have_j)
        goto refuse; /* damaged, and nothing to rebuild it from */
    if (have_j && tf_journal_peek(jpath, &jh, err, sizeof err) != TF_OK)
        goto refuse; /* not a journal, a FIFO or a directory: refused, never waited on */
    if (h5_ok && have_j && strcmp(jh.run_id, hi.run_id) != 0) {
        snprintf(err, sizeof err,
                 "journal '%s' belongs to another run than %s (run ids %s and %s); move one "
                 "of them away",
                 jpath, out, jh.run_id, hi.run_id);
        goto refuse;
    }
    if (h5_ok &&
        !same_taskfile(m, info, hi.taskfile_sha256, hi.ntasks, "result file", err, sizeof err))
        goto refuse;
    if (have_j &&
        !same_taskfile(m, info, jh.taskfile_sha256, jh.ntasks, "journal", err, sizeof err))
        goto refuse;
    if (h5_ok && strcmp(hi.slice, m->slice) != 0) {
        snprintf(err, sizeof err, "%s holds %s%s of %s; this run asks for %s%s", out,
                 *hi.slice ? "slice " : "the whole", *hi.slice ? hi.slice : "", m->cfg->taskfile,
                 *m->slice ? "--slice " : "the whole file", m->slice);
        goto refuse;
    }
    /* Every record read before anything is created or changed: a journal holding what
     * cannot be (ids out of range, unknown statuses, invalid UTF-8) is refused, not replayed. */
    if (have_j && tf_journal_check(jpath, &jh, err, sizeof err) != TF_OK)
        goto refuse;
    snprintf(run_id, sizeof run_id, "%s", h5_ok ? hi.run_id : jh.run_id);
    meta->run_id = run_id;
    m->ntotal = info->ntasks;
    if (have_j && !(h5_ok && hi.closed)) {
        struct tf_run_meta first = *meta; /* the rebuilt file keeps the first run's start */
        first.start_time = jh.start_time;
        code = rebuild(m, jpath, &first, have_h5);
    } else if (have_j) {
        code = tf_journal_open(jpath, &jh, NULL, NULL, &m->journal, err, sizeof err) == TF_OK
                   ? 0
                   : (input_error(err), TF_EXIT_USAGE);
    } else {
        if (!hi.closed)
            tf_log(TF_LOG_WARN,
                   "%s was not closed by its run and has no journal: results of its last "
                   "seconds may be missing; those tasks run again",
                   out);
        if (!cfg->no_journal)
            code = seed_journal(m, jpath, meta);
        seeded = code == 0 && m->journal != NULL;
    }
    if (code == 0)
        code = open_and_scan(m, meta);
    if (code == 0 && seeded && tf_journal_publish(m->journal, jpath, err, sizeof err) != TF_OK) {
        input_error(err);
        code = TF_EXIT_INTERNAL;
    }
    if (code != 0 && seeded) { /* the seeded journal under its temporary name */
        (void)tf_journal_close(m->journal, true);
        m->journal = NULL;
    }
    free(jpath);
    if (code == 0)
        tf_log(TF_LOG_INFO, "--resume: %llu of %llu tasks left to run in %s",
               (unsigned long long)m->ntasks, (unsigned long long)m->ntotal, out);
    return code;
refuse:
    input_error(err);
    free(jpath);
    return TF_EXIT_USAGE;
}
