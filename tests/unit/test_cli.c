/* test_cli.c - argv to config: defaults, every option, and each usage error as one line;
 * the checks on outputs (writes.h) and that an error is printed as one line. */
#include "cli.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "log.h"
#include "tf_check.h"
#include "writes.h"

static enum tf_cli_outcome parse(struct tf_config *cfg, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    FILE *e = fmemopen(err, 1024, "w");
    memset(err, 0, 1024);
    enum tf_cli_outcome o = tf_cli_parse(argc, argv, cfg, NULL, e);
    fclose(e);
    return o;
}

START_TEST(defaults)
{
    struct tf_config c;
    char err[1024];
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "dir/sweep.tasks", NULL), TF_CLI_RUN);
    ck_assert_str_eq(c.taskfile, "dir/sweep.tasks");
    ck_assert_str_eq(c.output, "sweep.h5");
    ck_assert_int_eq(c.mode, TF_MODE_AUTO);
    ck_assert_uint_eq(c.capture_bytes, 1048576);
    ck_assert(!c.force);
    ck_assert_str_eq(c.command_line, "taskfarm run dir/sweep.tasks");
    tf_config_fini(&c);
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "noext", NULL), TF_CLI_RUN);
    ck_assert_str_eq(c.output, "noext.h5");
    tf_config_fini(&c);
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", ".hidden", NULL), TF_CLI_RUN);
    ck_assert_str_eq(c.output, ".hidden.h5");
    tf_config_fini(&c);
}
END_TEST

START_TEST(all_options_any_order)
{
    struct tf_config c;
    char err[1024];
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "--mode", "process", "t.txt", "-o",
                           "out dir/r.h5", "--capture=64K", "--force", "-v", NULL),
                     TF_CLI_RUN);
    ck_assert_str_eq(c.output, "out dir/r.h5");
    ck_assert_int_eq(c.mode, TF_MODE_PROCESS);
    ck_assert_uint_eq(c.capture_bytes, 65536);
    ck_assert(c.force);
    ck_assert_int_eq(c.verbosity, 1);
    ck_assert_str_eq(
        c.command_line,
        "taskfarm run --mode process t.txt -o 'out dir/r.h5' --capture=64K --force -v");
    tf_config_fini(&c);
}
END_TEST

static void expect_usage(const char *needle, char *err, enum tf_cli_outcome o)
{
    ck_assert_int_eq(o, TF_CLI_USAGE);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
    ck_assert_ptr_eq(strchr(err, '\n'), err + strlen(err) - 1); /* exactly one line */
}

START_TEST(usage_errors_name_the_problem)
{
    struct tf_config c;
    char err[1024];
    expect_usage("missing command", err, parse(&c, err, "taskfarm", NULL));
    expect_usage("unknown command 'go'", err, parse(&c, err, "taskfarm", "go", NULL));
    expect_usage("missing TASKFILE", err, parse(&c, err, "taskfarm", "run", NULL));
    expect_usage("unknown option '--bogus'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--bogus", NULL));
    expect_usage("option '--mode' needs a value", err,
                 parse(&c, err, "taskfarm", "run", "t", "--mode", NULL));
    expect_usage("option '-o' needs a value", err,
                 parse(&c, err, "taskfarm", "run", "t", "-o", NULL));
    expect_usage("invalid --mode 'fast'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--mode", "fast", NULL));
    expect_usage("invalid --capture '-5'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--capture", "-5", NULL));
    expect_usage("unexpected argument 'u'", err, parse(&c, err, "taskfarm", "run", "t", "u", NULL));
    expect_usage("empty value for --output", err,
                 parse(&c, err, "taskfarm", "run", "t", "-o", "", NULL));
}
END_TEST

START_TEST(reliability_options)
{
    struct tf_config c;
    char err[1024];
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "t", "--timeout", "1:30", "--kill-grace",
                           "0", "--retries", "3", "--max-failures", "7", "--drain", "2m",
                           "--retry-failed", "--walltime", "1-00:00:00", "--expected-duration",
                           "2.5", "--allow-changed-taskfile", "--no-journal", NULL),
                     TF_CLI_RUN);
    ck_assert_double_eq(c.timeout, 90);
    ck_assert_double_eq(c.kill_grace, 0);
    ck_assert_int_eq(c.retries, 3);
    ck_assert_uint_eq(c.max_failures, 7);
    ck_assert_double_eq(c.drain, 120);
    ck_assert(c.resume && c.retry_failed && c.allow_changed && c.no_journal);
    ck_assert_double_eq(c.walltime, 86400);
    ck_assert_double_eq(c.expected_duration, 2.5);
    tf_config_fini(&c);
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "t", "--fail-fast", NULL), TF_CLI_RUN);
    ck_assert_uint_eq(c.max_failures, 1);
    ck_assert_double_eq(c.kill_grace, 5); /* defaults */
    ck_assert_double_eq(c.drain, 20);
    ck_assert(!c.resume);
    tf_config_fini(&c);
    expect_usage("invalid duration 'soon'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--timeout", "soon", NULL));
    expect_usage("invalid duration '0'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--timeout", "0", NULL));
    expect_usage("invalid --retries '-1'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--retries", "-1", NULL));
    expect_usage("invalid --max-failures '0'", err,
                 parse(&c, err, "taskfarm", "run", "t", "--max-failures", "0", NULL));
    expect_usage("choose one", err,
                 parse(&c, err, "taskfarm", "run", "t", "--resume", "--force", NULL));
}
END_TEST

START_TEST(help_and_version_are_done)
{
    struct tf_config c;
    char err[1024];
    ck_assert_int_eq(parse(&c, err, "taskfarm", "--help", NULL), TF_CLI_DONE);
    ck_assert_int_eq(parse(&c, err, "taskfarm", "--version", NULL), TF_CLI_DONE);
    ck_assert_int_eq(parse(&c, err, "taskfarm", "run", "--help", NULL), TF_CLI_DONE);
    ck_assert_str_eq(err, "");
}
END_TEST

/* What tf_print_error writes to stderr, for a message holding line breaks. */
START_TEST(print_error_is_one_line)
{
    char *path = tf_test_path("stderr");
    fflush(stderr);
    int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    tf_print_error("cannot create '%s': %s", "x.h5", "HDF5 says\nmore\r\nand more\n");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "taskfarm: error: cannot create 'x.h5': HDF5 says more  and more\n");
    unlink(path);
    free(path);
}
END_TEST

START_TEST(outputs_refused_before_writing)
{
    char err[1024], *file = tf_test_path("out"), *link = tf_test_path("link");
    char *dangling = tf_test_path("dangling"), *tmp = tf_test_path("tmp");
    tf_test_write(file, "x", 1);
    ck_assert_int_eq(symlink(file, link), 0);
    ck_assert_int_eq(symlink("/nonexistent/nothing.h5", dangling), 0);
    ck_assert(tf_writes_check_output(file, err, sizeof err));
    ck_assert(!tf_writes_check_output(dangling, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "which does not exist"));
    ck_assert(!tf_writes_check_output("/dev/null", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "not a regular file (a character device)"));
    ck_assert(!tf_writes_check_output("/usr", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "is a directory"));
    ck_assert(!tf_writes_check_output("new/", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "must name a file"));
    /* an alias, by symlink, of an input */
    ck_assert(tf_writes_not_input(tmp, file, "the task file", err, sizeof err));
    ck_assert(!tf_writes_not_input(link, file, "the task file", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "under another name"));
    char *target = tf_writes_target(link);
    ck_assert_ptr_nonnull(strstr(target, "out."));
    free(target);
    /* names: 250 bytes fit, their temporary name and the journal's do not */
    char name[300];
    memset(name, 'a', 250);
    strcpy(name + 250, ".h5");
    static const char *const suffixes[] = {".journal"};
    ck_assert(!tf_writes_check_names(name, suffixes, 1, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "too long"));
    name[200] = '\0';
    ck_assert(tf_writes_check_names(name, suffixes, 1, err, sizeof err));
    /* placing without replacing refuses a name that exists, and keeps it */
    tf_test_write(tmp, "new", 3);
    ck_assert_int_eq(tf_writes_place(tmp, file, false), -1);
    ck_assert_int_eq(errno, EEXIST);
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 1);
    ck_assert_int_eq(tf_writes_place(tmp, file, true), 0);
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_size, 3);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    unlink(file);
    unlink(link);
    unlink(dangling);
    free(file);
    free(link);
    free(dangling);
    free(tmp);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, all_options_any_order);
    tcase_add_test(tc, reliability_options);
    tcase_add_test(tc, usage_errors_name_the_problem);
    tcase_add_test(tc, help_and_version_are_done);
    tcase_add_test(tc, print_error_is_one_line);
    tcase_add_test(tc, outputs_refused_before_writing);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(cli_suite)
