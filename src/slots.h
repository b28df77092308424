/* slots.h - how many tasks each process runs at once (its slots), and which cores and GPUs
 * each slot's tasks get (-j, --cores-per-task, --gpus-per-task, --bind). The plan is plain C
 * over what every rank reported, so Check tests it alone; this module also reads the rank's
 * own affinity, cpuset and GPUs and unbinds the process, but knows no MPI.
 *
 * A node's cores are what the job was given there - the launcher's own mask within the
 * cgroup's cpuset, which a launcher's per-rank binding does not shrink - or, where that is
 * unknown or more than Slurm says the job has there (SLURM_CPUS_ON_NODE: a node shared
 * without cgroups), the union of the affinity masks of its ranks; a process started with no
 * launcher has its own mask. Those cores are
 * cut into slots of K (--cores-per-task, default 1), shared out among the node's ranks in
 * rank order; -j N gives every rank N instead. With G GPUs per task a node has at most
 * (its GPUs) / G slots. With K or G given, ranks beyond their node's slots run no tasks;
 * otherwise every rank has at least one slot (one rank per core keeps working as before).
 */
#ifndef TF_SLOTS_H
#define TF_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_MAX_CPUS  1024
#define TF_CPU_WORDS (TF_MAX_CPUS / 64)

/* What one rank sees; gathered from every rank. */
struct tf_rank_res {
    uint64_t cpus[TF_CPU_WORDS]; /* its affinity mask */
    /* What the job was given here: the mask of the launcher that started it (which binds
     * its children only after starting them) within its cgroup's cpuset; zero: unknown */
    uint64_t cpuset[TF_CPU_WORDS];
    int32_t node;  /* any value shared by exactly the ranks of its node */
    int32_t ngpus; /* GPUs it may use (CUDA_VISIBLE_DEVICES, /dev/nvidiaN) */
    int32_t cap;   /* SLURM_CPUS_ON_NODE: the job's CPUs on the node; 0: not said */
};

/* What the command line asked for. */
struct tf_slot_ask {
    int jobs;           /* -j N: slots per rank; 0: its share of the node's cores */
    int cores_per_task; /* K >= 1 when given, 0: not given (one core per slot) */
    int gpus_per_task;  /* G >= 0 */
    bool launched;      /* under an MPI launcher; else one process alone */
};

/* One rank's part of the plan. */
struct tf_rank_plan {
    int nslots;                       /* 0: this rank runs no tasks */
    int first;                        /* its first slot's index among its node's slots */
    int node_slots;                   /* slots of all ranks on its node */
    int cores_per_slot;               /* K (1 when not given), at most the node's cores */
    uint64_t node_cpus[TF_CPU_WORDS]; /* every core of the job on its node */
};

/* Plan every rank: slots_of[r] for r in 0..nranks-1, and rank me's plan in *mine. Returns
 * the slots of all ranks together, or 0 with a reason in err when no rank gets one (G GPUs
 * asked for and no node has them). */
int tf_slots_plan(const struct tf_rank_res *all, int nranks, int me, const struct tf_slot_ask *ask,
                  int *slots_of, struct tf_rank_plan *mine, char *err, size_t errlen);
/* The cores of slot j (0-based, < mine->nslots) of a rank: cores_per_slot of the node's
 * cores, slots side by side in core order (wrapping round when -j asks for more slots than
 * the node has cores). */
void tf_slots_cpus(const struct tf_rank_plan *mine, int j, uint64_t cpus[TF_CPU_WORDS]);

/* This process's affinity mask, its allocation (launcher's mask within the cgroup's
 * cpuset), SLURM_CPUS_ON_NODE and GPU count (node left 0). */
void tf_slots_local(struct tf_rank_res *r);
/* "0-3,8" into a mask; false when the text is not a CPU list. */
bool tf_slots_parse_cpus(const char *text, uint64_t cpus[TF_CPU_WORDS]);
int tf_slots_count(const uint64_t cpus[TF_CPU_WORDS]);
/* GPUs [first, first + n) of this node's list, as CUDA_VISIBLE_DEVICES for a slot's tasks.
 * False when it does not fit in buf. */
bool tf_slots_gpu_list(int first, int n, char *buf, size_t len);
/* Let this process (and the threads and tasks it starts from now on) run on every core of
 * its node, undoing a launcher's per-core binding, which would squeeze every slot onto one
 * core. Returns false with errno on failure. */
bool tf_slots_unbind(const struct tf_rank_plan *mine);
/* "0-3,8" for a mask: for messages and the result file. */
void tf_slots_cpu_text(const uint64_t *cpus, char *buf, size_t len);

#endif
