/* test_collect.c - --collect: values from the last line a task printed, and their types. */
#include "collect.h"
#include "tf_check.h"

static int row(struct tf_collect *c, uint64_t r, const char *s)
{
    return tf_collect_row(c, r, s, strlen(s));
}

static int key(const struct tf_collect *c, const char *name)
{
    for (int k = 0; k < tf_collect_keys(c); k++)
        if (strcmp(tf_collect_key(c, k), name) == 0)
            return k;
    return -1;
}

START_TEST(words_and_json)
{
    struct tf_collect *c = tf_collect_new(8);
    ck_assert_int_eq(row(c, 0, "progress 10%\nloss=0.5 n=3 tag=a\n\n"), 3);
    ck_assert_int_eq(row(c, 1,
                         "{\"loss\": 1.25, \"n\": 4, \"tag\": \"b \\\"c\\\" \\u00e9\", "
                         "\"ok\": true, \"skip\": null}\n"),
                     4);
    ck_assert_int_eq(row(c, 2, "no values here\n"), 0); /* not key=value words */
    ck_assert_int_eq(row(c, 3, "loss=2 n=x\n"), 2);
    ck_assert_int_eq(row(c, 4, ""), 0);
    ck_assert_int_eq(row(c, 5, "{\"a\": [1, 2]}\n"), 0); /* nested: not a result */
    ck_assert_int_eq(row(c, 6, "{\"loss\": 3,}\n"), 0);  /* malformed JSON */
    ck_assert_int_eq(row(c, 7, "1bad=3 loss=4\n"), 0);   /* a key that is no name */
    ck_assert_int_eq(tf_collect_keys(c), 4);
    int loss = key(c, "loss"), n = key(c, "n"), tag = key(c, "tag"), ok = key(c, "ok");
    ck_assert_str_eq(tf_collect_value(c, loss, 1), "1.25");
    ck_assert_str_eq(tf_collect_value(c, tag, 1), "b \"c\" \xc3\xa9");
    ck_assert_str_eq(tf_collect_value(c, ok, 1), "1");
    ck_assert_ptr_null(tf_collect_value(c, loss, 2));
    ck_assert_int_eq(key(c, "skip"), -1); /* null: missing, no column of its own */
    /* numbers with missing rows: FLOAT (NaN); a non-number: STRING */
    ck_assert_int_eq(tf_collect_type(c, loss), TF_PARAM_FLOAT);
    ck_assert_int_eq(tf_collect_type(c, n), TF_PARAM_STRING);
    ck_assert_int_eq(tf_collect_type(c, tag), TF_PARAM_STRING);
    tf_collect_free(c);
}
END_TEST

START_TEST(int_only_when_complete)
{
    struct tf_collect *c = tf_collect_new(3);
    row(c, 0, "k=1");
    row(c, 1, "k=-2");
    row(c, 2, "k=30000000000");
    ck_assert_int_eq(tf_collect_type(c, 0), TF_PARAM_INT);
    row(c, 2, "other=1"); /* a later line of the same row replaces nothing else */
    ck_assert_int_eq(tf_collect_type(c, 0), TF_PARAM_INT);
    tf_collect_free(c);
    c = tf_collect_new(2);
    row(c, 0, "k=1");
    ck_assert_int_eq(tf_collect_type(c, 0), TF_PARAM_FLOAT); /* row 1 missing */
    tf_collect_free(c);
}
END_TEST

/* C9, D7: a backslash before NUL is no escape; surrogates decode to UTF-8 (pairs to one code
 * point, lone ones to U+FFFD), \u0000 and invalid bytes to U+FFFD; a key with an escape is
 * refused rather than cut at a NUL. */
START_TEST(json_escapes_give_utf8)
{
    struct tf_collect *c = tf_collect_new(6);
    static const char nul[] = "{\"a\":\"\\\0\"}";
    ck_assert_int_eq(tf_collect_row(c, 0, nul, sizeof nul - 1), 0);
    ck_assert_int_eq(
        row(c, 1, "{\"s\": \"\\ud800\", \"p\": \"\\ud83d\\ude00\", \"z\": \"a\\u0000b\"}"), 3);
    ck_assert_str_eq(tf_collect_value(c, key(c, "s"), 1), "\xef\xbf\xbd");
    ck_assert_str_eq(tf_collect_value(c, key(c, "p"), 1), "\xf0\x9f\x98\x80");
    ck_assert_str_eq(tf_collect_value(c, key(c, "z"), 1), "a\xef\xbf\xbd"
                                                          "b");
    ck_assert_int_eq(row(c, 2, "{\"b\\u0000\": 1}"), 0);
    ck_assert_int_eq(key(c, "b"), -1);
    ck_assert_int_eq(row(c, 3, "{\"s\": \"\\udc00\\ud800x\"}"), 1);
    ck_assert_str_eq(tf_collect_value(c, key(c, "s"), 3), "\xef\xbf\xbd\xef\xbf\xbdx");
    ck_assert_int_eq(row(c, 4, "{\"s\": \"\\u-001\"}"), 0); /* not four hex digits */
    ck_assert_int_eq(row(c, 5, "s=\xff\xfe"), 1);
    ck_assert_str_eq(tf_collect_value(c, key(c, "s"), 5), "\xef\xbf\xbd\xef\xbf\xbd");
    tf_collect_free(c);
}
END_TEST

static Suite *collect_suite(void)
{
    Suite *s = suite_create("collect");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, words_and_json);
    tcase_add_test(tc, int_only_when_complete);
    tcase_add_test(tc, json_escapes_give_utf8);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(collect_suite)
