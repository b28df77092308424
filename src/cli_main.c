/* cli_main.c - the command-line tool's wiring: parse argv, start MPI, run the farm (or an
 * in-process map with --plugin), map the outcome to an exit code.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "comm.h"
#include "export.h"
#include "farm.h"
#include "h5out.h"
#include "log.h"
#include "merge.h"
#include "plugin.h"
#include "stopsig.h"
#include "taskfarm.h"

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

/* `taskfarm status FILE`: one line, and the exit code `run` would give for the file as it is
 * (0 all succeeded, 1 all have an outcome, 4 some not run yet), so scripts (a campaign
 * deciding whether to go on) need no HDF5 tools. */
static int status_main(const char *path)
{
    uint64_t c[TF_TASK_STATUS_COUNT], total = 0;
    bool closed = false;
    char err[1024];
    if (tf_h5out_count(path, c, &closed, err, sizeof err) != TF_OK) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        return TF_EXIT_USAGE;
    }
    for (int i = 0; i < TF_TASK_STATUS_COUNT; i++)
        total += c[i];
    printf("%s: %llu tasks: %llu succeeded, %llu failed, %llu killed, %llu timed out, %llu not "
           "run%s\n",
           path, (unsigned long long)total, (unsigned long long)c[TF_TASK_SUCCEEDED],
           (unsigned long long)c[TF_TASK_FAILED], (unsigned long long)c[TF_TASK_KILLED],
           (unsigned long long)c[TF_TASK_TIMED_OUT], (unsigned long long)c[TF_TASK_NOT_RUN],
           closed ? "" : " (its run did not close it: running, or killed; --resume repairs it)");
    if (c[TF_TASK_NOT_RUN] > 0)
        return TF_EXIT_INCOMPLETE;
    return c[TF_TASK_SUCCEEDED] == total ? TF_EXIT_OK : TF_EXIT_TASKS;
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
        return TF_EXIT_USAGE;
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
        int code = printer ? tf_export_run(cfg.export_file,
                                           (enum tf_export_format)cfg.export_format, cfg.output)
                           : TF_EXIT_OK;
        tf_config_fini(&cfg);
        return code;
    }
    case TF_CLI_RUN:
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
    tf_comm_finalize();
    tf_config_fini(&cfg);
    return code;
}
