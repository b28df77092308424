/* test_exec.c - the executor against real shell commands: outcomes, capture, caps,
 * environment, and tasks that misbehave.
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "exec.h"
#include "slots.h"
#include "tf_check.h"
#include "util.h"

static struct tf_result run(const char *cmd, size_t cap)
{
    struct tf_exec_env env = {.ntasks = 42, .rank = 7, .capture_max = cap};
    struct tf_task t = {.id = 5, .line = 9, .command = cmd, .command_len = strlen(cmd)};
    struct tf_result r;
    tf_exec_run(&env, &t, NULL, &r);
    return r;
}

START_TEST(success_and_capture)
{
    struct tf_result r = run("echo out; echo err >&2", 1024);
    ck_assert_int_eq(r.status, TF_TASK_SUCCEEDED);
    ck_assert_int_eq(r.exit_code, 0);
    ck_assert_int_eq(r.signal, 0);
    ck_assert_int_eq(r.rank, 7);
    ck_assert_uint_eq(r.id, 5);
    ck_assert_int_eq(r.attempts, 1);
    ck_assert_str_eq(r.out, "out\n");
    ck_assert_str_eq(r.err, "err\n");
    ck_assert(!r.out_truncated && !r.err_truncated);
    ck_assert(r.start > 1e9 && r.end >= r.start);
    tf_result_fini(&r);
}
END_TEST

START_TEST(failure_and_signal)
{
    struct tf_result r = run("exit 3", 64);
    ck_assert_int_eq(r.status, TF_TASK_FAILED);
    ck_assert_int_eq(r.exit_code, 3);
    tf_result_fini(&r);
    r = run("kill -SEGV $$", 64);
    ck_assert_int_eq(r.status, TF_TASK_KILLED);
    ck_assert_int_eq(r.signal, SIGSEGV);
    ck_assert_int_eq(r.exit_code, -1);
    tf_result_fini(&r);
    r = run("no-such-command-xyz", 1024);
    ck_assert_int_eq(r.status, TF_TASK_FAILED);
    ck_assert_int_eq(r.exit_code, 127);
    ck_assert_ptr_nonnull(strstr(r.err, "not found"));
    tf_result_fini(&r);
}
END_TEST

START_TEST(environment_and_stdin)
{
    setenv("TASKFARM_RANK", "stale", 1); /* must be replaced, not duplicated */
    struct tf_result r =
        run("echo $TASKFARM_TASK_ID $TASKFARM_NTASKS $TASKFARM_RANK; cat; echo end", 1024);
    ck_assert_str_eq(r.out, "5 42 7\nend\n"); /* cat reads /dev/null: immediate EOF */
    tf_result_fini(&r);
    r = run("[ $(cut -d' ' -f5 /proc/$$/stat) -eq $$ ] && echo own-group", 1024);
    ck_assert_str_eq(r.out, "own-group\n");
    tf_result_fini(&r);
}
END_TEST

START_TEST(cap_truncates_and_drains)
{
    /* 50 MB through a 1000-byte cap: kept bytes exact, the rest read and dropped */
    struct tf_result r = run("head -c 50000000 /dev/zero | tr '\\0' a; echo done >&2", 1000);
    ck_assert_int_eq(r.status, TF_TASK_SUCCEEDED);
    ck_assert_uint_eq(r.out_len, 1000);
    ck_assert(r.out_truncated);
    ck_assert_str_eq(r.err, "done\n");
    ck_assert(!r.err_truncated);
    tf_result_fini(&r);
    r = run("echo hidden", 0);
    ck_assert_str_eq(r.out, "");
    ck_assert(r.out_truncated);
    tf_result_fini(&r);
    r = run("printf 1234567890", 10); /* exactly the cap is not truncation */
    ck_assert_str_eq(r.out, "1234567890");
    ck_assert(!r.out_truncated);
    tf_result_fini(&r);
}
END_TEST

START_TEST(binary_output_becomes_valid_utf8)
{
    struct tf_result r = run("printf 'a\\377b\\000c'", 1024);
    ck_assert_str_eq(r.out, "a\xef\xbf\xbd"
                            "b\xef\xbf\xbd"
                            "c");
    tf_result_fini(&r);
}
END_TEST

START_TEST(background_children_are_killed)
{
    char cmd[256], path[200];
    snprintf(path, sizeof path, "/tmp/tf_exec_bg.%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s; echo started", path);
    double t0 = tf_monotonic();
    struct tf_result r = run(cmd, 1024);
    ck_assert_double_lt(tf_monotonic() - t0, 5.0); /* did not wait for the sleep */
    ck_assert_str_eq(r.out, "started\n");
    tf_result_fini(&r);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int pid = 0;
    ck_assert_int_eq(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(path);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    /* gone, or a zombie waiting for an init that does not reap (containers) */
    char stat_path[64], state = 'Z';
    snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", pid);
    f = fopen(stat_path, "r");
    if (f) {
        ck_assert_int_eq(fscanf(f, "%*d (%*[^)]) %c", &state), 1);
        fclose(f);
    }
    ck_assert_int_eq(state, 'Z');
}
END_TEST

START_TEST(closed_stdout_still_waits_for_exit)
{
    struct tf_result r = run("exec >&- 2>&-; sleep 0.3; exit 4", 1024);
    ck_assert_int_eq(r.exit_code, 4);
    ck_assert_double_ge(r.end - r.start, 0.29);
    tf_result_fini(&r);
}
END_TEST

/* Lines of plain words skip the shell; the outcome must be what the shell gives. */
START_TEST(direct_exec_matches_the_shell)
{
    char script[128], cmd_script[160];
    snprintf(script, sizeof script, "/tmp/tf_noshebang.%d", (int)getpid());
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fputs("echo from a script without a shebang line\n", f);
    fclose(f);
    chmod(script, 0755);
    snprintf(cmd_script, sizeof cmd_script, "%s", script);
    const char *cmds[] = {
        "/bin/echo a  b\tc", "echo builtin", "ls /nonexistent-dir", "no-such-command-xyz 1",
        "env -u PATH true",  cmd_script,     "VAR=1 env",           "sleep 0",
        "cat --version=x",   "uname -s"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        struct tf_exec_env env = {.ntasks = 3, .rank = 1, .capture_max = 4096};
        struct tf_task t = {.id = 2, .command = cmds[i], .command_len = strlen(cmds[i])};
        struct tf_result direct, shell;
        tf_exec_run(&env, &t, NULL, &direct);
        env.always_shell = true;
        tf_exec_run(&env, &t, NULL, &shell);
        ck_assert_msg(direct.status == shell.status && direct.exit_code == shell.exit_code &&
                          direct.signal == shell.signal,
                      "'%s': direct %d/%d, shell %d/%d", cmds[i], direct.status, direct.exit_code,
                      shell.status, shell.exit_code);
        if (strcmp(cmds[i], "VAR=1 env") != 0) /* env differs only by the shell's own vars */
            ck_assert_str_eq(direct.out, shell.out);
        ck_assert_str_eq(direct.err, shell.err);
        tf_result_fini(&direct);
        tf_result_fini(&shell);
    }
    unlink(script);
}
END_TEST

/* Step every child until all are over; results into r[]. */
static void run_all(struct tf_child **c, int n, struct tf_result *r)
{
    int left = n;
    while (left > 0) {
        struct pollfd fds[64 * TF_EXEC_NFDS];
        for (int i = 0; i < n; i++) {
            if (c[i])
                tf_exec_pollfds(c[i], fds + i * TF_EXEC_NFDS);
            else
                for (int k = 0; k < TF_EXEC_NFDS; k++)
                    fds[i * TF_EXEC_NFDS + k] = (struct pollfd){.fd = -1};
        }
        int ready = poll(fds, (nfds_t)(n * TF_EXEC_NFDS), 20);
        for (int i = 0; i < n; i++)
            if (c[i] && tf_exec_step(c[i], ready > 0 ? fds + i * TF_EXEC_NFDS : NULL)) {
                tf_exec_finish(c[i], &r[i]);
                c[i] = NULL;
                left--;
            }
    }
}

/* One thread, many tasks at once: each with its slot's index and environment. */
START_TEST(many_tasks_at_once_in_their_slots)
{
    enum { N = 12 };
    struct tf_exec_env env = {.ntasks = N, .rank = 3, .capture_max = 1024};
    struct tf_child *c[N];
    struct tf_result r[N];
    char vars[N][32];
    const char *lists[N][2];
    const char *cmd = "sleep 0.4; echo $TASKFARM_SLOT $SLOT_VAR $TASKFARM_RANK";
    double t0 = tf_monotonic();
    for (int i = 0; i < N; i++) {
        snprintf(vars[i], sizeof vars[i], "SLOT_VAR=v%d", i);
        lists[i][0] = vars[i];
        lists[i][1] = NULL;
        struct tf_exec_slot slot = {.index = i, .env = lists[i]};
        struct tf_task t = {.id = (uint64_t)i, .command = cmd, .command_len = strlen(cmd)};
        c[i] = tf_exec_start(&env, &slot, &t);
    }
    run_all(c, N, r);
    ck_assert_double_lt(tf_monotonic() - t0, 0.4 * N / 3.0); /* not one after another */
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "%d v%d 3\n", i, i);
        ck_assert_int_eq(r[i].status, TF_TASK_SUCCEEDED);
        ck_assert_str_eq(r[i].out, want);
        ck_assert_int_eq(r[i].slot, i);
        ck_assert_uint_eq(r[i].id, (uint64_t)i);
        tf_result_fini(&r[i]);
    }
}
END_TEST

/* --bind: a task runs on its slot's cores; the starting thread keeps its own. */
START_TEST(bound_slot_runs_on_its_cores)
{
    cpu_set_t before, after;
    ck_assert_int_eq(sched_getaffinity(0, sizeof before, &before), 0);
    int core = -1;
    for (int i = 0; i < CPU_SETSIZE && core < 0; i++)
        if (CPU_ISSET(i, &before))
            core = i;
    uint64_t cpus[TF_CPU_WORDS] = {0};
    cpus[core / 64] |= (uint64_t)1 << (core % 64);
    struct tf_exec_env env = {.capture_max = 1024};
    struct tf_exec_slot slot = {.index = 0, .cpus = cpus};
    const char *cmd = "grep Cpus_allowed_list /proc/self/status | cut -f2";
    struct tf_task t = {.command = cmd, .command_len = strlen(cmd)};
    struct tf_child *c = tf_exec_start(&env, &slot, &t);
    struct tf_result r;
    run_all(&c, 1, &r);
    char want[16];
    snprintf(want, sizeof want, "%d\n", core);
    ck_assert_str_eq(r.out, want);
    tf_result_fini(&r);
    ck_assert_int_eq(sched_getaffinity(0, sizeof after, &after), 0);
    ck_assert(CPU_EQUAL(&before, &after));
}
END_TEST

static struct tf_result run_env(struct tf_exec_env *env, const char *cmd)
{
    struct tf_task t = {.id = 1,
                        .line = 2,
                        .offset = 30,
                        .attempts = 2,
                        .command = cmd,
                        .command_len = strlen(cmd)};
    struct tf_result r;
    tf_exec_run(env, &t, NULL, &r);
    return r;
}

START_TEST(timeout_terms_then_kills_the_group)
{
    struct tf_exec_env env = {.capture_max = 1024, .timeout = 0.5, .kill_grace = 0.5};
    struct tf_result r = run_env(&env, "sleep 20");
    ck_assert_int_eq(r.status, TF_TASK_TIMED_OUT);
    ck_assert_int_eq(r.signal, SIGTERM);
    ck_assert(r.end - r.start > 0.45 && r.end - r.start < 2);
    ck_assert_int_eq(r.attempts, 3); /* two before, this one */
    ck_assert_uint_eq(r.line, 2);
    ck_assert_uint_eq(r.offset, 30);
    tf_result_fini(&r);
    /* SIGTERM ignored by the shell and by what it starts: SIGKILL after the grace. */
    r = run_env(&env, "trap '' TERM; sleep 20; echo survived");
    ck_assert_int_eq(r.status, TF_TASK_TIMED_OUT);
    ck_assert_int_eq(r.signal, SIGKILL);
    ck_assert(r.end - r.start > 0.95 && r.end - r.start < 3);
    ck_assert_str_eq(r.out, "");
    tf_result_fini(&r);
    /* A task that exits on SIGTERM with its own code is still TIMED_OUT. */
    r = run_env(&env, "trap 'exit 0' TERM; while :; do sleep 0.05; done");
    ck_assert_int_eq(r.status, TF_TASK_TIMED_OUT);
    tf_result_fini(&r);
    /* Finishing within the limit is not affected. */
    r = run_env(&env, "echo quick");
    ck_assert_int_eq(r.status, TF_TASK_SUCCEEDED);
    tf_result_fini(&r);
}
END_TEST

/* Run cmd and cancel it at `level` once it has run `after` seconds. */
static struct tf_result cancelled(const char *cmd, int level, double after)
{
    struct tf_exec_env env = {.capture_max = 1024, .kill_grace = 5};
    struct tf_task t = {.id = 1, .command = cmd, .command_len = strlen(cmd)};
    struct tf_child *c = tf_exec_start(&env, NULL, &t);
    double t0 = tf_monotonic();
    bool over = false;
    while (!over) {
        struct pollfd fds[TF_EXEC_NFDS];
        tf_exec_pollfds(c, fds);
        int ready = poll(fds, TF_EXEC_NFDS, 20);
        if (tf_monotonic() - t0 >= after)
            tf_exec_cancel(c, level);
        over = tf_exec_step(c, ready > 0 ? fds : NULL);
    }
    struct tf_result r;
    tf_exec_finish(c, &r);
    return r;
}

START_TEST(cancel_leaves_the_task_not_run)
{
    struct tf_result r = cancelled("sleep 20", 1, 0.3);
    ck_assert_int_eq(r.status, TF_TASK_NOT_RUN);
    ck_assert(r.end - r.start < 2);
    tf_result_fini(&r);
    /* cancel 2: no grace, even for a task that ignores SIGTERM */
    double t1 = tf_monotonic();
    r = cancelled("trap '' TERM; sleep 20", 2, 0);
    ck_assert_int_eq(r.status, TF_TASK_NOT_RUN);
    ck_assert(tf_monotonic() - t1 < 2);
    tf_result_fini(&r);
    /* the blocking form reads its cancel flag */
    static volatile int flag = 2;
    struct tf_exec_env env = {.capture_max = 64, .kill_grace = 5};
    struct tf_task t = {.command = "sleep 20", .command_len = 8};
    t1 = tf_monotonic();
    tf_exec_run(&env, &t, &flag, &r);
    ck_assert_int_eq(r.status, TF_TASK_NOT_RUN);
    ck_assert(tf_monotonic() - t1 < 2);
    tf_result_fini(&r);
}
END_TEST

START_TEST(resource_use_is_recorded)
{
    struct tf_exec_env env = {.capture_max = 1024};
    struct tf_result r =
        run_env(&env, "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; echo $i");
    ck_assert_int_eq(r.status, TF_TASK_SUCCEEDED);
    ck_assert(r.cpu_user + r.cpu_system > 0.05);
    ck_assert(r.max_rss > 0);
    tf_result_fini(&r);
    /* 100 MB held by the shell itself shows in its peak. */
    r = run_env(&env, "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}");
    ck_assert_int_eq(r.status, TF_TASK_SUCCEEDED);
    ck_assert_str_eq(r.out, "100000000\n");
    ck_assert_msg(r.max_rss > 100000000, "max_rss %lld", (long long)r.max_rss);
    tf_result_fini(&r);
}
END_TEST

static Suite *exec_suite(void)
{
    Suite *s = suite_create("exec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, success_and_capture);
    tcase_add_test(tc, failure_and_signal);
    tcase_add_test(tc, environment_and_stdin);
    tcase_add_test(tc, cap_truncates_and_drains);
    tcase_add_test(tc, binary_output_becomes_valid_utf8);
    tcase_add_test(tc, background_children_are_killed);
    tcase_add_test(tc, closed_stdout_still_waits_for_exit);
    tcase_add_test(tc, direct_exec_matches_the_shell);
    tcase_add_test(tc, many_tasks_at_once_in_their_slots);
    tcase_add_test(tc, bound_slot_runs_on_its_cores);
    tcase_add_test(tc, timeout_terms_then_kills_the_group);
    tcase_add_test(tc, cancel_leaves_the_task_not_run);
    tcase_add_test(tc, resource_use_is_recorded);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(exec_suite)
