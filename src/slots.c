/* slots.c - the slots of every rank and the cores and GPUs of each slot: the plan (plain
 * C; every rank computes the same one from the same gathered data), and reading and
 * applying this process's own share. No MPI here.
 */
#include "slots.h"

#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has_cpu(const uint64_t *m, int c)
{
    return (m[c / 64] >> (c % 64)) & 1u;
}

static void add_cpu(uint64_t *m, int c)
{
    m[c / 64] |= (uint64_t)1 << (c % 64);
}

int tf_slots_count(const uint64_t cpus[TF_CPU_WORDS])
{
    int n = 0;
    for (int w = 0; w < TF_CPU_WORDS; w++)
        n += __builtin_popcountll(cpus[w]);
    return n;
}

/* The node's cores: the union of what its ranks were given, or of their masks when that is
 * unknown or more CPUs than Slurm gave the job there. */
static void node_cores(const struct tf_rank_res *all, int nranks, int node, uint64_t *u)
{
    uint64_t masks[TF_CPU_WORDS] = {0};
    int cap = 0;
    memset(u, 0, TF_CPU_WORDS * sizeof *u);
    for (int r = 0; r < nranks; r++)
        if (all[r].node == node) {
            for (int w = 0; w < TF_CPU_WORDS; w++) {
                u[w] |= all[r].cpuset[w];
                masks[w] |= all[r].cpus[w];
            }
            cap = all[r].cap > cap ? all[r].cap : cap;
        }
    int n = tf_slots_count(u);
    if (n == 0 || (cap > 0 && n > cap))
        memcpy(u, masks, sizeof masks);
}

/* What rank r asks for before GPUs cap it: -j, or its share of the node's slots. */
static int wanted(const struct tf_slot_ask *ask, int node_cores, int ranks_here, int index_here)
{
    if (ask->jobs > 0)
        return ask->jobs;
    int k = ask->cores_per_task > 0 ? ask->cores_per_task : 1;
    int slots = node_cores >= k ? node_cores / k : 1;
    int share = slots / ranks_here + (index_here < slots % ranks_here);
    bool strict = ask->cores_per_task > 0 || ask->gpus_per_task > 0;
    return share > 0 || strict ? share : 1;
}

int tf_slots_plan(const struct tf_rank_res *all, int nranks, int me, const struct tf_slot_ask *ask,
                  int *slots_of, struct tf_rank_plan *mine, char *err, size_t errlen)
{
    int g = ask->gpus_per_task, total = 0;
    memset(mine, 0, sizeof *mine);
    for (int r = 0; r < nranks; r++) {
        uint64_t u[TF_CPU_WORDS];
        int ranks_here = 0, index_here = 0, before = 0, first = -1;
        for (int q = 0; q < nranks; q++)
            if (all[q].node == all[r].node) {
                first = first < 0 ? q : first;
                index_here += q < r;
                ranks_here++;
            }
        if (ask->launched)
            node_cores(all, nranks, all[r].node, u);
        else
            memcpy(u, all[r].cpus, sizeof u);
        int ncores = tf_slots_count(u);
        for (int q = first; q < r; q++) /* slots of the node's ranks before r */
            if (all[q].node == all[r].node)
                before += slots_of[q];
        int n = wanted(ask, ncores, ranks_here, index_here);
        if (g > 0) { /* each slot its own G GPUs: the node has so many slots and no more */
            int cap = all[first].ngpus / g - before;
            n = n < cap ? n : (cap > 0 ? cap : 0);
        }
        slots_of[r] = n;
        total += n;
        if (r == me) {
            int k = ask->cores_per_task > 0 ? ask->cores_per_task : 1;
            mine->nslots = n;
            mine->first = before;
            mine->cores_per_slot = k < ncores || ncores == 0 ? k : ncores;
            memcpy(mine->node_cpus, u, sizeof u);
        }
    }
    for (int r = 0; r < nranks; r++)
        if (all[r].node == all[me].node)
            mine->node_slots += slots_of[r];
    if (total == 0 && err)
        snprintf(err, errlen,
                 "--gpus-per-task %d: no node has %d GPU%s for a task (CUDA_VISIBLE_DEVICES, "
                 "/dev/nvidia*)",
                 g, g, g == 1 ? "" : "s");
    return total;
}

void tf_slots_cpus(const struct tf_rank_plan *mine, int j, uint64_t cpus[TF_CPU_WORDS])
{
    int ncores = tf_slots_count(mine->node_cpus), k = mine->cores_per_slot;
    memset(cpus, 0, TF_CPU_WORDS * sizeof *cpus);
    if (ncores == 0)
        return;
    int from = ((mine->first + j) * k) % ncores;
    for (int c = 0, seen = 0; c < TF_MAX_CPUS; c++) {
        if (!has_cpu(mine->node_cpus, c))
            continue;
        int pos = (seen++ - from + ncores) % ncores; /* this core's place after `from` */
        if (pos < k)
            add_cpu(cpus, c);
    }
}

/* ---- this process ----------------------------------------------------------------------- */

bool tf_slots_parse_cpus(const char *text, uint64_t cpus[TF_CPU_WORDS])
{
    memset(cpus, 0, TF_CPU_WORDS * sizeof *cpus);
    const char *p = text;
    while (*p && *p != '\n') {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (end == p || lo < 0)
            return false;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || hi < lo)
                return false;
        }
        for (long c = lo; c <= hi && c < TF_MAX_CPUS; c++)
            add_cpu(cpus, (int)c);
        p = end + (*end == ',');
        if (*end != ',' && *end != '\0' && *end != '\n')
            return false;
    }
    return true;
}

/* The first line of a small file, "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (f && fgets(buf, (int)len, f) == NULL)
        buf[0] = '\0';
    if (f)
        fclose(f);
}

static void mask_of(pid_t pid, uint64_t cpus[TF_CPU_WORDS])
{
    cpu_set_t set;
    CPU_ZERO(&set);
    memset(cpus, 0, TF_CPU_WORDS * sizeof *cpus);
    if (sched_getaffinity(pid, sizeof set, &set) == 0)
        for (int c = 0; c < TF_MAX_CPUS && c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set))
                add_cpu(cpus, c);
}

/* The cpuset of this process's cgroup (v2 unified, else v1's cpuset hierarchy). */
static void cgroup_cpuset(uint64_t cpus[TF_CPU_WORDS])
{
    char line[4096], path[4200], text[8192];
    memset(cpus, 0, TF_CPU_WORDS * sizeof *cpus);
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n'), *c1 = strchr(line, ':'),
             *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (nl)
            *nl = '\0';
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        const char *controllers = c1 + 1, *rel = c2 + 1;
        if (*controllers == '\0')
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpuset.cpus.effective", rel);
        else if (strstr(controllers, "cpuset"))
            snprintf(path, sizeof path, "/sys/fs/cgroup/cpuset%s/cpuset.cpus", rel);
        else
            continue;
        read_line(path, text, sizeof text);
        if (text[0] && tf_slots_parse_cpus(text, cpus) && tf_slots_count(cpus) > 0)
            break;
        memset(cpus, 0, TF_CPU_WORDS * sizeof *cpus);
    }
    fclose(f);
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
    uint64_t cgroup[TF_CPU_WORDS];
    memset(r, 0, sizeof *r);
    mask_of(0, r->cpus);
    /* mpirun, orted or slurmstepd: it binds the ranks it starts, never itself */
    mask_of(getppid(), r->cpuset);
    cgroup_cpuset(cgroup);
    for (int w = 0; w < TF_CPU_WORDS && tf_slots_count(cgroup) > 0; w++)
        r->cpuset[w] &= cgroup[w];
    const char *on_node = getenv("SLURM_CPUS_ON_NODE");
    r->cap = on_node ? atoi(on_node) : 0;
    r->ngpus = gpu_devices(names, MAX_GPUS);
}

bool tf_slots_gpu_list(int first, int n, char *buf, size_t len)
{
    char names[MAX_GPUS][16];
    int have = gpu_devices(names, MAX_GPUS);
    size_t at = 0;
    buf[0] = '\0';
    for (int i = first; i < first + n && i < have; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", at ? "," : "", names[i]);
        if (w < 0 || (size_t)w >= len - at)
            return false;
        at += (size_t)w;
    }
    return true;
}

bool tf_slots_unbind(const struct tf_rank_plan *mine)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < TF_MAX_CPUS && c < CPU_SETSIZE; c++)
        if (has_cpu(mine->node_cpus, c))
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
