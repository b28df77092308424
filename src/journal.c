/* journal.c - append, lock, read back and repair the journal of finished tasks.
 *
 * RATIONALE: HDF5 1.10 has no transactions; a process killed while HDF5 writes can leave
 * metadata half on disk. An append-only file of CRC-checked records cannot be damaged that
 * way: a kill tears at most its last record, which nobody has been told is finished yet,
 * because a record is committed by a single write() of the whole record.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "files.h"
#include "log.h"
#include "util.h"
#include "wire.h"

#define MAGIC        "TFJRNL01"
#define MAGIC_LEN    8
#define KIND_HEADER  0x100
#define KIND_RESULTS 0x101
#define MAX_RECORD   (1u << 30)
#define FRAME_LEN    8

struct tf_journal {
    int fd;
    char *path;
    struct tf_buf stage;
    uint32_t staged;
};

/* CRC-32 (zlib's), eight bytes a step ("slicing-by-8"): an in-process map journals its
 * results at tens of MB/s, where the byte-wise loop would cost the master a good part of a
 * core. */
static uint32_t crc_table[8][256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^ crc_table[0][crc_table[k - 1][i] & 0xff];
}

static uint32_t get_le32(const unsigned char *p);

static uint32_t crc32(const unsigned char *p, size_t n)
{
    if (crc_table[0][1] == 0)
        crc_init();
    uint32_t c = 0xffffffffu;
    for (; n >= 8; p += 8, n -= 8) {
        uint32_t lo = c ^ get_le32(p), hi = get_le32(p + 4);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
            crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
            crc_table[0][hi >> 24];
    }
    for (; n > 0; p++, n--)
        c = crc_table[0][(c ^ *p) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Write the whole buffer pair, or fail: a short write would tear a record. */
static int write_all(int fd, const void *a, size_t alen, const void *b, size_t blen)
{
    struct iovec iov[2] = {{(void *)a, alen}, {(void *)b, blen}};
    int i = 0;
    while (i < 2) {
        ssize_t n = writev(fd, iov + i, 2 - i);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        while (i < 2 && (size_t)n >= iov[i].iov_len)
            n -= (ssize_t)iov[i++].iov_len;
        if (i < 2) {
            iov[i].iov_base = (char *)iov[i].iov_base + n;
            iov[i].iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int write_record(int fd, const struct tf_buf *payload)
{
    unsigned char frame[FRAME_LEN];
    put_le32(frame, (uint32_t)payload->len);
    put_le32(frame + 4, crc32(payload->data, payload->len));
    return write_all(fd, frame, sizeof frame, payload->data, payload->len);
}

static bool lock_or_explain(int fd, const char *path, char *errmsg, size_t errlen)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return true;
    if (errno == EWOULDBLOCK)
        snprintf(errmsg, errlen, "another taskfarm run is writing '%s'", path);
    else
        snprintf(errmsg, errlen, "cannot lock journal '%s': %s", path, strerror(errno));
    return false;
}

static struct tf_journal *journal_new(int fd, const char *path)
{
    struct tf_journal *j = tf_xcalloc(1, sizeof *j);
    j->fd = fd;
    j->path = tf_xstrdup(path);
    return j;
}

bool tf_journal_creatable(const char *path, bool overwrite, char *errmsg, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return true; /* a missing directory is for open() to report */
        snprintf(errmsg, errlen, "cannot create journal '%s': %s", path, strerror(errno));
    } else if (S_ISLNK(st.st_mode))
        snprintf(errmsg, errlen,
                 "cannot create journal '%s': it is a symbolic link, and a journal is not "
                 "written through one",
                 path);
    else if (!S_ISREG(st.st_mode))
        snprintf(errmsg, errlen, "cannot create journal '%s': it exists and is %s", path,
                 tf_file_kind(st.st_mode));
    else if (!overwrite)
        snprintf(errmsg, errlen, "cannot create journal '%s': %s", path, strerror(EEXIST));
    else if (st.st_nlink > 1) /* overwriting it would change the file its other names are */
        snprintf(errmsg, errlen, "cannot create journal '%s': it has other names (hard links)",
                 path);
    else
        return true;
    return false;
}

/* The new journal's descriptor: never through a symbolic link (O_NOFOLLOW), never a FIFO
 * waited on (O_NONBLOCK), only a regular file. */
static int create_fd(const char *path, bool overwrite, char *errmsg, size_t errlen)
{
    if (!tf_journal_creatable(path, overwrite, errmsg, errlen))
        return -1;
    int fd = open(path,
                  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                      (overwrite ? 0 : O_EXCL),
                  0644);
    struct stat st;
    if (fd < 0) {
        snprintf(errmsg, errlen, "cannot create journal '%s': %s", path,
                 errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, errlen, "cannot create journal '%s': it is not a regular file", path);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

enum tf_status tf_journal_create(const char *path, bool overwrite,
                                 const struct tf_journal_header *hdr, struct tf_journal **out,
                                 char *errmsg, size_t errlen)
{
    int fd = create_fd(path, overwrite, errmsg, errlen);
    if (fd < 0)
        return TF_EIO;
    if (!lock_or_explain(fd, path, errmsg, errlen)) {
        close(fd);
        return TF_EIO;
    }
    struct tf_buf b = {0};
    tf_wire_begin(&b, KIND_HEADER);
    tf_wire_put_str(&b, hdr->run_id, strlen(hdr->run_id));
    tf_wire_put_str(&b, hdr->taskfile_sha256, strlen(hdr->taskfile_sha256));
    tf_wire_put_u64(&b, hdr->ntasks);
    uint64_t start;
    memcpy(&start, &hdr->start_time, sizeof start);
    tf_wire_put_u64(&b, start);
    tf_wire_put_u64(&b, hdr->data_offset);
    int rc = ftruncate(fd, 0);
    if (rc == 0)
        rc = write_all(fd, MAGIC, MAGIC_LEN, NULL, 0);
    if (rc == 0)
        rc = write_record(fd, &b);
    if (rc == 0)
        rc = fdatasync(fd);
    tf_buf_fini(&b);
    if (rc != 0) {
        snprintf(errmsg, errlen, "cannot write journal '%s': %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return TF_EIO;
    }
    *out = journal_new(fd, path);
    return TF_OK;
}

/* Read one record at *off (the file is `size` bytes) into buf. 1: got one, *off moves past
 * it; 0: clean end of file; -1: no whole record starts here (torn or damaged). */
static int read_record(int fd, off_t *off, off_t size, struct tf_buf *buf)
{
    if (*off >= size)
        return 0;
    unsigned char frame[FRAME_LEN];
    if (size - *off < FRAME_LEN || pread(fd, frame, sizeof frame, *off) != (ssize_t)sizeof frame)
        return -1;
    uint32_t len = get_le32(frame), crc = get_le32(frame + 4);
    if (len < 16 || len > MAX_RECORD || (off_t)len > size - *off - FRAME_LEN)
        return -1;
    if (buf->cap < len) {
        buf->data = tf_xrealloc(buf->data, len);
        buf->cap = len;
    }
    ssize_t n = pread(fd, buf->data, len, *off + FRAME_LEN);
    if (n != (ssize_t)len || crc32(buf->data, len) != crc)
        return -1;
    buf->len = len;
    *off += FRAME_LEN + (off_t)len;
    return 1;
}

static off_t size_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : 0;
}

static bool parse_header(const struct tf_buf *b, struct tf_journal_header *hdr)
{
    struct tf_wire_reader rd;
    const char *id, *sha;
    size_t idlen, shalen;
    uint64_t start;
    if (tf_wire_open(&rd, b->data, b->len) != TF_OK || rd.kind != KIND_HEADER ||
        !tf_wire_get_str(&rd, &id, &idlen) || !tf_wire_get_str(&rd, &sha, &shalen) ||
        !tf_wire_get_u64(&rd, &hdr->ntasks) || !tf_wire_get_u64(&rd, &start) ||
        idlen >= sizeof hdr->run_id || shalen >= sizeof hdr->taskfile_sha256)
        return false;
    memcpy(hdr->run_id, id, idlen + 1);
    memcpy(hdr->taskfile_sha256, sha, shalen + 1);
    memcpy(&hdr->start_time, &start, sizeof start);
    hdr->data_offset = 0; /* absent from command-farm journals of earlier versions */
    if (rd.p < rd.end && !tf_wire_get_u64(&rd, &hdr->data_offset))
        return false;
    return true;
}

/* Check magic and header; leaves *off after the header record. */
static bool read_header(int fd, const char *path, struct tf_journal_header *hdr, off_t *off,
                        struct tf_buf *buf, char *errmsg, size_t errlen)
{
    char magic[MAGIC_LEN];
    *off = MAGIC_LEN;
    if (pread(fd, magic, MAGIC_LEN, 0) != MAGIC_LEN || memcmp(magic, MAGIC, MAGIC_LEN) != 0 ||
        read_record(fd, off, size_of(fd), buf) != 1 || !parse_header(buf, hdr)) {
        snprintf(errmsg, errlen, "'%s' is not a taskfarm journal, or its header is damaged", path);
        return false;
    }
    return true;
}

/* Open an existing journal: a regular file only, and never a blocking open (a FIFO). */
static int open_existing(const char *path, int flags, char *errmsg, size_t errlen)
{
    if (flags == O_RDONLY) {
        char why[900];
        int fd = tf_open_regular(path, why, sizeof why);
        if (fd < 0)
            snprintf(errmsg, errlen, "journal: %s", why);
        return fd;
    }
    int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(errmsg, errlen, "journal '%s' is not a regular file", path);
        return -1;
    }
    if (fd < 0) {
        snprintf(errmsg, errlen, "cannot open journal '%s': %s", path, strerror(errno));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

enum tf_status tf_journal_peek(const char *path, struct tf_journal_header *hdr, char *errmsg,
                               size_t errlen)
{
    int fd = open_existing(path, O_RDONLY, errmsg, errlen);
    if (fd < 0)
        return TF_EINPUT;
    struct tf_buf buf = {0};
    off_t off;
    bool ok = read_header(fd, path, hdr, &off, &buf, errmsg, errlen);
    tf_buf_fini(&buf);
    close(fd);
    return ok ? TF_OK : TF_EINPUT;
}

/* ---- walking the records -------------------------------------------------------------------
 * A record that fails its check is either the torn tail a kill leaves (nothing whole after it)
 * or damage in the middle (a bad disk block, a stray write): then the next whole record is
 * found by its frame and wire magic and the walk goes on from there, so one bad record never
 * costs the records after it. Only what follows the last whole record is ever cut. */

struct walk {
    int fd;
    const char *path;
    off_t size;
    struct tf_buf buf;
    bool report;     /* log each damaged record skipped */
    uint64_t budget; /* bytes a search for the next record may still check */
    off_t end;       /* just after the last whole record */
};

enum { WINDOW = 1 << 16 };

/* Find the first whole record at or after `from`: 1 and *next; 0: none (a damaged tail);
 * -1: the search gave up (a file crafted to make it slow). */
static int find_next(struct walk *w, off_t from, off_t *next)
{
    static const unsigned char wire_magic[4] = {'T', 'F', 'R', 'M'}; /* TF_WIRE_MAGIC */
    enum { LOOK = FRAME_LEN + 4 };
    unsigned char *win = tf_xmalloc(WINDOW + LOOK);
    int found = 0;
    for (off_t base = from; found == 0 && base < w->size; base += WINDOW) {
        size_t want = w->size - base < WINDOW + LOOK ? (size_t)(w->size - base) : WINDOW + LOOK;
        ssize_t got = pread(w->fd, win, want, base);
        if (got < (ssize_t)LOOK)
            break;
        for (size_t i = 0; i < WINDOW && i + LOOK <= (size_t)got; i++) {
            if (memcmp(win + i + FRAME_LEN, wire_magic, 4) != 0)
                continue;
            uint32_t len = get_le32(win + i);
            off_t at = base + (off_t)i;
            if (len < 16 || len > MAX_RECORD || (off_t)len > w->size - at - FRAME_LEN)
                continue;
            if (w->budget < len) {
                found = -1;
                break;
            }
            w->budget -= len;
            off_t probe = at;
            if (read_record(w->fd, &probe, w->size, &w->buf) == 1) {
                *next = at;
                found = 1;
                break;
            }
        }
    }
    free(win);
    return found;
}

typedef enum tf_status (*record_fn)(struct walk *w, off_t at, void *arg, char *errmsg,
                                    size_t errlen);

/* Call each() for every whole record from off on, in file order; stops at the first error
 * it returns. w->end is left after the last whole record. */
static enum tf_status walk_records(struct walk *w, off_t off, record_fn each, void *arg,
                                   char *errmsg, size_t errlen)
{
    w->size = size_of(w->fd);
    w->budget = 4 * (uint64_t)w->size + (64u << 20);
    w->end = off;
    for (;;) {
        off_t at = off;
        int rc = read_record(w->fd, &off, w->size, &w->buf);
        if (rc == 0)
            return TF_OK;
        if (rc == 1) {
            TF_TRY(each(w, at, arg, errmsg, errlen));
            w->end = off;
            continue;
        }
        off_t next = 0;
        int f = find_next(w, at + 1, &next);
        if (f == 0)
            return TF_OK; /* a torn tail: the caller cuts it */
        if (f < 0) {
            snprintf(errmsg, errlen,
                     "journal '%s': the record at offset %lld is damaged and no whole record "
                     "could be found after it",
                     w->path, (long long)at);
            return TF_EINPUT;
        }
        if (w->report)
            tf_log(TF_LOG_WARN,
                   "journal '%s': the record at offset %lld is damaged (its CRC-32 fails): "
                   "skipped %lld bytes, the records after it are kept",
                   w->path, (long long)at, (long long)(next - at));
        off = next;
    }
}

/* ---- what a result record may hold ------------------------------------------------------- */

static bool utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = p[i] ? tf_utf8_seq_len(p + i, n - i) : 0;
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* One line on what makes r impossible, or false when it is fine. */
static bool impossible(const struct tf_result *r, uint64_t ntasks, char *why, size_t n)
{
    if (r->id >= ntasks)
        snprintf(why, n, "task id %llu, but the run has %llu tasks", (unsigned long long)r->id,
                 (unsigned long long)ntasks);
    else if (r->status < 0 || r->status >= TF_TASK_STATUS_COUNT)
        snprintf(why, n, "status %d for task %llu, which is no task status", r->status,
                 (unsigned long long)r->id);
    else if (r->attempts < 0)
        snprintf(why, n, "%d attempts for task %llu", r->attempts, (unsigned long long)r->id);
    else if (isinf(r->start) || isinf(r->end))
        snprintf(why, n, "an infinite start or end time for task %llu", (unsigned long long)r->id);
    else if (!utf8_ok(r->host, strlen(r->host)))
        snprintf(why, n, "a host name that is not valid UTF-8 for task %llu",
                 (unsigned long long)r->id);
    else if (!utf8_ok(r->out, r->out_len))
        snprintf(why, n, "stdout that is not valid UTF-8 for task %llu", (unsigned long long)r->id);
    else if (!utf8_ok(r->err, r->err_len))
        snprintf(why, n, "stderr that is not valid UTF-8 for task %llu", (unsigned long long)r->id);
    else
        return false;
    return true;
}

/* The results of a journal, in commit order: which record of each task counts (its last). */
struct results {
    const struct tf_journal_header *hdr;
    void (*fn)(const struct tf_result *, void *);
    void *arg;
    uint64_t n;    /* results seen so far in this pass */
    uint64_t *ids; /* first pass: the id of result i */
    size_t cap;
    bool *last; /* second pass: whether result i is the last of its task */
    uint64_t nlast;
};

/* Each result of the record at `at` in turn; fails on the first that cannot be. */
static enum tf_status each_result(struct walk *w, off_t at, void *arg, char *errmsg, size_t errlen)
{
    struct results *R = arg;
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, w->buf.data, w->buf.len) != TF_OK || rd.kind != KIND_RESULTS) {
        snprintf(errmsg, errlen,
                 "journal '%s': the record at offset %lld is not a record of results", w->path,
                 (long long)at);
        return TF_EINPUT;
    }
    for (uint32_t i = 0; i < rd.count; i++) {
        const char *host;
        size_t hlen;
        struct tf_result r;
        char why[256];
        if (!tf_wire_get_str(&rd, &host, &hlen) || !tf_wire_get_result(&rd, &r)) {
            snprintf(errmsg, errlen, "journal '%s': the record at offset %lld is malformed",
                     w->path, (long long)at);
            return TF_EINPUT;
        }
        r.host = (char *)host;
        if (R->last == NULL && impossible(&r, R->hdr->ntasks, why, sizeof why)) {
            snprintf(errmsg, errlen, "journal '%s': the record at offset %lld holds %s", w->path,
                     (long long)at, why);
            return TF_EINPUT;
        }
        if (R->last == NULL && R->ids) {
            if (R->n == R->cap) {
                R->cap = R->cap ? 2 * R->cap : 1024;
                R->ids = tf_xrealloc(R->ids, R->cap * sizeof *R->ids);
            }
            R->ids[R->n] = r.id;
        }
        if (R->last && R->n < R->nlast && R->last[R->n])
            R->fn(&r, R->arg);
        R->n++;
    }
    return TF_OK;
}

struct id_seq {
    uint64_t id, seq;
};

static int by_id_seq(const void *a, const void *b)
{
    const struct id_seq *x = a, *y = b;
    if (x->id != y->id)
        return (x->id > y->id) - (x->id < y->id);
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* last[i]: no later result is of the same task (a task run again in a resumed run). */
static bool *last_of_each(const uint64_t *ids, uint64_t n)
{
    struct id_seq *v = tf_xmalloc((n ? n : 1) * sizeof *v);
    for (uint64_t i = 0; i < n; i++)
        v[i] = (struct id_seq){ids[i], i};
    qsort(v, n, sizeof *v, by_id_seq);
    bool *last = tf_xcalloc(n ? n : 1, sizeof *last);
    for (uint64_t i = 0; i < n; i++)
        if (i + 1 == n || v[i + 1].id != v[i].id)
            last[v[i].seq] = true;
    free(v);
    return last;
}

struct replay_raw {
    void (*fn)(const void *, size_t, void *);
    void *arg;
};

static enum tf_status each_raw(struct walk *w, off_t at, void *arg, char *errmsg, size_t errlen)
{
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, w->buf.data, w->buf.len) != TF_OK) {
        snprintf(errmsg, errlen, "journal '%s': the record at offset %lld is malformed", w->path,
                 (long long)at);
        return TF_EINPUT;
    }
    const struct replay_raw *rr = arg;
    if (rr->fn)
        rr->fn(w->buf.data, w->buf.len, rr->arg);
    return TF_OK;
}

enum tf_status tf_journal_check(const char *path, struct tf_journal_header *hdr, char *errmsg,
                                size_t errlen)
{
    struct walk w = {.path = path};
    w.fd = open_existing(path, O_RDONLY, errmsg, errlen);
    if (w.fd < 0)
        return TF_EINPUT;
    off_t off;
    enum tf_status st = TF_EINPUT;
    if (flock(w.fd, LOCK_SH | LOCK_NB) != 0)
        snprintf(errmsg, errlen, "another taskfarm run is writing '%s'", path);
    else if (read_header(w.fd, path, hdr, &off, &w.buf, errmsg, errlen)) {
        struct results R = {.hdr = hdr};
        st = walk_records(&w, off, each_result, &R, errmsg, errlen);
    }
    tf_buf_fini(&w.buf);
    close(w.fd);
    return st;
}

/* Lock and check the journal at path for appending: w->fd open, *off after its header. */
static enum tf_status open_for_append(struct walk *w, const char *path,
                                      struct tf_journal_header *hdr, off_t *off, char *errmsg,
                                      size_t errlen)
{
    w->path = path;
    w->report = true;
    w->fd = open_existing(path, O_RDWR, errmsg, errlen);
    if (w->fd < 0)
        return TF_EIO;
    if (!lock_or_explain(w->fd, path, errmsg, errlen) ||
        !read_header(w->fd, path, hdr, off, &w->buf, errmsg, errlen)) {
        tf_buf_fini(&w->buf);
        close(w->fd);
        return TF_EINPUT;
    }
    return TF_OK;
}

/* Cut what follows the last whole record (a kill tore it: nobody was told it was committed)
 * and hand the journal over for appending. Closes w->fd on failure. */
static enum tf_status finish_open(struct walk *w, enum tf_status st, struct tf_journal **out,
                                  char *errmsg, size_t errlen)
{
    tf_buf_fini(&w->buf);
    if (st == TF_OK && w->end < w->size) {
        tf_log(TF_LOG_WARN,
               "journal '%s': dropping %lld bytes at offset %lld, a record cut off by a crash",
               w->path, (long long)(w->size - w->end), (long long)w->end);
        if (ftruncate(w->fd, w->end) != 0) {
            snprintf(errmsg, errlen, "cannot repair journal '%s': %s", w->path, strerror(errno));
            st = TF_EIO;
        }
    }
    if (st != TF_OK) {
        close(w->fd);
        return st;
    }
    lseek(w->fd, 0, SEEK_END);
    *out = journal_new(w->fd, w->path);
    return TF_OK;
}

enum tf_status tf_journal_open(const char *path, struct tf_journal_header *hdr,
                               void (*fn)(const struct tf_result *r, void *arg), void *arg,
                               struct tf_journal **out, char *errmsg, size_t errlen)
{
    struct walk w = {0};
    off_t off;
    TF_TRY(open_for_append(&w, path, hdr, &off, errmsg, errlen));
    /* First every record is checked (and nothing is called), then only the last result of
     * each task is handed on: one row written per task however often it ran. */
    struct results R = {.hdr = hdr, .fn = fn, .arg = arg, .ids = NULL};
    if (fn)
        R.ids = tf_xmalloc(1024 * sizeof *R.ids), R.cap = 1024;
    enum tf_status st = walk_records(&w, off, each_result, &R, errmsg, errlen);
    if (st == TF_OK && fn) {
        R.last = last_of_each(R.ids, R.n);
        R.nlast = R.n;
        R.n = 0;
        w.report = false;
        st = walk_records(&w, off, each_result, &R, errmsg, errlen);
    }
    tf_log(TF_LOG_DEBUG, "journal '%s': %llu results read", path, (unsigned long long)R.n);
    free(R.ids);
    free(R.last);
    return finish_open(&w, st, out, errmsg, errlen);
}

enum tf_status tf_journal_open_raw(const char *path, struct tf_journal_header *hdr,
                                   void (*fn)(const void *data, size_t len, void *arg), void *arg,
                                   struct tf_journal **out, char *errmsg, size_t errlen)
{
    struct walk w = {0};
    off_t off;
    TF_TRY(open_for_append(&w, path, hdr, &off, errmsg, errlen));
    struct replay_raw rr = {fn, arg};
    enum tf_status st = walk_records(&w, off, each_raw, &rr, errmsg, errlen);
    return finish_open(&w, st, out, errmsg, errlen);
}

enum tf_status tf_journal_publish(struct tf_journal *j, const char *path, char *errmsg,
                                  size_t errlen)
{
    /* link(2) never replaces: a journal that appeared meanwhile is another run's. */
    int rc = link(j->path, path);
    if (rc != 0 && errno != EEXIST && tf_journal_creatable(path, false, errmsg, errlen))
        rc = tf_rename_into_place(j->path, path); /* a file system without hard links */
    else if (rc == 0)
        (void)unlink(j->path);
    if (rc != 0) {
        snprintf(errmsg, errlen, "cannot create journal '%s': %s", path, strerror(errno));
        return TF_EIO;
    }
    free(j->path);
    j->path = tf_xstrdup(path);
    return TF_OK;
}

enum tf_status tf_journal_append(struct tf_journal *j, const void *data, size_t len)
{
    TF_TRY(tf_journal_commit(j));
    struct tf_buf b = {.data = (unsigned char *)data, .len = len, .cap = len};
    if (write_record(j->fd, &b) != 0) {
        tf_log(TF_LOG_ERROR, "cannot write journal '%s': %s", j->path, strerror(errno));
        return TF_EIO;
    }
    return TF_OK;
}

void tf_journal_add(struct tf_journal *j, const struct tf_result *r, const char *host)
{
    if (j->staged == 0)
        tf_wire_begin(&j->stage, KIND_RESULTS);
    const char *h = host ? host : (r->host ? r->host : "");
    tf_wire_put_str(&j->stage, h, strlen(h));
    tf_wire_put_result(&j->stage, r);
    j->staged++;
}

enum tf_status tf_journal_commit(struct tf_journal *j)
{
    if (j == NULL || j->staged == 0)
        return TF_OK;
    j->staged = 0;
    if (write_record(j->fd, &j->stage) != 0) {
        tf_log(TF_LOG_ERROR, "cannot write journal '%s': %s", j->path, strerror(errno));
        return TF_EIO;
    }
    return TF_OK;
}

enum tf_status tf_journal_sync(struct tf_journal *j)
{
    if (j == NULL)
        return TF_OK;
    TF_TRY(tf_journal_commit(j));
    if (fdatasync(j->fd) != 0) {
        tf_log(TF_LOG_ERROR, "cannot sync journal '%s': %s", j->path, strerror(errno));
        return TF_EIO;
    }
    return TF_OK;
}

int tf_journal_fd(const struct tf_journal *j)
{
    return j ? j->fd : -1;
}

enum tf_status tf_journal_close(struct tf_journal *j, bool remove_file)
{
    if (j == NULL)
        return TF_OK;
    /* A journal about to be removed need not reach the disk first. */
    enum tf_status st = remove_file ? tf_journal_commit(j) : tf_journal_sync(j);
    if (remove_file && st == TF_OK && unlink(j->path) != 0)
        st = TF_EIO;
    close(j->fd);
    tf_buf_fini(&j->stage);
    free(j->path);
    free(j);
    return st;
}
