/* writes.c - checks before an output is created or replaced, and placing a finished
 * temporary file (see writes.h). Every refusal here comes before anything is written.
 */
#include "writes.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "util.h"

bool tf_writes_check_output(const char *path, char *err, size_t errlen)
{
    struct stat ls, st;
    size_t len = strlen(path);
    if (len > 0 && path[len - 1] == '/') {
        snprintf(err, errlen, "output '%s' ends in '/': it must name a file", path);
        return false;
    }
    if (lstat(path, &ls) != 0)
        return true; /* a new name: whether its directory takes it is checked on creation */
    if (S_ISLNK(ls.st_mode) && stat(path, &st) != 0) {
        char to[PATH_MAX];
        ssize_t n = readlink(path, to, sizeof to - 1);
        to[n < 0 ? 0 : n] = '\0';
        snprintf(err, errlen, "output '%s' is a symlink to '%s', which does not exist", path, to);
        return false;
    }
    if (S_ISLNK(ls.st_mode))
        ls = st;
    if (S_ISDIR(ls.st_mode)) {
        snprintf(err, errlen, "output '%s' is a directory", path);
        return false;
    }
    if (!S_ISREG(ls.st_mode)) {
        snprintf(err, errlen, "output '%s' is not a regular file (%s)", path,
                 tf_file_kind(ls.st_mode));
        return false;
    }
    return true;
}

bool tf_writes_check_dir(const char *path, char *err, size_t errlen)
{
    char *target = tf_writes_target(path), *copy = tf_xstrdup(target);
    const char *dir = dirname(copy);
    bool ok = false;
    struct stat ds;
    if (stat(dir, &ds) != 0) {
        snprintf(err, errlen, "directory '%s' for output '%s' does not exist", dir, path);
    } else if (!S_ISDIR(ds.st_mode)) {
        snprintf(err, errlen, "'%s' in output path '%s' is not a directory", dir, path);
    } else if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "directory '%s' for output '%s' is not writable: %s", dir, path,
                 strerror(errno));
    } else {
        char *tmp = tf_temp_name_for(target);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != ENAMETOOLONG) { /* too long: tf_writes_check_names says so */
            snprintf(err, errlen, "cannot create a file in '%s' for output '%s': %s", dir, path,
                     strerror(errno));
        } else {
            ok = true;
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
            }
        }
        free(tmp);
    }
    free(copy);
    free(target);
    return ok;
}

/* The length of the last component of path. */
static size_t base_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return strlen(slash ? slash + 1 : path);
}

static long name_max_of(const char *path)
{
    char *d = tf_xstrdup(path);
    long max = pathconf(dirname(d), _PC_NAME_MAX);
    free(d);
    return max > 0 ? max : NAME_MAX;
}

/* Whether name's last component fits; one line in err when not. */
static bool name_fits(const char *path, const char *name, long max, char *err, size_t errlen)
{
    size_t n = base_len(name);
    if ((long)n <= max)
        return true;
    const char *tail = name + strlen(name) - (n < 24 ? n : 24);
    snprintf(err, errlen,
             "output name '%s' is too long: taskfarm also writes a name ending '...%s' beside "
             "it, of %zu bytes, more than the %ld a name may have there",
             path, tail, n, max);
    return false;
}

bool tf_writes_check_names(const char *path, const char *const *suffixes, int n, char *err,
                           size_t errlen)
{
    long max = name_max_of(path);
    char *tmp = tf_temp_name_for(path);
    bool ok = name_fits(path, path, max, err, errlen) && name_fits(path, tmp, max, err, errlen);
    free(tmp);
    size_t cap = strlen(path) + 64;
    char *name = tf_xmalloc(cap);
    for (int i = 0; i < n && ok; i++) {
        snprintf(name, cap, "%s%s", path, suffixes[i]);
        ok = name_fits(path, name, max, err, errlen);
    }
    free(name);
    return ok;
}

bool tf_writes_not_input(const char *output, const char *input, const char *what, char *err,
                         size_t errlen)
{
    if (input == NULL || !tf_same_file(output, input))
        return true;
    if (strcmp(output, input) == 0)
        snprintf(err, errlen, "output '%s' is %s itself: choose another -o", output, what);
    else
        snprintf(err, errlen, "output '%s' is %s, '%s', under another name: choose another -o",
                 output, what, input);
    return false;
}

char *tf_writes_target(const char *path)
{
    struct stat ls, st;
    if (lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode) && stat(path, &st) == 0) {
        char *real = realpath(path, NULL);
        if (real) {
            char *copy = tf_xstrdup(real); /* ours to free with the project's allocator */
            free(real);
            return copy;
        }
    }
    return tf_xstrdup(path);
}

static void sync_dir_of(const char *path)
{
    char *d = tf_xstrdup(path);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(d);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
}

int tf_writes_place(const char *tmp, const char *path, bool replace)
{
    if (replace)
        return tf_rename_into_place(tmp, path);
    /* link(2) fails with EEXIST instead of replacing: no check-then-rename race. */
    if (link(tmp, path) == 0) {
        unlink(tmp);
        sync_dir_of(path);
        return 0;
    }
    if (errno == EEXIST)
        return -1;
    struct stat st; /* a file system without hard links: the next best */
    if (lstat(path, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    return tf_rename_into_place(tmp, path);
}

/* ---- a temporary file removed when a signal ends the process ---------------------------- */

static char doomed[PATH_MAX];
static volatile sig_atomic_t have_doomed;
static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP};

static void remove_and_end(int sig)
{
    if (have_doomed)
        unlink(doomed); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

void tf_writes_remove_on_signal(const char *tmp)
{
    if (strlen(tmp) >= sizeof doomed)
        return;
    memcpy(doomed, tmp, strlen(tmp) + 1);
    have_doomed = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = remove_and_end;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

void tf_writes_forget(void)
{
    have_doomed = 0;
}
