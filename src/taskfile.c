/* taskfile.c - validating scan and streaming reader of task files, through one descriptor
 * per file for the whole run, whose identity is checked before and after every read (D6).
 *
 * Both passes share one bounded line reader, so a hostile file (a 10 GB line, binary junk)
 * costs at most TF_TASKFILE_MAX_LINE bytes of memory before it is refused.
 */
#include "taskfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "util.h"

#define READ_CHUNK (64 * 1024)

/* One open task file, shared by the scan and every reader opened on the same path after it,
 * with the identity it had when the scan began: content read later is the scanned content
 * only while this identity holds. */
struct source {
    int fd;
    int refs;
    char *path;
    struct tf_file_id id;
};

/* The last file scanned, kept open so the run reads the bytes that were checked rather than
 * whatever the path names later. */
static struct source *scanned;

struct line_reader {
    struct source *src;
    char *buf; /* file bytes [boff, boff + blen) */
    size_t blen, bpos;
    uint64_t boff;
    char *line; /* current line, NUL-terminated, without its newline */
    size_t len, cap;
    uint64_t lineno;
    uint64_t pos, start; /* bytes consumed; where the current line starts */
    bool too_long;
    struct tf_sha256 *sha; /* when set, every byte read is hashed */
    char changed[160];     /* why the file is no longer the one scanned; "" while it is */
    double checked_at;     /* tf_monotonic() of the last check between reads */
};

struct tf_taskfile {
    struct line_reader rd;
    uint64_t next_id;
};

static void source_release(struct source *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    if (s == scanned)
        scanned = NULL;
    close(s->fd);
    free(s->path);
    free(s);
}

/* Open path as a task file: a regular file, never waited on (a FIFO is refused at once). */
static enum tf_status source_open(const char *path, struct source **out, char *errmsg,
                                  size_t errlen)
{
    char why[512];
    int fd = tf_open_regular(path, why, sizeof why);
    if (fd < 0) {
        int e = errno;
        if (strstr(why, "(a directory)")) /* the wording users of 0.x know */
            snprintf(errmsg, errlen, "task file '%s' is a directory, not a regular file", path);
        else if (why[0] == '\'') /* "'x' is not a regular file (a FIFO)" */
            snprintf(errmsg, errlen, "task file %s", why);
        else
            snprintf(errmsg, errlen, "cannot open task file '%s': %s", path, strerror(e));
        return TF_EINPUT;
    }
    struct source *s = tf_xcalloc(1, sizeof *s);
    s->fd = fd;
    s->refs = 1;
    s->path = tf_xstrdup(path);
    if (!tf_file_id_of_fd(fd, &s->id)) {
        snprintf(errmsg, errlen, "cannot read task file '%s': %s", path, strerror(errno));
        source_release(s);
        return TF_EINPUT;
    }
    *out = s;
    return TF_OK;
}

/* Whether the file is still the one whose identity was recorded, through the descriptor and
 * through the path (a file renamed over it). Sets rd->changed when not. */
static bool still_same(struct line_reader *rd)
{
    const struct source *s = rd->src;
    struct tf_file_id now;
    if (rd->changed[0])
        return false;
    if (!tf_file_id_of_fd(s->fd, &now))
        snprintf(rd->changed, sizeof rd->changed, "cannot be read: %s", strerror(errno));
    else if (now.size != s->id.size)
        snprintf(rd->changed, sizeof rd->changed, "its size went from %lld to %lld bytes",
                 (long long)s->id.size, (long long)now.size);
    else if (!tf_file_id_same_content(&now, &s->id))
        snprintf(rd->changed, sizeof rd->changed, "it was modified");
    else if (!tf_file_id_of_path(s->path, &now))
        snprintf(rd->changed, sizeof rd->changed, "it was removed or renamed");
    else if (now.dev != s->id.dev || now.ino != s->id.ino)
        snprintf(rd->changed, sizeof rd->changed, "another file was put in its place");
    return rd->changed[0] == '\0';
}

/* Between reads (lines already buffered, read while the file was the one scanned): the
 * same check at most every 50 ms, so a change still stops the run at once while a run of
 * many short tasks does not pay two system calls per task (the master's cost per task is a
 * few microseconds). Reads themselves are always checked, before and after. */
static bool still_same_lately(struct line_reader *rd)
{
    double now = tf_monotonic();
    if (rd->changed[0] == '\0' && now - rd->checked_at < 0.05)
        return true;
    rd->checked_at = now;
    return still_same(rd);
}

/* Refill the buffer at rd->pos. Returns the bytes now available (0 at the end of the file),
 * -1 on a read error or a changed file. The identity is checked before and after the read,
 * so bytes from before and after a rewrite are never joined into one line. */
static ssize_t refill(struct line_reader *rd)
{
    if (rd->buf == NULL)
        rd->buf = tf_xmalloc(READ_CHUNK);
    if (!still_same(rd))
        return -1;
    ssize_t n;
    do
        n = pread(rd->src->fd, rd->buf, READ_CHUNK, (off_t)rd->pos);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(rd->changed, sizeof rd->changed, "cannot be read: %s", strerror(errno));
        return -1;
    }
    if (!still_same(rd))
        return -1;
    rd->boff = rd->pos;
    rd->blen = (size_t)n;
    rd->bpos = 0;
    return n;
}

/* Position the reader at byte offset (the buffer is kept when it holds it). */
static void seek_to(struct line_reader *rd, uint64_t offset)
{
    if (rd->buf && offset >= rd->boff && offset <= rd->boff + rd->blen)
        rd->bpos = (size_t)(offset - rd->boff);
    else
        rd->blen = rd->bpos = 0, rd->boff = offset;
    rd->pos = offset;
}

static void append(struct line_reader *rd, const char *p, size_t n)
{
    if (rd->too_long || n == 0)
        return;
    if (rd->len + n > TF_TASKFILE_MAX_LINE) {
        rd->too_long = true; /* the rest is skipped: the caller refuses the line */
        n = TF_TASKFILE_MAX_LINE + 1 - rd->len;
    }
    if (rd->len + n > rd->cap) {
        size_t cap = rd->cap ? rd->cap : 256;
        while (cap < rd->len + n)
            cap *= 2;
        rd->line = tf_xrealloc(rd->line, cap + 1);
        rd->cap = cap;
    }
    memcpy(rd->line + rd->len, p, n);
    rd->len += n;
}

/* Read one line. Returns 1 with a line, 0 at end of file, -1 on a read error or a changed
 * file. A line longer than the limit sets too_long and is cut; the caller refuses it. */
static int read_line(struct line_reader *rd)
{
    rd->len = 0;
    rd->too_long = false;
    rd->start = rd->pos;
    bool newline = false, any = false;
    for (;;) {
        if (rd->bpos == rd->blen) {
            ssize_t n = refill(rd);
            if (n < 0)
                return -1;
            if (n == 0)
                break;
        }
        const char *p = rd->buf + rd->bpos;
        size_t avail = rd->blen - rd->bpos;
        const char *nl = memchr(p, '\n', avail);
        size_t take = nl ? (size_t)(nl - p) : avail;
        append(rd, p, take);
        if (rd->sha)
            tf_sha256_update(rd->sha, p, take + (nl != NULL));
        any = true;
        rd->bpos += take + (nl != NULL);
        rd->pos += take + (nl != NULL);
        if (nl) {
            newline = true;
            break;
        }
    }
    if (!any && !newline)
        return 0;
    if (rd->line == NULL)
        rd->line = tf_xmalloc(1), rd->cap = 0;
    rd->line[rd->len] = '\0';
    rd->lineno++;
    return 1;
}

static bool is_task_line(const char *s)
{
    s += strspn(s, " \t\v\f");
    return *s != '\0' && *s != '#';
}

/* Checks one line; returns false with errmsg set when it is not acceptable. */
static bool check_line(const struct line_reader *rd, const char *path, char *errmsg, size_t errlen)
{
    const unsigned char *s = (const unsigned char *)rd->line;
    if (rd->too_long) {
        snprintf(errmsg, errlen, "%s:%llu: line is longer than %d bytes", path,
                 (unsigned long long)rd->lineno, TF_TASKFILE_MAX_LINE);
        return false;
    }
    for (size_t i = 0; i < rd->len;) {
        const char *what = NULL;
        size_t n = 1;
        if (s[i] == '\0')
            what = "a NUL byte";
        else if (s[i] == '\r')
            what = "a carriage return (Windows line endings? convert with dos2unix)";
        else if ((n = tf_utf8_seq_len(s + i, rd->len - i)) == 0)
            what = "invalid UTF-8";
        if (what) {
            snprintf(errmsg, errlen, "%s:%llu: %s at column %zu", path,
                     (unsigned long long)rd->lineno, what, i + 1);
            return false;
        }
        i += n;
    }
    return true;
}

static void reader_fini(struct line_reader *rd)
{
    free(rd->line);
    free(rd->buf);
    source_release(rd->src);
}

enum tf_status tf_taskfile_scan(const char *path, struct tf_taskfile_info *info, char *errmsg,
                                size_t errlen)
{
    struct tf_sha256 sha;
    struct line_reader rd = {.sha = &sha};
    TF_TRY(source_open(path, &rd.src, errmsg, errlen));
    tf_sha256_init(&sha);
    enum tf_status st = TF_OK;
    uint64_t ntasks = 0;
    int got;
    while ((got = read_line(&rd)) == 1) {
        if (!check_line(&rd, path, errmsg, errlen)) {
            st = TF_EINPUT;
            goto out;
        }
        ntasks += is_task_line(rd.line);
    }
    if (got < 0 || (uint64_t)rd.src->id.size != sha.nbytes) {
        snprintf(errmsg, errlen, "task file '%s' changed while being read (%s)", path,
                 rd.changed[0] ? rd.changed : "its size and its bytes differ");
        st = TF_EINPUT;
        goto out;
    }
    info->ntasks = ntasks;
    info->nlines = rd.lineno;
    info->nbytes = sha.nbytes;
    tf_sha256_hex(&sha, info->sha256);
    /* Kept for the readers: the run reads this descriptor, not the path again. */
    if (scanned)
        source_release(scanned);
    scanned = rd.src;
    scanned->refs++;
out:
    reader_fini(&rd);
    return st;
}

enum tf_status tf_taskfile_open(const char *path, struct tf_taskfile **out, char *errmsg,
                                size_t errlen)
{
    struct source *src = NULL;
    if (scanned && strcmp(scanned->path, path) == 0) {
        src = scanned;
        src->refs++;
    } else {
        TF_TRY(source_open(path, &src, errmsg, errlen));
    }
    struct tf_taskfile *tf = tf_xcalloc(1, sizeof *tf);
    tf->rd.src = src;
    if (!still_same(&tf->rd)) {
        snprintf(errmsg, errlen, "task file '%s' changed after it was checked (%s)", path,
                 tf->rd.changed);
        tf_taskfile_close(tf);
        return TF_EINPUT;
    }
    *out = tf;
    return TF_OK;
}

static void fill_task(struct tf_taskfile *tf, struct tf_task *task, uint64_t id, uint64_t line)
{
    task->id = id;
    task->line = line;
    task->offset = tf->rd.start;
    task->command = tf->rd.line;
    task->command_len = tf->rd.len;
    task->attempts = 0;
    task->avoid_rank = -1;
}

enum tf_status tf_taskfile_next(struct tf_taskfile *tf, struct tf_task *task, bool *got)
{
    int r;
    *got = false;
    if (!still_same_lately(&tf->rd)) /* buffered lines are not handed out from a changed file */
        return TF_EINPUT;
    while ((r = read_line(&tf->rd)) == 1) {
        if (is_task_line(tf->rd.line))
            break;
    }
    if (r < 0)
        return TF_EINPUT;
    *got = r == 1;
    if (r == 1) {
        uint64_t id = tf->next_id++;
        fill_task(tf, task, id, tf->rd.lineno);
    }
    return TF_OK;
}

bool tf_taskfile_skip(struct tf_taskfile *tf, uint64_t n)
{
    struct tf_task t;
    bool got = true;
    for (uint64_t i = 0; i < n && got; i++)
        if (tf_taskfile_next(tf, &t, &got) != TF_OK)
            return false;
    tf->next_id = 0;
    return got;
}

enum tf_status tf_taskfile_read_at(struct tf_taskfile *tf, uint64_t id, uint64_t line,
                                   uint64_t offset, struct tf_task *task)
{
    if (!still_same_lately(&tf->rd))
        return TF_EINPUT;
    if (offset >= (uint64_t)tf->rd.src->id.size) {
        snprintf(tf->rd.changed, sizeof tf->rd.changed, "no task %llu at byte %llu",
                 (unsigned long long)id, (unsigned long long)offset);
        return TF_EINPUT;
    }
    seek_to(&tf->rd, offset);
    if (read_line(&tf->rd) != 1)
        return TF_EINPUT;
    fill_task(tf, task, id, line);
    return TF_OK;
}

void tf_taskfile_moved(const char *from, const char *to)
{
    if (scanned && strcmp(scanned->path, from) == 0) {
        free(scanned->path);
        scanned->path = tf_xstrdup(to);
    }
}

const char *tf_taskfile_changed(const struct tf_taskfile *tf)
{
    return tf && tf->rd.changed[0] ? tf->rd.changed : NULL;
}

void tf_taskfile_close(struct tf_taskfile *tf)
{
    if (tf == NULL)
        return;
    reader_fini(&tf->rd);
    free(tf);
    /* The last reader gone: the scan's hold goes too (a later open reopens the path). */
    if (scanned && scanned->refs == 1)
        source_release(scanned);
}
