/* slurmenv.h - what the Slurm allocation a run is part of says about itself, from the
 * environment (no Slurm library): recorded in result files, so a campaign's file says which
 * jobs, nodes and CPUs produced it.
 */
#ifndef TF_SLURMENV_H
#define TF_SLURMENV_H

#include <stddef.h>

/* The variables recorded, as attribute name / environment variable pairs. */
struct tf_slurm_var {
    const char *attr; /* e.g. "slurm_job_id" */
    const char *value;
};

/* The SLURM_* variables set in this process (value borrowed from the environment); returns
 * how many were written to vars (at most max). Zero outside Slurm. */
size_t tf_slurm_vars(struct tf_slurm_var *vars, size_t max);

/* The job id, or NULL outside Slurm. */
const char *tf_slurm_job_id(void);

#endif
