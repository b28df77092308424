/* exec.c - posix_spawn, capture and reaping of shell tasks, any number at once.
 *
 * RATIONALE: posix_spawn (vfork-like in glibc) rather than fork: a worker that has run
 * MPI_Init may have large pinned memory regions, which fork would copy-on-write and some
 * fabrics forbid; spawn also costs less per task. The child's exit is watched through a
 * pidfd in the same poll() as its pipes, so no SIGCHLD handler and no busy loop: the
 * caller's one poll() covers every running task and whatever else it waits for.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slots.h"
#include "util.h"

extern char **environ;

/* After the shell exits, how long to wait for pipes held open by escaped descendants. */
#define DRAIN_AFTER_EXIT 1.0
/* Without a pidfd (kernels before 5.3) the exit is looked for this often. */
#define NO_PIDFD_POLL 0.01

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

#define NVARS 4

static char **task_environment(const struct tf_exec_env *env, const struct tf_exec_slot *slot,
                               const struct tf_task *t, char vars[NVARS][64])
{
    const char *const *extra = slot ? slot->env : NULL;
    size_t n = 0, nextra = 0;
    while (environ[n])
        n++;
    while (extra && extra[nextra])
        nextra++;
    char **envp = tf_xmalloc((n + nextra + NVARS + 1) * sizeof *envp);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!launcher_private(environ[i]) && !replaced(environ[i], extra))
            envp[k++] = environ[i];
    int nv = 0;
    snprintf(vars[nv++], 64, "TASKFARM_TASK_ID=%llu", (unsigned long long)(t->id + env->id_offset));
    snprintf(vars[nv++], 64, "TASKFARM_NTASKS=%llu", (unsigned long long)env->ntasks);
    snprintf(vars[nv++], 64, "TASKFARM_RANK=%d", env->rank);
    if (slot && slot->index >= 0)
        snprintf(vars[nv++], 64, "TASKFARM_SLOT=%d", slot->index);
    for (int i = 0; i < nv; i++)
        envp[k++] = vars[i];
    for (size_t i = 0; i < nextra; i++)
        envp[k++] = (char *)extra[i];
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

/* The spawned task inherits the calling thread's affinity: with --bind, this thread takes
 * the slot's cores for the moment of the spawn. Returns whether it must be put back. */
static bool bind_for_spawn(const uint64_t *cpus, cpu_set_t *saved)
{
    if (cpus == NULL || sched_getaffinity(0, sizeof *saved, saved) != 0)
        return false;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c = 0; c < TF_MAX_CPUS && c < CPU_SETSIZE; c++)
        if ((cpus[c / 64] >> (c % 64)) & 1u)
            CPU_SET(c, &set);
    return CPU_COUNT(&set) > 0 && sched_setaffinity(0, sizeof set, &set) == 0;
}

static int spawn_task(const struct tf_exec_env *env, const struct tf_exec_slot *slot,
                      const struct tf_task *t, int out_w, int err_w, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    char vars[NVARS][64];
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
    char **envp = task_environment(env, slot, t, vars);
    char *copy = tf_xmalloc(t->command_len + 1);
    cpu_set_t saved;
    bool rebind = bind_for_spawn(slot ? slot->cpus : NULL, &saved);
    int rc = -1;
    /* RATIONALE: skipping the shell halves the cost of a short task (one exec, not two).
     * If the direct start fails (not found, not executable, a script without #!), nothing
     * ran, and the shell runs the line instead: its behaviour and messages are the truth. */
    if (!env->always_shell && plain_command(t->command, copy, direct_argv, MAX_DIRECT_WORDS))
        rc = posix_spawnp(pid, direct_argv[0], &fa, &attr, direct_argv, envp);
    if (rc != 0)
        rc = posix_spawn(pid, "/bin/sh", &fa, &attr, shell_argv, envp);
    if (rebind)
        sched_setaffinity(0, sizeof saved, &saved);
    free(copy);
    free(envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return rc;
}

static bool exited_unreaped(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* ---- one running task ------------------------------------------------------------------ */

struct tf_child {
    enum { RUNNING, DRAINING, OVER } stage;
    pid_t pid;
    int pidfd;
    struct capture cap[2];
    struct tf_result r; /* filled as the task goes */
    double kill_grace;
    /* Why we are ending the task, and how far we have got. */
    enum { NOT_SIGNALLED, TERM_SENT, KILL_SENT } signalled;
    bool timed_out, cancelled;
    double timeout_at, kill_at, drain_until; /* monotonic; 0: none */
};

static struct tf_child *child_over(struct tf_child *c, int err)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "taskfarm: could not start /bin/sh: %s\n", strerror(err));
    c->r.status = TF_TASK_FAILED;
    c->r.exit_code = -1;
    c->r.err = tf_xstrndup(msg, (size_t)n);
    c->r.err_len = (size_t)n;
    c->r.out = tf_xstrdup("");
    c->r.end = tf_now();
    c->stage = OVER;
    return c;
}

struct tf_child *tf_exec_start(const struct tf_exec_env *env, const struct tf_exec_slot *slot,
                               const struct tf_task *t)
{
    struct tf_child *c = tf_xcalloc(1, sizeof *c);
    struct tf_result *r = &c->r;
    int out_p[2], err_p[2];
    r->id = t->id;
    r->line = t->line;
    r->offset = t->offset;
    r->rank = env->rank;
    r->slot = slot ? slot->index : -1;
    r->attempts = t->attempts + 1;
    r->max_rss = -1;
    r->exit_code = -1;
    r->status = TF_TASK_FAILED;
    r->start = tf_now();
    c->pidfd = c->cap[0].fd = c->cap[1].fd = -1;
    c->kill_grace = env->kill_grace;
    if (pipe2(out_p, O_CLOEXEC) != 0)
        return child_over(c, errno);
    if (pipe2(err_p, O_CLOEXEC) != 0) {
        int e = errno;
        close(out_p[0]), close(out_p[1]);
        return child_over(c, e);
    }
    int rc = spawn_task(env, slot, t, out_p[1], err_p[1], &c->pid);
    close(out_p[1]);
    close(err_p[1]);
    if (rc != 0) {
        close(out_p[0]), close(err_p[0]);
        return child_over(c, rc);
    }
    c->cap[0] = (struct capture){.fd = out_p[0], .max = env->capture_max};
    c->cap[1] = (struct capture){.fd = err_p[0], .max = env->capture_max};
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    c->timeout_at = env->timeout > 0 ? tf_monotonic() + env->timeout : 0;
    return c;
}

void tf_exec_pollfds(const struct tf_child *c, struct pollfd fds[TF_EXEC_NFDS])
{
    fds[0] = (struct pollfd){.fd = c->cap[0].fd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = c->cap[1].fd, .events = POLLIN};
    fds[2] = (struct pollfd){.fd = c->stage == RUNNING ? c->pidfd : -1, .events = POLLIN};
}

/* Send the next signal a timed-out or cancelled task has coming, if its time has come. */
static void signal_step(struct tf_child *c, double now, int cancel)
{
    if (c->signalled == NOT_SIGNALLED && (cancel || (c->timeout_at > 0 && now >= c->timeout_at))) {
        c->cancelled = cancel != 0;
        c->timed_out = !c->cancelled;
        kill(-c->pid, SIGTERM);
        c->signalled = TERM_SENT;
        c->kill_at = now + c->kill_grace;
    }
    if (c->signalled == TERM_SENT && (now >= c->kill_at || cancel >= 2)) {
        kill(-c->pid, SIGKILL); /* it ignored SIGTERM, or we must stop now */
        c->signalled = KILL_SENT;
    }
}

static void record_exit(struct tf_child *c, int wstatus, const struct rusage *ru)
{
    struct tf_result *r = &c->r;
    if (WIFEXITED(wstatus)) {
        r->exit_code = WEXITSTATUS(wstatus);
        r->status = r->exit_code == 0 ? TF_TASK_SUCCEEDED : TF_TASK_FAILED;
    } else if (WIFSIGNALED(wstatus)) {
        r->signal = WTERMSIG(wstatus);
        r->status = TF_TASK_KILLED;
    }
    /* However it ended once we had signalled it, the outcome is ours, not the task's. */
    if (c->timed_out)
        r->status = TF_TASK_TIMED_OUT;
    else if (c->cancelled)
        r->status = TF_TASK_NOT_RUN;
    /* Linux reports the peak of the task and of every descendant it waited for, in KiB. */
    r->max_rss = (int64_t)ru->ru_maxrss * 1024;
    r->cpu_user = (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6;
    r->cpu_system = (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

/* The shell has exited (a zombie, not reaped): its pid, which is the group's id, cannot be
 * reused yet, so killing the group now reaches only what the task left behind. */
static void reap(struct tf_child *c, double now)
{
    c->r.end = tf_now();
    kill(-c->pid, SIGKILL);
    int wstatus = 0;
    struct rusage ru = {0};
    while (wait4(c->pid, &wstatus, 0, &ru) < 0 && errno == EINTR)
        ;
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->pidfd = -1;
    record_exit(c, wstatus, &ru);
    c->stage = DRAINING;
    c->drain_until = now + DRAIN_AFTER_EXIT;
}

bool tf_exec_step(struct tf_child *c, const struct pollfd *fds)
{
    if (c->stage == OVER)
        return true;
    for (int i = 0; i < 2; i++)
        if (fds && c->cap[i].fd >= 0 && fds[i].fd == c->cap[i].fd && fds[i].revents)
            capture_read(&c->cap[i]);
    double now = tf_monotonic();
    if (c->stage == RUNNING) {
        /* With no poll result to go by (a timer), ask the kernel. */
        bool exited = c->pidfd >= 0 && fds ? fds[2].fd == c->pidfd && fds[2].revents
                                           : exited_unreaped(c->pid);
        if (exited)
            reap(c, now);
        else
            signal_step(c, now, 0);
    }
    if (c->stage == DRAINING && ((c->cap[0].fd < 0 && c->cap[1].fd < 0) || now >= c->drain_until)) {
        for (int i = 0; i < 2; i++)
            if (c->cap[i].fd >= 0) { /* an escaped descendant still holds it: stop listening */
                close(c->cap[i].fd);
                c->cap[i].fd = -1;
            }
        c->stage = OVER;
    }
    return c->stage == OVER;
}

double tf_exec_deadline(const struct tf_child *c)
{
    if (c->stage == DRAINING)
        return c->drain_until;
    if (c->stage != RUNNING)
        return 0;
    double at = c->signalled == NOT_SIGNALLED ? c->timeout_at
                : c->signalled == TERM_SENT   ? c->kill_at
                                              : 0;
    if (c->pidfd < 0) {
        double poll_at = tf_monotonic() + NO_PIDFD_POLL;
        at = at > 0 && at < poll_at ? at : poll_at;
    }
    return at;
}

void tf_exec_cancel(struct tf_child *c, int level)
{
    if (c->stage == RUNNING && level > 0)
        signal_step(c, tf_monotonic(), level);
}

void tf_exec_finish(struct tf_child *c, struct tf_result *r)
{
    *r = c->r;
    if (r->out == NULL) { /* it ran: its captured output */
        r->out = capture_take(&c->cap[0], &r->out_len);
        r->err = capture_take(&c->cap[1], &r->err_len);
        r->out_truncated = c->cap[0].truncated;
        r->err_truncated = c->cap[1].truncated;
    }
    free(c);
}

void tf_exec_run(const struct tf_exec_env *env, const struct tf_task *t, const volatile int *cancel,
                 struct tf_result *r)
{
    struct tf_child *c = tf_exec_start(env, NULL, t);
    struct pollfd fds[TF_EXEC_NFDS];
    bool over = tf_exec_step(c, NULL);
    while (!over) {
        if (cancel && *cancel)
            tf_exec_cancel(c, *cancel);
        tf_exec_pollfds(c, fds);
        double at = tf_exec_deadline(c);
        int ms = cancel ? 100 : -1; /* a cancel is looked at this often */
        if (at > 0) {
            double left = (at - tf_monotonic()) * 1000 + 1;
            int due = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
            ms = ms < 0 || due < ms ? due : ms;
        }
        int n = poll(fds, TF_EXEC_NFDS, ms);
        over = tf_exec_step(c, n > 0 ? fds : NULL);
    }
    tf_exec_finish(c, r);
}
