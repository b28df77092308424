/* layout.c - the slot plan of the whole job, collectively: gather, plan, let idle ranks go. */
#include "layout.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "log.h"
#include "util.h"

void tf_layout_fini(struct tf_layout *lay)
{
    free(lay->slots_of);
    free(lay->node_of);
    free(lay->worker_rank);
    free(lay->worker_node);
    free(lay->worker_slots);
    memset(lay, 0, offsetof(struct tf_layout, mine));
}

/* The workers among the ranks that stay (in rank order: the farm's new numbering). */
static void layout_workers(struct tf_layout *lay, const struct tf_rank_res *all, const int *slots,
                           int n)
{
    lay->slots_of = tf_xcalloc((size_t)n, sizeof *lay->slots_of);
    lay->node_of = tf_xcalloc((size_t)n, sizeof *lay->node_of);
    lay->worker_rank = tf_xcalloc((size_t)n, sizeof *lay->worker_rank);
    lay->worker_node = tf_xcalloc((size_t)n, sizeof *lay->worker_node);
    lay->worker_slots = tf_xcalloc((size_t)n, sizeof *lay->worker_slots);
    for (int r = 0; r < n; r++) {
        if (r != 0 && slots[r] == 0)
            continue; /* it leaves the farm */
        int k = lay->nranks++;
        lay->slots_of[k] = slots[r];
        lay->node_of[k] = all[r].node;
        if (slots[r] > 0) {
            lay->worker_rank[lay->nworkers] = k;
            lay->worker_node[lay->nworkers] = all[r].node;
            lay->worker_slots[lay->nworkers++] = slots[r];
        }
    }
}

int tf_layout_take(const struct tf_slot_ask *ask, bool unbind, struct tf_layout *lay, char *err,
                   size_t errlen)
{
    int n = tf_comm_size(), rank = tf_comm_rank();
    struct tf_rank_res me, *all = tf_xcalloc((size_t)n, sizeof *all);
    int *slots = tf_xcalloc((size_t)n, sizeof *slots);
    memset(lay, 0, sizeof *lay);
    tf_slots_local(&me);
    me.node = tf_comm_node_id();
    tf_comm_allgather(&me, sizeof me, all);
    lay->total = tf_slots_plan(all, n, rank, ask, slots, &lay->mine, err, errlen);
    if (lay->total > 0)
        layout_workers(lay, all, slots, n);
    free(all);
    free(slots);
    if (lay->total == 0)
        return TF_EXIT_USAGE;
    bool stays = rank == 0 || lay->mine.nslots > 0;
    tf_comm_keep_only(stays);
    if (!stays)
        return -1;
    if (unbind && !tf_slots_unbind(&lay->mine))
        tf_log(TF_LOG_WARN, "rank %d: cannot set its tasks' cores: %s", rank, strerror(errno));
    return 0;
}
