/* cli_main.c - the command-line tool's wiring: parse argv, start MPI, run the farm (or an
 * in-process map with --plugin), map the outcome to an exit code.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "comm.h"
#include "export.h"
#include "farm.h"
#include "files.h"
#include "h5out.h"
#include "log.h"
#include "merge.h"
#include "plugin.h"
#include "report.h"
#include "stopsig.h"
#include "taskfarm.h"
#include "util.h"
#include "writes.h"

/* How long MPI_Finalize may take, when ranks can die, before a rank leaves without it. */
#define FINALIZE_LIMIT 30.0

static void set_log_level(int rank, int verbosity)
{
    static const enum tf_log_level master_levels[] = {TF_LOG_ERROR, TF_LOG_INFO, TF_LOG_INFO,
                                                      TF_LOG_DEBUG};
    static const enum tf_log_level worker_levels[] = {TF_LOG_ERROR, TF_LOG_WARN, TF_LOG_INFO,
                                                      TF_LOG_DEBUG};
    int v = verbosity < TF_QUIET ? TF_QUIET : (verbosity > TF_DEBUG ? TF_DEBUG : verbosity);
    tf_log_threshold = (rank == 0 ? master_levels : worker_levels)[v + 1];
    tf_log_set_identity(rank, rank == 0 ? 'M' : 'W');
    tf_log_from_env();
}

/* The first line of text, at most max bytes, into buf. */
static void first_line(const char *text, char *buf, size_t max)
{
    size_t n = text ? strcspn(text, "\n") : 0;
    snprintf(buf, max, "%.*s%s", (int)(n < max - 4 ? n : max - 4), text ? text : "",
             n >= max - 4 ? "..." : "");
}

/* The lines after the counts: time, utilisation, failures, slowest tasks. */
static void status_details(const struct tf_h5out_summary *s)
{
    uint64_t done = 0;
    for (int i = 1; i < TF_TASK_STATUS_COUNT; i++)
        done += s->counts[i];
    if (done > 0 && !isnan(s->first_start)) {
        double until = s->closed ? s->last_end : tf_now(), span = until - s->first_start;
        double slots = s->nslots > 0 ? (double)s->nslots : 1;
        printf("  %.1f s from the first task's start to %s in %lld slot%s of %lld process%s: "
               "busy %.0f%% of that, %.3g tasks/s\n",
               span, s->closed ? "the last one's end" : "now", (long long)slots,
               slots == 1 ? "" : "s", (long long)(s->nworkers > 0 ? s->nworkers : 1),
               s->nworkers > 1 ? "es" : "", span > 0 ? 100 * s->busy / (slots * span) : 0,
               span > 0 ? (double)done / span : 0);
    }
    if (s->nfailed > 0)
        printf("  did not succeed (the first %d):\n", s->nfailed);
    for (int i = 0; i < s->nfailed; i++) {
        const struct tf_result *r = &s->failed[i];
        char why[64], err[120], cmd[80];
        if (r->status == TF_TASK_LOST) /* no outcome of its own: its workers died under it */
            snprintf(why, sizeof why, "after %d start%s (its workers died)", r->attempts,
                     r->attempts == 1 ? "" : "s");
        else if (r->signal)
            snprintf(why, sizeof why, "signal %d", r->signal);
        else
            snprintf(why, sizeof why, "exit %d", r->exit_code);
        first_line(r->err && *r->err ? r->err : "(no stderr)", err, sizeof err);
        first_line(s->failed_command[i], cmd, sizeof cmd);
        printf("    task %llu (line %llu) %s %s: %s\n      %s\n", (unsigned long long)r->id,
               (unsigned long long)r->line, tf_task_status_name(r->status), why, cmd, err);
    }
    if (s->nslowest > 0) {
        printf("  slowest:");
        for (int i = 0; i < s->nslowest; i++)
            printf("%s task %llu (%.3g s)", i ? "," : "", (unsigned long long)s->slowest[i],
                   s->slowest_seconds[i]);
        printf("\n");
    }
}

/* `taskfarm status FILE`: the counts on one line (scripts read it), details below, and the
 * exit code `run` would give for the file as it is (0 all succeeded, 1 all have an outcome,
 * 4 some not run yet), so scripts (a campaign deciding whether to go on) need no HDF5
 * tools. Works while the run writes the file. */
static int status_main(const char *path)
{
    uint64_t c[TF_TASK_STATUS_COUNT], total = 0;
    bool closed = false;
    char err[1024];
    struct tf_h5out_summary sum;
    bool tasks = tf_h5out_summary(path, &sum, err, sizeof err) == TF_OK;
    if (tasks) {
        memcpy(c, sum.counts, sizeof c);
        closed = sum.closed;
    } else if (tf_h5out_count(path, c, &closed, err, sizeof err) != TF_OK) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        return TF_EXIT_USAGE;
    }
    for (int i = 0; i < TF_TASK_STATUS_COUNT; i++)
        total += c[i];
    char counts[256];
    tf_task_counts_text(c, counts, sizeof counts);
    printf("%s: %llu tasks: %s%s\n", path, (unsigned long long)total, counts,
           closed ? "" : " (its run did not close it: running, or killed; --resume repairs it)");
    if (tasks) {
        status_details(&sum);
        tf_h5out_summary_fini(&sum);
    }
    if (c[TF_TASK_NOT_RUN] > 0)
        return TF_EXIT_INCOMPLETE;
    return c[TF_TASK_SUCCEEDED] == total ? TF_EXIT_OK : TF_EXIT_TASKS;
}

/* What export and report write: the result file read, the output (NULL: stdout). */
typedef int (*writer_fn)(const struct tf_config *cfg, const char *output);

static int run_export(const struct tf_config *cfg, const char *output)
{
    return tf_export_run(cfg->export_file, (enum tf_export_format)cfg->export_format, output);
}

static int run_report(const struct tf_config *cfg, const char *output)
{
    return tf_report_run(cfg->export_file, output);
}

/* export -o / report -o: a new file only, never the result file read, in a directory that
 * takes it. The writers put it at its name only when whole (tf_output_begin). */
static int write_new_output(const struct tf_config *cfg, writer_fn fn)
{
    const char *out = cfg->output;
    if (out == NULL)
        return fn(cfg, NULL);
    char err[1400];
    struct stat st;
    if (!tf_writes_check_output(out, err, sizeof err) ||
        !tf_writes_not_input(out, cfg->export_file, "the input", err, sizeof err)) {
        tf_print_error("%s", err);
        return TF_EXIT_USAGE;
    }
    if (lstat(out, &st) == 0) {
        tf_print_error("cannot create '%s': it exists (choose another name, or remove it)", out);
        return TF_EXIT_USAGE;
    }
    if (!tf_writes_check_names(out, NULL, 0, err, sizeof err) ||
        !tf_writes_check_dir(out, err, sizeof err)) {
        tf_print_error("%s", err);
        return TF_EXIT_USAGE;
    }
    return fn(cfg, out); /* written under a temporary name (tf_output_begin) */
}

/* run --plugin ... --items FILE.h5:/DATASET: the output is not the items' file. */
static bool items_not_output(const struct tf_config *cfg, bool printer)
{
    const char *colon = cfg->items ? strrchr(cfg->items, ':') : NULL;
    if (colon == NULL || cfg->output == NULL)
        return true;
    char err[1400], *path = tf_xstrndup(cfg->items, (size_t)(colon - cfg->items));
    bool ok = tf_writes_not_input(cfg->output, path, "the --items file", err, sizeof err);
    free(path);
    if (!ok && printer)
        tf_print_error("%s", err);
    return ok;
}

int taskfarm_cli_main(int argc, char **argv)
{
    struct tf_config cfg;
    int launched_rank = tf_comm_launcher_rank();
    bool printer = launched_rank <= 0;
    switch (tf_cli_parse(argc, argv, &cfg, printer ? stdout : NULL, printer ? stderr : NULL)) {
    case TF_CLI_DONE:
        return TF_EXIT_OK;
    case TF_CLI_USAGE:
        /* Only rank 0 says what is wrong and gives the exit code. Another rank exiting 2
         * first would have the launcher kill rank 0, perhaps before its line was out. */
        return printer ? TF_EXIT_USAGE : TF_EXIT_OK;
    case TF_CLI_STATUS: {
        int code = printer ? status_main(cfg.output) : TF_EXIT_OK;
        tf_config_fini(&cfg);
        return code;
    }
    case TF_CLI_MERGE: {
        struct tf_merge_args a = {.output = cfg.output,
                                  .force = cfg.force,
                                  .command_line = cfg.command_line,
                                  .parts = cfg.merge_parts,
                                  .nparts = cfg.nmerge};
        int code = printer ? tf_merge_run(&a) : TF_EXIT_OK;
        tf_config_fini(&cfg);
        return code;
    }
    case TF_CLI_EXPORT: {
        int code = printer ? write_new_output(&cfg, run_export) : TF_EXIT_OK;
        tf_config_fini(&cfg);
        return code;
    }
    case TF_CLI_REPORT: {
        int code = printer ? write_new_output(&cfg, run_report) : TF_EXIT_OK;
        tf_config_fini(&cfg);
        return code;
    }
    case TF_CLI_RUN:
        if (cfg.plugin_lib && !items_not_output(&cfg, printer)) {
            tf_config_fini(&cfg);
            return printer ? TF_EXIT_USAGE : TF_EXIT_OK;
        }
        break;
    }
    /* Before MPI_Init, which can take seconds: a stop signal must never kill a rank. */
    tf_stopsig_install();
    if (launched_rank < 0)
        tf_comm_init_solo();
    else if (tf_comm_init(&argc, &argv) != TF_OK) {
        fprintf(stderr, "taskfarm: error: MPI_Init failed\n");
        tf_config_fini(&cfg);
        return TF_EXIT_INTERNAL;
    }
    set_log_level(tf_comm_rank(), cfg.verbosity);
    int code = cfg.plugin_lib ? tf_plugin_run(&cfg) : tf_farm_run(&cfg);
    /* A rank that dies now would hold the others in MPI_Finalize for ever; the files are
     * closed, so they may go without it. */
    if (launched_rank >= 0 && tf_comm_recovery_on() && tf_comm_rank() >= 0) /* not parked */
        tf_comm_watchdog(FINALIZE_LIMIT, code);
    tf_comm_finalize();
    tf_config_fini(&cfg);
    return code;
}
