/* main.c - wiring: parse argv, start MPI, run the farm, map the outcome to an exit code. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "comm.h"
#include "farm.h"
#include "log.h"
#include "stopsig.h"

/* The rank a launcher gave us, from its environment, or -1 when no launcher started us.
 * Before MPI_Init we cannot ask MPI, but help and usage errors should be printed once,
 * not once per rank, and a run without a launcher needs no MPI at all. */
static int launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return atoi(v);
    }
    return -1;
}

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

int main(int argc, char **argv)
{
    struct tf_config cfg;
    int launched_rank = launcher_rank();
    bool printer = launched_rank <= 0;
    switch (tf_cli_parse(argc, argv, &cfg, printer ? stdout : NULL, printer ? stderr : NULL)) {
    case TF_CLI_DONE:
        return TF_EXIT_OK;
    case TF_CLI_USAGE:
        return TF_EXIT_USAGE;
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
    int code = tf_farm_run(&cfg);
    tf_comm_finalize();
    tf_config_fini(&cfg);
    return code;
}
