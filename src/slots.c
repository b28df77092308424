/* slots.c - the cores and GPUs of each worker's tasks: the plan (plain C, every rank
 * computes the same one from the same gathered data), and reading and applying this
 * process's own share. No MPI here.
 */
#include "slots.h"

#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS (TF_MAX_CPUS / 64)

static bool has_cpu(const uint64_t *m, int c)
{
    return (m[c / 64] >> (c % 64)) & 1u;
}

static void add_cpu(uint64_t *m, int c)
{
    m[c / 64] |= (uint64_t)1 << (c % 64);
}

static int count_cpus(const uint64_t *m)
{
    int n = 0;
    for (int w = 0; w < WORDS; w++)
        n += __builtin_popcountll(m[w]);
    return n;
}

/* The node's cores: the union of its ranks' masks. */
static void node_union(const struct tf_rank_res *all, int nranks, int node, uint64_t *u)
{
    memset(u, 0, WORDS * sizeof *u);
    for (int r = 0; r < nranks; r++)
        if (all[r].node == node)
            for (int w = 0; w < WORDS; w++)
                u[w] |= all[r].cpus[w];
}

/* Slot j of a node: its j-th run of k cores, counted in core order. */
static void slot_cpus(const uint64_t *u, int j, int k, struct tf_slot *s)
{
    int seen = 0;
    s->ncpus = 0;
    memset(s->cpus, 0, sizeof s->cpus);
    for (int c = 0; c < TF_MAX_CPUS; c++)
        if (has_cpu(u, c) && seen++ >= j * k && s->ncpus < k) {
            add_cpu(s->cpus, c);
            s->ncpus++;
        }
}

static int node_slots(const struct tf_rank_res *first, const uint64_t *u, int k, int g)
{
    int ncores = count_cpus(u);
    int n = ncores >= k ? ncores / k : 1;
    if (g > 0 && first->ngpus / g < n)
        n = first->ngpus / g;
    return n;
}

int tf_slots_plan(const struct tf_rank_res *all, int nranks, int cores_per_task, int gpus_per_task,
                  struct tf_slot *out, char *err, size_t errlen)
{
    int k = cores_per_task < 1 ? 1 : cores_per_task, g = gpus_per_task, active = 0;
    uint64_t u[WORDS];
    for (int r = 0; r < nranks; r++) {
        struct tf_slot *s = &out[r];
        memset(s, 0, sizeof *s);
        s->local = -1;
        if (r == 0 && nranks > 1)
            continue;               /* the master runs no tasks */
        int first = -1, before = 0; /* the node's lowest rank; workers of the node before r */
        for (int q = 0; q < r; q++)
            if (all[q].node == all[r].node) {
                if (first < 0)
                    first = q;
                before += q != 0 || nranks == 1;
            }
        node_union(all, nranks, all[r].node, u);
        memcpy(s->node_cpus, u, sizeof u);
        if (before >= node_slots(&all[first < 0 ? r : first], u, k, g))
            continue;
        s->active = true;
        s->local = before;
        slot_cpus(u, before, k, s);
        s->gpu_first = before * g;
        s->ngpus = g;
        active++;
    }
    if (active == 0 && err)
        snprintf(err, errlen,
                 "--gpus-per-task %d: no node has %d GPU%s for a worker (CUDA_VISIBLE_DEVICES, "
                 "/dev/nvidia*)",
                 g, g, g == 1 ? "" : "s");
    return active;
}

/* CUDA_VISIBLE_DEVICES as Slurm or the site set it; unset: the /dev/nvidiaN devices. */
static int gpu_devices(char names[][16], int max)
{
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    int n = 0;
    if (v) {
        if (strcmp(v, "NoDevFiles") == 0)
            return 0;
        while (*v && n < max) {
            size_t len = strcspn(v, ",");
            if (len > 0 && len < 16)
                snprintf(names[n++], 16, "%.*s", (int)len, v);
            v += len + (v[len] == ',');
        }
        return n;
    }
    DIR *d = opendir("/dev");
    if (!d)
        return 0;
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        const char *p = e->d_name;
        if (strncmp(p, "nvidia", 6) != 0 || !isdigit((unsigned char)p[6]))
            continue;
        char *end;
        strtol(p + 6, &end, 10);
        count += *end == '\0';
    }
    closedir(d);
    for (; n < count && n < max; n++)
        snprintf(names[n], 16, "%d", n);
    return n;
}

#define MAX_GPUS 256

void tf_slots_local(struct tf_rank_res *r)
{
    char names[MAX_GPUS][16];
    memset(r, 0, sizeof *r);
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < TF_MAX_CPUS && c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                add_cpu(r->cpus, c);
    }
    r->ngpus = gpu_devices(names, MAX_GPUS);
}

bool tf_slots_gpu_list(const struct tf_slot *s, char *buf, size_t len)
{
    char names[MAX_GPUS][16];
    int n = gpu_devices(names, MAX_GPUS);
    size_t at = 0;
    buf[0] = '\0';
    for (int i = s->gpu_first; i < s->gpu_first + s->ngpus && i < n; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", at ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= len - at)
            return false;
        at += (size_t)w;
    }
    return true;
}

bool tf_slots_apply(const struct tf_slot *s, bool bind)
{
    const uint64_t *m = bind ? s->cpus : s->node_cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < TF_MAX_CPUS && c < CPU_SETSIZE; c++)
        if (has_cpu(m, c))
            CPU_SET(c, &set);
    if (CPU_COUNT(&set) == 0)
        return true; /* nothing known: leave the launcher's choice */
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

void tf_slots_cpu_text(const uint64_t *cpus, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int c = 0; c < TF_MAX_CPUS && at < len; c++) {
        if (!has_cpu(cpus, c) || (c > 0 && has_cpu(cpus, c - 1)))
            continue;
        int e = c;
        while (e + 1 < TF_MAX_CPUS && has_cpu(cpus, e + 1))
            e++;
        int w = e > c ? snprintf(buf + at, len - at, "%s%d-%d", at ? "," : "", c, e)
                      : snprintf(buf + at, len - at, "%s%d", at ? "," : "", c);
        if (w < 0)
            return;
        at += (size_t)w;
    }
}
