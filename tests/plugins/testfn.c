/* testfn.c - the plugin of the integration tests (tests/integration/test_plugin.py).
 *
 * square: item i (a range) -> {i, i*i, tag "ok"/"odd"}, a compound result.
 *   Fails (returns 7) on every item i with i % 1000 == 999.
 *   TF_TEST_CRASH=i      crashes the process (SIGSEGV) on item i.
 *   TF_TEST_SLEEP_US=u   sleeps u microseconds per item, so a test can kill a run mid-way.
 *   TF_TEST_THREAD_SAFE=1 declares it thread-safe (it is: it only reads its settings).
 * pick: items from HDF5 {id, x} -> x * 2 + id, a scalar double result; its item type names
 *   the fields it reads, so HDF5 converts whatever the file holds.
 * inflight: item i -> how many calls of it were running when this one started, itself
 *   included (an int32), after sleeping TF_TEST_SLEEP_US: 1 everywhere unless it ran on
 *   several threads at once. Declared thread-safe when TF_TEST_THREAD_SAFE=1.
 */
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskfarm.h"

struct square_out {
    int64_t i;
    double sq;
    char tag[8];
};

int square(const void *item, void *result, void *user);
int square_setup(struct taskfarm_map *map, const char *arg);
int pick(const void *item, void *result, void *user);
int pick_setup(struct taskfarm_map *map, const char *arg);
int inflight(const void *item, void *result, void *user);
int inflight_setup(struct taskfarm_map *map, const char *arg);

static long long crash_at = -1;
static long sleep_us;

int square(const void *item, void *result, void *user)
{
    (void)user;
    uint64_t i = *(const uint64_t *)item;
    struct square_out *out = result;
    if ((long long)i == crash_at)
        raise(SIGSEGV);
    if (sleep_us > 0) {
        struct timespec ts = {0, sleep_us * 1000L};
        nanosleep(&ts, NULL);
    }
    out->i = (int64_t)i;
    out->sq = (double)i * (double)i;
    strcpy(out->tag, i % 2 ? "odd" : "ok");
    return i % 1000 == 999 ? 7 : 0;
}

int square_setup(struct taskfarm_map *map, const char *arg)
{
    (void)arg;
    const char *c = getenv("TF_TEST_CRASH"), *s = getenv("TF_TEST_SLEEP_US");
    crash_at = c ? atoll(c) : -1;
    sleep_us = s ? atol(s) : 0;
    static const struct taskfarm_field f[] = {
        TASKFARM_FIELD(struct square_out, i, TASKFARM_INT64),
        TASKFARM_FIELD(struct square_out, sq, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct square_out, tag, TASKFARM_CHAR),
    };
    const char *ts = getenv("TF_TEST_THREAD_SAFE");
    if (ts && strcmp(ts, "1") == 0)
        taskfarm_map_thread_safe(map);
    return taskfarm_map_result(map, "square", sizeof(struct square_out), f, 3);
}

static int running;

int inflight(const void *item, void *result, void *user)
{
    (void)item, (void)user;
    int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
    if (sleep_us > 0) {
        struct timespec ts = {0, sleep_us * 1000L};
        nanosleep(&ts, NULL);
    }
    *(int32_t *)result = now;
    __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int inflight_setup(struct taskfarm_map *map, const char *arg)
{
    (void)arg;
    const char *s = getenv("TF_TEST_SLEEP_US"), *ts = getenv("TF_TEST_THREAD_SAFE");
    sleep_us = s ? atol(s) : 0;
    if (ts && strcmp(ts, "1") == 0)
        taskfarm_map_thread_safe(map);
    static const struct taskfarm_field out = TASKFARM_SCALAR(TASKFARM_INT32);
    return taskfarm_map_result(map, "inflight", sizeof(int32_t), &out, 1);
}

struct pick_in {
    double x;
    int32_t id;
};

int pick(const void *item, void *result, void *user)
{
    (void)user;
    const struct pick_in *p = item;
    *(double *)result = p->x * 2 + p->id;
    return 0;
}

int pick_setup(struct taskfarm_map *map, const char *arg)
{
    (void)arg;
    static const struct taskfarm_field in[] = {
        TASKFARM_FIELD(struct pick_in, x, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct pick_in, id, TASKFARM_INT32),
    };
    static const struct taskfarm_field out = TASKFARM_SCALAR(TASKFARM_DOUBLE);
    int rc = taskfarm_map_item_type(map, sizeof(struct pick_in), in, 2);
    return rc ? rc : taskfarm_map_result(map, "pick", sizeof(double), &out, 1);
}
