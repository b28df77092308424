/* test_h5out.c - result file round trip: rows written out of order read back in place,
 * unwritten rows read as "not run", and an existing file is never overwritten by accident;
 * what the readers' validation refuses (issue 14), crafted through the writer's own API;
 * LOST rows (format 4) and files of format 3 (read as they are, upgraded by a resume),
 * crafted with HDF5 itself.
 */
#include <hdf5.h>
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
    uint64_t counts[TF_TASK_STATUS_COUNT] = {1, 2, 3, 4, 5, 6};
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
    uint64_t counts[TF_TASK_STATUS_COUNT] = {1};
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
    uint64_t counts[TF_TASK_STATUS_COUNT] = {0};
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
    uint64_t counts[TF_TASK_STATUS_COUNT];
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

/* The 3-task file of the LOST tests: task 0 succeeded, task 1 failed, task 2 not run. */
static void two_results(struct tf_h5out *h)
{
    for (uint64_t i = 0; i < 2; i++) {
        struct tf_result r = {.id = i,
                              .status = i == 0 ? TF_TASK_SUCCEEDED : TF_TASK_FAILED,
                              .exit_code = (int32_t)i,
                              .rank = 1,
                              .slot = 0,
                              .attempts = 1,
                              .start = 10.0,
                              .end = 11.0};
        ck_assert_int_eq(tf_h5out_put_result(h, &r, "n1"), TF_OK);
    }
}

/* What the master stores for a task whose second worker died under it. */
static struct tf_result lost_row(uint64_t id)
{
    return (struct tf_result){.id = id,
                              .status = TF_TASK_LOST,
                              .exit_code = -1,
                              .rank = 2,
                              .slot = 1,
                              .attempts = 2,
                              .start = 20.0,
                              .end = 25.0,
                              .max_rss = -1};
}

static int64_t attr_i64(const char *path, const char *name)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t v = -99;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Aread(a, H5T_NATIVE_INT64, &v), 0);
    H5Aclose(a);
    H5Fclose(f);
    return v;
}

/* Members of /tasks/status's enum; whether name has a link in /tasks. */
static int status_members(const char *path, const char *name, bool *has)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "tasks/status", H5P_DEFAULT), t = H5Dget_type(d);
    int n = H5Tget_nmembers(t);
    char where[64];
    snprintf(where, sizeof where, "tasks/%s", name);
    *has = H5Lexists(f, where, H5P_DEFAULT) > 0;
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(f);
    return n;
}

START_TEST(a_lost_row_round_trips)
{
    char *path = file_with("lost.h5", two_results);
    struct tf_h5out *h;
    char err[1024];
    struct tf_run_meta m = meta(3);
    ck_assert_int_eq(tf_h5out_open(path, &m, &h, err, sizeof err), TF_OK);
    struct tf_result r = lost_row(2);
    ck_assert_int_eq(tf_h5out_put_result(h, &r, "n2"), TF_OK);
    uint64_t counts[TF_TASK_STATUS_COUNT];
    ck_assert_int_eq(tf_h5out_close(h, 30.0, counts), TF_OK);
    ck_assert_uint_eq(counts[TF_TASK_LOST], 1);
    ck_assert_uint_eq(counts[TF_TASK_SUCCEEDED], 1);
    ck_assert_uint_eq(counts[TF_TASK_FAILED], 1);
    ck_assert_uint_eq(counts[TF_TASK_NOT_RUN], 0);
    ck_assert_int_eq(attr_i64(path, "tasks_lost"), 1);
    ck_assert_int_eq(attr_i64(path, "format_version"), 4);

    struct tf_result rows[3];
    ck_assert_int_eq(tf_h5out_read_rows(path, 0, 3, rows, NULL), TF_OK);
    ck_assert_int_eq(rows[2].status, TF_TASK_LOST);
    ck_assert_int_eq(rows[2].attempts, 2);
    ck_assert_int_eq(rows[2].rank, 2);
    ck_assert_str_eq(rows[2].host, "n2");
    ck_assert(rows[2].start == 20.0 && rows[2].end == 25.0);
    ck_assert_int_eq(rows[1].status, TF_TASK_FAILED);
    for (int i = 0; i < 3; i++)
        tf_result_fini(&rows[i]);

    struct tf_h5out_info info;
    ck_assert_int_eq(tf_h5out_inspect(path, &info, err, sizeof err), TF_OK);
    ck_assert_int_eq(info.format_version, 4);
    struct tf_h5out_summary sum;
    ck_assert_int_eq(tf_h5out_summary(path, &sum, err, sizeof err), TF_OK);
    ck_assert_uint_eq(sum.counts[TF_TASK_LOST], 1);
    ck_assert_int_eq(sum.nfailed, 2); /* did not succeed: the failed and the lost one */
    ck_assert_int_eq(sum.failed[1].status, TF_TASK_LOST);
    tf_h5out_summary_fini(&sum);
    bool closed = false;
    ck_assert_int_eq(tf_h5out_count(path, counts, &closed, err, sizeof err), TF_OK);
    ck_assert(closed);
    ck_assert_uint_eq(counts[TF_TASK_LOST], 1);
    ck_assert_str_eq(tf_task_status_name(TF_TASK_LOST), "LOST");
    ck_assert_str_eq(tf_task_status_name(TF_TASK_STATUS_COUNT), "UNKNOWN");
    unlink(path);
    free(path);
}
END_TEST

/* The file at path made what a taskfarm of format 3 wrote: /tasks/status with the 5-member
 * enum (values kept; `extra` written raw into row 2 when >= 0), format_version 3, no
 * tasks_lost. */
static void make_format3(const char *path, int extra)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    int8_t v[3];
    hid_t d = H5Dopen2(f, "tasks/status", H5P_DEFAULT), raw = H5Dget_type(d);
    ck_assert_int_ge(H5Dread(d, raw, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    H5Tclose(raw);
    H5Dclose(d);
    ck_assert_int_ge(H5Ldelete(f, "tasks/status", H5P_DEFAULT), 0);
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    for (int8_t k = 0; k <= TF_TASK_TIMED_OUT; k++)
        H5Tenum_insert(t, tf_task_status_name(k), &k);
    hsize_t n = 3, chunk = 3, max = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &n, &max), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    d = H5Dcreate2(f, "tasks/status", t, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    if (extra >= 0)
        v[2] = (int8_t)extra;
    ck_assert_int_ge(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0); /* raw: no conversion */
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Tclose(t);
    int64_t three = 3;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_INT64, &three), 0);
    H5Aclose(a);
    if (H5Aexists(f, "tasks_lost") > 0)
        H5Adelete(f, "tasks_lost");
    H5Fclose(f);
}

START_TEST(a_format3_file_is_read_and_upgraded_by_a_resume)
{
    char *path = file_with("f3.h5", two_results);
    make_format3(path, -1);
    bool has = true;
    ck_assert_int_eq(status_members(path, "status", &has), 5);
    char err[1024];
    struct tf_h5out_info info;
    ck_assert_int_eq(tf_h5out_inspect(path, &info, err, sizeof err), TF_OK);
    ck_assert_int_eq(info.format_version, 3);
    struct tf_result rows[3];
    ck_assert_int_eq(tf_h5out_read_rows(path, 0, 3, rows, NULL), TF_OK);
    ck_assert_int_eq(rows[0].status, TF_TASK_SUCCEEDED);
    ck_assert_int_eq(rows[1].status, TF_TASK_FAILED);
    ck_assert_int_eq(rows[2].status, TF_TASK_NOT_RUN);
    for (int i = 0; i < 3; i++)
        tf_result_fini(&rows[i]);
    struct tf_h5out_summary sum;
    ck_assert_int_eq(tf_h5out_summary(path, &sum, err, sizeof err), TF_OK);
    ck_assert_uint_eq(sum.counts[TF_TASK_SUCCEEDED], 1);
    ck_assert_uint_eq(sum.counts[TF_TASK_FAILED], 1);
    ck_assert_uint_eq(sum.counts[TF_TASK_NOT_RUN], 1);
    tf_h5out_summary_fini(&sum);

    /* a resume makes it format 4, keeps what it held, and can store LOST */
    struct tf_h5out *h;
    struct tf_run_meta m = meta(3);
    ck_assert_int_eq(tf_h5out_open(path, &m, &h, err, sizeof err), TF_OK);
    struct tf_result r = lost_row(2);
    ck_assert_int_eq(tf_h5out_put_result(h, &r, NULL), TF_OK);
    uint64_t counts[TF_TASK_STATUS_COUNT];
    ck_assert_int_eq(tf_h5out_close(h, 30.0, counts), TF_OK);
    ck_assert_uint_eq(counts[TF_TASK_LOST], 1);
    ck_assert_int_eq(attr_i64(path, "format_version"), 4);
    ck_assert_int_eq(status_members(path, "status.format4", &has), 6);
    ck_assert(!has); /* the temporary name is gone */
    ck_assert_int_eq(tf_h5out_inspect(path, &info, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_h5out_read_rows(path, 0, 3, rows, NULL), TF_OK);
    ck_assert_int_eq(rows[0].status, TF_TASK_SUCCEEDED);
    ck_assert_int_eq(rows[1].status, TF_TASK_FAILED);
    ck_assert_int_eq(rows[2].status, TF_TASK_LOST);
    for (int i = 0; i < 3; i++)
        tf_result_fini(&rows[i]);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(statuses_outside_the_files_format_refused)
{
    /* LOST (5) in a file of format 3, whose enum has no 5 */
    char *path = file_with("f3bad.h5", two_results);
    make_format3(path, TF_TASK_LOST);
    refused(path, "/tasks/status row 2 holds 5, which is no status (0 to 4)");
    unlink(path);
    free(path);
    /* the 6-member enum in a file that says format 3 */
    path = file_with("f3enum.h5", two_results);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    int64_t three = 3;
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_INT64, &three), 0);
    H5Aclose(a);
    H5Fclose(f);
    refused(path, "/tasks/status is not of the type taskfarm writes (the status enum of formats "
                  "2 and 3");
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
    tcase_add_test(tc, a_lost_row_round_trips);
    tcase_add_test(tc, a_format3_file_is_read_and_upgraded_by_a_resume);
    tcase_add_test(tc, statuses_outside_the_files_format_refused);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(h5out_suite)
