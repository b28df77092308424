/* merge.c - `taskfarm merge`: the result files of the slices of one task file (--slice I/N,
 * one per job-array element) joined into one, as if one run had done them all: row i is
 * task i of the whole file.
 */
#include "merge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "h5out.h"
#include "log.h"
#include "util.h"
#include "writes.h"

#define COPY_ROWS 4096

struct part {
    const char *path;
    struct tf_h5out_info info;
    uint64_t index, count; /* its slice I/N */
};

static int refuse(const char *fmt, const char *a, const char *b)
{
    char msg[2048];
    snprintf(msg, sizeof msg, fmt, a, b);
    tf_print_error("%s", msg);
    return TF_EXIT_USAGE;
}

static int by_index(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The rows a part says it holds are the rows its slice holds: slice I/N of T tasks starts
 * at T*I/N and ends before T*(I+1)/N (farm.c's arithmetic). Else its rows would land in
 * the wrong places (D5), or past the end (W2). */
static int check_slice_rows(const struct part *p)
{
    char msg[2048];
    unsigned __int128 t = p->info.taskfile_ntasks;
    if (p->count == 0 || p->index >= p->count) {
        snprintf(msg, sizeof msg, "%s: slice '%s' is not a slice I/N with I < N", p->path,
                 p->info.slice);
        tf_print_error("%s", msg);
        return TF_EXIT_USAGE;
    }
    uint64_t lo = (uint64_t)(t * p->index / p->count),
             hi = (uint64_t)(t * (p->index + 1) / p->count);
    if (p->info.first_task == lo && p->info.ntasks == hi - lo)
        return 0;
    snprintf(msg, sizeof msg,
             "%s does not hold what slice %s of %llu tasks holds: first_task %llu and %llu tasks, "
             "where the slice is tasks %llu to %llu (%llu tasks)",
             p->path, p->info.slice, (unsigned long long)p->info.taskfile_ntasks,
             (unsigned long long)p->info.first_task, (unsigned long long)p->info.ntasks,
             (unsigned long long)lo, (unsigned long long)(hi ? hi - 1 : 0),
             (unsigned long long)(hi - lo));
    tf_print_error("%s", msg);
    return TF_EXIT_USAGE;
}

/* Every part read, a slice of the same task file, each slice once, none missing, none the
 * output (merging writes a new file first, but the output then replaces the part). */
static int check_parts(const struct tf_merge_args *a, struct part *p, int n)
{
    char err[1200];
    for (int i = 0; i < n; i++) {
        if (!tf_writes_not_input(a->output, p[i].path, "a merge part", err, sizeof err))
            return refuse("%s%s", err, "");
        if (tf_h5out_inspect(p[i].path, &p[i].info, err, sizeof err) != TF_OK)
            return refuse("%s%s", err, "");
        if (sscanf(p[i].info.slice, "%lu/%lu", &p[i].index, &p[i].count) != 2)
            return refuse("%s holds no --slice of a task file%s: nothing to merge", p[i].path, "");
        int code = check_slice_rows(&p[i]);
        if (code != 0)
            return code;
        if (!p[i].info.closed)
            return refuse("%s: its run did not close it (still running, or killed): finish it "
                          "with --resume%s first",
                          p[i].path, "");
        if (strcmp(p[i].info.taskfile_sha256, p[0].info.taskfile_sha256) != 0 ||
            p[i].info.taskfile_ntasks != p[0].info.taskfile_ntasks || p[i].count != p[0].count)
            return refuse("%s and %s are slices of different task files (or of different "
                          "slicings)",
                          p[0].path, p[i].path);
    }
    qsort(p, (size_t)n, sizeof *p, by_index);
    uint64_t next = 0;
    for (int i = 0; i < n; i++, next++) {
        char want[48];
        snprintf(want, sizeof want, "%lu/%lu", (unsigned long)next, (unsigned long)p[0].count);
        if (p[i].index < next)
            return refuse("slice %s is given twice (%s)", p[i].info.slice, p[i].path);
        if (p[i].index > next)
            return refuse("slice %s is missing (the next given is %s)", want, p[i].path);
    }
    if (next != p[0].count) {
        char want[48];
        snprintf(want, sizeof want, "%lu/%lu", (unsigned long)next, (unsigned long)p[0].count);
        return refuse("slice %s is missing%s", want, "");
    }
    return 0;
}

/* Rows of one part into the merged file, at its slice's place. */
static enum tf_status copy_part(struct tf_h5out *h, const struct part *p)
{
    struct tf_result *rows = tf_xcalloc(COPY_ROWS, sizeof *rows);
    char **cmds = tf_xcalloc(COPY_ROWS, sizeof *cmds);
    enum tf_status st = TF_OK;
    for (uint64_t at = 0; at < p->info.ntasks && st == TF_OK; at += COPY_ROWS) {
        size_t n = p->info.ntasks - at < COPY_ROWS ? (size_t)(p->info.ntasks - at) : COPY_ROWS;
        st = tf_h5out_read_rows(p->path, at, n, rows, cmds);
        for (size_t i = 0; i < n && st == TF_OK; i++) {
            struct tf_task t = {.id = p->info.first_task + at + i,
                                .line = rows[i].line,
                                .command = cmds[i],
                                .command_len = strlen(cmds[i])};
            rows[i].id = t.id;
            st = tf_h5out_put_command(h, &t);
            if (st == TF_OK)
                st = tf_h5out_put_result(h, &rows[i], rows[i].host);
        }
        for (size_t i = 0; i < n; i++) {
            tf_result_fini(&rows[i]);
            free(cmds[i]);
            cmds[i] = NULL;
        }
    }
    free(rows);
    free(cmds);
    return st;
}

/* slurm_job_ids of every part, in slice order: an array job's elements. */
static void join_job_ids(const struct part *p, int n, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < n && at < len; i++)
        if (p[i].info.slurm_job_ids[0]) {
            int w = snprintf(out + at, len - at, "%s%s", at ? "," : "", p[i].info.slurm_job_ids);
            at += w > 0 ? (size_t)w : 0;
        }
}

static int write_merged(const struct tf_merge_args *a, struct part *p, int n)
{
    char err[1200], reason[96], ids[4096];
    double start = p[0].info.start_time, end = p[0].info.end_time;
    for (int i = 1; i < n; i++) {
        start = p[i].info.start_time < start ? p[i].info.start_time : start;
        end = p[i].info.end_time > end ? p[i].info.end_time : end;
    }
    snprintf(reason, sizeof reason, "merged from %d slices", n);
    struct tf_run_meta meta = {.version = TF_VERSION,
                               .run_id = p[0].info.run_id,
                               .command_line = a->command_line,
                               .taskfile = p[0].info.taskfile,
                               .taskfile_sha256 = p[0].info.taskfile_sha256,
                               .mode = "merged",
                               .mode_reason = reason,
                               .order = "file order",
                               .master_host = "",
                               .nworkers = 0,
                               .ntasks = p[0].info.taskfile_ntasks,
                               .capture_bytes = p[0].info.capture_bytes,
                               .start_time = start};
    struct tf_h5out *h;
    /* Written beside the output under a new name, put in its place only when whole: a
     * failed merge leaves an existing output as it was. Through a symlink, the file it
     * points to is replaced. */
    char *target = tf_writes_target(a->output), *tmp = tf_temp_name_for(target);
    tf_writes_remove_on_signal(tmp);
    if (tf_h5out_create(tmp, false, &meta, &h, err, sizeof err) != TF_OK) {
        free(target);
        free(tmp);
        return refuse("%s%s", err, "");
    }
    enum tf_status st = TF_OK;
    for (int i = 0; i < n && st == TF_OK; i++)
        st = copy_part(h, &p[i]);
    join_job_ids(p, n, ids, sizeof ids);
    if (st == TF_OK && ids[0])
        st = tf_h5out_note_str(h, "slurm_job_ids", ids);
    int64_t slots = 0; /* the parts' slots together: status measures how busy they were */
    for (int i = 0; i < n; i++)
        slots += p[i].info.nslots > 0 ? p[i].info.nslots : 1;
    if (st == TF_OK)
        st = tf_h5out_note_i64(h, "nslots", slots);
    uint64_t counts[TF_TASK_STATUS_COUNT] = {0};
    bool closed = tf_h5out_close(h, end, counts) == TF_OK && st == TF_OK;
    bool placed = closed && tf_writes_place(tmp, target, a->force) == 0;
    int why = errno;
    if (!placed)
        unlink(tmp);
    tf_writes_forget();
    free(tmp);
    free(target);
    if (closed && !placed && why == EEXIST)
        return refuse("output file '%s' appeared while merging; it was left as it is%s", a->output,
                      "");
    if (!placed) {
        char msg[1400];
        snprintf(msg, sizeof msg, "merging into %s failed%s%s; %s", a->output, closed ? ": " : "",
                 closed ? strerror(why) : "", "nothing was written over it");
        tf_print_error("%s", msg);
        return TF_EXIT_INTERNAL;
    }
    char text[256];
    tf_task_counts_text(counts, text, sizeof text);
    printf("%s: %llu tasks from %d slices: %s\n", a->output, (unsigned long long)meta.ntasks, n,
           text);
    if (counts[TF_TASK_NOT_RUN] > 0)
        return TF_EXIT_INCOMPLETE;
    return counts[TF_TASK_SUCCEEDED] == meta.ntasks ? TF_EXIT_OK : TF_EXIT_TASKS;
}

int tf_merge_run(const struct tf_merge_args *a)
{
    struct part *p = tf_xcalloc((size_t)a->nparts, sizeof *p);
    for (int i = 0; i < a->nparts; i++)
        p[i].path = a->parts[i];
    char err[1200];
    int code = 0;
    if (!tf_writes_check_output(a->output, err, sizeof err) ||
        !tf_writes_check_names(a->output, NULL, 0, err, sizeof err) ||
        !tf_writes_check_dir(a->output, err, sizeof err))
        code = refuse("%s%s", err, "");
    else if (!a->force && access(a->output, F_OK) == 0)
        code = refuse("output file '%s' exists; use --force to overwrite it%s", a->output, "");
    else if (access(a->output, F_OK) == 0 && access(a->output, W_OK) != 0)
        code = refuse("output file '%s' is not writable: %s", a->output, strerror(errno));
    if (code == 0)
        code = check_parts(a, p, a->nparts);
    if (code == 0)
        code = write_merged(a, p, a->nparts);
    free(p);
    return code;
}
