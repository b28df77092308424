/* test_slots.c - the plan of which workers run tasks on which cores and GPUs. */
#include "slots.h"
#include "tf_check.h"

/* Ranks placed on nodes by node[], each with the cores [lo[r], hi[r]). */
static void make(struct tf_rank_res *all, int n, const int *node, const int *lo, const int *hi,
                 int ngpus)
{
    memset(all, 0, (size_t)n * sizeof *all);
    for (int r = 0; r < n; r++) {
        all[r].node = node[r];
        all[r].ngpus = ngpus;
        for (int c = lo[r]; c < hi[r]; c++)
            all[r].cpus[c / 64] |= (uint64_t)1 << (c % 64);
    }
}

static int count(const uint64_t *m)
{
    int n = 0;
    for (int w = 0; w < TF_MAX_CPUS / 64; w++)
        n += __builtin_popcountll(m[w]);
    return n;
}

/* No two active slots of a node share a core or a GPU; every slot has what it asked. */
static void check_disjoint(const struct tf_rank_res *all, const struct tf_slot *s, int n, int k)
{
    for (int a = 0; a < n; a++) {
        if (!s[a].active)
            continue;
        ck_assert_int_eq(s[a].ncpus, count(s[a].cpus));
        for (int b = a + 1; b < n; b++) {
            if (!s[b].active || all[a].node != all[b].node)
                continue;
            for (int w = 0; w < TF_MAX_CPUS / 64; w++)
                ck_assert_uint_eq(s[a].cpus[w] & s[b].cpus[w], 0);
            ck_assert_int_ne(s[a].local, s[b].local);
            if (s[a].ngpus > 0)
                ck_assert(s[a].gpu_first + s[a].ngpus <= s[b].gpu_first ||
                          s[b].gpu_first + s[b].ngpus <= s[a].gpu_first);
        }
        (void)k;
    }
}

/* One 128-core node, one rank per core (mpirun binding each to its core): K = 8 leaves 16
 * slots, so 16 of the 127 workers run tasks, each on 8 cores of its own. */
START_TEST(one_node_k8)
{
    enum { N = 128 };
    struct tf_rank_res all[N];
    struct tf_slot s[N];
    int node[N], lo[N], hi[N];
    for (int r = 0; r < N; r++)
        node[r] = 0, lo[r] = r, hi[r] = r + 1;
    make(all, N, node, lo, hi, 0);
    ck_assert_int_eq(tf_slots_plan(all, N, 8, 0, s, NULL, 0), 16);
    ck_assert(!s[0].active);
    for (int r = 1; r <= 16; r++) {
        ck_assert(s[r].active);
        ck_assert_int_eq(s[r].local, r - 1);
        ck_assert_int_eq(s[r].ncpus, 8);
        ck_assert_uint_eq(s[r].cpus[(r - 1) * 8 / 64] >> ((r - 1) * 8 % 64) & 0xff, 0xff);
        ck_assert_int_eq(count(s[r].node_cpus), 128);
    }
    for (int r = 17; r < N; r++)
        ck_assert(!s[r].active);
    check_disjoint(all, s, N, 8);
}
END_TEST

/* K = 1: every worker runs (the master's core is shared: it mostly sleeps). */
START_TEST(k1_every_worker)
{
    enum { N = 9 };
    struct tf_rank_res all[N];
    struct tf_slot s[N];
    int node[N], lo[N], hi[N];
    for (int r = 0; r < N; r++) /* unbound ranks: each sees the node's 8 cores */
        node[r] = 0, lo[r] = 0, hi[r] = 8;
    make(all, N, node, lo, hi, 0);
    ck_assert_int_eq(tf_slots_plan(all, N, 1, 0, s, NULL, 0), 8);
    check_disjoint(all, s, N, 1);
}
END_TEST

/* Two nodes of 4 cores, 4 ranks each (rank 0 on node A); K = 2: two slots per node. A K that
 * does not divide the cores leaves the rest unused; K above the cores gives one slot. */
START_TEST(two_nodes_and_uneven_k)
{
    enum { N = 8 };
    struct tf_rank_res all[N];
    struct tf_slot s[N];
    int node[N] = {0, 0, 0, 0, 4, 4, 4, 4}, lo[N], hi[N];
    for (int r = 0; r < N; r++)
        lo[r] = r % 4, hi[r] = r % 4 + 1;
    make(all, N, node, lo, hi, 0);
    ck_assert_int_eq(tf_slots_plan(all, N, 2, 0, s, NULL, 0), 4);
    ck_assert(s[1].active && s[2].active && !s[3].active);
    ck_assert(s[4].active && s[5].active && !s[6].active && !s[7].active);
    ck_assert_int_eq(s[4].local, 0);
    check_disjoint(all, s, N, 2);
    ck_assert_int_eq(tf_slots_plan(all, N, 3, 0, s, NULL, 0), 2); /* one slot of 3 per node */
    ck_assert_int_eq(s[1].ncpus, 3);
    ck_assert_int_eq(tf_slots_plan(all, N, 16, 0, s, NULL, 0), 2); /* all 4 cores, once */
    ck_assert_int_eq(s[4].ncpus, 4);
    check_disjoint(all, s, N, 16);
}
END_TEST

/* GPUs cap the slots: 4 GPUs, 2 per task -> 2 slots though cores allow 8; none on a node
 * without enough GPUs, and an error when no node has them. */
START_TEST(gpus_cap_slots)
{
    enum { N = 9 };
    struct tf_rank_res all[N];
    struct tf_slot s[N];
    int node[N], lo[N], hi[N];
    for (int r = 0; r < N; r++)
        node[r] = 0, lo[r] = 0, hi[r] = 8;
    make(all, N, node, lo, hi, 4);
    ck_assert_int_eq(tf_slots_plan(all, N, 1, 2, s, NULL, 0), 2);
    ck_assert_int_eq(s[1].gpu_first, 0);
    ck_assert_int_eq(s[2].gpu_first, 2);
    ck_assert_int_eq(s[2].ngpus, 2);
    check_disjoint(all, s, N, 1);
    char err[256] = "";
    ck_assert_int_eq(tf_slots_plan(all, N, 1, 5, s, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "--gpus-per-task 5"));
}
END_TEST

/* Alone (no launcher, or -n 1), rank 0 runs the tasks and gets the first slot. */
START_TEST(alone_rank0_runs)
{
    struct tf_rank_res all[1];
    struct tf_slot s[1];
    int node[1] = {0}, lo[1] = {0}, hi[1] = {2};
    make(all, 1, node, lo, hi, 0);
    ck_assert_int_eq(tf_slots_plan(all, 1, 2, 0, s, NULL, 0), 1);
    ck_assert(s[0].active);
    ck_assert_int_eq(s[0].ncpus, 2);
}
END_TEST

/* Every worker count and K on a 2-node machine: active = min(workers, slots) per node, and
 * slots never overlap. */
START_TEST(exhaustive_small)
{
    enum { MAXN = 24 };
    struct tf_rank_res all[MAXN];
    struct tf_slot s[MAXN];
    int node[MAXN], lo[MAXN], hi[MAXN];
    for (int n = 1; n <= MAXN; n++)
        for (int k = 1; k <= 13; k++) {
            for (int r = 0; r < n; r++) /* block placement, 12 cores a node */
                node[r] = r < n / 2 + 1 ? 0 : 1, lo[r] = 0, hi[r] = 12;
            make(all, n, node, lo, hi, 0);
            int want = 0;
            for (int nd = 0; nd < 2; nd++) {
                int workers = 0;
                for (int r = 0; r < n; r++)
                    workers += node[r] == nd && (r != 0 || n == 1);
                int slots = k <= 12 ? 12 / k : 1;
                want += workers < slots ? workers : slots;
            }
            ck_assert_int_eq(tf_slots_plan(all, n, k, 0, s, NULL, 0), want);
            check_disjoint(all, s, n, k);
        }
}
END_TEST

START_TEST(cpu_text)
{
    uint64_t m[TF_MAX_CPUS / 64] = {0};
    char buf[64];
    tf_slots_cpu_text(m, buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    m[0] = 0xf | 1u << 8 | (uint64_t)3 << 62;
    m[1] = 1;
    tf_slots_cpu_text(m, buf, sizeof buf);
    ck_assert_str_eq(buf, "0-3,8,62-64");
}
END_TEST

/* GPU names come from CUDA_VISIBLE_DEVICES as the site set it (UUIDs or numbers). */
START_TEST(gpu_list_from_env)
{
    setenv("CUDA_VISIBLE_DEVICES", "GPU-a,GPU-b,5,7", 1);
    struct tf_rank_res r;
    tf_slots_local(&r);
    ck_assert_int_eq(r.ngpus, 4);
    struct tf_slot s = {.active = true, .gpu_first = 2, .ngpus = 2};
    char buf[64];
    ck_assert(tf_slots_gpu_list(&s, buf, sizeof buf));
    ck_assert_str_eq(buf, "5,7");
    s.gpu_first = 0;
    ck_assert(!tf_slots_gpu_list(&s, buf, 6)); /* "GPU-a,GPU-b" does not fit */
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    tf_slots_local(&r);
    ck_assert_int_eq(r.ngpus, 0);
    unsetenv("CUDA_VISIBLE_DEVICES");
}
END_TEST

static Suite *slots_suite(void)
{
    Suite *s = suite_create("slots");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_node_k8);
    tcase_add_test(tc, k1_every_worker);
    tcase_add_test(tc, two_nodes_and_uneven_k);
    tcase_add_test(tc, gpus_cap_slots);
    tcase_add_test(tc, alone_rank0_runs);
    tcase_add_test(tc, exhaustive_small);
    tcase_add_test(tc, cpu_text);
    tcase_add_test(tc, gpu_list_from_env);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(slots_suite)
