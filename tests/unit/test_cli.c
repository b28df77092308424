/* test_cli.c - argv to config: defaults, every option, and each usage error as one line. */
#include "cli.h"
#include <stdarg.h>

#include "tf_check.h"

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

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, all_options_any_order);
    tcase_add_test(tc, reliability_options);
    tcase_add_test(tc, usage_errors_name_the_problem);
    tcase_add_test(tc, help_and_version_are_done);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(cli_suite)
