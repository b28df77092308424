/* farm.h - one run of the farm on every rank: validation and agreement at start, then the
 * master's or the worker's loop. Returns the process exit code (status.h, enum tf_exit).
 */
#ifndef TF_FARM_H
#define TF_FARM_H

#include "config.h"
#include "durations.h"
#include "exec.h"
#include "h5out.h"
#include "scheduler.h"
#include "taskfile.h"

/* The master flushes the result file at least this often while results arrive. */
#define TF_FLUSH_SECONDS 2.0

/* Collective over all ranks, after tf_comm_init. */
int tf_farm_run(const struct tf_config *cfg);

/* What the master holds during a run; shared by farm.c (start, local mode) and master.c. */
struct tf_master {
    const struct tf_config *cfg;
    struct tf_sched *sched;
    struct tf_h5out *h5;
    struct tf_taskfile *tasks;
    struct tf_planned *plan; /* with --durations-from: tasks in the order to hand out */
    uint64_t planned;        /* tasks handed out from plan */
    struct tf_exec_env env;  /* for the master running tasks itself (-n 1) */
    const char *host;
    uint64_t ntasks;
    uint64_t counts[TF_TASK_STATUS_COUNT];
    int nworkers;
    double start;
};

/* The master's loop with workers on ranks 1..nworkers. Returns TF_OK once every worker
 * has been stopped and every result stored. */
enum tf_status tf_master_run(struct tf_master *m) TF_NODISCARD;
/* A worker's loop: run what the master assigns until it says stop. */
enum tf_status tf_worker_run(int rank, uint64_t ntasks, uint64_t capture, bool shed) TF_NODISCARD;

/* The next task from the task file, its command recorded in the result file. A file that
 * ends early (it changed during the run) is TF_EINPUT. */
enum tf_status tf_master_next_task(struct tf_master *m, struct tf_task *t) TF_NODISCARD;
/* Store one finished task and count its outcome. */
enum tf_status tf_master_store(struct tf_master *m, const struct tf_result *r,
                               const char *host) TF_NODISCARD;

#endif
