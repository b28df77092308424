/* task.c - names of task outcomes and cleanup of result rows. */
#include "task.h"

#include <stdio.h>
#include <stdlib.h>

const char *tf_task_status_name(int status)
{
    static const char *const names[TF_TASK_STATUS_COUNT] = {"NOT_RUN", "SUCCEEDED", "FAILED",
                                                            "KILLED",  "TIMED_OUT", "LOST"};
    return (status >= 0 && status < TF_TASK_STATUS_COUNT) ? names[status] : "UNKNOWN";
}

void tf_task_counts_text(const uint64_t counts[TF_TASK_STATUS_COUNT], char *buf, size_t n)
{
    char lost[40] = "";
    if (counts[TF_TASK_LOST] > 0)
        snprintf(lost, sizeof lost, ", %llu lost", (unsigned long long)counts[TF_TASK_LOST]);
    snprintf(buf, n, "%llu succeeded, %llu failed, %llu killed, %llu timed out%s, %llu not run",
             (unsigned long long)counts[TF_TASK_SUCCEEDED],
             (unsigned long long)counts[TF_TASK_FAILED], (unsigned long long)counts[TF_TASK_KILLED],
             (unsigned long long)counts[TF_TASK_TIMED_OUT], lost,
             (unsigned long long)counts[TF_TASK_NOT_RUN]);
}

void tf_result_fini(struct tf_result *r)
{
    free(r->host);
    free(r->out);
    free(r->err);
    r->host = r->out = r->err = NULL;
}
