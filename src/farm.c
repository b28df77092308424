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
#include "slots.h"
#include "stopsig.h"
#include "util.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

static void input_error(const char *msg)
{
    tf_print_error("%s", msg);
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
        if (!cfg->force && !cfg->resume) {
            snprintf(errmsg, errlen,
                     "output file '%s' exists; use --resume to continue it, --force to "
                     "overwrite it, or -o for another",
                     path);
            return false;
        }
    }
    char *jpath = tf_journal_path_for(path);
    bool stale = !cfg->force && !cfg->resume && stat(jpath, &out) == 0;
    if (stale)
        snprintf(errmsg, errlen,
                 "'%s' holds results of an interrupted run; use --resume to continue it or "
                 "--force to start over",
                 jpath);
    free(jpath);
    if (stale)
        return false;
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

/* --durations-from: the durations of an earlier run, read before the result file is touched
 * (an unreadable file then changes nothing). NULL with errmsg set on failure. */
static struct tf_durations *load_durations(const char *from, char *err, size_t errlen)
{
    struct tf_durations *d = tf_durations_new();
    if (tf_h5out_read_durations(from, learn, d, err, errlen) != TF_OK) {
        tf_durations_free(d);
        return NULL;
    }
    return d;
}

/* The expected duration of every task to run, longest first. Costs 32 bytes per task on the
 * master (the only option whose memory grows with the number of tasks). */
static bool plan_longest_first(struct tf_master *m, const struct tf_durations *d, const char *from,
                               char *order, size_t olen, char *err, size_t errlen)
{
    m->plan = tf_xmalloc((m->ntasks ? m->ntasks : 1) * sizeof *m->plan);
    uint64_t known = 0, k = 0;
    for (uint64_t i = 0; i < m->ntotal; i++) {
        struct tf_task t;
        bool got;
        if (tf_taskfile_next(m->tasks, &t, &got) != TF_OK || !got) {
            snprintf(err, errlen, "task file '%s' changed while being read", m->cfg->taskfile);
            return false;
        }
        if (m->skip && m->skip[i])
            continue;
        double e = tf_durations_get(d, t.command);
        known += e >= 0;
        m->plan[k++] = (struct tf_planned){t.id, t.line, t.offset, e};
    }
    tf_durations_order(m->plan, m->ntasks);
    snprintf(order, olen, "longest first: durations of %llu of %llu tasks known from %s",
             (unsigned long long)known, (unsigned long long)m->ntasks, from);
    return true;
}

static void make_run_id(char out[33])
{
    unsigned char b[16] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f == NULL || fread(b, 1, sizeof b, f) != sizeof b) {
        double t = tf_now();
        memcpy(b, &t, sizeof t);
        pid_t pid = getpid();
        memcpy(b + 8, &pid, sizeof pid);
    }
    if (f)
        fclose(f);
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Seconds left in Slurm job `job` by squeue (Slurm before 23.02 does not export
 * SLURM_JOB_END_TIME), or 0 when unknown or unlimited. Asked once, at start. */
static double squeue_time_left(const char *job)
{
    char cmd[96];
    if (strspn(job, "0123456789_") != strlen(job) || strlen(job) > 40)
        return 0; /* not a job id: never put it in a command line */
    snprintf(cmd, sizeof cmd, "squeue -h -j %s -o %%L", job);
    struct tf_task t = {.command = cmd, .command_len = strlen(cmd), .avoid_rank = -1};
    struct tf_exec_env env = {.ntasks = 1, .capture_max = 256, .timeout = 15, .kill_grace = 1};
    struct tf_result r = {0};
    tf_exec_run(&env, &t, &r);
    double left = 0;
    char *nl = r.out ? strchr(r.out, '\n') : NULL;
    if (nl)
        *nl = '\0';
    if (r.status != TF_TASK_SUCCEEDED || !r.out || !tf_parse_seconds(r.out, &left))
        left = 0; /* UNLIMITED, NOT_SET, no squeue: no walltime */
    tf_result_fini(&r);
    return left;
}

/* The end of the allocation: --walltime, or Slurm's job end time (SLURM_JOB_END_TIME, else
 * squeue's time left). */
static double end_of_run(const struct tf_config *cfg, double start_mono)
{
    if (cfg->walltime > 0)
        return start_mono + cfg->walltime;
    const char *e = getenv("SLURM_JOB_END_TIME"), *job = getenv("SLURM_JOB_ID");
    double left = e ? strtod(e, NULL) - tf_now() : 0;
    const char *how = "SLURM_JOB_END_TIME";
    if (!e && job && *job) {
        left = squeue_time_left(job);
        how = "squeue";
    }
    if (left > 0) {
        tf_log(TF_LOG_INFO, "Slurm ends this job in %.0f s (%s): the run stops in time", left, how);
        return start_mono + left;
    }
    return 0;
}

/* --slice I/N: tasks [T*I/N, T*(I+1)/N) of the file's T; the stream is moved to the first,
 * and ids count from there (TASKFARM_TASK_ID adds first_task back). */
static bool take_slice(const struct tf_config *cfg, struct tf_master *m,
                       struct tf_taskfile_info *info)
{
    unsigned __int128 t = info->ntasks;
    uint64_t lo = (uint64_t)(t * cfg->slice_index / cfg->slice_count);
    uint64_t hi = (uint64_t)(t * (cfg->slice_index + 1) / cfg->slice_count);
    snprintf(m->slice, sizeof m->slice, "%llu/%llu", (unsigned long long)cfg->slice_index,
             (unsigned long long)cfg->slice_count);
    m->first_task = lo;
    info->ntasks = hi - lo;
    tf_log(TF_LOG_INFO, "slice %s: %llu tasks from task %llu, of %llu", m->slice,
           (unsigned long long)(hi - lo), (unsigned long long)lo, (unsigned long long)t);
    return tf_taskfile_skip(m->tasks, lo);
}

/* The commands of a sweep, one line per parameter row, into cfg->taskfile (OUT.h5.tasks),
 * written whole under another name first: a reader never sees half of it. */
static bool write_sweep(const struct tf_config *cfg, const struct tf_params *p, char *err,
                        size_t errlen)
{
    size_t n = strlen(cfg->taskfile) + 8;
    char *tmp = tf_xmalloc(n);
    snprintf(tmp, n, "%s.part", cfg->taskfile);
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL;
    for (uint64_t r = 0; ok && r < tf_params_rows(p); r++) {
        char *cmd = tf_params_expand(p, cfg->template_cmd, r);
        ok = fputs(cmd, f) >= 0 && fputc('\n', f) != EOF;
        free(cmd);
    }
    ok = f != NULL && fclose(f) == 0 && ok && rename(tmp, cfg->taskfile) == 0;
    if (!ok) {
        snprintf(err, errlen, "cannot write the sweep's commands to '%s': %s", cfg->taskfile,
                 strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok;
}

/* --template with --params or --grid: read the table, check the template against it, and
 * write the task file the farm then runs. Returns an exit code, 0 to go on. */
static int sweep_setup(const struct tf_config *cfg, struct tf_master *m)
{
    char err[1024];
    struct tf_params *p = NULL;
    enum tf_status st = cfg->params_file
                            ? tf_params_read_csv(cfg->params_file, &p, err, sizeof err)
                            : tf_params_grid(cfg->grid, cfg->ngrid, &p, err, sizeof err);
    if (st == TF_OK)
        st = tf_params_check(p, cfg->template_cmd, err, sizeof err);
    if (st == TF_OK &&
        (!check_output(cfg, err, sizeof err) || !write_sweep(cfg, p, err, sizeof err)))
        st = TF_EINPUT;
    if (st != TF_OK) {
        input_error(err);
        tf_params_free(p);
        return TF_EXIT_USAGE;
    }
    m->params = p;
    return 0;
}

/* /params, and how the sweep was made, in the result file. */
static enum tf_status note_sweep(const struct tf_config *cfg, struct tf_master *m)
{
    if (m->params == NULL)
        return TF_OK;
    char source[1024] = "";
    for (int i = 0; cfg->params_file == NULL && i < cfg->ngrid; i++)
        snprintf(source + strlen(source), sizeof source - strlen(source), "%s%s", i ? " " : "",
                 cfg->grid[i]);
    enum tf_status st = tf_h5out_put_params(m->h5, m->params, m->first_task, m->ntotal);
    if (st == TF_OK)
        st = tf_h5out_note_str(m->h5, "template", cfg->template_cmd);
    if (st == TF_OK)
        st = tf_h5out_note_str(m->h5, cfg->params_file ? "params_file" : "grid",
                               cfg->params_file ? cfg->params_file : source);
    return st;
}

/* Master only: everything that can refuse the run. Returns an exit code, 0 to go on. */
static int master_setup(const struct tf_config *cfg, struct tf_master *m, int nworkers,
                        const int *node_of)
{
    char err[1024], run_id[33];
    struct tf_taskfile_info info;
    if (cfg->template_cmd) {
        int code = sweep_setup(cfg, m);
        if (code != 0)
            return code;
    }
    if (tf_taskfile_scan(cfg->taskfile, &info, err, sizeof err) != TF_OK ||
        !check_output(cfg, err, sizeof err)) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    if (tf_taskfile_open(cfg->taskfile, &m->tasks, err, sizeof err) != TF_OK ||
        tf_taskfile_open(cfg->taskfile, &m->retry_reader, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    m->file_tasks = info.ntasks;
    if (cfg->slice_count > 0 && !take_slice(cfg, m, &info)) {
        input_error("the task file changed while being read");
        return TF_EXIT_USAGE;
    }
    m->ntasks = m->ntotal = info.ntasks;
    m->nworkers = nworkers;
    m->start = tf_now();
    m->end_at = end_of_run(cfg, tf_monotonic());
    make_run_id(run_id);
    struct tf_run_meta meta = {
        .version = TF_VERSION,
        .run_id = run_id,
        .command_line = cfg->command_line,
        .taskfile = cfg->taskfile,
        .taskfile_sha256 = info.sha256,
        .mode = tf_mode_name(cfg->mode),
        .mode_reason = "",
        .order = "file order",
        .master_host = m->host,
        .nworkers = nworkers > 0 ? nworkers : 1,
        .ntasks = info.ntasks,
        .capture_bytes = cfg->capture_bytes,
        .start_time = m->start,
    };
    struct tf_durations *d = NULL;
    if (cfg->durations_from && (d = load_durations(cfg->durations_from, err, sizeof err)) == NULL) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    int code = cfg->resume ? tf_resume_setup(m, &info, &meta) : tf_fresh_setup(m, &meta);
    if (code == 0 && note_sweep(cfg, m) != TF_OK)
        code = TF_EXIT_INTERNAL;
    char order[1024] = "file order";
    if (code == 0 && d &&
        !plan_longest_first(m, d, cfg->durations_from, order, sizeof order, err, sizeof err)) {
        input_error(err);
        code = TF_EXIT_USAGE;
    }
    tf_durations_free(d);
    if (code != 0)
        return code;
    /* node_of[0] is the master's; workers are ranks 1.. */
    m->sched = tf_sched_new(cfg->mode, m->ntasks, nworkers > 0 ? nworkers : 1,
                            nworkers > 0 ? node_of + 1 : NULL);
    if (cfg->no_steal)
        tf_sched_disable_stealing(m->sched);
    if (m->plan && m->ntasks > 0) { /* unknown durations were set to the mean of known ones */
        double sum = 0;
        for (uint64_t i = 0; i < m->ntasks; i++)
            sum += m->plan[i].expected;
        tf_sched_hint_mean(m->sched, sum / (double)m->ntasks);
    }
    const char *mode = tf_mode_name(tf_sched_mode(m->sched));
    if (tf_h5out_note_str(m->h5, "mode", mode) != TF_OK ||
        tf_h5out_note_str(m->h5, "mode_reason", tf_sched_reason(m->sched)) != TF_OK ||
        tf_h5out_note_str(m->h5, "order", order) != TF_OK ||
        tf_h5out_note_i64(m->h5, "cores_per_task", cfg->cores_per_task) != TF_OK ||
        tf_h5out_note_i64(m->h5, "gpus_per_task", cfg->gpus_per_task) != TF_OK ||
        tf_h5out_note_str(m->h5, "bind", cfg->bind ? "yes" : "no") != TF_OK ||
        tf_h5out_note_str(m->h5, "slice", m->slice) != TF_OK ||
        tf_h5out_note_i64(m->h5, "first_task", (int64_t)m->first_task) != TF_OK ||
        tf_h5out_note_i64(m->h5, "taskfile_ntasks", (int64_t)m->file_tasks) != TF_OK ||
        tf_master_persist(m, true) != TF_OK)
        return TF_EXIT_INTERNAL;
    if (info.ntasks == 0)
        tf_log(TF_LOG_WARN, "%s holds no tasks: writing an empty result file", cfg->taskfile);
    tf_log(TF_LOG_INFO, "%llu tasks from %s on %d worker%s, mode %s: %s; %s",
           (unsigned long long)m->ntasks, cfg->taskfile, meta.nworkers,
           meta.nworkers == 1 ? "" : "s", mode, tf_sched_reason(m->sched), order);
    return 0;
}

static int32_t prior_attempts(const struct tf_master *m, uint64_t id)
{
    size_t lo = 0, hi = m->nprior;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->prior[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nprior && m->prior[lo].id == id ? m->prior[lo].attempts : 0;
}

enum tf_status tf_master_next_task(struct tf_master *m, struct tf_task *t)
{
    bool got = false;
    if (m->plan) {
        const struct tf_planned *p = &m->plan[m->planned++];
        got = tf_taskfile_read_at(m->tasks, p->id, p->line, p->offset, t) == TF_OK;
    }
    while (!m->plan && (got = tf_taskfile_next(m->tasks, t, &got) == TF_OK && got) && m->skip &&
           t->id < m->ntotal && m->skip[t->id])
        ;
    if (!got) {
        tf_log(TF_LOG_ERROR, "task file '%s' changed during the run (expected %llu tasks)",
               m->cfg->taskfile, (unsigned long long)m->ntotal);
        return TF_EINPUT;
    }
    if (m->nprior)
        t->attempts = prior_attempts(m, t->id);
    return tf_h5out_put_command(m->h5, t);
}

/* Begin to stop: no new tasks; running ones get until `deadline` (0: as long as they take). */
static void begin_stop(struct tf_master *m, const char *why, double grace, bool interrupted)
{
    if (m->stop != TF_RUNNING)
        return;
    m->stop = TF_STOP_NEW;
    m->stop_reason = why;
    m->interrupted = interrupted;
    m->drain_deadline = grace >= 0 ? tf_monotonic() + grace : 0;
    tf_sched_stop_new(m->sched);
    if (grace >= 0)
        tf_log(TF_LOG_WARN, "%s: no new tasks; running tasks get %.0f s to finish", why, grace);
    else
        tf_log(TF_LOG_WARN, "%s: no new tasks; running tasks finish", why);
}

static bool retry_left(const struct tf_master *m, const struct tf_result *r)
{
    int32_t this_run = r->attempts - (m->nprior ? prior_attempts(m, r->id) : 0);
    return m->stop == TF_RUNNING && this_run <= m->cfg->retries;
}

enum tf_status tf_master_finish(struct tf_master *m, const struct tf_result *r, const char *host,
                                bool *retry, struct tf_task *again)
{
    *retry = false;
    if (r->status == TF_TASK_NOT_RUN) {
        tf_log(TF_LOG_INFO, "task %llu was stopped by the drain: NOT_RUN, --resume runs it",
               (unsigned long long)r->id);
        return TF_OK;
    }
    bool ok = r->status == TF_TASK_SUCCEEDED;
    if (!ok && retry_left(m, r)) {
        if (tf_taskfile_read_at(m->retry_reader, r->id, r->line, r->offset, again) != TF_OK) {
            tf_log(TF_LOG_ERROR, "cannot read task %llu again from '%s'", (unsigned long long)r->id,
                   m->cfg->taskfile);
            return TF_EINPUT;
        }
        again->attempts = r->attempts;
        again->avoid_rank = r->rank;
        *retry = true;
        tf_log(TF_LOG_INFO, "task %llu %s (attempt %d): running it again",
               (unsigned long long)r->id, tf_task_status_name(r->status), r->attempts);
        return TF_OK;
    }
    if (r->status >= 0 && r->status < TF_TASK_STATUS_COUNT)
        m->counts[r->status]++;
    if (m->journal)
        tf_journal_add(m->journal, r, host);
    TF_TRY(tf_h5out_put_result(m->h5, r, host));
    if (!ok && ++m->failures >= m->cfg->max_failures && m->cfg->max_failures > 0)
        begin_stop(m, "--max-failures reached", -1, false);
    return TF_OK;
}

bool tf_master_watch(struct tf_master *m)
{
    enum tf_stop before = m->stop;
    double now = tf_monotonic();
    int sigs = tf_stopsig_count();
    if (sigs > m->signals_seen) {
        static char why[64];
        snprintf(why, sizeof why, "received signal %s", sigabbrev_np(tf_stopsig_last()));
        if (m->signals_seen == 0 && m->stop == TF_RUNNING) {
            begin_stop(m, why, m->cfg->drain, true);
            tf_log(TF_LOG_WARN, "a second signal stops running tasks at once");
        } else if (m->signals_seen == 0 && m->stop == TF_STOP_NEW) {
            double d = now + m->cfg->drain; /* already stopping: at most --drain more */
            if (m->drain_deadline == 0 || d < m->drain_deadline)
                m->drain_deadline = d;
            m->stop_reason = why;
            m->interrupted = true;
        } else if (m->stop < TF_STOP_KILL) {
            tf_log(TF_LOG_WARN, "%s again: stopping running tasks now", why);
            m->stop = TF_STOP_KILL;
            m->stop_reason = why;
            m->interrupted = true;
        }
        m->signals_seen = sigs;
    }
    if (m->end_at > 0 && m->stop == TF_RUNNING) {
        double close_by = m->end_at - TF_CLOSE_MARGIN;
        double expected =
            m->cfg->expected_duration > 0 ? m->cfg->expected_duration : tf_sched_mean(m->sched);
        if (now >= close_by - m->cfg->drain)
            begin_stop(m, "walltime nearly over", close_by - now, true);
        else if (expected > 0 && now + expected > close_by)
            begin_stop(m, "the walltime leaves no room for another task", close_by - now, true);
    }
    if (m->stop == TF_STOP_NEW && m->drain_deadline > 0 && now >= m->drain_deadline) {
        tf_log(TF_LOG_WARN, "drain time is up: stopping running tasks");
        m->stop = TF_STOP_TERM;
    }
    return m->stop != before;
}

enum tf_status tf_master_persist(struct tf_master *m, bool now)
{
    TF_TRY(tf_journal_commit(m->journal));
    if (!now && tf_monotonic() - tf_h5out_last_flush(m->h5) < TF_FLUSH_SECONDS)
        return TF_OK;
    TF_TRY(tf_journal_sync(m->journal));
    return tf_h5out_flush(m->h5);
}

/* Tick of the master running tasks itself: a stop reaches the running task here. */
void tf_master_progress(struct tf_master *m, uint64_t running, bool force)
{
    uint64_t done = m->counts[1] + m->counts[2] + m->counts[3] + m->counts[4];
    if (running > m->ntasks - done)
        running = m->ntasks - done;
    tf_progress_update(&m->progress, tf_monotonic(), done, done - m->counts[1], running, force);
}

static void local_tick(void *arg)
{
    struct tf_master *m = arg;
    tf_master_watch(m);
    m->cancel = m->stop >= TF_STOP_TERM ? (m->stop == TF_STOP_KILL ? 2 : 1) : 0;
}

/* The master alone: run every task here, in order, through the same scheduler. */
static enum tf_status run_local(struct tf_master *m)
{
    struct tf_action a;
    uint64_t received = 0;
    m->env.tick = local_tick;
    m->env.tick_arg = m;
    m->env.tick_seconds = 0.1;
    m->env.cancel = &m->cancel;
    tf_sched_on_request(m->sched, 0);
    while (!tf_master_watch(m) && m->stop == TF_RUNNING && tf_sched_next_action(m->sched, &a) &&
           a.kind == TF_ACT_ASSIGN) {
        double busy = 0;
        tf_sched_on_assign(m->sched, 0, a.count, true);
        received += a.count;
        for (uint64_t i = 0; i < a.count; i++) {
            struct tf_task t;
            struct tf_result r;
            bool retry;
            TF_TRY(tf_master_next_task(m, &t));
            do {
                tf_exec_run(&m->env, &t, &r);
                busy += r.end - r.start;
                enum tf_status st = tf_master_finish(m, &r, m->host, &retry, &t);
                tf_result_fini(&r);
                TF_TRY(st);
            } while (retry && m->stop == TF_RUNNING);
            TF_TRY(tf_master_persist(m, false));
            tf_master_progress(m, 1, false);
            if (m->stop != TF_RUNNING)
                return TF_OK; /* the rest stays NOT_RUN */
        }
        tf_sched_on_done(m->sched, 0, a.count, busy);
        tf_sched_on_report(m->sched, 0, 0, received);
        tf_sched_on_request(m->sched, 0);
    }
    return TF_OK;
}

static void collect_row(uint64_t id, const char *out, void *arg)
{
    tf_collect_row(arg, id, out, strlen(out));
}

/* --collect: /results from every row's output, earlier runs' rows too (a resume). */
static enum tf_status collect_results(struct tf_master *m)
{
    struct tf_collect *c = tf_collect_new(m->ntotal);
    enum tf_status st = tf_h5out_each_stdout(m->h5, collect_row, c);
    if (st == TF_OK)
        st = tf_h5out_put_results(m->h5, c);
    if (st == TF_OK)
        tf_log(TF_LOG_INFO, "--collect: %d result column%s in /results", tf_collect_keys(c),
               tf_collect_keys(c) == 1 ? "" : "s");
    tf_collect_free(c);
    return st;
}

static int finish_master(struct tf_master *m, enum tf_status st)
{
    double end = tf_now();
    uint64_t c[TF_TASK_STATUS_COUNT] = {0};
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    enum tf_status nst = tf_h5out_note(m->h5, "master_peak_rss_mib", (double)ru.ru_maxrss / 1024.0);
    if (nst == TF_OK && m->stop_reason)
        nst = tf_h5out_note_str(m->h5, "stop_reason", m->stop_reason);
    if (nst == TF_OK && m->cfg->collect)
        nst = collect_results(m);
    enum tf_status jst = tf_journal_commit(m->journal);
    enum tf_status cst = tf_h5out_close(m->h5, end, c);
    tf_params_free(m->params);
    m->params = NULL;
    if (cst == TF_OK)
        cst = nst != TF_OK ? nst : jst;
    /* The journal goes only when the result file holds every task's final outcome. */
    enum tf_status jcl = tf_journal_close(m->journal, cst == TF_OK && c[TF_TASK_NOT_RUN] == 0);
    tf_taskfile_close(m->tasks);
    tf_taskfile_close(m->retry_reader);
    tf_sched_free(m->sched);
    free(m->plan);
    free(m->skip);
    free(m->prior);
    if (st == TF_OK)
        st = cst != TF_OK ? cst : jcl;
    if (st != TF_OK) {
        tf_log(TF_LOG_ERROR, "run failed (%s); finished results so far are in %s",
               tf_status_str(st), m->cfg->output);
        return TF_EXIT_INTERNAL;
    }
    if (m->cfg->verbosity > TF_QUIET)
        printf("taskfarm: %llu tasks: %llu succeeded, %llu failed, %llu killed, %llu timed out, "
               "%llu not run; %.1f s on %d worker%s; results in %s\n",
               (unsigned long long)m->ntotal, (unsigned long long)c[1], (unsigned long long)c[2],
               (unsigned long long)c[3], (unsigned long long)c[4], (unsigned long long)c[0],
               end - m->start, m->nworkers > 0 ? m->nworkers : 1, m->nworkers > 1 ? "s" : "",
               m->cfg->output);
    if (m->interrupted && c[0] > 0)
        fprintf(stderr,
                "taskfarm: stopped early (%s): %llu tasks not run; run the same "
                "command with --resume to finish\n",
                m->stop_reason, (unsigned long long)c[0]);
    fflush(stdout);
    if (m->interrupted && c[0] > 0)
        return TF_EXIT_INCOMPLETE;
    return c[TF_TASK_SUCCEEDED] == m->ntotal ? TF_EXIT_OK : TF_EXIT_TASKS;
}

/* What a task of this slot finds in its environment: OMP_NUM_THREADS and its GPUs. */
struct slot_env {
    char threads[32], gpus[300];
    const char *list[3];
};

static void slot_env_make(const struct tf_config *cfg, const struct tf_slot *s, struct slot_env *e)
{
    int n = 0;
    if (cfg->cores_per_task > 0) {
        snprintf(e->threads, sizeof e->threads, "OMP_NUM_THREADS=%d", s->ncpus > 0 ? s->ncpus : 1);
        e->list[n++] = e->threads;
    }
    if (cfg->gpus_per_task > 0) {
        int at = snprintf(e->gpus, sizeof e->gpus, "CUDA_VISIBLE_DEVICES=");
        if (!tf_slots_gpu_list(s, e->gpus + at, sizeof e->gpus - (size_t)at))
            tf_log(TF_LOG_WARN, "the GPU list of slot %d is too long to pass on", s->local);
        e->list[n++] = e->gpus;
    }
    e->list[n] = NULL;
}

static void slots_report(const struct tf_config *cfg, const struct tf_slot *plan, int n, int active)
{
    char cpus[256];
    tf_slots_cpu_text(plan[n > 1 ? 1 : 0].node_cpus, cpus, sizeof cpus);
    tf_log(TF_LOG_INFO,
           "%d of %d worker%s run tasks: %d core%s per task%s%s, %d GPU%s per task; "
           "cores of the first worker's node: %s",
           active, n > 1 ? n - 1 : 1, n > 2 ? "s" : "", cfg->cores_per_task,
           cfg->cores_per_task == 1 ? "" : "s",
           cfg->cores_from_slurm ? " (SLURM_CPUS_PER_TASK)" : "", cfg->bind ? ", bound" : "",
           cfg->gpus_per_task, cfg->gpus_per_task == 1 ? "" : "s", cpus);
}

/* Collective: which ranks run tasks on which cores and GPUs (--cores-per-task, --gpus-per-task,
 * --bind). Returns 0 to go on, -1 on a rank left without a slot (it takes no further part),
 * or an exit code. */
static int take_slots(const struct tf_config *cfg, struct tf_slot *mine, int *active)
{
    memset(mine, 0, sizeof *mine);
    if (cfg->cores_per_task == 0 && cfg->gpus_per_task == 0 && !cfg->bind)
        return 0;
    int n = tf_comm_size(), rank = tf_comm_rank();
    struct tf_rank_res me, *all = tf_xcalloc((size_t)n, sizeof *all);
    struct tf_slot *plan = tf_xcalloc((size_t)n, sizeof *plan);
    char err[256];
    tf_slots_local(&me);
    me.node = tf_comm_node_id();
    tf_comm_allgather(&me, sizeof me, all);
    *active = tf_slots_plan(all, n, cfg->cores_per_task, cfg->gpus_per_task, plan, err, sizeof err);
    *mine = plan[rank];
    if (rank == 0 && *active > 0)
        slots_report(cfg, plan, n, *active);
    free(all);
    free(plan);
    if (*active == 0) {
        if (rank == 0)
            input_error(err);
        return TF_EXIT_USAGE;
    }
    tf_comm_keep_only(rank == 0 || mine->active);
    if (!mine->active)
        return rank == 0 ? 0 : -1;
    if (!tf_slots_apply(mine, cfg->bind))
        tf_log(TF_LOG_WARN, "rank %d: cannot set its tasks' cores: %s", rank, strerror(errno));
    return 0;
}

int tf_farm_run(const struct tf_config *cfg)
{
    struct tf_slot slot;
    struct slot_env senv;
    int active = 0, taken = take_slots(cfg, &slot, &active);
    if (taken != 0)
        return taken < 0 ? 0 : taken;
    slot_env_make(cfg, &slot, &senv);
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
        if (rank == 0 && m.h5)
            (void)tf_h5out_close(m.h5, tf_now(), NULL);
        (void)tf_journal_close(m.journal, false);
        tf_taskfile_close(m.tasks);
        tf_taskfile_close(m.retry_reader);
        tf_sched_free(m.sched);
        free(m.plan);
        free(m.skip);
        free(m.prior);
        tf_params_free(m.params);
        return code;
    }
    uint64_t ntasks = m.file_tasks, first = m.first_task; /* what tasks are told */
    tf_comm_bcast_u64(&ntasks);
    tf_comm_bcast_u64(&first);
    if (rank != 0) {
        enum tf_status st = tf_worker_run(cfg, rank, ntasks, first, senv.list);
        if (st != TF_OK)
            tf_comm_abort(TF_EXIT_INTERNAL); /* the master would wait for us forever */
        return 0;
    }
    m.env = (struct tf_exec_env){.ntasks = ntasks,
                                 .id_offset = first,
                                 .rank = 0,
                                 .capture_max = cfg->capture_bytes,
                                 .timeout = cfg->timeout,
                                 .kill_grace = cfg->kill_grace,
                                 .extra_env = senv.list};
    tf_progress_init(&m.progress, m.ntasks, cfg->verbosity < 0 ? 0 : cfg->progress, tf_monotonic());
    enum tf_status st = nworkers == 0 ? run_local(&m) : tf_master_run(&m);
    tf_progress_end(&m.progress);
    int exit_code = finish_master(&m, st);
    if (st != TF_OK && nworkers > 0)
        tf_comm_abort(exit_code); /* workers may still be waiting for work */
    return exit_code;
}
