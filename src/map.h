/* map.h - PRIVATE to the in-process map (map.c, maprun.c, h5map.c, plugin.c): what a
 * struct taskfarm_map holds, and the checks every rank runs before a map starts.
 */
#ifndef TF_MAP_H
#define TF_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "taskfarm.h"

/* A record layout: a C struct (fields) or one element type (scalar). */
struct tf_rectype {
    size_t size;
    struct taskfarm_field *fields; /* owned, names too */
    size_t nfields;                /* 0: not declared */
    bool scalar;                   /* one unnamed field: a plain array */
};

enum tf_items_kind { TF_ITEMS_NONE, TF_ITEMS_RANGE, TF_ITEMS_ARRAY, TF_ITEMS_GEN, TF_ITEMS_HDF5 };

struct tf_desc {
    char *key, *value;
};

struct taskfarm_map {
    char err[512];
    taskfarm_fn fn;
    void *user;
    enum tf_items_kind items_kind;
    uint64_t nitems;
    size_t item_size; /* HDF5 items: known once the dataset is opened */
    const void *items;
    taskfarm_item_fn gen;
    void *gen_user;
    char *items_path, *items_dataset;
    struct tf_rectype item_type;
    char *result_name;
    struct tf_rectype result;
    char *output;
    unsigned flags;
    void *results_buffer;
    double batch_seconds;
    uint64_t batch_max;
    struct tf_desc *desc;
    size_t ndesc;
    bool journal;     /* crash-safe journal beside the output (on unless the CLI says no) */
    bool thread_safe; /* fn (and gen) may run on several threads at once */
    int threads;      /* compute threads per process, 0: its share of the node's cores */
    /* ranks that die (with Open MPI's recovery on): taskfarm_map_worker_loss */
    double worker_timeout; /* a rank silent this long is lost */
    int lost_after;        /* an item running on this many lost ranks is recorded lost */
};

/* Set map->err (printf-style) and return code. */
int tf_map_fail(struct taskfarm_map *map, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Everything a run needs is set and consistent; on every rank, before any MPI traffic. */
int tf_map_validate(struct taskfarm_map *map);
/* The value recorded for key by taskfarm_map_describe, or NULL. */
const char *tf_map_described(const struct taskfarm_map *map, const char *key);

#endif
