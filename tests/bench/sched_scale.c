/* sched_scale.c - the scheduler at cluster scale, in the simulated cluster of the unit tests
 * (tests/unit/simcluster.c, the real scheduler and the agents' rules): P processes of S slots
 * each, N tasks of heavy-tailed durations (Pareto, shape 1.5) with the given mean. Prints the
 * makespan against greedy list scheduling over all slots with zero overhead, messages per
 * task, and the master's busy share when each message costs it PER_MSG and each task in it
 * PER_TASK microseconds (measured in a real run: master_busy_seconds), run once with a free
 * master and once with that cost, so what the master's speed does to the makespan shows.
 *
 *   sched_scale [PROCESSES SLOTS TASKS MEAN_SECONDS PER_MSG_US PER_TASK_US]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "simcluster.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void one(const struct sim_config *c, double ideal, uint64_t n, const char *what)
{
    struct sim_result r;
    double t0 = cpu_now();
    sim_run(c, &r);
    double took = cpu_now() - t0;
    printf("%-24s makespan %9.2f s  efficiency %.4f  messages/task %.4f  steals %llu\n", what,
           r.makespan, ideal / r.makespan, (double)r.messages / (double)n,
           (unsigned long long)r.steals);
    printf("%-24s master busy %.1f s = %.2f%% of the makespan (%.2f us per task)  "
           "[simulated in %.1f s]%s%s\n",
           "", r.master_busy, 100 * r.master_busy / r.makespan, 1e6 * r.master_busy / (double)n,
           took, r.ok ? "" : "  FAILED: ", r.ok ? "" : r.error);
}

int main(int argc, char **argv)
{
    int p = argc > 1 ? atoi(argv[1]) : 1000, s = argc > 2 ? atoi(argv[2]) : 128;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : 10000000;
    double mean = argc > 4 ? atof(argv[4]) : 1.0;
    double per_msg = (argc > 5 ? atof(argv[5]) : 10.0) * 1e-6;
    double per_task = (argc > 6 ? atof(argv[6]) : 5.0) * 1e-6;
    double *d = sim_heavy_tailed(n, 42, mean / 3.0); /* shape 1.5: mean = 3 x minimum */
    double sum = 0, longest = 0;
    for (uint64_t i = 0; i < n; i++) {
        sum += d[i];
        longest = d[i] > longest ? d[i] : longest;
    }
    int *slots = malloc((size_t)p * sizeof *slots), *node = malloc((size_t)p * sizeof *node);
    for (int w = 0; w < p; w++)
        slots[w] = s, node[w] = w;
    double ideal = sim_greedy(d, n, p * s);
    printf("%d processes x %d slots, %llu tasks, mean %.3f s (longest %.1f s); greedy ideal "
           "%.2f s, lower bound %.2f s\n",
           p, s, (unsigned long long)n, sum / (double)n, longest, ideal,
           sum / (p * s) > longest ? sum / (p * s) : longest);
    struct sim_config c = {.mode = TF_MODE_AUTO,
                           .dur = d,
                           .ntasks = n,
                           .nworkers = p,
                           .node_of = node,
                           .slots_of = slots,
                           .latency = 0.0005};
    one(&c, ideal, n, "free master");
    c.master_per_msg = per_msg;
    c.master_per_task = per_task;
    char what[64];
    snprintf(what, sizeof what, "master %.1f+%.1f us", per_msg * 1e6, per_task * 1e6);
    one(&c, ideal, n, what);
    free(d);
    free(slots);
    free(node);
    return 0;
}
