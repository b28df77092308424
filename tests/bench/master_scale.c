/* master_scale.c - the master's memory and speed against the number of tasks, without
 * workers: the master's own per-task path (validate and stream the task file, schedule in
 * batches for 128 workers, stage and write every row of the HDF5 file) with each task
 * "finished" at once by a synthetic result. Spawning millions of real processes would take
 * hours on two cores; this isolates what grows with N on rank 0.
 *
 *   master_scale N [DIR]   -> prints N, seconds, peak RSS (MiB), result file size (MiB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "h5out.h"
#include "scheduler.h"
#include "taskfile.h"
#include "util.h"

#define NWORKERS 128

static void write_taskfile(const char *path, uint64_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    for (uint64_t i = 0; i < n; i++)
        fprintf(f, "./simulate --household %llu --seed 42\n", (unsigned long long)i);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fprintf(stderr, "usage: master_scale N [DIR]\n"), 2;
    uint64_t n = strtoull(argv[1], NULL, 10);
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    char tasks[4096], out[4096], err[512];
    snprintf(tasks, sizeof tasks, "%s/scale-%llu.tasks", dir, (unsigned long long)n);
    snprintf(out, sizeof out, "%s/scale-%llu.h5", dir, (unsigned long long)n);
    write_taskfile(tasks, n);
    remove(out);

    double t0 = tf_monotonic();
    struct tf_taskfile_info info;
    struct tf_taskfile *tf;
    struct tf_h5out *h5;
    if (tf_taskfile_scan(tasks, &info, err, sizeof err) != TF_OK ||
        tf_taskfile_open(tasks, &tf, err, sizeof err) != TF_OK)
        return fprintf(stderr, "%s\n", err), 1;
    struct tf_sched *s = tf_sched_new(TF_MODE_POOL, info.ntasks, NWORKERS, NULL, NULL);
    const struct tf_run_meta meta = {.version = "bench",
                                     .command_line = "master_scale",
                                     .taskfile = tasks,
                                     .taskfile_sha256 = info.sha256,
                                     .mode = "pool",
                                     .mode_reason = "bench",
                                     .master_host = "",
                                     .nworkers = NWORKERS,
                                     .ntasks = info.ntasks,
                                     .start_time = tf_now()};
    if (tf_h5out_create(out, true, &meta, &h5, err, sizeof err) != TF_OK)
        return fprintf(stderr, "%s\n", err), 1;
    for (int w = 0; w < NWORKERS; w++)
        tf_sched_on_request(s, w, 1);
    struct tf_action a;
    uint64_t received[NWORKERS] = {0};
    while (tf_sched_next_action(s, &a) && a.kind == TF_ACT_ASSIGN) {
        for (uint64_t i = 0; i < a.count; i++) {
            struct tf_task t;
            bool got;
            if (tf_taskfile_next(tf, &t, &got) != TF_OK || !got ||
                tf_h5out_put_command(h5, &t) != TF_OK)
                return fprintf(stderr, "stream failed\n"), 1;
            double now = tf_now();
            struct tf_result r = {.id = t.id,
                                  .status = TF_TASK_SUCCEEDED,
                                  .exit_code = 0,
                                  .rank = a.worker + 1,
                                  .attempts = 1,
                                  .start = now,
                                  .end = now + 0.001,
                                  .out = "ok\n",
                                  .out_len = 3,
                                  .err = "",
                                  .err_len = 0};
            if (tf_h5out_put_result(h5, &r, "node001") != TF_OK)
                return fprintf(stderr, "store failed\n"), 1;
        }
        tf_sched_on_assign(s, a.worker, a.count, true);
        received[a.worker] += a.count;
        tf_sched_on_done(s, a.worker, a.count, 0.001 * (double)a.count);
        tf_sched_on_report(s, a.worker, 0, received[a.worker]);
        tf_sched_on_request(s, a.worker, 1);
    }
    uint64_t counts[TF_TASK_STATUS_COUNT] = {0, info.ntasks};
    if (!tf_sched_finished(s) || tf_h5out_close(h5, tf_now(), counts) != TF_OK)
        return fprintf(stderr, "run did not finish\n"), 1;
    double secs = tf_monotonic() - t0;
    struct rusage ru;
    struct stat st;
    getrusage(RUSAGE_SELF, &ru);
    stat(out, &st);
    printf("%12llu tasks  %8.1f s  %9.0f rows/s  peak RSS %7.1f MiB  file %8.1f MiB\n",
           (unsigned long long)n, secs, (double)n / secs, ru.ru_maxrss / 1024.0,
           (double)st.st_size / (1 << 20));
    tf_sched_free(s);
    tf_taskfile_close(tf);
    remove(tasks);
    remove(out);
    return 0;
}
