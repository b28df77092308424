/* cli.c - the command line: one option table drives parsing and the help text.
 *
 *   taskfarm run TASKFILE [-o OUT.h5] [--mode auto|process|pool] [--capture BYTES] [--force]
 *   taskfarm --help | --version
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"
#include "util.h"

#ifndef TF_VERSION
#define TF_VERSION "unknown"
#endif

enum { OPT_MODE = 256, OPT_CAPTURE, OPT_FORCE, OPT_DURATIONS, OPT_NO_STEAL };

static const struct option long_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"mode", required_argument, NULL, OPT_MODE},
    {"capture", required_argument, NULL, OPT_CAPTURE},
    {"force", no_argument, NULL, OPT_FORCE},
    {"durations-from", required_argument, NULL, OPT_DURATIONS},
    {"no-steal", no_argument, NULL, OPT_NO_STEAL},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: mpirun -n P taskfarm run TASKFILE [options]\n"
    "       taskfarm run TASKFILE [options]      (no MPI launcher: one process runs all)\n"
    "       taskfarm --help | --version\n"
    "\n"
    "Runs every line of TASKFILE as `/bin/sh -c LINE` spread over MPI ranks (rank 0 is the\n"
    "master, the others are workers) and stores every task's outcome in one HDF5 file.\n"
    "Blank lines and lines starting with '#' are not tasks.\n"
    "\n"
    "Options for run:\n"
    "  -o, --output FILE   result file (default: TASKFILE's name with .h5, in the current\n"
    "                      directory); an existing file is never overwritten without --force\n"
    "      --mode MODE     auto (default), process (a fixed share per worker, handed out at\n"
    "                      once) or pool (dynamic batches)\n"
    "      --capture BYTES stdout and stderr kept per task and stream; K, M, G suffixes\n"
    "                      (default: 1M; 0 keeps nothing); the rest is dropped and flagged\n"
    "      --force         overwrite an existing result file\n"
    "      --durations-from FILE.h5\n"
    "                      start the longest tasks first, by the durations of the same\n"
    "                      commands in an earlier result file (unknown ones count as average)\n"
    "      --no-steal      diagnostic: never move queued tasks between workers\n"
    "  -v, --verbose       more progress messages (twice: debug)\n"
    "  -q, --quiet         errors only\n"
    "  -h, --help          show this help\n"
    "  -V, --version       show the version\n"
    "\n"
    "Tasks see TASKFARM_TASK_ID (0-based), TASKFARM_NTASKS and TASKFARM_RANK.\n"
    "\n"
    "Exit status: 0 every task succeeded; 1 the run finished but some tasks did not\n"
    "succeed; 2 usage or input error (nothing written, nothing overwritten); 3 internal\n"
    "failure (MPI, HDF5, memory, file system) during the run.\n";

void tf_config_fini(struct tf_config *cfg)
{
    free(cfg->output);
    free(cfg->command_line);
    cfg->output = cfg->command_line = NULL;
}

static enum tf_cli_outcome usage_error(FILE *err, const char *fmt, const char *what)
{
    if (err) {
        fprintf(err, "taskfarm: error: ");
        fprintf(err, fmt, what);
        fprintf(err, " (see 'taskfarm --help')\n");
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

static enum tf_cli_outcome parse_run(int argc, char **argv, struct tf_config *cfg, FILE *out,
                                     FILE *err)
{
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":o:vqhV", long_opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (*optarg == '\0')
                return usage_error(err, "%s", "empty value for --output");
            free(cfg->output);
            cfg->output = tf_xstrdup(optarg);
            break;
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
    if (optind >= argc)
        return usage_error(err, "%s", "missing TASKFILE");
    if (optind + 1 < argc)
        return usage_error(err, "unexpected argument '%s': give one TASKFILE", argv[optind + 1]);
    cfg->taskfile = argv[optind];
    if (cfg->output == NULL)
        cfg->output = default_output(cfg->taskfile);
    return TF_CLI_RUN;
}

enum tf_cli_outcome tf_cli_parse(int argc, char **argv, struct tf_config *cfg, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->mode = TF_MODE_AUTO;
    cfg->capture_bytes = TF_DEFAULT_CAPTURE;
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
    if (strcmp(cmd, "run") != 0)
        return usage_error(err, cmd[0] == '-' ? "unknown option '%s'" : "unknown command '%s'",
                           cmd);
    cfg->command_line = join_argv(argc, argv); /* before getopt permutes argv */
    enum tf_cli_outcome o = parse_run(argc - 1, argv + 1, cfg, out, err);
    if (o != TF_CLI_RUN)
        tf_config_fini(cfg);
    return o;
}
