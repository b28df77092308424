/* farm.c - start of a task-file run on every rank: which ranks run how many tasks at once
 * (slots), the master's checks of the task file and the output path and the result file it
 * creates; then all ranks agree whether to go on and run the event loop: an agent for the
 * rank's slots, and on rank 0 the master beside it.
 *
 * Nothing is written before every input check has passed, so a refused run leaves no file
 * behind and never touches an existing one: the sweep's commands and a fresh result file
 * are made under temporary names and put in place once the journal exists.
 */
#include "farm.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "comm.h"
#include "files.h"
#include "layout.h"
#include "log.h"
#include "loop.h"
#include "master.h"
#include "slots.h"
#include "stopsig.h"
#include "util.h"
#include "writes.h"

static void input_error(const char *msg)
{
    tf_print_error("%s", msg);
}

/* No input of the run is the output (by device and inode: links included). */
static bool check_aliases(const struct tf_config *cfg, char *errmsg, size_t errlen)
{
    const char *out = cfg->output;
    if (!tf_writes_not_input(out, cfg->sweep_taskfile ? NULL : cfg->taskfile, "the task file",
                             errmsg, errlen) ||
        !tf_writes_not_input(out, cfg->params_file, "the --params file", errmsg, errlen) ||
        !tf_writes_not_input(out, cfg->durations_from, "the --durations-from file", errmsg, errlen))
        return false;
    if (cfg->sweep_taskfile == NULL)
        return true;
    /* the sweep's commands replace OUT.h5.tasks: it must not be one of the inputs either */
    const char *inputs[] = {cfg->params_file, cfg->durations_from};
    for (int i = 0; i < 2; i++)
        if (inputs[i] && tf_same_file(cfg->sweep_taskfile, inputs[i])) {
            snprintf(errmsg, errlen,
                     "'%s', where the sweep writes its commands, is the input '%s': choose "
                     "another -o",
                     cfg->sweep_taskfile, inputs[i]);
            return false;
        }
    return true;
}

/* Every name a run makes from the output: its temporary name, the journal, a rebuild's
 * and its damaged copy, the sweep's commands and their temporary name. */
static bool check_output_names(const struct tf_config *cfg, char *errmsg, size_t errlen)
{
    static const char *const suffixes[] = {".journal", ".rebuild", ".damaged"};
    return tf_writes_check_names(cfg->output, suffixes, 3, errmsg, errlen) &&
           (cfg->sweep_taskfile == NULL ||
            tf_writes_check_names(cfg->sweep_taskfile, NULL, 0, errmsg, errlen));
}

/* Refuse an output path we must not or cannot write. One line in errmsg. */
static bool check_output(const struct tf_config *cfg, char *errmsg, size_t errlen)
{
    struct stat out;
    const char *path = cfg->output;
    if (!tf_writes_check_output(path, errmsg, errlen) || !check_aliases(cfg, errmsg, errlen) ||
        !check_output_names(cfg, errmsg, errlen))
        return false;
    if (stat(path, &out) == 0 && !cfg->force && !cfg->resume) {
        snprintf(errmsg, errlen,
                 "output file '%s' exists; use --resume to continue it, --force to "
                 "overwrite it, or -o for another",
                 path);
        return false;
    }
    if (cfg->force && access(path, F_OK) == 0 && access(path, W_OK) != 0) {
        /* replaced by a rename, which a file's own mode does not stop: keep its meaning */
        snprintf(errmsg, errlen, "output file '%s' is not writable: %s", path, strerror(errno));
        return false;
    }
    char *jpath = tf_journal_path_for(path);
    bool stale = !cfg->force && !cfg->resume && lstat(jpath, &out) == 0;
    bool ok = !stale && (cfg->resume || tf_journal_creatable(jpath, true, errmsg, errlen));
    if (stale)
        snprintf(errmsg, errlen,
                 "'%s' holds results of an interrupted run; use --resume to continue it or "
                 "--force to start over",
                 jpath);
    free(jpath);
    if (!ok)
        return false;
    return tf_writes_check_dir(path, errmsg, errlen);
}

/* A stop signal during the start-up phases (reading, checking): the run ends before it
 * creates anything. Checked between the phases; the parsers look at it inside theirs. */
static bool stop_before_start(void)
{
    if (tf_stopsig_count() == 0)
        return false;
    const char *name = sigabbrev_np(tf_stopsig_last());
    tf_print_error("stopped by SIG%s before the run started; nothing was written",
                   name ? name : "NAL");
    return true;
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
    tf_exec_run(&env, &t, NULL, &r);
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

/* What a run has made but not yet put in place: the sweep's commands and a fresh result
 * file, under temporary names until every check has passed. */
struct pending {
    char *sweep_tmp;    /* the sweep's commands, until placed at cfg->taskfile */
    bool sweep_placed;  /* OUT.h5.tasks is ours: removed again if the run is refused */
    bool sweep_existed; /* ... unless a file of that name was there before */
    char *h5_tmp;       /* a fresh result file, until placed at h5_target */
    char *h5_target;    /* the output, or the file an output symlink points to */
};

/* One command of a sweep: a task line can hold no more (the task file reader's limit). */
static bool sweep_line_ok(const struct tf_config *cfg, uint64_t row, const char *cmd, char *err,
                          size_t errlen)
{
    size_t len = strlen(cmd);
    if (len <= TF_TASKFILE_MAX_LINE)
        return true;
    if (cfg->params_file)
        snprintf(err, errlen,
                 "row %llu of '%s' (after the header) makes a command of %zu bytes; a task "
                 "line may have at most %d",
                 (unsigned long long)row + 1, cfg->params_file, len, TF_TASKFILE_MAX_LINE);
    else
        snprintf(err, errlen,
                 "combination %llu of --grid makes a command of %zu bytes; a task line may have "
                 "at most %d",
                 (unsigned long long)row + 1, len, TF_TASKFILE_MAX_LINE);
    return false;
}

/* The commands of a sweep, one line per parameter row, under a temporary name beside
 * cfg->taskfile (OUT.h5.tasks): placed only once the run's checks have passed, so a refused
 * run leaves none behind (W5). */
static bool write_sweep(const struct tf_config *cfg, const struct tf_params *p,
                        struct pending *pend, char *err, size_t errlen)
{
    pend->sweep_tmp = tf_temp_name_for(cfg->taskfile);
    const char *tmp = pend->sweep_tmp;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    bool ok = f != NULL, refused = false, stopped = false;
    int why = errno;
    for (uint64_t r = 0; ok && r < tf_params_rows(p); r++) {
        /* a long sweep is written in seconds: a stop signal is looked at as it goes */
        stopped = (r & 4095) == 0 && tf_stopsig_count() > 0;
        char *cmd = stopped ? NULL : tf_params_expand(p, cfg->template_cmd, r);
        refused = cmd && !sweep_line_ok(cfg, r, cmd, err, errlen);
        ok = cmd && !refused && fputs(cmd, f) >= 0 && fputc('\n', f) != EOF;
        why = errno;
        free(cmd);
    }
    if (f != NULL && fclose(f) != 0 && ok) {
        ok = false;
        why = errno;
    } else if (f == NULL && fd >= 0) {
        close(fd);
    }
    if (!ok && stopped)
        snprintf(err, errlen,
                 "stopped by a signal while writing the sweep's commands; nothing "
                 "was written");
    else if (!ok && !refused)
        snprintf(err, errlen, "cannot write the sweep's commands beside '%s': %s", cfg->taskfile,
                 strerror(why));
    if (!ok && fd >= 0)
        unlink(tmp);
    if (!ok) {
        free(pend->sweep_tmp);
        pend->sweep_tmp = NULL;
    }
    return ok;
}

/* --template with --params or --grid: read the table, check the template against it, and
 * write the commands the farm then runs. Returns an exit code, 0 to go on. */
static int sweep_setup(const struct tf_config *cfg, struct tf_master *m, struct pending *pend)
{
    char err[1024];
    struct tf_params *p = NULL;
    if (!check_output(cfg, err, sizeof err)) { /* before a long parse, and before writing */
        input_error(err);
        return TF_EXIT_USAGE;
    }
    enum tf_status st = cfg->params_file
                            ? tf_params_read_csv(cfg->params_file, &p, err, sizeof err)
                            : tf_params_grid(cfg->grid, cfg->ngrid, &p, err, sizeof err);
    if (st == TF_OK)
        st = tf_params_check(p, cfg->template_cmd, err, sizeof err);
    if (st == TF_OK && stop_before_start()) {
        tf_params_free(p);
        return TF_EXIT_USAGE;
    }
    if (st == TF_OK && !write_sweep(cfg, p, pend, err, sizeof err))
        st = TF_EINPUT;
    if (st != TF_OK) {
        input_error(err);
        tf_params_free(p);
        return TF_EXIT_USAGE;
    }
    m->params = p;
    return 0;
}

/* The sweep's commands to OUT.h5.tasks, where the result file names them and a resume
 * reads them again. */
static bool place_sweep(const struct tf_config *cfg, struct pending *pend)
{
    if (pend->sweep_tmp == NULL)
        return true;
    struct stat st;
    pend->sweep_existed = lstat(cfg->taskfile, &st) == 0;
    if (tf_rename_into_place(pend->sweep_tmp, cfg->taskfile) != 0) {
        tf_print_error("cannot put the sweep's commands at '%s': %s", cfg->taskfile,
                       strerror(errno));
        return false;
    }
    tf_taskfile_moved(pend->sweep_tmp, cfg->taskfile);
    free(pend->sweep_tmp);
    pend->sweep_tmp = NULL;
    pend->sweep_placed = true;
    return true;
}

/* A fresh result file, under a temporary name beside the output (or the file a symlinked
 * output points to): the old one, with --force, stays until fresh_finish. */
static int fresh_begin(struct tf_master *m, const struct tf_run_meta *meta, struct pending *pend)
{
    char err[1024];
    pend->h5_target = tf_writes_target(m->cfg->output);
    pend->h5_tmp = tf_temp_name_for(pend->h5_target);
    if (tf_h5out_create(pend->h5_tmp, false, meta, &m->h5, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    return 0;
}

/* The journal (created once every check has passed), then the new result file in place of
 * the old one: a refused run never touched the old file (D4). */
static int fresh_finish(struct tf_master *m, const struct tf_run_meta *meta, struct pending *pend)
{
    char err[1024];
    const struct tf_config *cfg = m->cfg;
    if (!cfg->no_journal) {
        char *jpath = tf_journal_path_for(cfg->output);
        struct tf_journal_header h;
        tf_journal_header_for(meta, &h);
        bool ok = tf_journal_create(jpath, cfg->force, &h, &m->journal, err, sizeof err) == TF_OK;
        free(jpath);
        if (!ok) {
            input_error(err);
            return TF_EXIT_USAGE;
        }
    }
    if (tf_writes_place(pend->h5_tmp, pend->h5_target, cfg->force) != 0) {
        tf_print_error(errno == EEXIST ? "output file '%s' appeared while the run started; it "
                                         "was left as it is"
                                       : "cannot put the result file at '%s'",
                       cfg->output);
        (void)tf_journal_close(m->journal, true);
        m->journal = NULL;
        return TF_EXIT_USAGE;
    }
    free(pend->h5_tmp);
    pend->h5_tmp = NULL;
    return 0;
}

/* A refused start: what it made goes again, what was there stays as it was. */
static void pending_discard(const struct tf_config *cfg, struct tf_master *m, struct pending *pend)
{
    if (pend->h5_tmp) {
        if (m->h5)
            (void)tf_h5out_close(m->h5, tf_now(), NULL);
        m->h5 = NULL;
        (void)tf_journal_close(m->journal, true);
        m->journal = NULL;
        unlink(pend->h5_tmp);
    }
    if (pend->sweep_tmp)
        unlink(pend->sweep_tmp);
    if (pend->sweep_placed && !pend->sweep_existed)
        unlink(cfg->taskfile);
}

static void pending_fini(struct pending *pend)
{
    free(pend->sweep_tmp);
    free(pend->h5_tmp);
    free(pend->h5_target);
}

/* Whether this run goes on from files already there (--resume with a result file or a
 * journal), rather than creating them. */
static bool resuming(const struct tf_config *cfg)
{
    if (!cfg->resume)
        return false;
    struct stat st;
    char *jpath = tf_journal_path_for(cfg->output);
    bool any = lstat(cfg->output, &st) == 0 || lstat(jpath, &st) == 0;
    free(jpath);
    if (!any)
        tf_log(TF_LOG_INFO, "--resume: %s does not exist yet, starting a new run", cfg->output);
    return any;
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

/* A message about the sweep's commands under their temporary name names OUT.h5.tasks,
 * the name the user knows (the reader's "FILE:LINE: ..."). */
static void name_final(char *err, size_t errlen, const char *tmp, const char *final)
{
    size_t n = strlen(tmp);
    if (strcmp(tmp, final) == 0 || strncmp(err, tmp, n) != 0)
        return;
    char *rest = tf_xstrdup(err + n);
    snprintf(err, errlen, "%s%s", final, rest);
    free(rest);
}

/* The master's checks of the inputs, before anything is created: the task file (or the
 * sweep's commands, still under their temporary name), the output, the slice, the
 * durations. Returns an exit code, 0 to go on. */
static int check_inputs(const struct tf_config *cfg, struct tf_master *m,
                        struct tf_taskfile_info *info, struct tf_durations **d,
                        struct pending *pend)
{
    char err[1024];
    if (cfg->template_cmd) {
        int code = sweep_setup(cfg, m, pend);
        if (code != 0)
            return code;
    }
    const char *tasks = pend->sweep_tmp ? pend->sweep_tmp : cfg->taskfile;
    if (!check_output(cfg, err, sizeof err) ||
        tf_taskfile_scan(tasks, info, err, sizeof err) != TF_OK) {
        name_final(err, sizeof err, tasks, cfg->taskfile);
        input_error(err);
        return TF_EXIT_USAGE;
    }
    if (tf_taskfile_open(tasks, &m->tasks, err, sizeof err) != TF_OK ||
        tf_taskfile_open(tasks, &m->retry_reader, err, sizeof err) != TF_OK) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    m->file_tasks = info->ntasks;
    if (cfg->slice_count > 0 && !take_slice(cfg, m, info)) {
        input_error("the task file changed while being read");
        return TF_EXIT_USAGE;
    }
    if (cfg->durations_from &&
        (*d = load_durations(cfg->durations_from, err, sizeof err)) == NULL) {
        input_error(err);
        return TF_EXIT_USAGE;
    }
    return stop_before_start() ? TF_EXIT_USAGE : 0;
}

/* The notes on how the run is made, and the scheduler. */
static int note_run(const struct tf_config *cfg, struct tf_master *m, const struct tf_layout *lay,
                    const char *order)
{
    m->sched = tf_sched_new(cfg->mode, m->ntasks, m->nworkers, lay->worker_node, lay->worker_slots);
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
        tf_h5out_note_i64(m->h5, "nslots", m->nslots) != TF_OK ||
        tf_h5out_note_i32s(m->h5, "slots_per_rank", lay->slots_of, lay->nranks) != TF_OK ||
        tf_h5out_note_str(m->h5, "slice", m->slice) != TF_OK ||
        tf_h5out_note_i64(m->h5, "first_task", (int64_t)m->first_task) != TF_OK ||
        tf_h5out_note_i64(m->h5, "taskfile_ntasks", (int64_t)m->file_tasks) != TF_OK)
        return TF_EXIT_INTERNAL;
    return 0;
}

/* Master only: everything that can refuse the run, then the files it writes. A fresh
 * result file replaces an old one (--force) only once everything has passed and its
 * journal exists. Returns an exit code, 0 to go on. */
static int master_setup_in(const struct tf_config *cfg, struct tf_master *m,
                           const struct tf_layout *lay, struct pending *pend)
{
    char err[1024], run_id[33];
    struct tf_taskfile_info info;
    struct tf_durations *d = NULL;
    int code = check_inputs(cfg, m, &info, &d, pend);
    if (code != 0) {
        tf_durations_free(d);
        return code;
    }
    m->ntasks = m->ntotal = info.ntasks;
    m->start = tf_now();
    tf_stopwatch_init(&m->watch, cfg->drain, end_of_run(cfg, tf_monotonic()));
    /* Any signal from here on stops the run once it is set up: check_inputs saw none. */
    m->watch.signals_seen = 0;
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
        .nworkers = m->nworkers,
        .ntasks = info.ntasks,
        .capture_bytes = cfg->capture_bytes,
        .start_time = m->start,
    };
    bool fresh = !resuming(cfg);
    if (!place_sweep(cfg, pend))
        code = TF_EXIT_INTERNAL;
    else
        code = fresh ? fresh_begin(m, &meta, pend) : tf_resume_setup(m, &info, &meta);
    if (code == 0 && note_sweep(cfg, m) != TF_OK)
        code = TF_EXIT_INTERNAL;
    char order[1024] = "file order";
    if (code == 0 && d &&
        !plan_longest_first(m, d, cfg->durations_from, order, sizeof order, err, sizeof err)) {
        input_error(err);
        code = TF_EXIT_USAGE;
    }
    tf_durations_free(d);
    if (code == 0)
        code = note_run(cfg, m, lay, order);
    if (code == 0 && fresh)
        code = fresh_finish(m, &meta, pend);
    if (code != 0)
        return code;
    if (tf_master_persist(m, true) != TF_OK)
        return TF_EXIT_INTERNAL;
    if (info.ntasks == 0)
        tf_log(TF_LOG_WARN, "%s holds no tasks: writing an empty result file", cfg->taskfile);
    tf_log(TF_LOG_INFO, "%llu tasks from %s in %d slot%s of %d process%s, mode %s: %s; %s",
           (unsigned long long)m->ntasks, cfg->taskfile, m->nslots, m->nslots == 1 ? "" : "s",
           m->nworkers, m->nworkers == 1 ? "" : "es", tf_mode_name(tf_sched_mode(m->sched)),
           tf_sched_reason(m->sched), order);
    return 0;
}

static int master_setup(const struct tf_config *cfg, struct tf_master *m,
                        const struct tf_layout *lay)
{
    struct pending pend = {0};
    int code = master_setup_in(cfg, m, lay, &pend);
    if (code != 0)
        pending_discard(cfg, m, &pend);
    pending_fini(&pend);
    return code;
}

/* Which ranks are the workers, for the master. */
static void master_workers(struct tf_master *m, const struct tf_layout *lay,
                           const char (*hosts)[64])
{
    m->nranks = lay->nranks;
    m->nworkers = lay->nworkers;
    m->rank_of = tf_xcalloc((size_t)lay->nworkers, sizeof *m->rank_of);
    m->worker_of = tf_xcalloc((size_t)lay->nranks, sizeof *m->worker_of);
    for (int r = 0; r < lay->nranks; r++)
        m->worker_of[r] = -1;
    m->host_of = tf_xcalloc((size_t)lay->nworkers, sizeof *m->host_of);
    for (int w = 0; w < lay->nworkers; w++) {
        memcpy(m->host_of[w], hosts[lay->worker_rank[w]], sizeof m->host_of[w]);
        m->host_of[w][sizeof m->host_of[w] - 1] = '\0';
        m->rank_of[w] = lay->worker_rank[w];
        m->worker_of[lay->worker_rank[w]] = w;
        m->nslots += lay->worker_slots[w];
    }
}

/* ---- slots ------------------------------------------------------------------------------ */

/* What the tasks of one slot find in their environment: OMP_NUM_THREADS and their GPUs. */
struct slot_env {
    char threads[32], gpus[300];
    const char *list[3];
    uint64_t cpus[TF_CPU_WORDS];
};

static void slot_env_make(const struct tf_config *cfg, const struct tf_rank_plan *p, int j,
                          struct slot_env *e)
{
    int n = 0;
    if (cfg->cores_per_task > 0) {
        snprintf(e->threads, sizeof e->threads, "OMP_NUM_THREADS=%d", p->cores_per_slot);
        e->list[n++] = e->threads;
    }
    if (cfg->gpus_per_task > 0) {
        int at = snprintf(e->gpus, sizeof e->gpus, "CUDA_VISIBLE_DEVICES=");
        int g = cfg->gpus_per_task;
        if (!tf_slots_gpu_list((p->first + j) * g, g, e->gpus + at, sizeof e->gpus - (size_t)at))
            tf_log(TF_LOG_WARN, "the GPU list of slot %d is too long to pass on", j);
        e->list[n++] = e->gpus;
    }
    e->list[n] = NULL;
    tf_slots_cpus(p, j, e->cpus);
}

/* Slurm's --cpus-per-task gives each taskfarm process its cores, not each task: a script
 * written for one rank per task (--ntasks-per-node=16 --cpus-per-task=8) now runs eight
 * one-core tasks per rank. Say so, and how to get what it meant. */
static void slurm_hint(const struct tf_config *cfg, const struct tf_layout *lay)
{
    const char *v = getenv("SLURM_CPUS_PER_TASK");
    long k = v ? strtol(v, NULL, 10) : 0;
    int here = 0; /* ranks on rank 0's node: one per node is the layout meant */
    for (int r = 0; r < lay->nranks; r++)
        here += lay->node_of[r] == lay->node_of[0];
    if (k > 1 && here > 1 && cfg->cores_per_task == 0 && cfg->jobs == 0 && lay->mine.nslots > 1)
        tf_log(TF_LOG_INFO,
               "SLURM_CPUS_PER_TASK=%ld: the cores of each taskfarm process, %d one-core tasks "
               "at once on rank 0; for tasks of %ld cores each, add --cores-per-task %ld",
               k, lay->mine.nslots, k, k);
}

static void slots_report(const struct tf_config *cfg, const struct tf_layout *lay)
{
    char cpus[256];
    tf_slots_cpu_text(lay->mine.node_cpus, cpus, sizeof cpus);
    tf_log(TF_LOG_INFO,
           "%d slot%s in %d process%s (%s%d on rank 0), %d core%s per task%s, %d GPU%s per "
           "task; cores of rank 0's node: %s",
           lay->total, lay->total == 1 ? "" : "s", lay->nworkers, lay->nworkers == 1 ? "" : "es",
           cfg->jobs > 0 ? "-j, " : "", lay->mine.nslots,
           cfg->cores_per_task > 0 ? cfg->cores_per_task : 1, cfg->cores_per_task > 1 ? "s" : "",
           cfg->bind ? ", bound" : "", cfg->gpus_per_task, cfg->gpus_per_task == 1 ? "" : "s",
           cpus);
}

/* Collective: the slots of every rank. 0 to go on, -1 on a rank with none, or an exit code. */
static int take_slots(const struct tf_config *cfg, struct tf_layout *lay)
{
    struct tf_slot_ask ask = {cfg->jobs, cfg->cores_per_task, cfg->gpus_per_task,
                              tf_comm_launcher_rank() >= 0};
    char err[256];
    int code = tf_layout_take(&ask, true, lay, err, sizeof err);
    if (code > 0 && tf_comm_rank() == 0)
        input_error(err);
    return code;
}

/* This rank's agent, with what each of its slots gives its tasks. */
static struct tf_agent *make_agent(const struct tf_config *cfg, const struct tf_layout *lay,
                                   uint64_t ntasks, uint64_t first)
{
    int n = lay->mine.nslots;
    if (n == 0)
        return NULL;
    struct slot_env *env = tf_xcalloc((size_t)n, sizeof *env);
    struct tf_agent_slot_spec *spec = tf_xcalloc((size_t)n, sizeof *spec);
    for (int j = 0; j < n; j++) {
        slot_env_make(cfg, &lay->mine, j, &env[j]);
        spec[j] = (struct tf_agent_slot_spec){env[j].list, cfg->bind ? env[j].cpus : NULL};
    }
    struct tf_agent *a = tf_agent_new(cfg, tf_comm_rank(), n, spec, ntasks, first);
    free(spec);
    free(env);
    return a;
}

/* ---- the master's part of the loop ------------------------------------------------------ */

static bool master_takes(enum tf_msg_kind kind)
{
    return kind == TF_MSG_RESULTS || kind == TF_MSG_REQUEST || kind == TF_MSG_RELEASE ||
           kind == TF_MSG_HEARTBEAT || kind == TF_MSG_STARTED;
}

static enum tf_status master_on_message(void *self, struct tf_msg *msg)
{
    return tf_master_on_message(self, msg);
}

static enum tf_status master_step(void *self)
{
    return tf_master_step(self);
}

static double master_deadline(void *self)
{
    return tf_master_deadline(self);
}

static bool master_done(void *self)
{
    return tf_master_done(self);
}

/* Run the loop on this rank: its agent, and on rank 0 the master. */
static enum tf_status run_loop(struct tf_master *m, struct tf_agent *a)
{
    struct tf_part parts[2];
    int n = 0;
    if (a)
        parts[n++] = tf_agent_part(a);
    if (m) {
        parts[n++] = (struct tf_part){.self = m,
                                      .name = "master",
                                      .takes = master_takes,
                                      .on_message = master_on_message,
                                      .step = master_step,
                                      .deadline = master_deadline,
                                      .done = master_done};
        TF_TRY(tf_master_begin(m));
    }
    enum tf_status st = tf_loop_run(parts, n);
    if (m)
        m->busy_seconds = parts[n - 1].seconds;
    if (st == TF_OK)
        st = tf_comm_progress(true);
    return st;
}

int tf_farm_run(const struct tf_config *cfg)
{
    struct tf_layout lay;
    int taken = take_slots(cfg, &lay);
    if (taken != 0)
        return taken < 0 ? 0 : taken;
    int rank = tf_comm_rank();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct tf_master m = {.cfg = cfg, .host = host};
    /* Every rank's host, for the master's messages about a lost worker (an allgather: the
     * only collective that gives everyone a buffer of the same shape). */
    char(*hosts)[64] = tf_xcalloc((size_t)tf_comm_size(), sizeof *hosts);
    char mine[64] = "";
    snprintf(mine, sizeof mine, "%s", host);
    tf_comm_allgather(mine, sizeof mine, hosts);
    if (rank == 0)
        master_workers(&m, &lay, hosts);
    free(hosts);
    int code = rank == 0 ? master_setup(cfg, &m, &lay) : 0;
    if (code == 0 && rank == 0) {
        slots_report(cfg, &lay);
        slurm_hint(cfg, &lay);
    }
    code = tf_comm_agree_max(code);
    if (code != 0) {
        if (rank == 0 && m.h5)
            (void)tf_h5out_close(m.h5, tf_now(), NULL);
        (void)tf_journal_close(m.journal, false);
        tf_master_fini(&m);
        tf_layout_fini(&lay);
        return code;
    }
    uint64_t ntasks = m.file_tasks, first = m.first_task; /* what tasks are told */
    tf_comm_bcast_u64(&ntasks);
    tf_comm_bcast_u64(&first);
    struct tf_agent *agent = make_agent(cfg, &lay, ntasks, first);
    tf_layout_fini(&lay);
    if (rank != 0) {
        enum tf_status st = run_loop(NULL, agent);
        tf_agent_free(agent);
        if (st != TF_OK) {
            tf_log(TF_LOG_ERROR, "worker stopped: %s", tf_status_str(st));
            tf_comm_abort(TF_EXIT_INTERNAL); /* the master would wait for us forever */
        }
        return 0;
    }
    tf_progress_init(&m.progress, m.ntasks, cfg->verbosity < 0 ? 0 : cfg->progress, tf_monotonic());
    enum tf_status st = run_loop(&m, agent);
    tf_agent_free(agent);
    int nranks = m.nranks;
    int exit_code = tf_master_finish(&m, st);
    if (st != TF_OK && nranks > 1)
        tf_comm_abort(exit_code); /* workers may still be waiting for work */
    return exit_code;
}
