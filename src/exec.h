/* exec.h - runs one shell task to completion and reports what it did. The only module
 * that starts processes.
 *
 * A task runs as `/bin/sh -c COMMAND` in its own process group (a line of plain words that
 * names a program is started directly, as the shell would have done, saving one exec), stdin from
 * /dev/null, stdout and stderr captured separately up to a cap per stream (beyond it the bytes are
 * read and dropped, so a task that prints gigabytes neither blocks nor grows memory).
 * When the shell exits, whatever it left running in its process group is killed.
 */
#ifndef TF_EXEC_H
#define TF_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

struct tf_exec_env {
    uint64_t ntasks;    /* exported as TASKFARM_NTASKS */
    uint64_t id_offset; /* added to a task's id for TASKFARM_TASK_ID (--slice) */
    int rank;           /* exported as TASKFARM_RANK and stored in the result */
    size_t capture_max; /* bytes kept per stream */
    bool always_shell;  /* run every line through /bin/sh, even plain commands */
    double timeout;     /* seconds a task may run, 0: no limit */
    double kill_grace;  /* seconds from SIGTERM to SIGKILL, for timeouts and cancels */
    /* When set and non-zero, the running task is stopped: 1 = SIGTERM, then SIGKILL after
     * kill_grace; 2 = SIGKILL now. It is then recorded as NOT_RUN (it was interrupted, it
     * did not fail). Set from the tick hook or a signal handler. */
    const volatile int *cancel;
    /* "NAME=VALUE" strings set for every task, replacing inherited ones (OMP_NUM_THREADS,
     * CUDA_VISIBLE_DEVICES of the worker's slot); NULL-terminated, or NULL. */
    const char *const *extra_env;
    /* Called about every tick_seconds while a task runs (when set), so a worker can answer
     * messages during long tasks. */
    void (*tick)(void *arg);
    void *tick_arg;
    double tick_seconds;
};

/* Run t and fill r: status, exit code or signal, times, resource use, captured output (owned
 * by r; free with tf_result_fini). A task past env->timeout gets SIGTERM and, kill_grace
 * seconds later, SIGKILL, both to its whole process group, and is recorded as TIMED_OUT.
 * A task that cannot be started is recorded as FAILED with the reason in r->err; this
 * never fails the farm. r->host is left NULL. */
void tf_exec_run(const struct tf_exec_env *env, const struct tf_task *t, struct tf_result *r);

#endif
