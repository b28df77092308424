/* test_scheduler.c - the policy against simulated workloads: every id handed out exactly
 * once, in order, in contiguous batches; shares and batch shapes as documented.
 */
#include "scheduler.h"
#include "tf_check.h"

/* A simulated run: workers ask in a random order and finish batches in random order.
 * Checks exactly-once coverage and returns the number of batches. */
static uint64_t simulate(enum tf_mode mode, uint64_t ntasks, int nworkers, unsigned seed,
                         uint64_t *max_batch, uint64_t *last_batch)
{
    struct tf_sched *s = tf_sched_new(mode, ntasks, nworkers);
    uint64_t *held = calloc((size_t)nworkers, sizeof *held); /* outstanding per worker */
    bool *stopped = calloc((size_t)nworkers, sizeof *stopped);
    unsigned char *seen = calloc(ntasks + 1, 1);
    int nstopped = 0;
    uint64_t batches = 0;
    *max_batch = *last_batch = 0;
    srand(seed);
    while (nstopped < nworkers) {
        int w = rand() % nworkers;
        if (stopped[w])
            continue;
        /* a worker asks only when its batch is done */
        tf_sched_completed(s, w, held[w]);
        held[w] = 0;
        uint64_t n = tf_sched_batch_size(s, w);
        if (n == 0) {
            stopped[w] = true;
            nstopped++;
            continue;
        }
        uint64_t first = tf_sched_next_id(s);
        ck_assert_uint_le(first + n, ntasks);
        for (uint64_t i = first; i < first + n; i++) {
            ck_assert_int_eq(seen[i], 0);
            seen[i] = 1;
        }
        tf_sched_assigned(s, w, n);
        held[w] = n;
        batches++;
        *max_batch = n > *max_batch ? n : *max_batch;
        *last_batch = n;
    }
    for (uint64_t i = 0; i < ntasks; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert(tf_sched_finished(s));
    ck_assert_uint_eq(tf_sched_outstanding(s), 0);
    tf_sched_free(s);
    free(held);
    free(stopped);
    free(seen);
    return batches;
}

START_TEST(every_id_once_all_shapes)
{
    static const uint64_t sizes[] = {0, 1, 2, 3, 7, 8, 9, 100, 1000, 12345};
    static const int workers[] = {1, 2, 3, 8, 64, 128};
    static const enum tf_mode modes[] = {TF_MODE_AUTO, TF_MODE_PROCESS, TF_MODE_POOL};
    uint64_t maxb, lastb;
    for (size_t m = 0; m < 3; m++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            for (size_t j = 0; j < sizeof workers / sizeof workers[0]; j++)
                for (unsigned seed = 1; seed <= 3; seed++)
                    simulate(modes[m], sizes[i], workers[j], seed, &maxb, &lastb);
}
END_TEST

START_TEST(auto_picks_process_for_few_tasks)
{
    struct tf_sched *s = tf_sched_new(TF_MODE_AUTO, 8, 8);
    ck_assert_int_eq(tf_sched_mode(s), TF_MODE_PROCESS);
    for (int w = 0; w < 8; w++)
        ck_assert_uint_eq(tf_sched_batch_size(s, w), 1);
    tf_sched_free(s);
    s = tf_sched_new(TF_MODE_AUTO, 9, 8);
    ck_assert_int_eq(tf_sched_mode(s), TF_MODE_POOL);
    ck_assert_ptr_nonnull(strstr(tf_sched_reason(s), "more tasks than workers"));
    tf_sched_free(s);
}
END_TEST

START_TEST(process_shares_differ_by_at_most_one)
{
    struct tf_sched *s = tf_sched_new(TF_MODE_PROCESS, 10, 4);
    uint64_t total = 0;
    for (int w = 0; w < 4; w++) {
        uint64_t n = tf_sched_batch_size(s, w);
        ck_assert(n == 2 || n == 3);
        tf_sched_assigned(s, w, n);
        total += n;
        ck_assert_uint_eq(tf_sched_batch_size(s, w), 0); /* the share is all it gets */
    }
    ck_assert_uint_eq(total, 10);
    tf_sched_free(s);
}
END_TEST

START_TEST(process_share_cut_short_is_resumed)
{
    /* the master may pack fewer tasks than allowed (message size); the rest follows */
    struct tf_sched *s = tf_sched_new(TF_MODE_PROCESS, 10, 2);
    ck_assert_uint_eq(tf_sched_batch_size(s, 0), 5);
    tf_sched_assigned(s, 0, 2);
    ck_assert_uint_eq(tf_sched_batch_size(s, 0), 3);
    tf_sched_free(s);
}
END_TEST

START_TEST(pool_batches_shrink_to_one)
{
    uint64_t maxb, lastb;
    uint64_t batches = simulate(TF_MODE_POOL, 100000, 16, 7, &maxb, &lastb);
    ck_assert_uint_eq(lastb, 1);
    ck_assert_uint_le(maxb, 100000 / 32 + 1);
    /* guided batches: far fewer round trips than tasks, far more than workers */
    ck_assert_uint_lt(batches, 2000);
    ck_assert_uint_gt(batches, 16);
}
END_TEST

START_TEST(mode_names_round_trip)
{
    enum tf_mode m;
    ck_assert(tf_mode_parse("pool", &m) && m == TF_MODE_POOL);
    ck_assert(tf_mode_parse("process", &m) && m == TF_MODE_PROCESS);
    ck_assert(tf_mode_parse("auto", &m) && m == TF_MODE_AUTO);
    ck_assert(!tf_mode_parse("static", &m));
    ck_assert_str_eq(tf_mode_name(TF_MODE_POOL), "pool");
}
END_TEST

static Suite *scheduler_suite(void)
{
    Suite *s = suite_create("scheduler");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_id_once_all_shapes);
    tcase_add_test(tc, auto_picks_process_for_few_tasks);
    tcase_add_test(tc, process_shares_differ_by_at_most_one);
    tcase_add_test(tc, process_share_cut_short_is_resumed);
    tcase_add_test(tc, pool_batches_shrink_to_one);
    tcase_add_test(tc, mode_names_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(scheduler_suite)
