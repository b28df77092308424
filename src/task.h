/* task.h - what a task is and what running it produced: plain data shared by the task
 * file reader, the executor, the wire format and the result file.
 */
#ifndef TF_TASK_H
#define TF_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Outcome of a task, stored as the `status` column (an HDF5 enum with these names). */
enum tf_task_status {
    TF_TASK_NOT_RUN = 0,
    TF_TASK_SUCCEEDED = 1,
    TF_TASK_FAILED = 2,    /* exited with a non-zero code */
    TF_TASK_KILLED = 3,    /* terminated by a signal */
    TF_TASK_TIMED_OUT = 4, /* ran past its time limit */
    /* was running on workers that died (2 by default) and is not started again: a task that
     * kills its node must not take the allocation down one node at a time */
    TF_TASK_LOST = 5,
};
#define TF_TASK_STATUS_COUNT 6
const char *tf_task_status_name(int status); /* "NOT_RUN", "SUCCEEDED", ... */
/* "S succeeded, F failed, K killed, T timed out, N not run", with ", L lost" before "not
 * run" only when L > 0: the counts as every summary line (run, status, merge) prints them,
 * so lines of runs that lost nothing read as they always have. */
void tf_task_counts_text(const uint64_t counts[TF_TASK_STATUS_COUNT], char *buf, size_t n);

struct tf_task {
    uint64_t id;         /* 0-based index among task lines */
    uint64_t line;       /* 1-based line number in the task file */
    uint64_t offset;     /* byte offset of the line in the task file */
    const char *command; /* NUL-terminated; owner documented by whoever fills it */
    size_t command_len;
    int32_t attempts;   /* runs before this one (retries, earlier invocations) */
    int32_t avoid_rank; /* a retry prefers a worker other than this rank; -1: none */
};

/* One row of /tasks. Strings are owned by whoever filled the struct; tf_result_fini frees
 * out/err/host when the struct owns them (the executor and h5out staging do). */
struct tf_result {
    uint64_t id;
    uint64_t line, offset; /* where the task is in the task file, so it can be run again */
    int8_t status;
    int32_t exit_code; /* -1 when the task did not exit normally */
    int32_t signal;    /* 0 when no signal ended it */
    int32_t rank;
    int32_t slot; /* task slot of the rank that ran it (TASKFARM_SLOT), -1: none */
    int32_t attempts;
    double start, end; /* seconds since the Unix epoch */
    int64_t max_rss;   /* peak resident memory of the task's processes, bytes (-1: unknown) */
    double cpu_user, cpu_system; /* CPU seconds of the task and the children it waited for */
    char *host;
    char *out, *err; /* captured stdout/stderr as valid UTF-8, NUL-terminated */
    size_t out_len, err_len;
    bool out_truncated, err_truncated;
};

void tf_result_fini(struct tf_result *r);

#endif
