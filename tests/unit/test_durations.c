/* test_durations.c - the command -> duration map and the longest-first order. */
#include "durations.h"
#include "tf_check.h"

START_TEST(map_put_get_grow)
{
    struct tf_durations *d = tf_durations_new();
    char cmd[64];
    for (int i = 0; i < 5000; i++) { /* forces several grows */
        snprintf(cmd, sizeof cmd, "./sim --case %d", i);
        tf_durations_put(d, cmd, i * 0.5);
    }
    tf_durations_put(d, "./sim --case 7", 99.0); /* a later record wins */
    ck_assert_uint_eq(tf_durations_count(d), 5000);
    ck_assert_double_eq(tf_durations_get(d, "./sim --case 7"), 99.0);
    ck_assert_double_eq(tf_durations_get(d, "./sim --case 4999"), 2499.5);
    ck_assert_double_lt(tf_durations_get(d, "./sim --case 5000"), 0);
    tf_durations_free(d);
}
END_TEST

START_TEST(longest_first_unknown_as_mean_ties_in_file_order)
{
    struct tf_planned p[] = {{0, 1, 0, 1.0},  {1, 2, 10, 5.0}, {2, 3, 20, -1},
                             {3, 4, 30, 3.0}, {4, 5, 40, 3.0}, {5, 6, 50, 0.5}};
    /* known mean = (1 + 5 + 3 + 3 + 0.5) / 5 = 2.5 */
    tf_durations_order(p, 6);
    const uint64_t want[] = {1, 3, 4, 2, 0, 5};
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(p[i].id, want[i]);
    ck_assert_double_eq(p[3].expected, 2.5);
    ck_assert_uint_eq(p[0].offset, 10);
}
END_TEST

static Suite *durations_suite(void)
{
    Suite *s = suite_create("durations");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, map_put_get_grow);
    tcase_add_test(tc, longest_first_unknown_as_mean_ties_in_file_order);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(durations_suite)
