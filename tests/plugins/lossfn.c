/* lossfn.c - the plugin of the map worker-loss test (tests/integration/test_map_loss.py).
 *
 * value: item i (a range) -> {i, 3*i + 1} (two int64 fields).
 *   TF_TEST_SLEEP_US=u   sleeps u microseconds per item, so the map lasts long enough to kill
 *                        a rank in the middle of it.
 *   TF_TEST_PIDDIR=dir   each rank writes its pid into dir/RANK.pid on its first item (RANK
 *                        from OMPI_COMM_WORLD_RANK), so the test knows whom to kill.
 *   TF_TEST_KILLER=i     item i kills its own process (SIGKILL: nothing catches it), on
 *                        every rank but 0 (rank 0 dying ends the map; there it computes it).
 *   TF_TEST_WORKER_TIMEOUT=t  taskfarm_map_worker_loss(map, t, 2).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "taskfarm.h"

struct value_out {
    int64_t i;
    int64_t v;
};

int value(const void *item, void *result, void *user);
int value_setup(struct taskfarm_map *map, const char *arg);

static long sleep_us;
static long long killer = -1;
static int my_rank = -1;
static const char *piddir;
static volatile int pid_written;

static void write_pid(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%d.pid", piddir, my_rank);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)getpid());
        fclose(f);
    }
}

int value(const void *item, void *result, void *user)
{
    (void)user;
    uint64_t i = *(const uint64_t *)item;
    struct value_out *out = result;
    if (piddir && !pid_written) {
        pid_written = 1;
        write_pid();
    }
    if ((long long)i == killer && my_rank != 0)
        kill(getpid(), SIGKILL);
    if (sleep_us > 0) {
        struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000L};
        nanosleep(&ts, NULL);
    }
    out->i = (int64_t)i;
    out->v = 3 * (int64_t)i + 1;
    return 0;
}

int value_setup(struct taskfarm_map *map, const char *arg)
{
    (void)arg;
    const char *s = getenv("TF_TEST_SLEEP_US"), *k = getenv("TF_TEST_KILLER"),
               *r = getenv("OMPI_COMM_WORLD_RANK");
    sleep_us = s ? atol(s) : 0;
    killer = k ? atoll(k) : -1;
    my_rank = r ? atoi(r) : 0;
    piddir = getenv("TF_TEST_PIDDIR");
    static const struct taskfarm_field fields[] = {
        TASKFARM_FIELD(struct value_out, i, TASKFARM_INT64),
        TASKFARM_FIELD(struct value_out, v, TASKFARM_INT64),
    };
    const char *t = getenv("TF_TEST_WORKER_TIMEOUT");
    if (t && taskfarm_map_worker_loss(map, atof(t), 2) != TASKFARM_OK)
        return 1;
    return taskfarm_map_result(map, "value", sizeof(struct value_out), fields, 2);
}
