/* test_h5out.c - result file round trip: rows written out of order read back in place,
 * unwritten rows read as "not run", and an existing file is never overwritten by accident.
 */
#include <math.h>
#include <sys/stat.h>

#include "h5out.h"
#include "tf_check.h"

static struct tf_run_meta meta(uint64_t ntasks)
{
    return (struct tf_run_meta){.version = "t",
                                .command_line = "taskfarm run x",
                                .taskfile = "x",
                                .taskfile_sha256 = "00",
                                .mode = "pool",
                                .mode_reason = "test",
                                .master_host = "h",
                                .nworkers = 2,
                                .ntasks = ntasks,
                                .capture_bytes = 10,
                                .start_time = 1.0};
}

START_TEST(round_trip_out_of_order)
{
    char *path = tf_test_path("rt.h5");
    const struct tf_run_meta m = meta(10000);
    struct tf_h5out *h;
    char err[512];
    ck_assert_int_eq(tf_h5out_create(path, false, &m, &h, err, sizeof err), TF_OK);
    for (uint64_t i = 0; i < 10000; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "echo %llu", (unsigned long long)i);
        struct tf_task t = {.id = i, .line = i + 2, .command = cmd, .command_len = strlen(cmd)};
        ck_assert_int_eq(tf_h5out_put_command(h, &t), TF_OK);
    }
    /* results for every third row, in a scrambled order, row 9999 included */
    for (uint64_t k = 0; k < 10000; k++) {
        uint64_t i = (k * 7919) % 10000;
        if (i % 3 != 0)
            continue;
        char out[32];
        snprintf(out, sizeof out, "o%llu\xc3\xa9", (unsigned long long)i);
        struct tf_result r = {.id = i,
                              .status = (int8_t)(1 + i % 4),
                              .exit_code = (int32_t)i % 7,
                              .signal = (int32_t)(i % 5),
                              .rank = 1 + (int32_t)(i % 2),
                              .attempts = 1,
                              .start = (double)i,
                              .end = (double)i + 0.5,
                              .out = out,
                              .out_len = strlen(out),
                              .err = "",
                              .err_len = 0,
                              .out_truncated = i % 2 == 0};
        ck_assert_int_eq(tf_h5out_put_result(h, &r, i % 2 ? "nodeA" : "nodeB"), TF_OK);
    }
    uint64_t counts[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(tf_h5out_close(h, 2.0, counts), TF_OK);

    struct tf_result *rows = calloc(10000, sizeof *rows);
    char **cmds = calloc(10000, sizeof *cmds);
    ck_assert_int_eq(tf_h5out_read_rows(path, 0, 10000, rows, cmds), TF_OK);
    for (uint64_t i = 0; i < 10000; i++) {
        char want[32];
        snprintf(want, sizeof want, "echo %llu", (unsigned long long)i);
        ck_assert_str_eq(cmds[i], want);
        if (i % 3 != 0) {
            ck_assert_int_eq(rows[i].status, TF_TASK_NOT_RUN);
            ck_assert_int_eq(rows[i].exit_code, -1);
            ck_assert_int_eq(rows[i].rank, -1);
            ck_assert(isnan(rows[i].start) && isnan(rows[i].end));
            ck_assert_str_eq(rows[i].out, "");
        } else {
            snprintf(want, sizeof want, "o%llu\xc3\xa9", (unsigned long long)i);
            ck_assert_int_eq(rows[i].status, 1 + i % 4);
            ck_assert_int_eq(rows[i].exit_code, (int32_t)i % 7);
            ck_assert_int_eq(rows[i].signal, (int32_t)(i % 5));
            ck_assert_int_eq(rows[i].rank, 1 + (int32_t)(i % 2));
            ck_assert(rows[i].start == (double)i && rows[i].end == (double)i + 0.5);
            ck_assert_str_eq(rows[i].out, want);
            ck_assert_str_eq(rows[i].host, i % 2 ? "nodeA" : "nodeB");
            ck_assert_int_eq(rows[i].out_truncated, i % 2 == 0);
        }
        tf_result_fini(&rows[i]);
        free(cmds[i]);
    }
    free(rows);
    free(cmds);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(existing_file_refused_without_overwrite)
{
    char *path = tf_test_path("exists.h5");
    tf_test_write(path, "precious", 8);
    const struct tf_run_meta m = meta(1);
    struct tf_h5out *h = NULL;
    char err[512] = "";
    ck_assert_int_ne(tf_h5out_create(path, false, &m, &h, err, sizeof err), TF_OK);
    ck_assert_ptr_null(h);
    ck_assert_ptr_nonnull(strstr(err, path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 8); /* untouched */
    ck_assert_int_eq(tf_h5out_create(path, true, &m, &h, err, sizeof err), TF_OK);
    uint64_t counts[5] = {1, 0, 0, 0, 0};
    ck_assert_int_eq(tf_h5out_close(h, 2.0, counts), TF_OK);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(zero_tasks_is_a_valid_file)
{
    char *path = tf_test_path("zero.h5");
    const struct tf_run_meta m = meta(0);
    struct tf_h5out *h;
    char err[512];
    ck_assert_int_eq(tf_h5out_create(path, false, &m, &h, err, sizeof err), TF_OK);
    uint64_t counts[5] = {0};
    ck_assert_int_eq(tf_h5out_close(h, 2.0, counts), TF_OK);
    ck_assert_int_eq(tf_h5out_read_rows(path, 0, 0, NULL, NULL), TF_OK);
    unlink(path);
    free(path);
}
END_TEST

static Suite *h5out_suite(void)
{
    Suite *s = suite_create("h5out");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, round_trip_out_of_order);
    tcase_add_test(tc, existing_file_refused_without_overwrite);
    tcase_add_test(tc, zero_tasks_is_a_valid_file);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(h5out_suite)
