/* simcluster.h - a simulated cluster driving the scheduler (scheduler.h) through exactly the
 * calls the master and the agents make: processes with task slots and local queues,
 * prefetch, shedding, stealing, message latency, and a master that handles one message at a
 * time at a cost. Shared by the unit tests (test_scheduler.c) and the scale benchmark
 * (tests/bench/sched_scale.c). Workers can be killed at given times: the master notices after a
 * delay, takes what the dead one held from its ledger (ledger.h) and drops late messages.
 */
#ifndef TF_SIMCLUSTER_H
#define TF_SIMCLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

/* Worker w dies at time t; or, a zombie, is only cut off (SIGSTOP, then SIGCONT): declared
 * lost, it goes on and its messages arrive late. */
struct sim_kill {
    double t;
    int w;
    bool zombie;
};

struct sim_config {
    enum tf_mode mode;
    const double *dur; /* seconds of each task */
    uint64_t ntasks;
    int nworkers;
    const int *node_of;  /* NULL: one node */
    const int *slots_of; /* NULL: one slot each */
    bool no_stealing;
    double latency;         /* one-way message time, seconds (0: 0.5 ms) */
    double master_per_msg;  /* master CPU seconds per message it handles (0: free) */
    double master_per_task; /* ... and per task result in it */
    const struct sim_kill *kills;
    int nkills;
    double detect;        /* seconds from a death until the master notices (0: at once) */
    uint32_t max_losses;  /* a task lost with this many workers is recorded lost (0: never) */
    bool stop_idle_early; /* with kills: without tf_sched_expect_losses */
};

struct sim_result {
    double makespan;   /* first start (0) to the last task's end */
    uint64_t messages; /* both directions */
    uint64_t steals;
    double master_busy;  /* seconds the master spent handling messages */
    double slot_busy;    /* seconds of task work, summed over slots */
    uint64_t reruns;     /* runs beyond the first (lost with a worker, or a zombie's) */
    uint64_t lost_tasks; /* recorded as lost (max_losses) */
    uint64_t unfinished; /* never recorded: only when no worker was left to run them */
    uint64_t late;       /* results and releases the ledger refused */
    int workers_lost;
    bool ok; /* every task recorded exactly once (ran once without kills), workers stopped */
    char error[200];
};

void sim_run(const struct sim_config *c, struct sim_result *r);
/* Greedy list scheduling in file order over p slots with zero overhead. */
double sim_greedy(const double *dur, uint64_t n, int p);
/* Pareto durations, shape 1.5, minimum `min` seconds, capped at 600 * min. */
double *sim_heavy_tailed(uint64_t n, unsigned seed, double min);

#endif
