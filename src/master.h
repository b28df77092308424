/* master.h - rank 0's master of a task-file run: hands tasks to the workers (every process
 * with task slots, rank 0's own agent among them) as the scheduler decides, stores what
 * comes back (journal, then result file), retries, and stops the run on signals, the
 * walltime or --max-failures. Driven by the event loop (loop.h) beside rank 0's agent.
 */
#ifndef TF_MASTER_H
#define TF_MASTER_H

#include "comm.h"
#include "config.h"
#include "durations.h"
#include "h5out.h"
#include "journal.h"
#include "ledger.h"
#include "liveness.h"
#include "params.h"
#include "progress.h"
#include "scheduler.h"
#include "stopsig.h"
#include "taskfile.h"

/* The master flushes the result file, and syncs the journal, at least this often. */
#define TF_FLUSH_SECONDS 2.0

/* Resume --retry-failed: how often a task that is run again ran before. */
struct tf_prior {
    uint64_t id;
    int32_t attempts;
};

/* Tasks given back by workers, waiting to be handed out again; owned copies. */
struct tf_returned {
    struct tf_task *v;
    size_t head, len, cap;
};

/* A worker lost during the run (issue 15): recorded in the result file's attributes. */
struct tf_lost_worker {
    int32_t rank;
    char host[64];
    double time; /* Unix seconds */
};

/* What the master holds during a run; set up by farm.c and resume.c, run by master.c. */
struct tf_master {
    const struct tf_config *cfg;
    struct tf_sched *sched;
    struct tf_h5out *h5;
    struct tf_taskfile *tasks;
    struct tf_planned *plan; /* with --durations-from: tasks in the order to hand out */
    uint64_t planned;        /* tasks handed out from plan */
    const char *host;
    uint64_t ntasks;
    uint64_t counts[TF_TASK_STATUS_COUNT]; /* outcomes stored by this run */
    /* workers: the processes that run tasks, 0..nworkers-1, and their ranks and slots */
    int nworkers, nslots;
    int *rank_of, *worker_of; /* worker -> rank; rank -> worker (-1: none) */
    int nranks;
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
    struct tf_stopwatch watch;
    enum tf_stop told; /* the stop level workers were told about */
    double next_watch; /* monotonic: when to look at signals and the walltime again */
    struct tf_returned back;
    enum tf_status error; /* the first failure; the run then ends */
    double busy_seconds;  /* spent handling messages and stepping: the master's own cost */
    bool started;         /* first batches sent */
    /* workers that die (only with Open MPI's recovery on; else both NULL) */
    struct tf_ledger *ledger; /* which tasks each worker holds */
    struct tf_liveness *live; /* when each worker was last heard from */
    char (*host_of)[64];      /* each worker's host, from its reports */
    struct tf_lost_worker *lost;
    int nlost;
};

/* Before the loop: the first batch (or its whole share) to every worker, unasked. */
enum tf_status tf_master_begin(struct tf_master *m) TF_NODISCARD;
/* A message for the master (a worker's results, request or given-back tasks). */
enum tf_status tf_master_on_message(struct tf_master *m, const struct tf_msg *msg) TF_NODISCARD;
/* Between waits: signals, walltime, drain deadline, telling workers, persisting, progress. */
enum tf_status tf_master_step(struct tf_master *m) TF_NODISCARD;
/* tf_monotonic() time by which tf_master_step must run again. */
double tf_master_deadline(const struct tf_master *m);
/* Every worker has been stopped, so every result is in. */
bool tf_master_done(const struct tf_master *m);
/* After the loop: close the files, print the summary; the process exit code. */
int tf_master_finish(struct tf_master *m, enum tf_status st);
/* Free what setup allocated, for a run that never started (a refusal). */
void tf_master_fini(struct tf_master *m);

/* Commit the journal; flush the result file and sync the journal when they are older than
 * TF_FLUSH_SECONDS (or now, with `now`). */
enum tf_status tf_master_persist(struct tf_master *m, bool now) TF_NODISCARD;

/* resume.c: set up m->h5, m->journal, m->skip, m->prior, m->ntasks for a run that goes on
 * with an existing result file or journal. Returns an exit code, 0 to go on; errors
 * were printed. */
int tf_resume_setup(struct tf_master *m, const struct tf_taskfile_info *info,
                    struct tf_run_meta *meta);
/* The journal header of a run: its id, task file and start. */
struct tf_journal_header;
void tf_journal_header_for(const struct tf_run_meta *meta, struct tf_journal_header *h);
/* The journal's path for a result file (malloc'd). */
char *tf_journal_path_for(const char *output);

#endif
