/* taskfile.c - validating scan and streaming reader of task files.
 *
 * Both passes share one bounded line reader, so a hostile file (a 10 GB line, binary junk)
 * costs at most TF_TASKFILE_MAX_LINE bytes of memory before it is refused.
 */
#include "taskfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

struct line_reader {
    FILE *fp;
    char *line; /* current line, NUL-terminated, without its newline */
    size_t len, cap;
    uint64_t lineno;
    uint64_t pos, start; /* bytes consumed; where the current line starts */
    bool too_long;
    struct tf_sha256 *sha; /* when set, every byte read is hashed */
};

struct tf_taskfile {
    struct line_reader rd;
    uint64_t next_id;
};

/* Read one line. Returns 1 with a line, 0 at end of file, -1 on a read error. A line longer
 * than the limit sets too_long and is cut; the caller refuses it. */
static int read_line(struct line_reader *rd)
{
    rd->len = 0;
    rd->too_long = false;
    rd->start = rd->pos;
    int c = EOF;
    for (;;) {
        c = getc_unlocked(rd->fp);
        if (c == EOF || c == '\n')
            break;
        if (rd->len == rd->cap) {
            if (rd->cap > TF_TASKFILE_MAX_LINE) {
                rd->too_long = true;
                continue;
            }
            rd->cap = rd->cap ? rd->cap * 2 : 256;
            rd->line = tf_xrealloc(rd->line, rd->cap + 1);
        }
        rd->line[rd->len++] = (char)c;
    }
    if (c == EOF && ferror(rd->fp))
        return -1;
    rd->pos += rd->len + (c == '\n');
    if (c == EOF && rd->len == 0 && !rd->too_long)
        return 0;
    if (rd->line == NULL)
        rd->line = tf_xmalloc(1), rd->cap = 0;
    rd->line[rd->len] = '\0';
    rd->lineno++;
    if (rd->sha) {
        tf_sha256_update(rd->sha, rd->line, rd->len);
        if (c == '\n')
            tf_sha256_update(rd->sha, "\n", 1);
    }
    if (rd->len > TF_TASKFILE_MAX_LINE)
        rd->too_long = true;
    return 1;
}

static bool is_task_line(const char *s)
{
    s += strspn(s, " \t\v\f");
    return *s != '\0' && *s != '#';
}

static enum tf_status open_regular(const char *path, FILE **out, char *errmsg, size_t errlen)
{
    struct stat st;
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(errmsg, errlen, "cannot open task file '%s': %s", path, strerror(errno));
        return TF_EINPUT;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, errlen, "task file '%s' is %s, not a regular file", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "not readable as a file");
        fclose(fp);
        return TF_EINPUT;
    }
    *out = fp;
    return TF_OK;
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

enum tf_status tf_taskfile_scan(const char *path, struct tf_taskfile_info *info, char *errmsg,
                                size_t errlen)
{
    struct tf_sha256 sha;
    struct line_reader rd = {.sha = &sha};
    enum tf_status st = open_regular(path, &rd.fp, errmsg, errlen);
    if (st != TF_OK)
        return st;
    tf_sha256_init(&sha);
    uint64_t ntasks = 0;
    int got;
    while ((got = read_line(&rd)) == 1) {
        if (!check_line(&rd, path, errmsg, errlen)) {
            st = TF_EINPUT;
            goto out;
        }
        ntasks += is_task_line(rd.line);
    }
    if (got < 0) {
        snprintf(errmsg, errlen, "cannot read task file '%s': %s", path, strerror(errno));
        st = TF_EINPUT;
        goto out;
    }
    info->ntasks = ntasks;
    info->nlines = rd.lineno;
    info->nbytes = sha.nbytes;
    tf_sha256_hex(&sha, info->sha256);
out:
    free(rd.line);
    fclose(rd.fp);
    return st;
}

enum tf_status tf_taskfile_open(const char *path, struct tf_taskfile **out, char *errmsg,
                                size_t errlen)
{
    FILE *fp;
    TF_TRY(open_regular(path, &fp, errmsg, errlen));
    struct tf_taskfile *tf = tf_xcalloc(1, sizeof *tf);
    tf->rd.fp = fp;
    *out = tf;
    return TF_OK;
}

enum tf_status tf_taskfile_next(struct tf_taskfile *tf, struct tf_task *task, bool *got)
{
    int r;
    while ((r = read_line(&tf->rd)) == 1) {
        if (is_task_line(tf->rd.line))
            break;
    }
    if (r < 0)
        return TF_EIO;
    *got = r == 1;
    if (r == 1) {
        task->id = tf->next_id++;
        task->line = tf->rd.lineno;
        task->offset = tf->rd.start;
        task->command = tf->rd.line;
        task->command_len = tf->rd.len;
        task->attempts = 0;
        task->avoid_rank = -1;
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
    if (fseeko(tf->rd.fp, (off_t)offset, SEEK_SET) != 0)
        return TF_EIO;
    tf->rd.pos = offset;
    if (read_line(&tf->rd) != 1)
        return TF_EIO;
    task->id = id;
    task->line = line;
    task->offset = offset;
    task->command = tf->rd.line;
    task->command_len = tf->rd.len;
    task->attempts = 0;
    task->avoid_rank = -1;
    return TF_OK;
}

void tf_taskfile_close(struct tf_taskfile *tf)
{
    if (tf == NULL)
        return;
    fclose(tf->rd.fp);
    free(tf->rd.line);
    free(tf);
}
