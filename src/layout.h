/* layout.h - which ranks of the job run work, and how many tasks (or item threads) each runs
 * at once: every rank's cores and GPUs gathered, the slot plan of slots.h applied, the ranks
 * left without a slot let go, and the rest unbound from a launcher's per-core binding.
 * Shared by task-file runs and in-process maps.
 */
#ifndef TF_LAYOUT_H
#define TF_LAYOUT_H

#include "slots.h"

/* After the ranks with no slot left, in the farm's new rank numbering. */
struct tf_layout {
    int nranks;
    int *slots_of, *node_of; /* per rank */
    int nworkers;            /* ranks with slots, rank 0 among them when it has any */
    int *worker_rank, *worker_node, *worker_slots;
    int total; /* slots of all ranks */
    struct tf_rank_plan mine;
};

/* Collective over the farm's ranks. Returns 0 to go on, -1 on a rank left without a slot
 * (it takes no further part: tf_comm_finalize lets it wait), or TF_EXIT_USAGE with err set
 * when no rank gets a slot (GPUs asked for that no node has). With unbind, the process may
 * run on every core of its node from then on (the tasks it starts too); else the caller
 * unbinds the threads it starts itself (a library leaves its program's thread alone). */
int tf_layout_take(const struct tf_slot_ask *ask, bool unbind, struct tf_layout *lay, char *err,
                   size_t errlen);
void tf_layout_fini(struct tf_layout *lay);

#endif
