/* slurmenv.c - the allocation's own description, read from SLURM_* variables. */
#include "slurmenv.h"

#include <stdlib.h>

static const struct tf_slurm_var known[] = {
    {"slurm_job_id", "SLURM_JOB_ID"},
    {"slurm_job_name", "SLURM_JOB_NAME"},
    {"slurm_job_partition", "SLURM_JOB_PARTITION"},
    {"slurm_cluster_name", "SLURM_CLUSTER_NAME"},
    {"slurm_job_nodelist", "SLURM_JOB_NODELIST"},
    {"slurm_job_num_nodes", "SLURM_JOB_NUM_NODES"},
    {"slurm_ntasks", "SLURM_NTASKS"},
    {"slurm_cpus_per_task", "SLURM_CPUS_PER_TASK"},
    {"slurm_job_cpus_per_node", "SLURM_JOB_CPUS_PER_NODE"},
    {"slurm_array_job_id", "SLURM_ARRAY_JOB_ID"},
    {"slurm_array_task_id", "SLURM_ARRAY_TASK_ID"},
    {"slurm_job_end_time", "SLURM_JOB_END_TIME"},
    {"slurm_submit_dir", "SLURM_SUBMIT_DIR"},
};

size_t tf_slurm_vars(struct tf_slurm_var *vars, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0] && n < max; i++) {
        const char *v = getenv(known[i].value);
        if (v && *v)
            vars[n++] = (struct tf_slurm_var){known[i].attr, v};
    }
    return n;
}

const char *tf_slurm_job_id(void)
{
    const char *v = getenv("SLURM_JOB_ID");
    return v && *v ? v : NULL;
}
