/* farm.c - start of a run on every rank: the master validates the task file and the output
 * path and creates the result file; then all ranks agree whether to go on. Also the master
 * running tasks itself when it is alone (-n 1 or no launcher).
 *
 * Nothing is written before every input check has passed, so a refused run leaves no file
 * behind and never touches an existing one.
 */
#include "farm.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "comm.h"
#include "log.h"
#include "util.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

static void input_error(const char *msg)
{
    fprintf(stderr, "taskfarm: error: %s\n", msg);
}

/* Refuse an output path we must not or cannot write. One line in errmsg. */
static bool check_output(const struct tf_config *cfg, char *errmsg, size_t errlen)
{
    struct stat out, in;
    const char *path = cfg->output;
    if (stat(path, &out) == 0) {
        if (S_ISDIR(out.st_mode)) {
            snprintf(errmsg, errlen, "output '%s' is a directory", path);
            return false;
        }
        if (stat(cfg->taskfile, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
            snprintf(errmsg, errlen, "output '%s' is the task file itself", path);
            return false;
        }
        if (!cfg->force) {
            snprintf(errmsg, errlen,
                     "output file '%s' exists; use --force to overwrite it or -o for another",
                     path);
            return false;
        }
    }
    char *copy = tf_xstrdup(path);
    const char *dir = dirname(copy);
    bool ok = false;
    struct stat ds;
    if (stat(dir, &ds) != 0)
        snprintf(errmsg, errlen, "directory '%s' for output '%s' does not exist", dir, path);
    else if (!S_ISDIR(ds.st_mode))
        snprintf(errmsg, errlen, "'%s' in output path '%s' is not a directory", dir, path);
    else if (access(dir, W_OK | X_OK) != 0)
        snprintf(errmsg, errlen, "directory '%s' for output '%s' is not writable: %s", dir, path,
                 strerror(errno));
    else
        ok = true;
    free(copy);
    return ok;
}

static void learn(const char *command, double seconds, void *arg)
{
    tf_durations_put(arg, command, seconds);
}

/* --durations-from: the expected duration of every task, longest first. Costs 32 bytes per
 * task on the master (the only option whose memory grows with the number of tasks). */
static bool plan_longest_first(struct tf_master *m, const char *from, char *order, size_t olen,
                               char *err, size_t errlen)
{
    struct tf_durations *d = tf_durations_new();
    if (tf_h5out_read_durations(from, learn, d, err, errlen) != TF_OK) {
        tf_durations_free(d);
        return false;
    }
    m->plan = tf_xmalloc((m->ntasks ? m->ntasks : 1) * sizeof *m->plan);
    uint64_t known = 0;
    for (uint64_t i = 0; i < m->ntasks; i++) {
        struct tf_task t;
        bool got;
        if (tf_taskfile_next(m->tasks, &t, &got) != TF_OK || !got) {
            snprintf(err, errlen, "task file '%s' changed while being read", m->cfg->taskfile);
            tf_durations_free(d);
            return false;
        }
        double e = tf_durations_get(d, t.command);
        known += e >= 0;
        m->plan[i] = (struct tf_planned){t.id, t.line, t.offset, e};
    }
    tf_durations_order(m->plan, m->ntasks);
    snprintf(order, olen, "longest first: durations of %llu of %llu tasks known from %s",
             (unsigned long long)known, (unsigned long long)m->ntasks, from);
    tf_durations_free(d);
    return true;
}

/* Master only: everything that can refuse the run. Returns an exit code, 0 to go on. */
static int master_setup(const struct tf_config *cfg, struct tf_master *m, int nworkers,
                        const int *node_of)
{
    char err[1024];
    struct tf_taskfile_info info;
    if (tf_taskfile_scan(cfg->taskfile, &info, err, sizeof err) != TF_OK ||
        !check_output(cfg, err, sizeof err)) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    if (tf_taskfile_open(cfg->taskfile, &m->tasks, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    m->ntasks = info.ntasks;
    char order[1024] = "file order";
    if (cfg->durations_from &&
        !plan_longest_first(m, cfg->durations_from, order, sizeof order, err, sizeof err)) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    m->nworkers = nworkers;
    /* node_of[0] is the master's; workers are ranks 1.. */
    m->sched = tf_sched_new(cfg->mode, info.ntasks, nworkers > 0 ? nworkers : 1,
                            nworkers > 0 ? node_of + 1 : NULL);
    if (cfg->no_steal)
        tf_sched_disable_stealing(m->sched);
    if (m->plan && m->ntasks > 0) { /* unknown durations were set to the mean of known ones */
        double sum = 0;
        for (uint64_t i = 0; i < m->ntasks; i++)
            sum += m->plan[i].expected;
        tf_sched_hint_mean(m->sched, sum / (double)m->ntasks);
    }
    m->start = tf_now();
    const struct tf_run_meta meta = {
        .version = TF_VERSION,
        .command_line = cfg->command_line,
        .taskfile = cfg->taskfile,
        .taskfile_sha256 = info.sha256,
        .mode = tf_mode_name(tf_sched_mode(m->sched)),
        .mode_reason = tf_sched_reason(m->sched),
        .order = order,
        .master_host = m->host,
        .nworkers = nworkers > 0 ? nworkers : 1,
        .ntasks = info.ntasks,
        .capture_bytes = cfg->capture_bytes,
        .start_time = m->start,
    };
    if (tf_h5out_create(cfg->output, cfg->force, &meta, &m->h5, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    if (info.ntasks == 0)
        tf_log(TF_LOG_WARN, "%s holds no tasks: writing an empty result file", cfg->taskfile);
    tf_log(TF_LOG_INFO, "%llu tasks from %s on %d worker%s, mode %s: %s; %s",
           (unsigned long long)info.ntasks, cfg->taskfile, meta.nworkers,
           meta.nworkers == 1 ? "" : "s", meta.mode, meta.mode_reason, order);
    return 0;
}

enum tf_status tf_master_next_task(struct tf_master *m, struct tf_task *t)
{
    bool got = false;
    if (m->plan) {
        const struct tf_planned *p = &m->plan[m->planned++];
        got = tf_taskfile_read_at(m->tasks, p->id, p->line, p->offset, t) == TF_OK;
    }
    if (!m->plan && tf_taskfile_next(m->tasks, t, &got) != TF_OK)
        got = false;
    if (!got) {
        tf_log(TF_LOG_ERROR, "task file '%s' changed during the run (expected %llu tasks)",
               m->cfg->taskfile, (unsigned long long)m->ntasks);
        return TF_EINPUT;
    }
    return tf_h5out_put_command(m->h5, t);
}

enum tf_status tf_master_store(struct tf_master *m, const struct tf_result *r, const char *host)
{
    if (r->status >= 0 && r->status < TF_TASK_STATUS_COUNT)
        m->counts[r->status]++;
    return tf_h5out_put_result(m->h5, r, host);
}

/* The master alone: run every task here, in order, through the same scheduler. */
static enum tf_status run_local(struct tf_master *m)
{
    struct tf_action a;
    uint64_t received = 0;
    tf_sched_on_request(m->sched, 0);
    while (tf_sched_next_action(m->sched, &a) && a.kind == TF_ACT_ASSIGN) {
        double busy = 0;
        tf_sched_on_assign(m->sched, 0, a.count, true);
        received += a.count;
        for (uint64_t i = 0; i < a.count; i++) {
            struct tf_task t;
            struct tf_result r;
            TF_TRY(tf_master_next_task(m, &t));
            tf_exec_run(&m->env, &t, &r);
            busy += r.end - r.start;
            enum tf_status st = tf_master_store(m, &r, m->host);
            tf_result_fini(&r);
            TF_TRY(st);
            TF_TRY(tf_h5out_flush_if_older(m->h5, TF_FLUSH_SECONDS));
        }
        tf_sched_on_done(m->sched, 0, a.count, busy);
        tf_sched_on_report(m->sched, 0, 0, received);
        tf_sched_on_request(m->sched, 0);
    }
    return TF_OK;
}

static int finish_master(struct tf_master *m, enum tf_status st)
{
    double end = tf_now();
    m->counts[TF_TASK_NOT_RUN] =
        m->ntasks - (m->counts[1] + m->counts[2] + m->counts[3] + m->counts[4]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    enum tf_status nst = tf_h5out_note(m->h5, "master_peak_rss_mib", (double)ru.ru_maxrss / 1024.0);
    enum tf_status cst = tf_h5out_close(m->h5, end, m->counts);
    if (cst == TF_OK)
        cst = nst;
    tf_taskfile_close(m->tasks);
    tf_sched_free(m->sched);
    free(m->plan);
    if (st == TF_OK)
        st = cst;
    if (st != TF_OK) {
        tf_log(TF_LOG_ERROR, "run failed (%s); finished results so far are in %s",
               tf_status_str(st), m->cfg->output);
        return TF_EXIT_INTERNAL;
    }
    if (m->cfg->verbosity > TF_QUIET)
        printf("taskfarm: %llu tasks: %llu succeeded, %llu failed, %llu killed, %llu timed out, "
               "%llu not run; %.1f s on %d worker%s; results in %s\n",
               (unsigned long long)m->ntasks, (unsigned long long)m->counts[1],
               (unsigned long long)m->counts[2], (unsigned long long)m->counts[3],
               (unsigned long long)m->counts[4], (unsigned long long)m->counts[0], end - m->start,
               m->nworkers > 0 ? m->nworkers : 1, m->nworkers > 1 ? "s" : "", m->cfg->output);
    fflush(stdout);
    return m->counts[TF_TASK_SUCCEEDED] == m->ntasks ? TF_EXIT_OK : TF_EXIT_TASKS;
}

int tf_farm_run(const struct tf_config *cfg)
{
    int rank = tf_comm_rank(), nworkers = tf_comm_size() - 1;
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct tf_master m = {.cfg = cfg, .host = host};
    int *node_of = rank == 0 ? tf_xcalloc((size_t)nworkers + 1, sizeof *node_of) : NULL;
    tf_comm_node_map(node_of);
    int code = rank == 0 ? master_setup(cfg, &m, nworkers, node_of) : 0;
    free(node_of);
    code = tf_comm_agree_max(code);
    if (code != 0) {
        if (rank == 0 && m.h5) {
            uint64_t none[TF_TASK_STATUS_COUNT] = {0};
            (void)tf_h5out_close(m.h5, tf_now(), none);
        }
        return code;
    }
    uint64_t ntasks = m.ntasks;
    tf_comm_bcast_u64(&ntasks);
    if (rank != 0) {
        enum tf_status st = tf_worker_run(rank, ntasks, cfg->capture_bytes, !cfg->no_steal);
        if (st != TF_OK)
            tf_comm_abort(TF_EXIT_INTERNAL); /* the master would wait for us forever */
        return 0;
    }
    m.env = (struct tf_exec_env){.ntasks = ntasks, .rank = 0, .capture_max = cfg->capture_bytes};
    enum tf_status st = nworkers == 0 ? run_local(&m) : tf_master_run(&m);
    int exit_code = finish_master(&m, st);
    if (st != TF_OK && nworkers > 0)
        tf_comm_abort(exit_code); /* workers may still be waiting for work */
    return exit_code;
}
