/* task.c - names of task outcomes and cleanup of result rows. */
#include "task.h"

#include <stdlib.h>

const char *tf_task_status_name(int status)
{
    static const char *const names[TF_TASK_STATUS_COUNT] = {"NOT_RUN", "SUCCEEDED", "FAILED",
                                                            "KILLED", "TIMED_OUT"};
    return (status >= 0 && status < TF_TASK_STATUS_COUNT) ? names[status] : "UNKNOWN";
}

void tf_result_fini(struct tf_result *r)
{
    free(r->host);
    free(r->out);
    free(r->err);
    r->host = r->out = r->err = NULL;
}
