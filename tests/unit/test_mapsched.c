/* test_mapsched.c - batch sizing of in-process maps: every item handed out exactly once,
 * batches that start at one item and grow to the target duration, a tail that shrinks so
 * workers finish together, resumed maps that skip what is done, and stop. */
#include "mapsched.h"
#include "tf_check.h"

/* Drive the policy: workers take batches round-robin and report each as taking
 * per_item seconds per item. Returns the number of batches; counts[i] = times item i came. */
static uint64_t drive(struct tf_mapsched *s, int nworkers, double per_item, uint64_t n,
                      unsigned char *counts, uint64_t *max_batch)
{
    uint64_t lo, cnt, batches = 0;
    *max_batch = 0;
    for (int w = 0;; w = (w + 1) % nworkers) {
        if (!tf_mapsched_next(s, w, &lo, &cnt))
            break;
        ck_assert_uint_ge(cnt, 1);
        ck_assert_uint_le(lo + cnt, n);
        for (uint64_t i = lo; i < lo + cnt; i++)
            counts[i]++;
        if (cnt > *max_batch)
            *max_batch = cnt;
        tf_mapsched_done(s, cnt, per_item * (double)cnt);
        batches++;
    }
    return batches;
}

START_TEST(every_item_once)
{
    static const uint64_t sizes[] = {0, 1, 2, 7, 1000, 30011};
    static const int workers[] = {1, 2, 3, 16, 127};
    static const double costs[] = {1e-9, 1e-6, 1e-3, 1.0};
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof workers / sizeof workers[0]; b++)
            for (size_t c = 0; c < sizeof costs / sizeof costs[0]; c++) {
                uint64_t n = sizes[a], maxb;
                unsigned char *counts = calloc(n + 1, 1);
                struct tf_mapsched *s = tf_mapsched_new(workers[b], workers[b], 0.05, 1u << 20);
                tf_mapsched_add(s, 0, n);
                ck_assert_uint_eq(tf_mapsched_left(s), n);
                drive(s, workers[b], costs[c], n, counts, &maxb);
                for (uint64_t i = 0; i < n; i++)
                    ck_assert_msg(counts[i] == 1, "n=%llu item %llu came %d times",
                                  (unsigned long long)n, (unsigned long long)i, counts[i]);
                ck_assert_uint_eq(tf_mapsched_left(s), 0);
                tf_mapsched_free(s);
                free(counts);
            }
}
END_TEST

START_TEST(grows_from_one_to_the_target)
{
    struct tf_mapsched *s = tf_mapsched_new(1, 1, 0.05, 1u << 20);
    tf_mapsched_add(s, 0, 100000000);
    uint64_t lo, n, want = 1;
    /* 1e-7 s per item: the target of 0.05 s is 500000 items. */
    for (int k = 0; k < 10; k++) {
        ck_assert(tf_mapsched_next(s, 0, &lo, &n));
        ck_assert_uint_eq(n, want); /* x4 */
        tf_mapsched_done(s, n, 1e-7 * (double)n);
        want *= 4;
    }
    ck_assert(tf_mapsched_next(s, 0, &lo, &n));
    /* capped by the target duration (0.05 / 1e-7, rounded down), not by growth */
    ck_assert_uint_ge(n, 499999);
    ck_assert_uint_le(n, 500000);
    ck_assert_double_eq_tol(tf_mapsched_per_item(s), 1e-7, 1e-12);
    tf_mapsched_free(s);
}
END_TEST

START_TEST(slow_items_stay_small)
{
    /* One second per item: batches never grow past one item (0.05 s target). */
    struct tf_mapsched *s = tf_mapsched_new(4, 4, 0.05, 1u << 20);
    tf_mapsched_add(s, 0, 1000);
    uint64_t lo, n;
    for (int k = 0; k < 50; k++) {
        ck_assert(tf_mapsched_next(s, k % 4, &lo, &n));
        ck_assert_uint_eq(n, 1);
        tf_mapsched_done(s, n, 1.0);
    }
    tf_mapsched_free(s);
}
END_TEST

START_TEST(max_items_caps)
{
    struct tf_mapsched *s = tf_mapsched_new(2, 2, 10.0, 1000);
    tf_mapsched_add(s, 0, 2000000);
    uint64_t lo, n, maxb;
    unsigned char *counts = calloc(2000000, 1);
    drive(s, 2, 1e-9, 2000000, counts, &maxb);
    ck_assert_uint_eq(maxb, 1000);
    free(counts);
    tf_mapsched_free(s);
    (void)lo;
    (void)n;
}
END_TEST

START_TEST(tail_shrinks)
{
    /* Near the end no batch is more than a 1/(2 workers) share of what is left. */
    int nw = 4;
    struct tf_mapsched *s = tf_mapsched_new(nw, nw, 0.05, 1u << 20);
    tf_mapsched_add(s, 0, 1000000);
    uint64_t lo, n;
    for (int w = 0;; w = (w + 1) % nw) {
        uint64_t left = tf_mapsched_left(s);
        if (!tf_mapsched_next(s, w, &lo, &n))
            break;
        uint64_t share = left / (2 * (uint64_t)nw);
        ck_assert_uint_le(n, share > 1 ? share : 1);
        tf_mapsched_done(s, n, 1e-8 * (double)n);
    }
    tf_mapsched_free(s);
}
END_TEST

START_TEST(resumed_ranges_only)
{
    /* Items 0..99 pending, 100..899 done, 900..999 pending, with a range split at 950. */
    struct tf_mapsched *s = tf_mapsched_new(3, 3, 0.05, 64);
    tf_mapsched_add(s, 0, 100);
    tf_mapsched_add(s, 900, 950);
    tf_mapsched_add(s, 950, 1000);  /* adjacent: merged */
    tf_mapsched_add(s, 1000, 1000); /* empty: ignored */
    ck_assert_uint_eq(tf_mapsched_left(s), 200);
    unsigned char counts[1000] = {0};
    uint64_t lo, n;
    for (int w = 0; tf_mapsched_next(s, w, &lo, &n); w = (w + 1) % 3) {
        ck_assert_msg(lo + n <= 100 || lo >= 900, "batch [%llu,+%llu) crosses a done range",
                      (unsigned long long)lo, (unsigned long long)n);
        for (uint64_t i = lo; i < lo + n; i++)
            counts[i]++;
        tf_mapsched_done(s, n, 1e-6 * (double)n);
    }
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(counts[i], i < 100 || i >= 900 ? 1 : 0);
    tf_mapsched_free(s);
}
END_TEST

START_TEST(stop_and_bad_worker)
{
    struct tf_mapsched *s = tf_mapsched_new(2, 2, 0.05, 100);
    tf_mapsched_add(s, 0, 1000);
    uint64_t lo, n;
    ck_assert(!tf_mapsched_next(s, 2, &lo, &n));
    ck_assert(!tf_mapsched_next(s, -1, &lo, &n));
    ck_assert(tf_mapsched_next(s, 1, &lo, &n));
    tf_mapsched_stop(s);
    ck_assert(!tf_mapsched_next(s, 0, &lo, &n));
    ck_assert_uint_eq(tf_mapsched_left(s), 999);
    tf_mapsched_free(s);
}
END_TEST

/* Issue 15: ranges given back when a worker is lost go out again, each item exactly once
 * over the whole map; plain ones first in normal batches, suspects one item at a time and
 * only to a worker that may take one; with only suspects left and none allowed, nothing. */
START_TEST(given_back_ranges)
{
    enum { N = 5000 };
    unsigned char *counts = calloc(N, 1);
    struct tf_mapsched *s = tf_mapsched_new(3, 3, 0.05, 1u << 20);
    tf_mapsched_add(s, 0, N);
    uint64_t lo, n;
    unsigned losses;
    /* Three batches handed out; the worker holding the 2nd and 3rd "dies": the 2nd was
     * running (suspect), the 3rd only queued (plain). */
    uint64_t b[3][2];
    for (int k = 0; k < 3; k++) {
        ck_assert(tf_mapsched_next_ex(s, 0, true, &lo, &n, &losses));
        ck_assert_uint_eq(losses, 0);
        b[k][0] = lo;
        b[k][1] = n;
    }
    for (uint64_t i = b[0][0]; i < b[0][0] + b[0][1]; i++)
        counts[i]++;
    uint64_t left = tf_mapsched_left(s);
    tf_mapsched_give_back(s, b[1][0], b[1][1], 1);
    tf_mapsched_give_back(s, b[2][0], b[2][1], 0);
    ck_assert_uint_eq(tf_mapsched_left(s), left + b[1][1] + b[2][1]);
    ck_assert_uint_eq(tf_mapsched_returned(s), b[1][1] + b[2][1]);
    /* The plain one comes first, whole or in pieces, with no loss. */
    ck_assert(tf_mapsched_next_ex(s, 1, false, &lo, &n, &losses));
    ck_assert_uint_eq(lo, b[2][0]);
    ck_assert_uint_eq(losses, 0);
    for (uint64_t i = lo; i < lo + n; i++)
        counts[i]++;
    while (tf_mapsched_returned(s) > b[1][1]) {
        ck_assert(tf_mapsched_next_ex(s, 1, false, &lo, &n, &losses));
        ck_assert_uint_eq(losses, 0);
        for (uint64_t i = lo; i < lo + n; i++)
            counts[i]++;
    }
    /* Then suspects, one item each, to workers that may take one; the others get new items. */
    ck_assert(tf_mapsched_next_ex(s, 2, false, &lo, &n, &losses));
    ck_assert_uint_eq(losses, 0);
    ck_assert_uint_ge(lo, b[2][0] + b[2][1]);
    for (uint64_t i = lo; i < lo + n; i++)
        counts[i]++;
    for (uint64_t k = 0; k < b[1][1]; k++) {
        ck_assert(tf_mapsched_next_ex(s, 2, true, &lo, &n, &losses));
        ck_assert_uint_eq(n, 1);
        ck_assert_uint_eq(losses, 1);
        ck_assert(lo >= b[1][0] && lo < b[1][0] + b[1][1]);
        counts[lo]++;
    }
    ck_assert_uint_eq(tf_mapsched_returned(s), 0);
    /* A suspect given back again comes back with its count, and alone it is not handed to
     * a worker that may not take it. */
    while (tf_mapsched_next_ex(s, 0, true, &lo, &n, &losses))
        for (uint64_t i = lo; i < lo + n; i++)
            counts[i]++;
    counts[b[1][0]]--;
    tf_mapsched_give_back(s, b[1][0], 1, 2);
    ck_assert(!tf_mapsched_next_ex(s, 0, false, &lo, &n, &losses));
    ck_assert(tf_mapsched_next_ex(s, 0, true, &lo, &n, &losses));
    ck_assert_uint_eq(lo, b[1][0]);
    ck_assert_uint_eq(losses, 2);
    counts[lo]++;
    ck_assert_uint_eq(tf_mapsched_left(s), 0);
    for (uint64_t i = 0; i < N; i++)
        ck_assert_msg(counts[i] == 1, "item %llu came %d times", (unsigned long long)i, counts[i]);
    tf_mapsched_free(s);
    free(counts);
}
END_TEST

static Suite *mapsched_suite(void)
{
    Suite *s = suite_create("mapsched");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_item_once);
    tcase_add_test(tc, grows_from_one_to_the_target);
    tcase_add_test(tc, slow_items_stay_small);
    tcase_add_test(tc, max_items_caps);
    tcase_add_test(tc, tail_shrinks);
    tcase_add_test(tc, resumed_ranges_only);
    tcase_add_test(tc, stop_and_bad_worker);
    tcase_add_test(tc, given_back_ranges);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(mapsched_suite)
