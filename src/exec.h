/* exec.h - runs shell tasks and reports what they did, many at once from one thread. The
 * only module that starts processes.
 *
 * A task runs as `/bin/sh -c COMMAND` in its own process group (a line of plain words that
 * names a program is started directly, as the shell would have done, saving one exec), stdin
 * from /dev/null, stdout and stderr captured separately up to a cap per stream (beyond it the
 * bytes are read and dropped, so a task that prints gigabytes neither blocks nor grows
 * memory). When the shell exits, whatever it left running in its process group is killed.
 *
 * A running task is a struct tf_child: the caller polls its file descriptors together with
 * those of its other tasks (and anything else it waits for), then lets the child step. No
 * call blocks, so one event loop runs every task slot of a process.
 */
#ifndef TF_EXEC_H
#define TF_EXEC_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

/* What every task of a process shares. */
struct tf_exec_env {
    uint64_t ntasks;    /* exported as TASKFARM_NTASKS */
    uint64_t id_offset; /* added to a task's id for TASKFARM_TASK_ID (--slice) */
    int rank;           /* exported as TASKFARM_RANK and stored in the result */
    size_t capture_max; /* bytes kept per stream */
    bool always_shell;  /* run every line through /bin/sh, even plain commands */
    double timeout;     /* seconds a task may run, 0: no limit */
    double kill_grace;  /* seconds from SIGTERM to SIGKILL, for timeouts and cancels */
};

/* Where one task runs: its slot in the process. */
struct tf_exec_slot {
    int index; /* exported as TASKFARM_SLOT and stored in the result; -1: none */
    /* "NAME=VALUE" strings set for the task, replacing inherited ones (OMP_NUM_THREADS,
     * CUDA_VISIBLE_DEVICES of the slot); NULL-terminated, or NULL. */
    const char *const *env;
    /* With --bind: the cores the task is pinned to (TF_MAX_CPUS bits, see slots.h); NULL:
     * the process's own. */
    const uint64_t *cpus;
};

struct tf_child;

/* The descriptors a child waits on: its two pipes and its pidfd (-1 where closed). */
#define TF_EXEC_NFDS 3

/* Start t. Never fails the farm: a task that cannot be started is over at once, FAILED with
 * the reason in its stderr (tf_exec_step then returns true). */
struct tf_child *tf_exec_start(const struct tf_exec_env *env, const struct tf_exec_slot *slot,
                               const struct tf_task *t);
/* Fill fds[0..TF_EXEC_NFDS) with what to poll for this child (fd -1: nothing). */
void tf_exec_pollfds(const struct tf_child *c, struct pollfd fds[TF_EXEC_NFDS]);
/* After a poll (fds as filled, with revents; or NULL to look at timers only): read output,
 * notice the exit, send due signals. True once the task is over and its output drained. */
bool tf_exec_step(struct tf_child *c, const struct pollfd *fds);
/* tf_monotonic() time by which tf_exec_step must run again (a signal due, output still
 * draining, no pidfd to wake us), or 0 when only its descriptors can change anything. */
double tf_exec_deadline(const struct tf_child *c);
/* Stop the task: 1 = SIGTERM, then SIGKILL after kill_grace; 2 = SIGKILL now. It is then
 * recorded as NOT_RUN (interrupted, not failed). A higher level may follow a lower one. */
void tf_exec_cancel(struct tf_child *c, int level);
/* The task's outcome into r (strings owned by r, tf_result_fini frees them; r->host NULL)
 * and free c. Only once tf_exec_step returned true. */
void tf_exec_finish(struct tf_child *c, struct tf_result *r);

/* One task to completion, blocking: for the few commands taskfarm runs for itself (squeue)
 * and for tests. `cancel` (may be NULL) is read as for tf_exec_cancel while it runs. */
void tf_exec_run(const struct tf_exec_env *env, const struct tf_task *t, const volatile int *cancel,
                 struct tf_result *r);

#endif
