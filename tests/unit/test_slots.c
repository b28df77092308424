/* test_slots.c - the plan of how many tasks each rank runs at once, and on which cores and
 * GPUs each slot's tasks run. */
#include "slots.h"
#include "tf_check.h"

static void set_range(uint64_t *m, int lo, int hi)
{
    for (int c = lo; c < hi; c++)
        m[c / 64] |= (uint64_t)1 << (c % 64);
}

/* Ranks placed on nodes by node[], each with the affinity [lo[r], hi[r]) and no cpuset. */
static void make(struct tf_rank_res *all, int n, const int *node, const int *lo, const int *hi,
                 int ngpus)
{
    memset(all, 0, (size_t)n * sizeof *all);
    for (int r = 0; r < n; r++) {
        all[r].node = node[r];
        all[r].ngpus = ngpus;
        set_range(all[r].cpus, lo[r], hi[r]);
    }
}

static struct tf_slot_ask launched_k(int k)
{
    return (struct tf_slot_ask){.cores_per_task = k, .launched = true};
}

/* Slots of the same node never share a core, when the node has a core per slot. */
static void check_disjoint(const struct tf_rank_res *all, int n, const struct tf_slot_ask *ask)
{
    int slots_of[64];
    struct tf_rank_plan p[64];
    for (int r = 0; r < n; r++)
        tf_slots_plan(all, n, r, ask, slots_of, &p[r], NULL, 0);
    for (int a = 0; a < n; a++)
        for (int i = 0; i < p[a].nslots; i++) {
            uint64_t ca[TF_CPU_WORDS];
            tf_slots_cpus(&p[a], i, ca);
            ck_assert_int_eq(tf_slots_count(ca), p[a].cores_per_slot);
            for (int b = a; b < n; b++)
                for (int j = 0; j < p[b].nslots; j++) {
                    if (all[a].node != all[b].node || (a == b && j <= i))
                        continue;
                    uint64_t cb[TF_CPU_WORDS];
                    tf_slots_cpus(&p[b], j, cb);
                    for (int w = 0; w < TF_CPU_WORDS; w++)
                        ck_assert_uint_eq(ca[w] & cb[w], 0);
                }
        }
}

/* One 128-core node, one rank per core (mpirun binding each to its core): K = 8 leaves 16
 * slots, one each for ranks 0..15, each on 8 cores of its own; the rest run nothing. */
START_TEST(one_rank_per_core_k8)
{
    enum { N = 128 };
    static struct tf_rank_res all[N];
    int node[N], lo[N], hi[N], slots_of[N];
    for (int r = 0; r < N; r++)
        node[r] = 0, lo[r] = r, hi[r] = r + 1;
    make(all, N, node, lo, hi, 0);
    struct tf_slot_ask ask = launched_k(8);
    struct tf_rank_plan p;
    ck_assert_int_eq(tf_slots_plan(all, N, 5, &ask, slots_of, &p, NULL, 0), 16);
    for (int r = 0; r < N; r++)
        ck_assert_int_eq(slots_of[r], r < 16 ? 1 : 0);
    ck_assert_int_eq(p.nslots, 1);
    ck_assert_int_eq(p.first, 5);
    ck_assert_int_eq(p.node_slots, 16);
    ck_assert_int_eq(tf_slots_count(p.node_cpus), 128);
    uint64_t c[TF_CPU_WORDS];
    tf_slots_cpus(&p, 0, c);
    ck_assert_uint_eq(c[0] >> 40 & 0xff, 0xff);
    ck_assert_int_eq(tf_slots_count(c), 8);
}
END_TEST

/* One rank per node: every core of the node, whatever binding the launcher applied, when
 * the allocation's cpuset is known; K = 1 by default. */
START_TEST(one_rank_per_node_takes_the_node)
{
    struct tf_rank_res all[2];
    int node[2] = {0, 1}, lo[2] = {0, 0}, hi[2] = {1, 1}, slots_of[2];
    make(all, 2, node, lo, hi, 0); /* bound to core 0 each */
    set_range(all[0].cpuset, 0, 128);
    set_range(all[1].cpuset, 0, 64);
    struct tf_slot_ask ask = {.launched = true};
    struct tf_rank_plan p;
    ck_assert_int_eq(tf_slots_plan(all, 2, 1, &ask, slots_of, &p, NULL, 0), 192);
    ck_assert_int_eq(slots_of[0], 128);
    ck_assert_int_eq(slots_of[1], 64);
    ck_assert_int_eq(p.nslots, 64);
    ck_assert_int_eq(p.first, 0);
    ask.cores_per_task = 4; /* 16 tasks of 4 cores on the 64-core node */
    ck_assert_int_eq(tf_slots_plan(all, 2, 1, &ask, slots_of, &p, NULL, 0), 32 + 16);
    ck_assert_int_eq(p.nslots, 16);
    ck_assert_int_eq(p.cores_per_slot, 4);
    /* no cpuset known: the masks are all there is */
    memset(all[1].cpuset, 0, sizeof all[1].cpuset);
    ask.cores_per_task = 0;
    ck_assert_int_eq(tf_slots_plan(all, 2, 1, &ask, slots_of, &p, NULL, 0), 128 + 1);
    /* Slurm says the job has 16 CPUs on node 0, fewer than its cpuset (a node shared with no
     * cgroup confinement): the ranks' own masks (srun bound them to their CPUs) */
    all[0].cap = 16;
    ck_assert_int_eq(tf_slots_plan(all, 2, 1, &ask, slots_of, &p, NULL, 0), 1 + 1);
    all[0].cap = 128;
    ck_assert_int_eq(tf_slots_plan(all, 2, 1, &ask, slots_of, &p, NULL, 0), 128 + 1);
}
END_TEST

/* The node's slots shared out among its ranks in rank order; without K at least one each,
 * so more ranks than cores (oversubscribed tests, one rank per core) keep one slot a rank. */
START_TEST(shares_among_ranks)
{
    struct tf_rank_res all[8];
    int node[8] = {0, 0, 0, 1, 1, 1, 1, 1}, lo[8] = {0}, hi[8] = {8, 8, 8, 2, 2, 2, 2, 2};
    int slots_of[8];
    make(all, 8, node, lo, hi, 0);
    struct tf_slot_ask ask = {.launched = true};
    struct tf_rank_plan p;
    ck_assert_int_eq(tf_slots_plan(all, 8, 4, &ask, slots_of, &p, NULL, 0), 3 + 3 + 2 + 5);
    ck_assert_int_eq(slots_of[0], 3);
    ck_assert_int_eq(slots_of[1], 3);
    ck_assert_int_eq(slots_of[2], 2);
    for (int r = 3; r < 8; r++)
        ck_assert_int_eq(slots_of[r], 1);
    ck_assert_int_eq(p.first, 1);
    ck_assert_int_eq(p.node_slots, 5);
    /* K = 2 on the 2-core node: one slot there, rank 3's; the others run nothing */
    ask.cores_per_task = 2;
    tf_slots_plan(all, 8, 4, &ask, slots_of, &p, NULL, 0);
    ck_assert_int_eq(slots_of[0] + slots_of[1] + slots_of[2], 4);
    ck_assert_int_eq(slots_of[3], 1);
    for (int r = 4; r < 8; r++)
        ck_assert_int_eq(slots_of[r], 0);
    ck_assert_int_eq(p.nslots, 0);
    /* -j: every rank as many as asked, whatever its cores */
    ask = (struct tf_slot_ask){.jobs = 16, .launched = true};
    ck_assert_int_eq(tf_slots_plan(all, 8, 4, &ask, slots_of, &p, NULL, 0), 8 * 16);
    ck_assert_int_eq(p.first, 16);
}
END_TEST

/* No launcher: the process's own mask, not the cgroup's cpuset (taskset narrows a run). */
START_TEST(alone_uses_its_own_mask)
{
    struct tf_rank_res all[1];
    int node[1] = {0}, lo[1] = {2}, hi[1] = {6}, slots_of[1];
    make(all, 1, node, lo, hi, 0);
    set_range(all[0].cpuset, 0, 16);
    struct tf_slot_ask ask = {0};
    struct tf_rank_plan p;
    ck_assert_int_eq(tf_slots_plan(all, 1, 0, &ask, slots_of, &p, NULL, 0), 4);
    uint64_t c[TF_CPU_WORDS];
    tf_slots_cpus(&p, 3, c);
    ck_assert_uint_eq(c[0], (uint64_t)1 << 5);
    ask.cores_per_task = 3;
    ck_assert_int_eq(tf_slots_plan(all, 1, 0, &ask, slots_of, &p, NULL, 0), 1);
    ask.cores_per_task = 16; /* more than it has: one slot of all of them */
    ck_assert_int_eq(tf_slots_plan(all, 1, 0, &ask, slots_of, &p, NULL, 0), 1);
    ck_assert_int_eq(p.cores_per_slot, 4);
    /* -j above the cores: slots wrap round the cores */
    ask = (struct tf_slot_ask){.jobs = 6};
    ck_assert_int_eq(tf_slots_plan(all, 1, 0, &ask, slots_of, &p, NULL, 0), 6);
    tf_slots_cpus(&p, 4, c);
    ck_assert_uint_eq(c[0], (uint64_t)1 << 2);
}
END_TEST

/* GPUs cap a node's slots: 4 GPUs, 2 per task -> 2 slots though cores allow 8; an error
 * when no node has them. */
START_TEST(gpus_cap_slots)
{
    enum { N = 3 };
    struct tf_rank_res all[N];
    int node[N] = {0, 0, 0}, lo[N] = {0}, hi[N] = {8, 8, 8}, slots_of[N];
    make(all, N, node, lo, hi, 4);
    struct tf_slot_ask ask = {.gpus_per_task = 2, .launched = true};
    struct tf_rank_plan p;
    ck_assert_int_eq(tf_slots_plan(all, N, 1, &ask, slots_of, &p, NULL, 0), 2);
    ck_assert_int_eq(slots_of[0], 2); /* 8 cores / 3 ranks: 3, capped at the node's 2 */
    ck_assert_int_eq(slots_of[1], 0);
    ask.jobs = 1;
    ck_assert_int_eq(tf_slots_plan(all, N, 1, &ask, slots_of, &p, NULL, 0), 2);
    ck_assert_int_eq(slots_of[1], 1);
    ck_assert_int_eq(p.first, 1); /* its GPUs are the node's 2 and 3 */
    char err[256] = "";
    ask.gpus_per_task = 5;
    ck_assert_int_eq(tf_slots_plan(all, N, 1, &ask, slots_of, &p, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "--gpus-per-task 5"));
}
END_TEST

/* Every rank count and K on two nodes of 12 cores (block placement, unbound ranks): each
 * node has 12 / K slots (at least one; at least one per rank when K is not given), and
 * slots never share a core. */
START_TEST(exhaustive_small)
{
    enum { MAXN = 24 };
    struct tf_rank_res all[MAXN];
    int node[MAXN], lo[MAXN], hi[MAXN], slots_of[MAXN];
    for (int n = 1; n <= MAXN; n++)
        for (int k = 0; k <= 13; k++) {
            for (int r = 0; r < n; r++)
                node[r] = r < n / 2 + 1 ? 0 : 1, lo[r] = 0, hi[r] = 12;
            make(all, n, node, lo, hi, 0);
            struct tf_slot_ask ask = launched_k(k);
            struct tf_rank_plan p;
            int want = 0;
            for (int nd = 0; nd < 2; nd++) {
                int ranks = 0;
                for (int r = 0; r < n; r++)
                    ranks += node[r] == nd;
                int slots = k == 0 ? 12 : (k <= 12 ? 12 / k : 1);
                want += ranks == 0 ? 0 : (k == 0 && ranks > slots ? ranks : slots);
            }
            ck_assert_int_eq(tf_slots_plan(all, n, 0, &ask, slots_of, &p, NULL, 0), want);
            if (k > 0 || n <= 13)
                check_disjoint(all, n, &ask);
        }
}
END_TEST

START_TEST(cpu_text_and_lists)
{
    uint64_t m[TF_CPU_WORDS] = {0};
    char buf[64];
    tf_slots_cpu_text(m, buf, sizeof buf);
    ck_assert_str_eq(buf, "");
    m[0] = 0xf | 1u << 8 | (uint64_t)3 << 62;
    m[1] = 1;
    tf_slots_cpu_text(m, buf, sizeof buf);
    ck_assert_str_eq(buf, "0-3,8,62-64");
    uint64_t back[TF_CPU_WORDS];
    ck_assert(tf_slots_parse_cpus("0-3,8,62-64\n", back));
    ck_assert(memcmp(back, m, sizeof m) == 0);
    ck_assert(!tf_slots_parse_cpus("0-x", back));
    ck_assert(!tf_slots_parse_cpus("3-1", back));
    ck_assert(!tf_slots_parse_cpus("1;2", back));
}
END_TEST

/* GPU names come from CUDA_VISIBLE_DEVICES as the site set it (UUIDs or numbers). */
START_TEST(gpu_list_from_env)
{
    setenv("CUDA_VISIBLE_DEVICES", "GPU-a,GPU-b,5,7", 1);
    struct tf_rank_res r;
    tf_slots_local(&r);
    ck_assert_int_eq(r.ngpus, 4);
    char buf[64];
    ck_assert(tf_slots_gpu_list(2, 2, buf, sizeof buf));
    ck_assert_str_eq(buf, "5,7");
    ck_assert(!tf_slots_gpu_list(0, 2, buf, 6)); /* "GPU-a,GPU-b" does not fit */
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    tf_slots_local(&r);
    ck_assert_int_eq(r.ngpus, 0);
    unsetenv("CUDA_VISIBLE_DEVICES");
    ck_assert_int_gt(tf_slots_count(r.cpus), 0); /* its own affinity */
}
END_TEST

static Suite *slots_suite(void)
{
    Suite *s = suite_create("slots");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, one_rank_per_core_k8);
    tcase_add_test(tc, one_rank_per_node_takes_the_node);
    tcase_add_test(tc, shares_among_ranks);
    tcase_add_test(tc, alone_uses_its_own_mask);
    tcase_add_test(tc, gpus_cap_slots);
    tcase_add_test(tc, exhaustive_small);
    tcase_add_test(tc, cpu_text_and_lists);
    tcase_add_test(tc, gpu_list_from_env);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(slots_suite)
