/* mix.c - the classic map: a pure function of the index over items 0..N-1.
 *
 *   mpirun -n 3 taskfarm run --plugin build/plugins/libmix.so:mix --items 1000000 -o mix.h5
 *
 * f(i) is the integer mix of the peers' benchmark (about 150 ns); the result, one uint64 per
 * item, goes to /results/mix, row i = f(i).
 */
#include <stdint.h>

#include "taskfarm.h"

int mix(const void *item, void *result, void *user);
int mix_setup(struct taskfarm_map *map, const char *arg);

int mix(const void *item, void *result, void *user)
{
    (void)user;
    uint64_t x = *(const uint64_t *)item;
    for (int r = 0; r < 96; r++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        x ^= x >> 29;
    }
    *(uint64_t *)result = x;
    return 0;
}

/* Called once on every rank before the run: declares what a result is. */
int mix_setup(struct taskfarm_map *map, const char *arg)
{
    (void)arg;
    static const struct taskfarm_field value = TASKFARM_SCALAR(TASKFARM_UINT64);
    taskfarm_map_thread_safe(map); /* a pure function of its item: any number of threads */
    return taskfarm_map_result(map, "mix", sizeof(uint64_t), &value, 1);
}
