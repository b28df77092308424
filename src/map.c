/* map.c - the public handle of an in-process map: construction, the setters and their checks.
 * No MPI (comm.h only for taskfarm_workers_lost), no HDF5: a wrong argument is reported here, on
 * every rank, before any run starts.
 */
#include "map.h"

#include "comm.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH_SECONDS 0.05
#define DEFAULT_BATCH_MAX     (1u << 20)
#define NAME_MAX_LEN          255
/* As the command line's --worker-timeout and --lost-after (config.h). */
#define DEFAULT_WORKER_TIMEOUT 5.0
#define DEFAULT_LOST_AFTER     2

int tf_map_fail(struct taskfarm_map *map, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(map->err, sizeof map->err, fmt, ap);
    va_end(ap);
    return code;
}

size_t taskfarm_type_size(enum taskfarm_type type)
{
    if (type < TASKFARM_INT8 || type > TASKFARM_CHAR)
        return 0;
    return TASKFARM_TYPE_SIZE(type);
}

const char *taskfarm_strerror(int code)
{
    static const char *const text[] = {
        [TASKFARM_OK] = "success",
        [TASKFARM_EINVAL] = "invalid argument",
        [TASKFARM_ENOMEM] = "out of memory",
        [TASKFARM_EIO] = "file could not be read or written",
        [TASKFARM_EMPI] = "MPI failed",
        [TASKFARM_EHDF5] = "HDF5 failed",
        [TASKFARM_EFAILED] = "the function failed on some items",
        [TASKFARM_EINCOMPLETE] = "stopped before every item was done",
        [TASKFARM_EEXIST] = "output file exists",
    };
    if (code < 0 || (size_t)code >= sizeof text / sizeof text[0])
        return "unknown error code";
    return text[code];
}

int taskfarm_map_new(struct taskfarm_map **out)
{
    if (out == NULL)
        return TASKFARM_EINVAL;
    struct taskfarm_map *map = calloc(1, sizeof *map);
    if (map == NULL)
        return TASKFARM_ENOMEM;
    map->batch_seconds = DEFAULT_BATCH_SECONDS;
    map->batch_max = DEFAULT_BATCH_MAX;
    map->journal = true;
    map->worker_timeout = DEFAULT_WORKER_TIMEOUT;
    map->lost_after = DEFAULT_LOST_AFTER;
    *out = map;
    return TASKFARM_OK;
}

static void rectype_fini(struct tf_rectype *t)
{
    for (size_t i = 0; i < t->nfields; i++)
        free((char *)t->fields[i].name);
    free(t->fields);
    memset(t, 0, sizeof *t);
}

void taskfarm_map_free(struct taskfarm_map *map)
{
    if (map == NULL)
        return;
    rectype_fini(&map->item_type);
    rectype_fini(&map->result);
    free(map->items_path);
    free(map->items_dataset);
    free(map->result_name);
    free(map->output);
    for (size_t i = 0; i < map->ndesc; i++) {
        free(map->desc[i].key);
        free(map->desc[i].value);
    }
    free(map->desc);
    free(map);
}

const char *taskfarm_map_error(const struct taskfarm_map *map)
{
    return map ? map->err : "no map (NULL handle)";
}

int taskfarm_map_set_function(struct taskfarm_map *map, taskfarm_fn fn, void *user)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (fn == NULL)
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_set_function: fn is NULL");
    map->fn = fn;
    map->user = user;
    return TASKFARM_OK;
}

static int items_once(struct taskfarm_map *map, const char *who)
{
    if (map->items_kind != TF_ITEMS_NONE)
        return tf_map_fail(map, TASKFARM_EINVAL, "%s: the items were already set", who);
    return TASKFARM_OK;
}

int taskfarm_map_items_range(struct taskfarm_map *map, uint64_t n)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    int rc = items_once(map, "taskfarm_map_items_range");
    if (rc != TASKFARM_OK)
        return rc;
    map->items_kind = TF_ITEMS_RANGE;
    map->nitems = n;
    map->item_size = sizeof(uint64_t);
    return TASKFARM_OK;
}

int taskfarm_map_items_array(struct taskfarm_map *map, const void *items, size_t item_size,
                             uint64_t n)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    int rc = items_once(map, "taskfarm_map_items_array");
    if (rc != TASKFARM_OK)
        return rc;
    if (item_size == 0)
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_items_array: item_size is 0");
    map->items_kind = TF_ITEMS_ARRAY;
    map->items = items;
    map->item_size = item_size;
    map->nitems = n;
    return TASKFARM_OK;
}

int taskfarm_map_items_generator(struct taskfarm_map *map, taskfarm_item_fn gen, size_t item_size,
                                 uint64_t n, void *user)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    int rc = items_once(map, "taskfarm_map_items_generator");
    if (rc != TASKFARM_OK)
        return rc;
    if (gen == NULL || item_size == 0)
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_items_generator: %s",
                           gen == NULL ? "gen is NULL" : "item_size is 0");
    map->items_kind = TF_ITEMS_GEN;
    map->gen = gen;
    map->gen_user = user;
    map->item_size = item_size;
    map->nitems = n;
    return TASKFARM_OK;
}

int taskfarm_map_items_hdf5(struct taskfarm_map *map, const char *path, const char *dataset)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    int rc = items_once(map, "taskfarm_map_items_hdf5");
    if (rc != TASKFARM_OK)
        return rc;
    if (path == NULL || *path == '\0' || dataset == NULL || *dataset == '\0')
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_items_hdf5: %s is empty",
                           path == NULL || *path == '\0' ? "path" : "dataset");
    map->items_kind = TF_ITEMS_HDF5;
    map->items_path = strdup(path);
    map->items_dataset = strdup(dataset);
    if (map->items_path == NULL || map->items_dataset == NULL)
        return tf_map_fail(map, TASKFARM_ENOMEM, "out of memory");
    return TASKFARM_OK;
}

static bool valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= NAME_MAX_LEN && strchr(s, '/') == NULL && strcmp(s, ".") != 0;
}

/* Check and copy a record description; one line in map->err when it is wrong. */
static int rectype_set(struct taskfarm_map *map, struct tf_rectype *t, const char *who, size_t size,
                       const struct taskfarm_field *fields, size_t nfields)
{
    if (size == 0)
        return tf_map_fail(map, TASKFARM_EINVAL, "%s: the record size is 0", who);
    if (fields == NULL || nfields == 0)
        return tf_map_fail(map, TASKFARM_EINVAL, "%s: no fields given", who);
    bool scalar = nfields == 1 && fields[0].name == NULL;
    for (size_t i = 0; i < nfields; i++) {
        const struct taskfarm_field *f = &fields[i];
        size_t esize = taskfarm_type_size(f->type), count = f->count ? f->count : 1;
        if (esize == 0)
            return tf_map_fail(map, TASKFARM_EINVAL, "%s: field %zu has an unknown type %d", who, i,
                               (int)f->type);
        if (!scalar && !valid_name(f->name))
            return tf_map_fail(map, TASKFARM_EINVAL,
                               "%s: field %zu needs a name (1-255 characters, no '/')", who, i);
        if (f->offset > size || esize * count > size - f->offset)
            return tf_map_fail(map, TASKFARM_EINVAL,
                               "%s: field '%s' (offset %zu, %zu bytes) does not fit in a record "
                               "of %zu bytes",
                               who, f->name ? f->name : "(scalar)", f->offset, esize * count, size);
        for (size_t k = 0; k < i && !scalar; k++)
            if (strcmp(fields[k].name, f->name) == 0)
                return tf_map_fail(map, TASKFARM_EINVAL, "%s: field '%s' appears twice", who,
                                   f->name);
    }
    if (scalar &&
        taskfarm_type_size(fields[0].type) * (fields[0].count ? fields[0].count : 1) != size)
        return tf_map_fail(
            map, TASKFARM_EINVAL,
            "%s: a scalar result of %zu bytes cannot hold its type (%zu bytes)", who, size,
            taskfarm_type_size(fields[0].type) * (fields[0].count ? fields[0].count : 1));
    rectype_fini(t);
    t->fields = calloc(nfields, sizeof *t->fields);
    if (t->fields == NULL)
        return tf_map_fail(map, TASKFARM_ENOMEM, "out of memory");
    for (size_t i = 0; i < nfields; i++) {
        t->fields[i] = fields[i];
        t->fields[i].count = fields[i].count ? fields[i].count : 1;
        t->fields[i].name = fields[i].name ? strdup(fields[i].name) : NULL;
    }
    t->nfields = nfields;
    t->size = size;
    t->scalar = scalar;
    return TASKFARM_OK;
}

int taskfarm_map_item_type(struct taskfarm_map *map, size_t item_size,
                           const struct taskfarm_field *fields, size_t nfields)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    return rectype_set(map, &map->item_type, "taskfarm_map_item_type", item_size, fields, nfields);
}

int taskfarm_map_result(struct taskfarm_map *map, const char *name, size_t size,
                        const struct taskfarm_field *fields, size_t nfields)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (!valid_name(name))
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_result: the name must be 1-255 characters without '/'");
    int rc = rectype_set(map, &map->result, "taskfarm_map_result", size, fields, nfields);
    if (rc != TASKFARM_OK)
        return rc;
    free(map->result_name);
    map->result_name = strdup(name);
    return map->result_name ? TASKFARM_OK : tf_map_fail(map, TASKFARM_ENOMEM, "out of memory");
}

int taskfarm_map_output(struct taskfarm_map *map, const char *path, unsigned flags)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (path == NULL || *path == '\0')
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_output: the path is empty");
    if ((flags & ~(TASKFARM_OVERWRITE | TASKFARM_RESUME)) != 0 ||
        flags == (TASKFARM_OVERWRITE | TASKFARM_RESUME))
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_output: flags must be 0, TASKFARM_OVERWRITE or "
                           "TASKFARM_RESUME");
    free(map->output);
    map->output = strdup(path);
    map->flags = flags;
    return map->output ? TASKFARM_OK : tf_map_fail(map, TASKFARM_ENOMEM, "out of memory");
}

int taskfarm_map_results_buffer(struct taskfarm_map *map, void *buffer)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    map->results_buffer = buffer;
    return TASKFARM_OK;
}

int taskfarm_map_batching(struct taskfarm_map *map, double seconds, uint64_t max_items)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (!isfinite(seconds) || seconds <= 0 || seconds > 3600 || max_items == 0)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_batching: seconds must be in (0, 3600] and max_items "
                           "at least 1");
    map->batch_seconds = seconds;
    map->batch_max = max_items;
    return TASKFARM_OK;
}

int taskfarm_map_thread_safe(struct taskfarm_map *map)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    map->thread_safe = true;
    return TASKFARM_OK;
}

int taskfarm_map_threads(struct taskfarm_map *map, int threads)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (threads < 0 || threads > 4096)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_threads: %d threads (0 for the cores' share, or 1..4096)",
                           threads);
    map->threads = threads;
    return TASKFARM_OK;
}

int taskfarm_map_worker_loss(struct taskfarm_map *map, double timeout, int lost_after)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (!isfinite(timeout) || timeout < 0.5 || timeout > 86400 || lost_after < 1 ||
        lost_after > 1000)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_worker_loss: the timeout must be in [0.5, 86400] "
                           "seconds and lost_after in 1..1000");
    map->worker_timeout = timeout;
    map->lost_after = lost_after;
    return TASKFARM_OK;
}

int taskfarm_workers_lost(void)
{
    return tf_comm_collectives_skipped();
}

int taskfarm_map_describe(struct taskfarm_map *map, const char *key, const char *value)
{
    if (map == NULL)
        return TASKFARM_EINVAL;
    if (!valid_name(key) || value == NULL)
        return tf_map_fail(map, TASKFARM_EINVAL, "taskfarm_map_describe: bad key or NULL value");
    struct tf_desc *d = realloc(map->desc, (map->ndesc + 1) * sizeof *d);
    if (d == NULL)
        return tf_map_fail(map, TASKFARM_ENOMEM, "out of memory");
    map->desc = d;
    d[map->ndesc].key = strdup(key);
    d[map->ndesc].value = strdup(value);
    map->ndesc++;
    return TASKFARM_OK;
}

const char *tf_map_described(const struct taskfarm_map *map, const char *key)
{
    for (size_t i = map->ndesc; i-- > 0;)
        if (strcmp(map->desc[i].key, key) == 0)
            return map->desc[i].value;
    return NULL;
}

int tf_map_validate(struct taskfarm_map *map)
{
    if (map->fn == NULL)
        return tf_map_fail(map, TASKFARM_EINVAL, "no function: call taskfarm_map_set_function");
    if (map->items_kind == TF_ITEMS_NONE)
        return tf_map_fail(map, TASKFARM_EINVAL, "no items: call one of taskfarm_map_items_*");
    if (map->result_name == NULL)
        return tf_map_fail(map, TASKFARM_EINVAL, "no result type: call taskfarm_map_result");
    if (map->output == NULL && map->results_buffer == NULL)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "nowhere to put results: call taskfarm_map_output or "
                           "taskfarm_map_results_buffer");
    if (map->item_type.nfields > 0 && map->items_kind != TF_ITEMS_HDF5)
        return tf_map_fail(map, TASKFARM_EINVAL,
                           "taskfarm_map_item_type applies to HDF5 items only");
    return TASKFARM_OK;
}
