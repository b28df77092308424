/* map_range.c - libtaskfarm from a program of your own: f(i) for i in 0..N-1 over the ranks
 * of an MPI job, the results in OUT.h5:/results/f and, on rank 0, in memory.
 *
 *   cmake -S jobs/library -B build-lib -DCMAKE_PREFIX_PATH=$PREFIX && cmake --build build-lib
 *   mpirun -n 4 build-lib/map_range 1000000 f.h5        (or without mpirun: one process)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <taskfarm.h>

static int f(const void *item, void *result, void *user)
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

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    const char *out = argc > 2 ? argv[2] : "f.h5";
    uint64_t *results = malloc(n * sizeof *results); /* used on rank 0 only */
    static const struct taskfarm_field value = TASKFARM_SCALAR(TASKFARM_UINT64);
    struct taskfarm_map *map;
    struct taskfarm_summary s;
    int rc = taskfarm_map_new(&map);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_set_function(map, f, NULL);
    if (rc == TASKFARM_OK) /* f is a pure function of its item: every core of each process */
        rc = taskfarm_map_thread_safe(map);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_items_range(map, n);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_result(map, "f", sizeof(uint64_t), &value, 1);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_output(map, out, TASKFARM_OVERWRITE);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_results_buffer(map, results);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_run(map, &s);
    if (rc != TASKFARM_OK) {
        fprintf(stderr, "map_range: %s: %s\n", taskfarm_strerror(rc), taskfarm_map_error(map));
    } else if (s.rank == 0) {
        uint64_t x = 0;
        for (uint64_t i = 0; i < n; i++)
            x ^= results[i];
        printf("map_range: %llu items in %.3f s on %d threads of %d processes, xor %#llx -> %s\n",
               (unsigned long long)n, s.seconds, s.threads, s.workers, (unsigned long long)x,
               s.output);
    }
    taskfarm_map_free(map);
    free(results);
    taskfarm_finalize();
    return rc == TASKFARM_OK ? 0 : 1;
}
