/* farm.h - one run of the farm on every rank: validation and agreement at start, then the
 * master's or the worker's loop. Returns the process exit code (status.h, enum tf_exit).
 */
#ifndef TF_FARM_H
#define TF_FARM_H

#include "config.h"
#include "durations.h"
#include "exec.h"
#include "h5out.h"
#include "journal.h"
#include "params.h"
#include "progress.h"
#include "scheduler.h"
#include "taskfile.h"

/* The master flushes the result file, and syncs the journal, at least this often. */
#define TF_FLUSH_SECONDS 2.0
/* With a walltime, the run stops this long before the end, to close its files. */
#define TF_CLOSE_MARGIN 5.0

/* Collective over all ranks, after tf_comm_init. */
int tf_farm_run(const struct tf_config *cfg);

/* Resume --retry-failed: how often a task that is run again ran before. */
struct tf_prior {
    uint64_t id;
    int32_t attempts;
};

/* How far a stop has got: no new tasks; running tasks being stopped; stopped at once. */
enum tf_stop { TF_RUNNING, TF_STOP_NEW, TF_STOP_TERM, TF_STOP_KILL };

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
    uint64_t counts[TF_TASK_STATUS_COUNT]; /* outcomes stored by this run */
    int nworkers;
    double start;
    /* crash safety and resume */
    struct tf_journal *journal;       /* NULL with --no-journal */
    struct tf_taskfile *retry_reader; /* re-reads retried tasks without moving the stream */
    uint8_t *skip;                    /* resume: skip[id] for tasks not to run; NULL: none */
    struct tf_prior *prior;           /* sorted by id */
    size_t nprior;
    uint64_t ntotal; /* tasks in the file (its slice); ntasks counts those this run runs */
    uint64_t first_task, file_tasks; /* --slice: its first task's id, the file's tasks */
    char slice[48];                  /* --slice: "I/N"; "" for the whole file */
    struct tf_params *params;        /* a sweep's table (--template), else NULL */
    struct tf_progress progress;     /* progress lines on stderr */
    /* stopping early */
    uint64_t failures; /* tasks that did not succeed, after their retries */
    enum tf_stop stop;
    const char *stop_reason;
    bool interrupted;      /* stopped by a signal or the walltime: the exit code says so */
    double drain_deadline; /* monotonic; 0: running tasks may finish */
    double end_at;         /* monotonic time to be done by (walltime), 0: none */
    int signals_seen;
    volatile int cancel; /* local mode: tells the executor to stop the running task */
};

/* The master's loop with workers on ranks 1..nworkers. Returns TF_OK once every worker
 * has been stopped and every result stored. */
enum tf_status tf_master_run(struct tf_master *m) TF_NODISCARD;
/* A worker's loop: run what the master assigns until it says stop. */
/* Progress on stderr when due (always with force): this run's outcomes so far, and
 * `running` tasks. */
void tf_master_progress(struct tf_master *m, uint64_t running, bool force);

/* extra_env: "NAME=VALUE" strings for every task (the slot's cores and GPUs), or NULL. */
enum tf_status tf_worker_run(const struct tf_config *cfg, int rank, uint64_t ntasks,
                             uint64_t first_task, const char *const *extra_env) TF_NODISCARD;

/* The next task from the task file, its command recorded in the result file. A file that
 * ends early (it changed during the run) is TF_EINPUT. */
enum tf_status tf_master_next_task(struct tf_master *m, struct tf_task *t) TF_NODISCARD;
/* A task came back: store it (journal, then result file) and count it, or, when it did
 * not succeed and has retries left, fill *again with the task to run once more (its command
 * owned by the caller) and set *retry. An interrupted task (NOT_RUN) is neither. */
enum tf_status tf_master_finish(struct tf_master *m, const struct tf_result *r, const char *host,
                                bool *retry, struct tf_task *again) TF_NODISCARD;
/* Look at signals, the walltime and the drain deadline; true when m->stop moved on (the
 * caller tells the workers). */
bool tf_master_watch(struct tf_master *m);
/* Commit the journal; flush the result file and sync the journal when they are older
 * than TF_FLUSH_SECONDS (or now, with `now`). */
enum tf_status tf_master_persist(struct tf_master *m, bool now) TF_NODISCARD;

/* resume.c: set up m->h5, m->journal, m->skip, m->prior, m->ntasks for a run that goes on
 * with an existing result file (or creates it). Returns an exit code, 0 to go on; errors
 * were printed. */
int tf_resume_setup(struct tf_master *m, const struct tf_taskfile_info *info,
                    struct tf_run_meta *meta);
/* Create the result file and journal of a new run. Returns an exit code, 0 to go on. */
int tf_fresh_setup(struct tf_master *m, const struct tf_run_meta *meta);
/* The journal's path for a result file (malloc'd). */
char *tf_journal_path_for(const char *output);

#endif
