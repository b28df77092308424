/* exec.c - posix_spawn, capture and reaping of shell tasks.
 *
 * RATIONALE: posix_spawn (vfork-like in glibc) rather than fork: a worker that has run
 * MPI_Init may have large pinned memory regions, which fork would copy-on-write and some
 * fabrics forbid; spawn also costs less per task. The child's exit is watched through a
 * pidfd in the same poll() as its pipes, so no SIGCHLD handler and no busy loop.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

/* After the shell exits, how long to wait for pipes held open by escaped descendants. */
#define DRAIN_AFTER_EXIT_MS 1000

struct capture {
    int fd;
    char *buf;
    size_t len, cap, max;
    bool truncated;
};

/* One read, called when poll() says the pipe is readable (so it cannot block): kept
 * bytes up to the cap, dropped beyond it. EOF or an error closes our end. */
static void capture_read(struct capture *c)
{
    char sink[65536];
    size_t room = c->max - c->len;
    if (room > 0 && c->len == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        c->cap = cap < c->max ? cap : c->max;
        c->buf = tf_xrealloc(c->buf, c->cap + 1);
    }
    char *dst = room > 0 ? c->buf + c->len : sink;
    size_t want = room > 0 ? c->cap - c->len : sizeof sink;
    ssize_t n = read(c->fd, dst, want);
    if (n > 0) {
        if (room > 0)
            c->len += (size_t)n;
        else
            c->truncated = true;
    } else if (n == 0 || errno != EINTR) {
        close(c->fd);
        c->fd = -1;
    }
}

/* Turn the raw bytes into the NUL-terminated UTF-8 text stored in the result. */
static char *capture_take(struct capture *c, size_t *len)
{
    char *text = tf_utf8_sanitize(c->buf ? c->buf : "", c->len, len, NULL);
    free(c->buf);
    c->buf = NULL;
    return text;
}

/* RATIONALE: a task is a child of an MPI rank, not a rank. Left in its environment, the
 * launcher's per-rank variables make any MPI program the task runs (an mpi4py script, a
 * solver built with MPI, taskfarm itself) try to join our job and fail in MPI_Init. User
 * settings such as OMPI_MCA_btl, and Slurm's variables, are kept. */
static bool launcher_private(const char *var)
{
    static const char *const prefixes[] = {"TASKFARM_",
                                           "PMIX_",
                                           "PMI_",
                                           "OMPI_COMM_WORLD_",
                                           "OMPI_MCA_ess",
                                           "OMPI_MCA_orte_",
                                           "OMPI_MCA_pmix",
                                           "OMPI_MCA_initial_wdir=",
                                           "OMPI_FILE_LOCATION=",
                                           "OMPI_FIRST_RANKS=",
                                           "OMPI_APP_CTX_",
                                           "OMPI_NUM_APP_CTX=",
                                           "OMPI_UNIVERSE_SIZE=",
                                           "OMPI_ARGV=",
                                           "OMPI_COMMAND=",
                                           "HYDRA_",
                                           "HYDI_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(var, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* Whether var ("NAME=...") is set by one of extra ("NAME=VALUE" strings). */
static bool replaced(const char *var, const char *const *extra)
{
    for (; extra && *extra; extra++) {
        size_t len = strcspn(*extra, "=") + 1;
        if (strncmp(var, *extra, len) == 0)
            return true;
    }
    return false;
}

static char **task_environment(const struct tf_exec_env *env, const struct tf_task *t,
                               char vars[3][64])
{
    size_t n = 0, nextra = 0;
    while (environ[n])
        n++;
    while (env->extra_env && env->extra_env[nextra])
        nextra++;
    char **envp = tf_xmalloc((n + nextra + 4) * sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!launcher_private(environ[i]) && !replaced(environ[i], env->extra_env))
            envp[k++] = environ[i];
    snprintf(vars[0], 64, "TASKFARM_TASK_ID=%llu", (unsigned long long)(t->id + env->id_offset));
    snprintf(vars[1], 64, "TASKFARM_NTASKS=%llu", (unsigned long long)env->ntasks);
    snprintf(vars[2], 64, "TASKFARM_RANK=%d", env->rank);
    for (int i = 0; i < 3; i++)
        envp[k++] = vars[i];
    for (size_t i = 0; i < nextra; i++)
        envp[k++] = (char *)env->extra_env[i];
    envp[k] = NULL;
    return envp;
}

/* Shell builtins and reserved words: a line starting with one of these needs the shell. */
static bool needs_shell_word(const char *w)
{
    static const char *const words[] = {
        ".",        ":",        "[",      "alias",   "bg",    "break", "case",   "cd",   "chdir",
        "command",  "continue", "do",     "done",    "echo",  "elif",  "else",   "esac", "eval",
        "exec",     "exit",     "export", "false",   "fc",    "fg",    "fi",     "for",  "getopts",
        "hash",     "if",       "in",     "jobs",    "kill",  "local", "printf", "pwd",  "read",
        "readonly", "return",   "set",    "shift",   "test",  "then",  "times",  "trap", "true",
        "type",     "ulimit",   "umask",  "unalias", "unset", "until", "wait",   "while"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

/* When `line` is a plain simple command - words of characters the shell gives no meaning,
 * the first naming a program rather than a builtin or an assignment - split it into argv in
 * `copy` and return the word count; otherwise 0. sh would run such a line by executing that
 * program with those words (dash execs it in place), so we may skip the shell. */
static size_t plain_command(const char *line, char *copy, char **argv, size_t max)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_./:,+@%^=-";
    size_t n = 0;
    strcpy(copy, line);
    for (char *p = copy; *p;) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        size_t len = strspn(p, plain);
        if (p[len] != '\0' && p[len] != ' ' && p[len] != '\t')
            return 0; /* a character the shell interprets */
        if (n + 1 >= max)
            return 0;
        argv[n++] = p;
        p += len;
        if (*p)
            *p++ = '\0';
    }
    argv[n] = NULL;
    if (n == 0 || strchr(argv[0], '=') || needs_shell_word(argv[0]) || getenv("PATH") == NULL)
        return 0;
    return n;
}

#define MAX_DIRECT_WORDS 256

static int spawn_task(const struct tf_exec_env *env, const struct tf_task *t, int out_w, int err_w,
                      pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char vars[3][64];
    char *shell_argv[] = {"sh", "-c", (char *)t->command, NULL};
    char *direct_argv[MAX_DIRECT_WORDS];

    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w, STDERR_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* MPI's sockets are not the task's */
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all); /* undo any SIG_IGN inherited from MPI */
    char **envp = task_environment(env, t, vars);
    char *copy = tf_xmalloc(t->command_len + 1);
    int rc = -1;
    /* RATIONALE: skipping the shell halves the cost of a short task (one exec, not two).
     * If the direct start fails (not found, not executable, a script without #!), nothing
     * ran, and the shell runs the line instead: its behaviour and messages are the truth. */
    if (!env->always_shell && plain_command(t->command, copy, direct_argv, MAX_DIRECT_WORDS))
        rc = posix_spawnp(pid, direct_argv[0], &fa, &attr, direct_argv, envp);
    if (rc != 0)
        rc = posix_spawn(pid, "/bin/sh", &fa, &attr, shell_argv, envp);
    free(copy);
    free(envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static void record_spawn_failure(struct tf_result *r, int err)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "taskfarm: could not start /bin/sh: %s\n", strerror(err));
    r->status = TF_TASK_FAILED;
    r->exit_code = -1;
    r->err = tf_xstrndup(msg, (size_t)n);
    r->err_len = (size_t)n;
    r->out = tf_xstrdup("");
    r->end = tf_now();
}

static bool exited_unreaped(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* Why we are ending a task, and how far we have got. */
struct stopper {
    enum { RUNNING, TERM_SENT, KILL_SENT } stage;
    bool timed_out, cancelled;
    double timeout_at, kill_at; /* monotonic; 0: none */
};

/* Send the next signal a timed-out or cancelled task has coming, if its time has come. */
static void stop_step(const struct tf_exec_env *env, pid_t pid, struct stopper *sp)
{
    double now = tf_monotonic();
    int cancel = env->cancel ? *env->cancel : 0;
    if (sp->stage == RUNNING && (cancel || (sp->timeout_at > 0 && now >= sp->timeout_at))) {
        sp->cancelled = cancel != 0;
        sp->timed_out = !sp->cancelled;
        kill(-pid, SIGTERM);
        sp->stage = TERM_SENT;
        sp->kill_at = now + env->kill_grace;
    }
    if (sp->stage == TERM_SENT && (now >= sp->kill_at || cancel >= 2)) {
        kill(-pid, SIGKILL); /* it ignored SIGTERM, or we must stop now */
        sp->stage = KILL_SENT;
    }
}

/* Milliseconds until the next thing to do (tick, SIGTERM, SIGKILL); -1: nothing but wait. */
static int next_wakeup_ms(const struct tf_exec_env *env, const struct stopper *sp, double next_tick,
                          bool have_pidfd)
{
    double at = env->tick ? next_tick : 0;
    double when = sp->stage == RUNNING ? sp->timeout_at : sp->stage == TERM_SENT ? sp->kill_at : 0;
    if (when > 0 && (at == 0 || when < at))
        at = when;
    int ms = -1;
    if (at > 0) {
        double left = (at - tf_monotonic()) * 1000 + 1;
        ms = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
    }
    if (!have_pidfd && (ms < 0 || ms > 10))
        ms = 10; /* without a pidfd (old kernels) we look for the exit every 10 ms */
    return ms;
}

/* Wait until the process is a zombie (not reaped), capturing its output meanwhile, calling
 * env->tick about every tick_seconds, and ending it when it times out or is cancelled. */
static void pump_until_exit(const struct tf_exec_env *env, pid_t pid, int pidfd,
                            struct capture cap[2], struct stopper *sp)
{
    double next_tick = env->tick ? tf_monotonic() + env->tick_seconds : 0;
    for (;;) {
        struct pollfd fds[3];
        int at[2] = {-1, -1};
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (cap[i].fd >= 0) {
                at[i] = (int)n;
                fds[n++] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
            }
        int pid_at = pidfd >= 0 ? (int)n : -1;
        if (pidfd >= 0)
            fds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        stop_step(env, pid, sp);
        int rc = poll(fds, n, next_wakeup_ms(env, sp, next_tick, pidfd >= 0));
        if (rc < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            if (rc > 0 && at[i] >= 0 && fds[at[i]].revents)
                capture_read(&cap[i]);
        if (pid_at >= 0 ? rc > 0 && fds[pid_at].revents : exited_unreaped(pid))
            return;
        if (env->tick && tf_monotonic() >= next_tick) {
            env->tick(env->tick_arg);
            next_tick = tf_monotonic() + env->tick_seconds;
        }
    }
}

static void drain_after_exit(struct capture cap[2])
{
    double deadline = tf_monotonic() + DRAIN_AFTER_EXIT_MS / 1000.0;
    while (cap[0].fd >= 0 || cap[1].fd >= 0) {
        int left = (int)((deadline - tf_monotonic()) * 1000);
        if (left <= 0)
            break;
        struct pollfd fds[2];
        int at[2] = {-1, -1};
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (cap[i].fd >= 0) {
                at[i] = (int)n;
                fds[n++] = (struct pollfd){.fd = cap[i].fd, .events = POLLIN};
            }
        int rc = poll(fds, n, left);
        if (rc < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++)
            if (rc > 0 && at[i] >= 0 && fds[at[i]].revents)
                capture_read(&cap[i]);
    }
    for (int i = 0; i < 2; i++)
        if (cap[i].fd >= 0) {
            close(cap[i].fd); /* an escaped descendant still holds it: stop listening */
            cap[i].fd = -1;
        }
}

static void record_exit(struct tf_result *r, int wstatus, const struct stopper *sp,
                        const struct rusage *ru)
{
    if (WIFEXITED(wstatus)) {
        r->exit_code = WEXITSTATUS(wstatus);
        r->status = r->exit_code == 0 ? TF_TASK_SUCCEEDED : TF_TASK_FAILED;
    } else if (WIFSIGNALED(wstatus)) {
        r->signal = WTERMSIG(wstatus);
        r->status = TF_TASK_KILLED;
    }
    /* However it ended once we had signalled it, the outcome is ours, not the task's. */
    if (sp->timed_out)
        r->status = TF_TASK_TIMED_OUT;
    else if (sp->cancelled)
        r->status = TF_TASK_NOT_RUN;
    /* Linux reports the peak of the task and of every descendant it waited for, in KiB. */
    r->max_rss = (int64_t)ru->ru_maxrss * 1024;
    r->cpu_user = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6;
    r->cpu_system = (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

void tf_exec_run(const struct tf_exec_env *env, const struct tf_task *t, struct tf_result *r)
{
    int out_p[2], err_p[2];
    pid_t pid;

    memset(r, 0, sizeof *r);
    r->id = t->id;
    r->line = t->line;
    r->offset = t->offset;
    r->rank = env->rank;
    r->attempts = t->attempts + 1;
    r->max_rss = -1;
    r->exit_code = -1;
    r->status = TF_TASK_FAILED;
    r->start = tf_now();
    if (pipe2(out_p, O_CLOEXEC) != 0) {
        record_spawn_failure(r, errno);
        return;
    }
    if (pipe2(err_p, O_CLOEXEC) != 0) {
        record_spawn_failure(r, errno);
        close(out_p[0]), close(out_p[1]);
        return;
    }
    int rc = spawn_task(env, t, out_p[1], err_p[1], &pid);
    close(out_p[1]);
    close(err_p[1]);
    if (rc != 0) {
        record_spawn_failure(r, rc);
        close(out_p[0]), close(err_p[0]);
        return;
    }
    struct capture cap[2] = {{.fd = out_p[0], .max = env->capture_max},
                             {.fd = err_p[0], .max = env->capture_max}};
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct stopper sp = {.timeout_at = env->timeout > 0 ? tf_monotonic() + env->timeout : 0};

    pump_until_exit(env, pid, pidfd, cap, &sp);
    r->end = tf_now();
    /* The shell is a zombie, so its pid (= the group id) cannot be reused yet: killing the
     * group now reaches only what the task left behind. */
    kill(-pid, SIGKILL);
    int wstatus = 0;
    struct rusage ru = {0};
    while (wait4(pid, &wstatus, 0, &ru) < 0 && errno == EINTR)
        ;
    if (pidfd >= 0)
        close(pidfd);
    drain_after_exit(cap);
    record_exit(r, wstatus, &sp, &ru);
    r->out = capture_take(&cap[0], &r->out_len);
    r->err = capture_take(&cap[1], &r->err_len);
    r->out_truncated = cap[0].truncated;
    r->err_truncated = cap[1].truncated;
}
