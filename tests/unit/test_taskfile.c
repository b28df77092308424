/* test_taskfile.c - the task file reader: what is a task, what is refused and how. */
#include "taskfile.h"
#include "tf_check.h"

#include <sys/stat.h>

static enum tf_status scan(const void *data, size_t n, struct tf_taskfile_info *info, char *err)
{
    char *path = tf_test_path("tasks");
    tf_test_write(path, data, n);
    enum tf_status st = tf_taskfile_scan(path, info, err, 512);
    unlink(path);
    free(path);
    return st;
}

START_TEST(tasks_comments_blanks_and_line_numbers)
{
    const char text[] = "# header\n\necho a\n   \n  # indented comment\n\tls -l  \necho 'b#c'";
    char *path = tf_test_path("tasks");
    tf_test_write(path, text, sizeof text - 1);
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(tf_taskfile_scan(path, &info, err, sizeof err), TF_OK);
    ck_assert_uint_eq(info.ntasks, 3);
    ck_assert_uint_eq(info.nlines, 7);

    struct tf_taskfile *tf;
    struct tf_task t;
    bool got;
    ck_assert_int_eq(tf_taskfile_open(path, &tf, err, sizeof err), TF_OK);
    const char *want[] = {"echo a", "\tls -l  ", "echo 'b#c'"};
    const uint64_t lines[] = {3, 6, 7};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tf_taskfile_next(tf, &t, &got), TF_OK);
        ck_assert(got);
        ck_assert_uint_eq(t.id, (uint64_t)i);
        ck_assert_uint_eq(t.line, lines[i]);
        ck_assert_str_eq(t.command, want[i]);
        ck_assert_uint_eq(t.command_len, strlen(want[i]));
    }
    ck_assert_int_eq(tf_taskfile_next(tf, &t, &got), TF_OK);
    ck_assert(!got);
    tf_taskfile_close(tf);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(sha256_is_of_the_file_bytes)
{
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(scan("abc", 3, &info, err), TF_OK);
    ck_assert_str_eq(info.sha256,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_uint_eq(info.nbytes, 3);
}
END_TEST

START_TEST(empty_file_is_zero_tasks)
{
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(scan("", 0, &info, err), TF_OK);
    ck_assert_uint_eq(info.ntasks, 0);
    ck_assert_int_eq(scan("# only\n\n", 8, &info, err), TF_OK);
    ck_assert_uint_eq(info.ntasks, 0);
}
END_TEST

static void expect_refusal(const void *data, size_t n, const char *needle)
{
    struct tf_taskfile_info info;
    char err[512] = "";
    ck_assert_int_eq(scan(data, n, &info, err), TF_EINPUT);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' does not contain '%s'", err, needle);
    ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(refuses_nul_crlf_utf8_with_line_numbers)
{
    expect_refusal("echo a\necho \0b\n", 15, ":2: a NUL byte at column 6");
    expect_refusal("echo a\r\necho b\r\n", 16, ":1: a carriage return");
    expect_refusal("echo ok\n\necho \xff\n", 15, ":3: invalid UTF-8 at column 6");
    expect_refusal("echo \xc3\n", 7, ":1: invalid UTF-8");
}
END_TEST

START_TEST(refuses_line_over_limit_but_accepts_limit)
{
    size_t n = TF_TASKFILE_MAX_LINE;
    char *big = malloc(n + 3);
    memset(big, 'x', n + 2);
    big[0] = ':'; /* a valid shell command, ':' followed by a long word */
    big[1] = ' ';
    big[n] = '\n';
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(scan(big, n + 1, &info, err), TF_OK); /* exactly at the limit */
    big[n] = 'x';
    big[n + 1] = '\n';
    expect_refusal(big, n + 2, ":1: line is longer than");
    free(big);
}
END_TEST

START_TEST(refuses_missing_and_directory)
{
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(tf_taskfile_scan("/nonexistent/tasks.txt", &info, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "cannot open task file '/nonexistent/tasks.txt'"));
    ck_assert_int_eq(tf_taskfile_scan("/tmp", &info, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "is a directory"));
}
END_TEST

START_TEST(offsets_allow_reading_out_of_order)
{
    const char text[] = "# c\necho zero\n\necho one\necho two\n";
    char *path = tf_test_path("tasks");
    tf_test_write(path, text, sizeof text - 1);
    struct tf_taskfile *tf;
    struct tf_task t[3], u;
    bool got;
    char err[512];
    ck_assert_int_eq(tf_taskfile_open(path, &tf, err, sizeof err), TF_OK);
    uint64_t off[3], line[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(tf_taskfile_next(tf, &t[i], &got), TF_OK);
        off[i] = t[i].offset;
        line[i] = t[i].line;
    }
    ck_assert_uint_eq(off[0], 4);
    ck_assert_uint_eq(off[2], 24);
    for (int i = 2; i >= 0; i--) {
        ck_assert_int_eq(tf_taskfile_read_at(tf, (uint64_t)i, line[i], off[i], &u), TF_OK);
        ck_assert_uint_eq(u.id, (uint64_t)i);
        ck_assert_uint_eq(u.line, line[i]);
        ck_assert_str_eq(u.command, i == 0 ? "echo zero" : i == 1 ? "echo one" : "echo two");
    }
    tf_taskfile_close(tf);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(refuses_fifo_without_waiting)
{
    char *path = tf_test_path("fifo");
    unlink(path);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    struct tf_taskfile_info info;
    char err[512];
    ck_assert_int_eq(tf_taskfile_scan(path, &info, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "is not a regular file (a FIFO)"));
    unlink(path);
    free(path);
}
END_TEST

/* D6: a file rewritten after the scan is never read as tasks: no torn line. */
START_TEST(changed_file_stops_the_readers)
{
    char *path = tf_test_path("tasks");
    tf_test_write(path, "echo one\necho two\necho three\n", 29);
    struct tf_taskfile_info info;
    struct tf_taskfile *tf;
    struct tf_task t;
    bool got;
    char err[512];
    ck_assert_int_eq(tf_taskfile_scan(path, &info, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_taskfile_open(path, &tf, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_taskfile_next(tf, &t, &got), TF_OK);
    ck_assert_str_eq(t.command, "echo one");
    ck_assert_ptr_null(tf_taskfile_changed(tf));
    FILE *f = fopen(path, "w"); /* truncated and rewritten in place */
    fputs("echo X\n", f);
    fclose(f);
    usleep(60 * 1000); /* between reads the file is looked at every 50 ms */
    ck_assert_int_eq(tf_taskfile_next(tf, &t, &got), TF_EINPUT);
    ck_assert(!got);
    ck_assert_ptr_nonnull(strstr(tf_taskfile_changed(tf), "its size went from 29 to 7 bytes"));
    ck_assert_int_eq(tf_taskfile_read_at(tf, 0, 1, 0, &t), TF_EINPUT);
    tf_taskfile_close(tf);

    /* replaced by rename, same size: the path names another file */
    tf_test_write(path, "echo one\n", 9);
    ck_assert_int_eq(tf_taskfile_scan(path, &info, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_taskfile_open(path, &tf, err, sizeof err), TF_OK);
    char *other = tf_test_path("other");
    tf_test_write(other, "echo two\n", 9);
    ck_assert_int_eq(rename(other, path), 0);
    usleep(60 * 1000);
    ck_assert_int_eq(tf_taskfile_next(tf, &t, &got), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(tf_taskfile_changed(tf), "another file"));
    tf_taskfile_close(tf);
    unlink(path);
    free(path);
    free(other);
}
END_TEST

static Suite *taskfile_suite(void)
{
    Suite *s = suite_create("taskfile");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, tasks_comments_blanks_and_line_numbers);
    tcase_add_test(tc, sha256_is_of_the_file_bytes);
    tcase_add_test(tc, empty_file_is_zero_tasks);
    tcase_add_test(tc, refuses_nul_crlf_utf8_with_line_numbers);
    tcase_add_test(tc, refuses_line_over_limit_but_accepts_limit);
    tcase_add_test(tc, refuses_missing_and_directory);
    tcase_add_test(tc, offsets_allow_reading_out_of_order);
    tcase_add_test(tc, refuses_fifo_without_waiting);
    tcase_add_test(tc, changed_file_stops_the_readers);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(taskfile_suite)
