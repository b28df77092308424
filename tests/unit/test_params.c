/* test_params.c - parameter tables (CSV, grids), column types, template expansion and the
 * shell quoting that keeps a value from ever becoming a command. */
#include "params.h"
#include "tf_check.h"

static struct tf_params *csv(const char *text, char *err, size_t errlen)
{
    char *path = tf_test_path("params.csv");
    tf_test_write(path, text, strlen(text));
    struct tf_params *p = NULL;
    enum tf_status st = tf_params_read_csv(path, &p, err, errlen);
    free(path);
    return st == TF_OK ? p : NULL;
}

START_TEST(csv_rfc4180)
{
    char err[512];
    struct tf_params *p = csv("\xEF\xBB\xBFname,alpha,note\r\n"
                              "a,0.1,\"x, y\"\r\n"
                              "\"b\",2,\"he said \"\"hi\"\"\"\n"
                              "\n"
                              "c,-3e2,\"two\nlines\"\n"
                              "d,4,\n",
                              err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(tf_params_cols(p), 3);
    ck_assert_uint_eq(tf_params_rows(p), 4);
    ck_assert_str_eq(tf_params_name(p, 0), "name");
    ck_assert_str_eq(tf_params_value(p, 0, 2), "x, y");
    ck_assert_str_eq(tf_params_value(p, 1, 2), "he said \"hi\"");
    ck_assert_str_eq(tf_params_value(p, 2, 2), "two\nlines");
    ck_assert_str_eq(tf_params_value(p, 3, 2), "");
    ck_assert_int_eq(tf_params_type(p, 0), TF_PARAM_STRING);
    ck_assert_int_eq(tf_params_type(p, 1), TF_PARAM_FLOAT);
    ck_assert_int_eq(tf_params_type(p, 2), TF_PARAM_STRING);
    /* a value with a line break cannot go into a one-line task */
    ck_assert_int_eq(tf_params_check(p, "run {note}", err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "row 3, column note"));
    ck_assert_int_eq(tf_params_check(p, "run {name} {alpha}", err, sizeof err), TF_OK);
    tf_params_free(p);
}
END_TEST

START_TEST(csv_errors_name_the_row)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "empty"},
        {"a,b\n1,2\n3\n", "row 3 has 1 field, the header 2"},
        {"a,b\n1,\"2\n", "row 2: a quoted field is not closed"},
        {"a,b\n1,\"2\"x\n", "row 2: text after the closing quote"},
        {"a,b\n1,2\"\n", "row 2: a quote inside an unquoted field"},
        {"a,1b\n", "column 2 is named '1b'"},
        {"a,a\n", "two columns are named 'a'"},
        {"a,b c\n", "column 2 is named 'b c'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        ck_assert_ptr_null(csv(cases[i].text, err, sizeof err));
        ck_assert_msg(strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
        ck_assert_ptr_nonnull(strstr(err, "params.csv"));
    }
    char err[512];
    struct tf_params *p;
    ck_assert_int_eq(tf_params_read_csv("/nonexistent/x.csv", &p, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.csv"));
}
END_TEST

START_TEST(grid_product_and_ranges)
{
    const char *specs[] = {"alpha=0.1,0.2,0.5", "seed=1..4", "down=2..0"};
    struct tf_params *p;
    char err[256];
    ck_assert_int_eq(tf_params_grid(specs, 3, &p, err, sizeof err), TF_OK);
    ck_assert_uint_eq(tf_params_rows(p), 3 * 4 * 3);
    /* nested loops in the order given: the last varies fastest */
    ck_assert_str_eq(tf_params_value(p, 0, 0), "0.1");
    ck_assert_str_eq(tf_params_value(p, 0, 2), "2");
    ck_assert_str_eq(tf_params_value(p, 1, 2), "1");
    ck_assert_str_eq(tf_params_value(p, 3, 1), "2");
    ck_assert_str_eq(tf_params_value(p, 35, 0), "0.5");
    ck_assert_str_eq(tf_params_value(p, 35, 1), "4");
    ck_assert_str_eq(tf_params_value(p, 35, 2), "0");
    ck_assert_int_eq(tf_params_type(p, 0), TF_PARAM_FLOAT);
    ck_assert_int_eq(tf_params_type(p, 1), TF_PARAM_INT);
    tf_params_free(p);
    static const char *bad[][2] = {{"alpha", "use NAME=V1"},     {"=1,2", "use NAME=V1"},
                                   {"a=1,,2", "an empty value"}, {"a=", "use NAME=V1"},
                                   {"9a=1", "use NAME=V1"},      {"a=1..200000000", "more than"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(tf_params_grid(&bad[i][0], 1, &p, err, sizeof err), TF_EINPUT);
        ck_assert_msg(strstr(err, bad[i][1]) != NULL, "%s: %s", bad[i][0], err);
    }
    const char *twice[] = {"a=1", "a=2"};
    ck_assert_int_eq(tf_params_grid(twice, 2, &p, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "'a' twice"));
}
END_TEST

/* Every value reaches the command as exactly one shell word, whatever it holds. */
START_TEST(expand_quotes_values)
{
    char err[512];
    struct tf_params *p = csv("v,n\n"
                              "plain-1.5_x/y,1\n"
                              "\"a b\",2\n"
                              "\"$(rm -rf ~); `id` ; x\",3\n"
                              "\"it's\",4\n"
                              ",5\n",
                              err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    const char *t = "sim --v {v} --n {n} > out/{n}_{#}.txt; echo ${HOME} {{v}} { true; }";
    ck_assert_int_eq(tf_params_check(p, t, err, sizeof err), TF_OK);
    const char *want[] = {
        "sim --v plain-1.5_x/y --n 1 > out/1_0.txt; echo ${HOME} {v} { true; }",
        "sim --v 'a b' --n 2 > out/2_1.txt; echo ${HOME} {v} { true; }",
        "sim --v '$(rm -rf ~); `id` ; x' --n 3 > out/3_2.txt; echo ${HOME} {v} { true; }",
        "sim --v 'it'\\''s' --n 4 > out/4_3.txt; echo ${HOME} {v} { true; }",
        "sim --v '' --n 5 > out/5_4.txt; echo ${HOME} {v} { true; }",
    };
    for (uint64_t r = 0; r < 5; r++) {
        char *cmd = tf_params_expand(p, t, r);
        ck_assert_str_eq(cmd, want[r]);
        free(cmd);
    }
    ck_assert_int_eq(tf_params_check(p, "sim {w}", err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "{w}, which is not a parameter (they are: v, n)"));
    ck_assert_int_eq(tf_params_check(p, "a\nb", err, sizeof err), TF_EINPUT);
    tf_params_free(p);
}
END_TEST

/* C7, H6: ranges at the int64 limits are refused without overflow; the documented maximum
 * is a grid of its axes only, any row computed from its index. */
START_TEST(grid_limits_and_mixed_radix)
{
    struct tf_params *p;
    char err[256];
    const char *huge[] = {"a=-9223372036854775808..9223372036854775807"};
    ck_assert_int_eq(tf_params_grid(huge, 1, &p, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "more than 100000000 values"));
    const char *product[] = {"a=1..100000", "b=1..100000"};
    ck_assert_int_eq(tf_params_grid(product, 2, &p, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "more than 100000000 tasks"));
    const char *max[] = {"a=1..100000000"};
    ck_assert_int_eq(tf_params_grid(max, 1, &p, err, sizeof err), TF_OK);
    ck_assert_uint_eq(tf_params_rows(p), 100000000);
    ck_assert_str_eq(tf_params_value(p, 99999999, 0), "100000000");
    tf_params_free(p);
    const char *ends[] = {"n=9223372036854775806..9223372036854775807", "m=x,y",
                          "k=-9223372036854775807..-9223372036854775808"};
    ck_assert_int_eq(tf_params_grid(ends, 3, &p, err, sizeof err), TF_OK);
    ck_assert_uint_eq(tf_params_rows(p), 8);
    ck_assert_str_eq(tf_params_value(p, 7, 0), "9223372036854775807");
    ck_assert_str_eq(tf_params_value(p, 7, 1), "y");
    ck_assert_str_eq(tf_params_value(p, 7, 2), "-9223372036854775808");
    ck_assert_str_eq(tf_params_value(p, 2, 1), "y");
    ck_assert_str_eq(tf_params_value(p, 2, 2), "-9223372036854775807");
    ck_assert_int_eq(tf_params_type(p, 2), TF_PARAM_INT);
    char *cmd = tf_params_expand(p, "run {n} {m} {k} {#}", 5);
    ck_assert_str_eq(cmd, "run 9223372036854775807 x -9223372036854775808 5");
    free(cmd);
    tf_params_free(p);
}
END_TEST

/* H5: a header of 10^5 columns is checked for duplicates by sorting; W5: a command longer
 * than a task line is refused naming the CSV line. */
START_TEST(wide_header_and_long_commands)
{
    size_t ncols = 100000;
    struct sbuf_t {
        char *s;
        size_t n;
    } b = {malloc(ncols * 12 + 64), 0};
    for (size_t i = 0; i < ncols; i++)
        b.n += (size_t)sprintf(b.s + b.n, "%sc%zu", i ? "," : "", i);
    b.n += (size_t)sprintf(b.s + b.n, ",c77\n");
    char err[512];
    ck_assert_ptr_null(csv(b.s, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "two columns are named 'c77'"));
    free(b.s);

    size_t big = 600 * 1024;
    char *text = malloc(big + 64);
    int n = sprintf(text, "a\n1\n\n");
    memset(text + n, 'x', big);
    strcpy(text + n + big, "\n");
    struct tf_params *p = csv(text, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_int_eq(tf_params_check(p, "true {a}", err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_params_check(p, "true {a} {a}", err, sizeof err), TF_EINPUT);
    ck_assert_msg(strstr(err, ":4: --template makes a command of 1228806 bytes"), "%s", err);
    tf_params_free(p);
    free(text);
}
END_TEST

static Suite *params_suite(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, csv_rfc4180);
    tcase_add_test(tc, csv_errors_name_the_row);
    tcase_add_test(tc, grid_product_and_ranges);
    tcase_add_test(tc, expand_quotes_values);
    tcase_add_test(tc, grid_limits_and_mixed_radix);
    tcase_add_test(tc, wide_header_and_long_commands);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(params_suite)
