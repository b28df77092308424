/* cli.c - the command line: one option table drives parsing and the help text.
 *
 *   taskfarm run TASKFILE [-o OUT.h5] [--mode auto|process|pool] [--capture BYTES] [--force]
 *   taskfarm --help | --version
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "util.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

enum {
    OPT_MODE = 256,
    OPT_CAPTURE,
    OPT_FORCE,
    OPT_DURATIONS,
    OPT_NO_STEAL,
    OPT_TIMEOUT,
    OPT_KILL_GRACE,
    OPT_RETRIES,
    OPT_MAX_FAILURES,
    OPT_FAIL_FAST,
    OPT_DRAIN,
    OPT_RESUME,
    OPT_RETRY_FAILED,
    OPT_ALLOW_CHANGED,
    OPT_WALLTIME,
    OPT_CORES_PER_TASK,
    OPT_GPUS_PER_TASK,
    OPT_BIND,
    OPT_SLICE,
    OPT_TEMPLATE,
    OPT_PARAMS,
    OPT_GRID,
    OPT_COLLECT,
    OPT_PROGRESS,
    OPT_EXPECTED, /* the last option that means nothing to --plugin */
    OPT_WORKER_TIMEOUT,
    OPT_LOST_AFTER,
    OPT_NO_JOURNAL,
    OPT_PLUGIN,
    OPT_PLUGIN_ARG,
    OPT_ITEMS,
};

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"jobs", required_argument, NULL, 'j'},
    {"mode", required_argument, NULL, OPT_MODE},
    {"capture", required_argument, NULL, OPT_CAPTURE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"durations-from", required_argument, NULL, OPT_DURATIONS},
    {"no-steal", no_argument, NULL, OPT_NO_STEAL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"kill-grace", required_argument, NULL, OPT_KILL_GRACE},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"max-failures", required_argument, NULL, OPT_MAX_FAILURES},
    {"fail-fast", no_argument, NULL, OPT_FAIL_FAST},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"retry-failed", no_argument, NULL, OPT_RETRY_FAILED},
    {"allow-changed-taskfile", no_argument, NULL, OPT_ALLOW_CHANGED},
    {"walltime", required_argument, NULL, OPT_WALLTIME},
    {"expected-duration", required_argument, NULL, OPT_EXPECTED},
    {"worker-timeout", required_argument, NULL, OPT_WORKER_TIMEOUT},
    {"lost-after", required_argument, NULL, OPT_LOST_AFTER},
    {"cores-per-task", required_argument, NULL, OPT_CORES_PER_TASK},
    {"gpus-per-task", required_argument, NULL, OPT_GPUS_PER_TASK},
    {"bind", no_argument, NULL, OPT_BIND},
    {"slice", required_argument, NULL, OPT_SLICE},
    {"template", required_argument, NULL, OPT_TEMPLATE},
    {"params", required_argument, NULL, OPT_PARAMS},
    {"grid", required_argument, NULL, OPT_GRID},
    {"collect", no_argument, NULL, OPT_COLLECT},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"no-journal", no_argument, NULL, OPT_NO_JOURNAL},
    {"plugin", required_argument, NULL, OPT_PLUGIN},
    {"plugin-arg", required_argument, NULL, OPT_PLUGIN_ARG},
    {"items", required_argument, NULL, OPT_ITEMS},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: taskfarm run TASKFILE [options]      (one process, as many tasks at once as\n"
    "                                           it has cores: -j N to choose)\n"
    "       mpirun -n P taskfarm run TASKFILE [options]   (P processes, e.g. one per node)\n"
    "       taskfarm run --template COMMAND (--params FILE.csv | --grid NAME=V1,V2,...\n"
    "                                   [NAME=FIRST..LAST ...]) [options]\n"
    "       taskfarm run --plugin LIB.so:FN --items ITEMS -o OUT.h5 [options]\n"
    "       (each of them under mpirun or srun too: one process per node, or per core)\n"
    "       taskfarm status RESULTS.h5          (how far a run is; exit as for run)\n"
    "       taskfarm merge -o OUT.h5 [--force] PART.h5...  (join --slice results)\n"
    "       taskfarm export RESULTS.h5 [--csv|--tsv|--json-lines] [-o FILE]\n"
    "       taskfarm report RESULTS.h5 [-o REPORT.html|REPORT.svg]  (timeline, durations)\n"
    "       taskfarm --help | --version\n"
    "\n"
    "Runs every line of TASKFILE as `/bin/sh -c LINE` and stores every task's outcome in\n"
    "one HDF5 file. Each taskfarm process (MPI rank) runs as many tasks at once as it has\n"
    "slots: its share of its node's cores (divided by --cores-per-task), or -j N; rank 0\n"
    "also schedules and stores. Blank lines and lines starting with '#' are not tasks.\n"
    "\n"
    "With --template, no task file: one task per row of --params FILE.csv (its header\n"
    "names the columns) or of the --grid's cartesian product; {name} in COMMAND takes\n"
    "the row's value, quoted for the shell, {#} the task index ({{ and }} are braces).\n"
    "The commands go to OUT.h5.tasks, the parameters to /params of OUT.h5 (default\n"
    "output: the CSV's name with .h5, or sweep.h5).\n"
    "\n"
    "With --plugin, no task file: the C function FN of the shared library LIB.so is called\n"
    "in-process on every item, in adaptive batches, and its results are stored as typed\n"
    "arrays in /results of OUT.h5 (README.md, \"In-process tasks\").\n"
    "      --plugin LIB.so:FN  the function (LIB.so must also define FN_setup, which\n"
    "                      declares the result type)\n"
    "      --items N | FILE.h5:/DATASET  items 0..N-1, or the rows of a 1-D dataset\n"
    "      --plugin-arg TEXT   handed to FN_setup (a parameter file, a year, ...)\n"
    "      -j N            compute threads per process, when FN_setup declares the function\n"
    "                      thread-safe (taskfarm_map_thread_safe); default: its cores\n"
    "      -o, --force, --resume, --no-journal, -v, -q apply as for task files.\n"
    "\n"
    "Options for run:\n"
    "  -o, --output FILE   result file (default: TASKFILE's name with .h5, in the current\n"
    "                      directory); an existing file is never overwritten without --force\n"
    "  -j, --jobs N        tasks one taskfarm process runs at once, 1 to 4096 (default: its\n"
    "                      share of its node's cores, divided by --cores-per-task)\n"
    "      --mode MODE     auto (default), process (a fixed share per process, by its\n"
    "                      slots, handed out at once) or pool (dynamic batches)\n"

    "      --capture BYTES stdout and stderr kept per task and stream; K, M, G suffixes\n"
    "                      (default: 1M; 0 keeps nothing); the rest is dropped and flagged\n"
    "      --force         overwrite an existing result file\n"
    "      --durations-from FILE.h5\n"
    "                      start the longest tasks first, by the durations of the same\n"
    "                      commands in an earlier result file (unknown ones count as average)\n"
    "      --no-steal      diagnostic: never move queued tasks between processes\n"
    "      --timeout T     a task running longer than T gets SIGTERM, then SIGKILL after\n"
    "                      --kill-grace T (default 5s), sent to its whole process group\n"
    "      --retries N     run a task that failed, was killed or timed out up to N more\n"
    "                      times, in another process when there is one (default 0)\n"
    "      --max-failures K  hand out no new task once K tasks did not succeed; running\n"
    "                      tasks finish and every result is kept (--fail-fast: K = 1)\n"
    "      --drain T       on SIGTERM, SIGINT or SIGUSR1: no new tasks; running ones get T\n"
    "                      to finish (default 20s), then are stopped and stay NOT_RUN;\n"
    "                      a second signal stops them at once\n"
    "      --walltime T    the run must be over T after it starts (default: Slurm's job\n"
    "                      end time when known): no task starts that cannot finish by\n"
    "                      then, and the drain begins in time\n"
    "      --expected-duration T  how long one task takes, for --walltime (default: the\n"
    "                      average of the tasks finished so far)\n"
    "      --worker-timeout T  with Open MPI's recovery on (mpirun --mca\n"
    "                      orte_enable_recovery 1): a process not heard from for T (default\n"
    "                      5s) is lost, and its tasks go to the others\n"
    "      --lost-after N  a task that was running on N processes that were lost is\n"
    "                      recorded LOST and not started again (default 2)\n"
    "      --cores-per-task K  each task gets K cores (OMP_NUM_THREADS=K), and a node\n"
    "                      runs at most (its cores / K) tasks at once (Slurm's\n"
    "                      --cpus-per-task gives a taskfarm process its cores, not a task)\n"
    "      --bind          pin each slot's tasks to cores of their own (else a task may\n"
    "                      use all of the job's cores on its node)\n"
    "      --progress T    a progress line every T (default 30s; 0: none); on a\n"
    "                      terminal one live line instead, redrawn twice a second\n"
    "      --collect       the last line a task prints, key=value words or one JSON\n"
    "                      object, gives typed columns /results/KEY\n"
    "      --slice I/N     run only part I (from 0) of N equal contiguous parts of\n"
    "                      TASKFILE, as one element of a job array (taskfarm merge\n"
    "                      joins the parts' files; TASKFARM_TASK_ID stays the line's id)\n"
    "      --gpus-per-task G  each slot gets G GPUs of its node, its own\n"
    "                      (CUDA_VISIBLE_DEVICES); a node runs at most (GPUs / G) tasks\n"
    "      --resume        continue an existing result file: run only the tasks that did\n"
    "                      not finish (the file is created when it does not exist)\n"
    "      --retry-failed  with --resume, run the tasks that did not succeed again too\n"
    "      --allow-changed-taskfile  resume although the task file changed (same number\n"
    "                      of tasks; unfinished tasks run the new lines)\n"
    "      --no-journal    diagnostic: no crash journal (a kill -9 loses recent results)\n"
    "                      Durations: 90, 2.5, 30s, 10m, 2h, 1d, MM:SS, HH:MM:SS, D-HH:MM:SS\n"
    "  -v, --verbose       more progress messages (twice: debug)\n"
    "  -q, --quiet         errors only\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "Tasks see TASKFARM_TASK_ID (0-based), TASKFARM_NTASKS, TASKFARM_RANK and\n"
    "TASKFARM_SLOT (their slot in that rank).\n"
    "\n"
    "Exit status: 0 every task succeeded; 1 the run finished but some tasks did not\n"
    "succeed; 2 usage or input error (nothing written, nothing overwritten); 3 internal\n"
    "failure (MPI, HDF5, memory, file system) during the run; 4 stopped early (signal or\n"
    "walltime), incomplete: run again with --resume to finish.\n";

void tf_config_fini(struct tf_config *cfg)
{
    free(cfg->output);
    free(cfg->command_line);
    free(cfg->plugin_lib);
    free(cfg->plugin_fn);
    free(cfg->merge_parts);
    free(cfg->grid);
    free(cfg->sweep_taskfile);
    cfg->grid = NULL;
    cfg->sweep_taskfile = NULL;
    cfg->ngrid = 0;
    cfg->output = cfg->command_line = cfg->plugin_lib = cfg->plugin_fn = NULL;
    cfg->merge_parts = NULL;
    cfg->nmerge = 0;
}

static enum tf_cli_outcome usage_error(FILE *err, const char *fmt, const char *what)
{
    /* One write: under mpirun, its own notices can land between the pieces of a line. */
    char msg[2048], line[2200];
    if (err) {
        snprintf(msg, sizeof msg, fmt, what);
        snprintf(line, sizeof line, "taskfarm: error: %s (see 'taskfarm --help')\n", msg);
        fputs(line, err);
        fflush(err);
    }
    return TF_CLI_USAGE;
}

/* The task file's base name with its extension replaced by .h5 (appended if it has none). */
static char *default_output(const char *taskfile)
{
    const char *base = strrchr(taskfile, '/');
    base = base ? base + 1 : taskfile;
    const char *dot = strrchr(base, '.');
    size_t stem = (dot && dot != base) ? (size_t)(dot - base) : strlen(base);
    char *out = tf_xmalloc(stem + 4);
    memcpy(out, base, stem);
    memcpy(out + stem, ".h5", 4);
    return out;
}

static char *join_argv(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += 4 * strlen(argv[i]) + 3;
    char *s = tf_xmalloc(n), *p = s;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_./=:,+%@") == strlen(a);
        if (i)
            *p++ = ' ';
        if (plain) {
            p = stpcpy(p, a);
            continue;
        }
        *p++ = '\'';
        for (; *a; a++)
            p = *a == '\'' ? stpcpy(p, "'\\''") : (*p = *a, p + 1);
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

static bool parse_count(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* parse_count over the first len bytes of s. */
static bool parse_count_n(const char *s, size_t len, uint64_t *out)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return parse_count(buf, out);
}

static const char *long_name(int c)
{
    for (const struct option *o = long_opts; o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

/* --plugin: no task file, --items given, no option that only means something to commands. */
static enum tf_cli_outcome check_plugin_run(int argc, char **argv, struct tf_config *cfg,
                                            const char *task_only, FILE *err)
{
    if (optind < argc)
        return usage_error(err, "unexpected argument '%s': --plugin takes no TASKFILE",
                           argv[optind]);
    if (cfg->items == NULL)
        return usage_error(err, "%s", "--plugin needs --items N or --items FILE.h5:/DATASET");
    if (task_only)
        return usage_error(err, "option '--%s' applies to task files, not to --plugin", task_only);
    if (cfg->output == NULL) {
        cfg->output = tf_xmalloc(strlen(cfg->plugin_fn) + 4);
        sprintf(cfg->output, "%s.h5", cfg->plugin_fn);
    }
    return TF_CLI_RUN;
}

/* --template with --params FILE.csv or --grid NAME=VALUES... (more NAME=VALUES words may
 * follow as arguments): no task file; the farm writes the commands to OUT.h5.tasks. */
static enum tf_cli_outcome check_sweep(int argc, char **argv, struct tf_config *cfg, FILE *err)
{
    for (; optind < argc; optind++) {
        if (cfg->grid == NULL || strchr(argv[optind], '=') == NULL)
            return usage_error(err,
                               cfg->grid ? "unexpected argument '%s': not a NAME=VALUES of --grid"
                                         : "unexpected argument '%s': --template takes no TASKFILE",
                               argv[optind]);
        cfg->grid[cfg->ngrid++] = argv[optind];
    }
    if (cfg->template_cmd == NULL)
        return usage_error(err, "%s", "--params and --grid need --template COMMAND");
    if ((cfg->params_file != NULL) == (cfg->grid != NULL))
        return usage_error(err, "%s", "--template needs one of --params FILE.csv or --grid");
    if (cfg->output == NULL) {
        if (cfg->params_file == NULL) {
            cfg->output = tf_xstrdup("sweep.h5");
        } else {
            cfg->output = default_output(cfg->params_file);
        }
    }
    size_t n = strlen(cfg->output) + 7;
    cfg->sweep_taskfile = tf_xmalloc(n);
    snprintf(cfg->sweep_taskfile, n, "%s.tasks", cfg->output);
    cfg->taskfile = cfg->sweep_taskfile;
    return TF_CLI_RUN;
}

static enum tf_cli_outcome parse_run(int argc, char **argv, struct tf_config *cfg, FILE *out,
                                     FILE *err)
{
    int c;
    const char *task_only = NULL; /* the first option that means nothing to --plugin */
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:j:vqhV", long_opts, NULL)) != -1) {
        if (task_only == NULL && c >= OPT_MODE && c <= OPT_EXPECTED && c != OPT_FORCE &&
            c != OPT_RESUME)
            task_only = long_name(c);
        switch (c) {
        case 'o':
            if (*optarg == '\0')
                return usage_error(err, "%s", "empty value for --output");
            free(cfg->output);
            cfg->output = tf_xstrdup(optarg);
            break;
        case 'j': {
            uint64_t v;
            if (!parse_count(optarg, &v) || v == 0 || v > TF_MAX_JOBS)
                return usage_error(err, "invalid --jobs '%s': a count from 1 to " TF_MAX_JOBS_TEXT,
                                   optarg);
            cfg->jobs = (int)v;
            break;
        }
        case OPT_MODE:
            if (!tf_mode_parse(optarg, &cfg->mode))
                return usage_error(err, "invalid --mode '%s': use auto, process or pool", optarg);
            break;
        case OPT_CAPTURE:
            if (!tf_parse_bytes(optarg, &cfg->capture_bytes) || cfg->capture_bytes > (1ull << 30))
                return usage_error(err, "invalid --capture '%s': a byte count up to 1G", optarg);
            break;
        case OPT_FORCE:
            cfg->force = true;
            break;
        case OPT_NO_STEAL:
            cfg->no_steal = true;
            break;
        case OPT_TIMEOUT:
        case OPT_KILL_GRACE:
        case OPT_DRAIN:
        case OPT_WALLTIME:
        case OPT_PROGRESS:
        case OPT_EXPECTED: {
            double v;
            if (!tf_parse_seconds(optarg, &v) ||
                (v <= 0 && c != OPT_KILL_GRACE && c != OPT_DRAIN && c != OPT_PROGRESS))
                return usage_error(err, "invalid duration '%s' (e.g. 90, 2.5, 10m, 01:30:00)",
                                   optarg);
            *(c == OPT_TIMEOUT      ? &cfg->timeout
              : c == OPT_KILL_GRACE ? &cfg->kill_grace
              : c == OPT_DRAIN      ? &cfg->drain
              : c == OPT_WALLTIME   ? &cfg->walltime
              : c == OPT_PROGRESS   ? &cfg->progress
                                    : &cfg->expected_duration) = v;
            break;
        }
        case OPT_CORES_PER_TASK:
        case OPT_GPUS_PER_TASK: {
            uint64_t v;
            bool cores = c == OPT_CORES_PER_TASK;
            if (!parse_count(optarg, &v) || v > (cores ? 1024 : 256) || (cores && v == 0))
                return usage_error(err,
                                   cores ? "invalid --cores-per-task '%s': a count from 1 to 1024"
                                         : "invalid --gpus-per-task '%s': a count from 0 to 256",
                                   optarg);
            *(cores ? &cfg->cores_per_task : &cfg->gpus_per_task) = (int)v;
            break;
        }
        case OPT_BIND:
            cfg->bind = true;
            break;
        case OPT_TEMPLATE:
        case OPT_PARAMS:
            if (*optarg == '\0')
                return usage_error(
                    err, c == OPT_TEMPLATE ? "empty --template%s" : "empty --params%s", "");
            *(c == OPT_TEMPLATE ? &cfg->template_cmd : &cfg->params_file) = optarg;
            break;
        case OPT_COLLECT:
            cfg->collect = true;
            break;
        case OPT_GRID:
            if (cfg->grid == NULL)
                cfg->grid = tf_xcalloc((size_t)argc, sizeof *cfg->grid);
            cfg->grid[cfg->ngrid++] = optarg;
            break;
        case OPT_SLICE: {
            char *slash = strchr(optarg, '/');
            if (slash == NULL ||
                !parse_count_n(optarg, (size_t)(slash - optarg), &cfg->slice_index) ||
                !parse_count(slash + 1, &cfg->slice_count) || cfg->slice_count == 0 ||
                cfg->slice_index >= cfg->slice_count)
                return usage_error(err, "invalid --slice '%s': use I/N with 0 <= I < N", optarg);
            break;
        }
        case OPT_WORKER_TIMEOUT:
            if (!tf_parse_seconds(optarg, &cfg->worker_timeout) || cfg->worker_timeout < 0.5)
                return usage_error(
                    err, "invalid --worker-timeout '%s': a duration of 0.5 s or more", optarg);
            break;
        case OPT_LOST_AFTER: {
            uint64_t v;
            if (!parse_count(optarg, &v) || v < 1 || v > 1000)
                return usage_error(err, "invalid --lost-after '%s': a count from 1 to 1000",
                                   optarg);
            cfg->lost_after = (int)v;
            break;
        }
        case OPT_RETRIES: {
            uint64_t v;
            if (!parse_count(optarg, &v) || v > 1000)
                return usage_error(err, "invalid --retries '%s': a count from 0 to 1000", optarg);
            cfg->retries = (int)v;
            break;
        }
        case OPT_MAX_FAILURES:
            if (!parse_count(optarg, &cfg->max_failures) || cfg->max_failures == 0)
                return usage_error(err, "invalid --max-failures '%s': a count of 1 or more",
                                   optarg);
            break;
        case OPT_FAIL_FAST:
            cfg->max_failures = 1;
            break;
        case OPT_RESUME:
            cfg->resume = true;
            break;
        case OPT_RETRY_FAILED:
            cfg->retry_failed = cfg->resume = true;
            break;
        case OPT_ALLOW_CHANGED:
            cfg->allow_changed = true;
            break;
        case OPT_NO_JOURNAL:
            cfg->no_journal = true;
            break;
        case OPT_PLUGIN: {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg || colon[1] == '\0')
                return usage_error(err, "invalid --plugin '%s': use LIB.so:FUNCTION", optarg);
            free(cfg->plugin_lib);
            free(cfg->plugin_fn);
            cfg->plugin_lib = tf_xstrndup(optarg, (size_t)(colon - optarg));
            cfg->plugin_fn = tf_xstrdup(colon + 1);
            break;
        }
        case OPT_PLUGIN_ARG:
            cfg->plugin_arg = optarg;
            break;
        case OPT_ITEMS: {
            uint64_t n;
            const char *colon = strrchr(optarg, ':');
            if (!parse_count(optarg, &n) && (colon == NULL || colon == optarg || colon[1] == '\0'))
                return usage_error(err, "invalid --items '%s': a count N, or FILE.h5:/DATASET",
                                   optarg);
            cfg->items = optarg;
            break;
        }
        case OPT_DURATIONS:
            if (*optarg == '\0')
                return usage_error(err, "%s", "empty value for --durations-from");
            cfg->durations_from = optarg;
            break;
        case 'v':
            cfg->verbosity++;
            break;
        case 'q':
            cfg->verbosity = TF_QUIET;
            break;
        case 'h':
            if (out)
                fputs(usage_text, out);
            return TF_CLI_DONE;
        case 'V':
            if (out)
                fprintf(out, "taskfarm %s\n", TF_VERSION);
            return TF_CLI_DONE;
        case ':':
            return usage_error(err, "option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error(err, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (cfg->resume && cfg->force)
        return usage_error(err, "%s",
                           "--resume continues a result file, --force starts it over: choose one");
    if (cfg->plugin_lib)
        return check_plugin_run(argc, argv, cfg, task_only, err);
    if (cfg->items || cfg->plugin_arg)
        return usage_error(err, "%s", "--items and --plugin-arg need --plugin LIB.so:FUNCTION");
    if (cfg->template_cmd || cfg->params_file || cfg->grid) {
        enum tf_cli_outcome o = check_sweep(argc, argv, cfg, err);
        if (o != TF_CLI_RUN)
            return o;
    } else if (optind >= argc) {
        return usage_error(err, "%s", "missing TASKFILE (or --template with --params or --grid)");
    } else if (optind + 1 < argc) {
        return usage_error(err, "unexpected argument '%s': give one TASKFILE", argv[optind + 1]);
    } else {
        cfg->taskfile = argv[optind];
    }
    if (cfg->output == NULL)
        cfg->output = default_output(cfg->taskfile);
    return TF_CLI_RUN;
}

/* For merge, export and report: whether argv[*i] is -o FILE, --output FILE or --output=FILE
 * (then taken into cfg->output, *i past it). */
static bool take_output(int argc, char **argv, int *i, struct tf_config *cfg)
{
    const char *a = argv[*i], *v = NULL;
    if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && *i + 1 < argc && argv[*i + 1][0])
        v = argv[++*i];
    else if (strncmp(a, "--output=", 9) == 0 && a[9])
        v = a + 9;
    if (v) {
        free(cfg->output);
        cfg->output = tf_xstrdup(v);
    }
    return v != NULL;
}

/* For export and report: -o FILE or the one result file to read (cfg->export_file). */
static enum tf_cli_outcome take_output_or_file(int argc, char **argv, int *i, struct tf_config *cfg,
                                               FILE *err)
{
    const char *a = argv[*i];
    if (take_output(argc, argv, i, cfg))
        return TF_CLI_RUN;
    if (a[0] == '-')
        return usage_error(err,
                           strcmp(argv[1], "export") == 0
                               ? "unknown or incomplete option '%s' for export"
                               : "unknown or incomplete option '%s' for report",
                           a);
    if (cfg->export_file)
        return usage_error(err, "unexpected argument '%s': give one result file", a);
    cfg->export_file = a;
    return TF_CLI_RUN;
}

/* taskfarm export RESULTS.h5 [--csv | --tsv | --json-lines] [-o FILE] */
static enum tf_cli_outcome parse_export(int argc, char **argv, struct tf_config *cfg, FILE *err)
{
    static const char *const formats[] = {"--csv", "--tsv", "--json-lines"};
    for (int i = 2; i < argc; i++) {
        int f = -1;
        for (int k = 0; k < 3; k++)
            f = strcmp(argv[i], formats[k]) == 0 ? k : f;
        if (f >= 0)
            cfg->export_format = f;
        else if (take_output_or_file(argc, argv, &i, cfg, err) != TF_CLI_RUN)
            return TF_CLI_USAGE;
    }
    if (cfg->export_file == NULL)
        return usage_error(err, "%s",
                           "use 'taskfarm export RESULTS.h5 [--csv|--tsv|--json-lines] [-o FILE]'");
    return TF_CLI_EXPORT;
}

/* taskfarm report RESULTS.h5 [-o REPORT.html|REPORT.svg] (default: RESULTS.html) */
static enum tf_cli_outcome parse_report(int argc, char **argv, struct tf_config *cfg, FILE *err)
{
    for (int i = 2; i < argc; i++)
        if (take_output_or_file(argc, argv, &i, cfg, err) != TF_CLI_RUN)
            return TF_CLI_USAGE;
    if (cfg->export_file == NULL)
        return usage_error(err, "%s", "use 'taskfarm report RESULTS.h5 [-o REPORT.html|.svg]'");
    if (cfg->output == NULL) {
        const char *base = strrchr(cfg->export_file, '/');
        base = base ? base + 1 : cfg->export_file;
        size_t n = strcspn(base, ".");
        cfg->output = tf_xmalloc(n + 6);
        snprintf(cfg->output, n + 6, "%.*s.html", (int)n, base);
    }
    return TF_CLI_REPORT;
}

/* taskfarm merge -o OUT.h5 [--force] PART.h5... */
static enum tf_cli_outcome parse_merge(int argc, char **argv, struct tf_config *cfg, FILE *err)
{
    cfg->command_line = join_argv(argc, argv);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (take_output(argc, argv, &i, cfg))
            continue;
        if (strcmp(a, "--force") == 0) {
            cfg->force = true;
        } else if (a[0] == '-') {
            return usage_error(err, "unknown or incomplete option '%s' for merge", a);
        } else {
            if (cfg->merge_parts == NULL)
                cfg->merge_parts = tf_xcalloc((size_t)argc, sizeof *cfg->merge_parts);
            cfg->merge_parts[cfg->nmerge++] = argv[i];
        }
    }
    if (cfg->output == NULL || cfg->nmerge == 0)
        return usage_error(err, "%s", "use 'taskfarm merge -o OUT.h5 PART.h5...'");
    return TF_CLI_MERGE;
}

/* Every command but run and the informational ones; cfg is freed on a usage error. */
static enum tf_cli_outcome parse_tool(int argc, char **argv, struct tf_config *cfg, FILE *err)
{
    const char *cmd = argv[1];
    enum tf_cli_outcome o;
    if (strcmp(cmd, "status") == 0) {
        if (argc != 3 || argv[2][0] == '-')
            return usage_error(err, "%s", "use 'taskfarm status RESULTS.h5'");
        cfg->output = tf_xstrdup(argv[2]);
        return TF_CLI_STATUS;
    }
    o = strcmp(cmd, "merge") == 0    ? parse_merge(argc, argv, cfg, err)
        : strcmp(cmd, "export") == 0 ? parse_export(argc, argv, cfg, err)
                                     : parse_report(argc, argv, cfg, err);
    if (o == TF_CLI_USAGE)
        tf_config_fini(cfg);
    return o;
}

enum tf_cli_outcome tf_cli_parse(int argc, char **argv, struct tf_config *cfg, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = TF_MODE_AUTO;
    cfg->capture_bytes = TF_DEFAULT_CAPTURE;
    cfg->kill_grace = TF_DEFAULT_KILL_GRACE;
    cfg->worker_timeout = TF_DEFAULT_WORKER_TIMEOUT;
    cfg->lost_after = TF_DEFAULT_LOST_AFTER;
    cfg->drain = TF_DEFAULT_DRAIN;
    cfg->progress = TF_DEFAULT_PROGRESS;
    if (argc < 2)
        return usage_error(err, "%s", "missing command: use 'taskfarm run TASKFILE'");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (out)
            fputs(usage_text, out);
        return TF_CLI_DONE;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        if (out)
            fprintf(out, "taskfarm %s\n", TF_VERSION);
        return TF_CLI_DONE;
    }
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "merge") == 0 || strcmp(cmd, "export") == 0 ||
        strcmp(cmd, "report") == 0)
        return parse_tool(argc, argv, cfg, err);
    if (strcmp(cmd, "run") != 0)
        return usage_error(err, cmd[0] == '-' ? "unknown option '%s'" : "unknown command '%s'",
                           cmd);
    cfg->command_line = join_argv(argc, argv); /* before getopt permutes argv */
    enum tf_cli_outcome o = parse_run(argc - 1, argv + 1, cfg, out, err);
    if (o != TF_CLI_RUN)
        tf_config_fini(cfg);
    return o;
}
