/* test_h5out.c - result file round trip: rows written out of order read back in place,
 * unwritten rows read as "not run", and an existing file is never overwritten by accident;
 * what the readers' validation refuses (issue 14), crafted through the writer's own API.
 */
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* A closed 3-task file, changed by fn before it is closed. */
static char *file_with(const char *name, void (*fn)(struct tf_h5out *h))
{
    char *path = tf_test_path(name);
    unlink(path);
    const struct tf_run_meta m = meta(3);
    struct tf_h5out *h;
    char err[512];
    ck_assert_int_eq(tf_h5out_create(path, false, &m, &h, err, sizeof err), TF_OK);
    if (fn)
        fn(h);
    uint64_t counts[5];
    ck_assert_int_eq(tf_h5out_close(h, 2.0, counts), TF_OK);
    return path;
}

/* inspect, summary and each_timing all refuse with TF_EINPUT and a line holding want. */
static void refused(const char *path, const char *want)
{
    struct tf_h5out_info info;
    struct tf_h5out_summary sum;
    char err[1024] = "";
    ck_assert_int_eq(tf_h5out_inspect(path, &info, err, sizeof err), TF_EINPUT);
    ck_assert_msg(strstr(err, want) && !strchr(err, '\n'), "inspect: '%s' lacks '%s'", err, want);
    err[0] = '\0';
    ck_assert_int_eq(tf_h5out_summary(path, &sum, err, sizeof err), TF_EINPUT);
    ck_assert_msg(strstr(err, want), "summary: '%s' lacks '%s'", err, want);
}

static void ntasks_array(struct tf_h5out *h)
{
    const int32_t v[2] = {3, 4}; /* C3: an array where one value is read */
    ck_assert_int_eq(tf_h5out_note_i32s(h, "ntasks", v, 2), TF_OK);
}

static void many_workers(struct tf_h5out *h)
{
    ck_assert_int_eq(tf_h5out_note_i64(h, "nworkers", 100000000), TF_OK); /* H3 */
}

static void huge_ntasks(struct tf_h5out *h)
{
    ck_assert_int_eq(tf_h5out_note_i64(h, "ntasks", INT64_C(1) << 62), TF_OK); /* H2 */
}

static void no_tasks(struct tf_h5out *h)
{
    ck_assert_int_eq(tf_h5out_note_i64(h, "ntasks", 0), TF_OK); /* W8: 3 rows */
}

static void map_kind(struct tf_h5out *h)
{
    ck_assert_int_eq(tf_h5out_note_str(h, "kind", "map"), TF_OK);
}

START_TEST(what_taskfarm_writes_is_accepted)
{
    char *path = file_with("ok.h5", NULL);
    struct tf_h5out_info info;
    char err[1024];
    ck_assert_int_eq(tf_h5out_inspect(path, &info, err, sizeof err), TF_OK);
    ck_assert_uint_eq(info.ntasks, 3);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(malformed_files_refused)
{
    static const struct {
        const char *name;
        void (*fn)(struct tf_h5out *h);
        const char *want;
    } cases[] = {
        {"arr.h5", ntasks_array, "attribute ntasks is not one value"},
        {"workers.h5", many_workers, "attribute nworkers is 100000000"},
        {"huge.h5", huge_ntasks, "attribute ntasks is 4611686018427387904"},
        {"none.h5", no_tasks, "/tasks/command has 3 rows, ntasks says 0"},
        {"map.h5", map_kind, "in-process map"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = file_with(cases[i].name, cases[i].fn);
        refused(path, cases[i].want);
        unlink(path);
        free(path);
    }
}
END_TEST

START_TEST(fifo_refused_not_waited_on)
{
    char *path = tf_test_path("fifo.h5");
    unlink(path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    refused(path, "is not a regular file (a FIFO)"); /* H4: returns at once */
    unlink(path);
    free(path);
}
END_TEST

START_TEST(dangling_symlink_output_said_plainly)
{
    char *path = tf_test_path("dangling.h5");
    unlink(path);
    ck_assert_int_eq(symlink("nonexistent-target.h5", path), 0);
    const struct tf_run_meta m = meta(1);
    struct tf_h5out *h = NULL;
    char err[512] = "";
    ck_assert_int_eq(tf_h5out_create(path, false, &m, &h, err, sizeof err), TF_EINPUT);
    ck_assert_msg(strstr(err, "symbolic link to 'nonexistent-target.h5'"), "%s", err);
    ck_assert_ptr_null(strstr(err, "errno")); /* U2: no HDF5 text */
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
    tcase_add_test(tc, what_taskfarm_writes_is_accepted);
    tcase_add_test(tc, malformed_files_refused);
    tcase_add_test(tc, fifo_refused_not_waited_on);
    tcase_add_test(tc, dangling_symlink_output_said_plainly);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(h5out_suite)
