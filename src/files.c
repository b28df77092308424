/* files.c - opening given files safely (regular files only, never a blocking open),
 * comparing files by identity, and replacing files by rename. See files.h.
 */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

const char *tf_file_kind(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a plain file";
}

int tf_open_regular(const char *path, char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "'%s' is not a regular file (%s)", path, tf_file_kind(st.st_mode));
        close(fd);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

bool tf_check_regular(const char *path, char *err, size_t errlen)
{
    int fd = tf_open_regular(path, err, errlen);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void id_from_stat(const struct stat *st, struct tf_file_id *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

bool tf_file_id_of_fd(int fd, struct tf_file_id *id)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    id_from_stat(&st, id);
    return true;
}

bool tf_file_id_of_path(const char *path, struct tf_file_id *id)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    id_from_stat(&st, id);
    return true;
}

bool tf_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

bool tf_file_id_same_content(const struct tf_file_id *a, const struct tf_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns;
}

char *tf_temp_name_for(const char *path)
{
    char *d = tf_xstrdup(path), *b = tf_xstrdup(path);
    const char *dir = dirname(d), *base = basename(b);
    size_t n = strlen(dir) + strlen(base) + 40;
    char *tmp = tf_xmalloc(n);
    snprintf(tmp, n, "%s/.%s.tmp.%ld", dir, base, (long)getpid());
    free(d);
    free(b);
    return tmp;
}

int tf_rename_into_place(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0)
        return -1;
    char *d = tf_xstrdup(path);
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(d);
    if (dfd >= 0) {
        (void)fsync(dfd); /* the new name's directory entry, not only the data */
        close(dfd);
    }
    return 0;
}
