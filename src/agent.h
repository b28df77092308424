/* agent.h - one process's share of a task-file run: the tasks of its slots, run at once, a
 * local queue of assigned tasks behind them, and what it tells the master: results with a
 * report of itself, requests for more ahead of time when tasks are short, tasks given back
 * when the master asks (a steal) or when long tasks hold them (a shed). Every rank with
 * slots runs one, rank 0 too; it lives in the event loop (loop.h).
 */
#ifndef TF_AGENT_H
#define TF_AGENT_H

#include <stdint.h>

#include "config.h"
#include "exec.h"
#include "loop.h"

struct tf_agent;

/* What each slot gives its tasks: TASKFARM_SLOT (the index), environment strings and, with
 * --bind, cores (both copied). */
struct tf_agent_slot_spec {
    const char *const *env; /* NULL-terminated, or NULL */
    const uint64_t *cpus;   /* TF_MAX_CPUS bits, or NULL */
};

/* An agent with nslots >= 1 slots for the tasks of a run of ntasks (first_task: --slice). */
struct tf_agent *tf_agent_new(const struct tf_config *cfg, int rank, int nslots,
                              const struct tf_agent_slot_spec *spec, uint64_t ntasks,
                              uint64_t first_task);
void tf_agent_free(struct tf_agent *a); /* NULL-safe; running tasks are killed */
/* The agent as a part of the event loop. */
struct tf_part tf_agent_part(struct tf_agent *a);

#endif
