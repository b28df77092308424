/* plugin.c - loads the user's function from a shared library (dlopen) and runs it as an
 * in-process map through the public API. The plugin's contract, in README.md:
 *
 *   int FN(const void *item, void *result, void *user);
 *   int FN_setup(struct taskfarm_map *map, const char *arg);   declares the result type
 *                                       (and, with taskfarm_map_thread_safe, that FN may run
 *                                       on several threads at once)
 */
#include "plugin.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "log.h"
#include "map.h"
#include "status.h"
#include "taskfarm.h"
#include "util.h"

typedef int (*setup_fn)(struct taskfarm_map *map, const char *arg);

static int fail(const char *fmt, const char *a, const char *b)
{
    if (tf_comm_rank() == 0) {
        char msg[2048];
        snprintf(msg, sizeof msg, fmt, a, b);
        tf_print_error("%s", msg);
    }
    return TF_EXIT_USAGE;
}

/* What the user's library provides; the handle stays open for the run. */
static int load(const struct tf_config *cfg, void **lib, taskfarm_fn *fn, setup_fn *setup)
{
    /* A bare name would search the system paths only: "lib.so" means ./lib.so here. */
    char *path = tf_xmalloc(strlen(cfg->plugin_lib) + 3);
    sprintf(path, "%s%s", strchr(cfg->plugin_lib, '/') ? "" : "./", cfg->plugin_lib);
    *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    free(path);
    if (*lib == NULL)
        return fail("cannot load plugin '%s': %s", cfg->plugin_lib, dlerror());
    *fn = (taskfarm_fn)(uintptr_t)dlsym(*lib, cfg->plugin_fn);
    if (*fn == NULL)
        return fail("plugin '%s' has no function '%s'", cfg->plugin_lib, cfg->plugin_fn);
    char *name = tf_xmalloc(strlen(cfg->plugin_fn) + 7);
    sprintf(name, "%s_setup", cfg->plugin_fn);
    *setup = (setup_fn)(uintptr_t)dlsym(*lib, name);
    free(name);
    if (*setup == NULL)
        return fail("plugin '%s' has no '%s_setup' to declare the result type (README.md, "
                    "\"In-process tasks\")",
                    cfg->plugin_lib, cfg->plugin_fn);
    return TF_EXIT_OK;
}

static int set_items(struct taskfarm_map *map, const char *items)
{
    char *end;
    unsigned long long n = strtoull(items, &end, 10);
    if (*items >= '0' && *items <= '9' && *end == '\0')
        return taskfarm_map_items_range(map, n);
    const char *colon = strrchr(items, ':');
    char *path = tf_xstrndup(items, (size_t)(colon - items));
    int rc = taskfarm_map_items_hdf5(map, path, colon + 1);
    free(path);
    return rc;
}

static int exit_code(int rc)
{
    switch (rc) {
    case TASKFARM_OK:
        return TF_EXIT_OK;
    case TASKFARM_EFAILED:
        return TF_EXIT_TASKS;
    case TASKFARM_EINVAL:
    case TASKFARM_EEXIST:
        return TF_EXIT_USAGE;
    case TASKFARM_EINCOMPLETE:
        return TF_EXIT_INCOMPLETE;
    default:
        return TF_EXIT_INTERNAL;
    }
}

static void print_summary(const struct tf_config *cfg, const struct taskfarm_summary *s)
{
    double rate = s->seconds > 0 ? (double)(s->items) / s->seconds : 0;
    printf("taskfarm: %llu items of %s in %.3f s (%.3g items/s) on %d thread%s of %d "
           "process%s: %llu done, %llu failed, %llu not run -> %s\n",
           (unsigned long long)s->items, cfg->plugin_fn, s->seconds, rate, s->threads,
           s->threads == 1 ? "" : "s", s->workers, s->workers == 1 ? "" : "es",
           (unsigned long long)s->done, (unsigned long long)s->failed,
           (unsigned long long)s->not_run, s->output ? s->output : "-");
    fflush(stdout);
}

int tf_plugin_run(const struct tf_config *cfg)
{
    void *lib = NULL;
    taskfarm_fn fn = NULL;
    setup_fn setup = NULL;
    struct taskfarm_map *map = NULL;
    int code = load(cfg, &lib, &fn, &setup);
    if (code == TF_EXIT_OK && taskfarm_map_new(&map) != TASKFARM_OK)
        code = fail("%s%s", "out of memory", "");
    int rc = TASKFARM_OK;
    if (code == TF_EXIT_OK) {
        rc = taskfarm_map_set_function(map, fn, NULL);
        if (rc == TASKFARM_OK)
            rc = set_items(map, cfg->items);
        if (rc == TASKFARM_OK)
            rc = taskfarm_map_output(map, cfg->output,
                                     cfg->force ? TASKFARM_OVERWRITE
                                                : (cfg->resume ? TASKFARM_RESUME : 0));
        map->journal = !cfg->no_journal;
        if (rc == TASKFARM_OK && cfg->jobs > 0)
            rc = taskfarm_map_threads(map, cfg->jobs);
        if (rc == TASKFARM_OK) /* --worker-timeout, --lost-after */
            rc = taskfarm_map_worker_loss(map, cfg->worker_timeout, cfg->lost_after);
        taskfarm_map_describe(map, "command_line", cfg->command_line);
        taskfarm_map_describe(map, "plugin", cfg->plugin_lib);
        taskfarm_map_describe(map, "function", cfg->plugin_fn);
        if (rc == TASKFARM_OK && (rc = setup(map, cfg->plugin_arg)) != 0 && map->err[0] == '\0')
            tf_map_fail(map, TASKFARM_EINVAL, "%s_setup returned %d", cfg->plugin_fn, rc);
        if (rc != TASKFARM_OK)
            code = fail("plugin %s: %s", cfg->plugin_fn, taskfarm_map_error(map));
    }
    if (code == TF_EXIT_OK) {
        struct taskfarm_summary s;
        rc = taskfarm_map_run(map, &s);
        code = exit_code(rc);
        if (s.rank == 0 && rc != TASKFARM_OK)
            fprintf(stderr, "taskfarm: %s: %s\n", rc == TASKFARM_EFAILED ? "warning" : "error",
                    taskfarm_map_error(map));
        if (s.rank == 0 &&
            (rc == TASKFARM_OK || rc == TASKFARM_EFAILED || rc == TASKFARM_EINCOMPLETE))
            print_summary(cfg, &s);
    }
    taskfarm_map_free(map);
    /* The library stays loaded: Open MPI or HDF5 may still hold pointers into it. */
    (void)lib;
    return code;
}
