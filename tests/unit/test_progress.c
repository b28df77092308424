/* test_progress.c - the progress line's text: counts, rate, and the time left. */
#include "progress.h"
#include "tf_check.h"

START_TEST(format)
{
    char buf[256];
    tf_progress_format(buf, sizeof buf, 120, 3, 16, 1000, 10.0);
    ck_assert_str_eq(buf, "120 of 1000 tasks done (3 not succeeded), 16 running, 12 tasks/s, "
                          "about 1m13s left");
    tf_progress_format(buf, sizeof buf, 10, 0, 2, 100000, 2.0);
    ck_assert_str_eq(buf, "10 of 100000 tasks done (0 not succeeded), 2 running, 5 tasks/s, "
                          "about 5h33m left");
    tf_progress_format(buf, sizeof buf, 0, 0, 4, 10, 3.0); /* no rate yet: no guess */
    ck_assert_str_eq(buf, "0 of 10 tasks done (0 not succeeded), 4 running, 0 tasks/s");
    tf_progress_format(buf, sizeof buf, 10, 1, 0, 10, 4.0); /* done: nothing left to guess */
    ck_assert_str_eq(buf, "10 of 10 tasks done (1 not succeeded), 0 running, 2.5 tasks/s");
}
END_TEST

static Suite *progress_suite(void)
{
    Suite *s = suite_create("progress");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, format);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(progress_suite)
