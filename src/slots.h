/* slots.h - which cores and GPUs each worker's tasks get (--cores-per-task, --gpus-per-task,
 * --bind). The plan is plain C over what every rank reported, so Check tests it alone; this
 * module also reads the rank's own affinity and GPUs and applies a slot, but knows no MPI.
 *
 * A node's cores are the union of the affinity masks of every rank on it (mpirun binds each
 * rank to a core or a socket; together they are what the job was given there). Those cores
 * are cut into slots of K, at most one worker per slot, and with G GPUs per task at most
 * (GPUs on the node) / G slots. Workers beyond the slots of their node run no tasks.
 */
#ifndef TF_SLOTS_H
#define TF_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_MAX_CPUS 1024

/* What one rank sees; gathered from every rank. */
struct tf_rank_res {
    uint64_t cpus[TF_MAX_CPUS / 64]; /* its affinity mask */
    int32_t node;                    /* any value shared by exactly the ranks of its node */
    int32_t ngpus;                   /* GPUs it may use (CUDA_VISIBLE_DEVICES, /dev/nvidiaN) */
};

struct tf_slot {
    bool active;                          /* this rank runs tasks */
    int local;                            /* slot index on its node, -1 when not active */
    int ncpus;                            /* cores in the slot */
    uint64_t cpus[TF_MAX_CPUS / 64];      /* the slot's cores (with --bind, tasks run on these) */
    uint64_t node_cpus[TF_MAX_CPUS / 64]; /* every core of the job on this node */
    int gpu_first, ngpus; /* GPUs [gpu_first, gpu_first + ngpus) of the node's list */
};

/* Plan every rank's slot: out[r] for r in 0..nranks-1. Rank 0 is the master and gets no
 * slot unless it is alone (then it runs the tasks). cores_per_task K >= 1, gpus_per_task
 * G >= 0. Returns the number of ranks that run tasks, or 0 with a reason in err when none
 * can (no node has G GPUs). A node with fewer than K cores gets one slot of all of them. */
int tf_slots_plan(const struct tf_rank_res *all, int nranks, int cores_per_task, int gpus_per_task,
                  struct tf_slot *out, char *err, size_t errlen);

/* This process's affinity mask and GPU count (node left 0). */
void tf_slots_local(struct tf_rank_res *r);
/* The devices of a slot, as CUDA_VISIBLE_DEVICES for its tasks: entries
 * [gpu_first, gpu_first + ngpus) of this node's list. False when it does not fit in buf. */
bool tf_slots_gpu_list(const struct tf_slot *s, char *buf, size_t len);
/* Pin this process (and so every task it starts) to the slot's cores with bind, else to
 * all of the node's cores (undoing a launcher's per-core binding, which would squeeze a
 * K-thread task onto one core). Returns false with errno on failure. */
bool tf_slots_apply(const struct tf_slot *s, bool bind);
/* "0-3,8" for a mask: for messages and the result file. */
void tf_slots_cpu_text(const uint64_t *cpus, char *buf, size_t len);

#endif
