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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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

enum tf_status tf_journal_create(const char *path, bool overwrite,
                                 const struct tf_journal_header *hdr, struct tf_journal **out,
                                 char *errmsg, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? 0 : O_EXCL), 0644);
    if (fd < 0) {
        snprintf(errmsg, errlen, "cannot create journal '%s': %s", path, strerror(errno));
        return TF_EIO;
    }
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

/* Read one record at *off into buf. 1: got one; 0: clean end of file; -1: torn or damaged. */
static int read_record(int fd, off_t *off, struct tf_buf *buf)
{
    unsigned char frame[FRAME_LEN];
    ssize_t n = pread(fd, frame, sizeof frame, *off);
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof frame)
        return -1;
    uint32_t len = get_le32(frame), crc = get_le32(frame + 4);
    if (len < 16 || len > MAX_RECORD)
        return -1;
    if (buf->cap < len) {
        buf->data = tf_xrealloc(buf->data, len);
        buf->cap = len;
    }
    n = pread(fd, buf->data, len, *off + FRAME_LEN);
    if (n != (ssize_t)len || crc32(buf->data, len) != crc)
        return -1;
    buf->len = len;
    *off += FRAME_LEN + (off_t)len;
    return 1;
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
        read_record(fd, off, buf) != 1 || !parse_header(buf, hdr)) {
        snprintf(errmsg, errlen, "'%s' is not a taskfarm journal, or its header is damaged", path);
        return false;
    }
    return true;
}

static int open_existing(const char *path, int flags, char *errmsg, size_t errlen)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        snprintf(errmsg, errlen, "cannot open journal '%s': %s", path, strerror(errno));
    return fd;
}

enum tf_status tf_journal_peek(const char *path, struct tf_journal_header *hdr, char *errmsg,
                               size_t errlen)
{
    int fd = open_existing(path, O_RDONLY, errmsg, errlen);
    if (fd < 0)
        return TF_EIO;
    struct tf_buf buf = {0};
    off_t off;
    bool ok = read_header(fd, path, hdr, &off, &buf, errmsg, errlen);
    tf_buf_fini(&buf);
    close(fd);
    return ok ? TF_OK : TF_EINPUT;
}

struct replay {
    void (*fn)(const struct tf_result *, void *);
    void (*raw)(const void *, size_t, void *);
    void *arg;
};

static bool replay_record(const struct tf_buf *b, const struct replay *rp)
{
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, b->data, b->len) != TF_OK)
        return false;
    if (rd.kind != KIND_RESULTS) {
        if (rp->raw)
            rp->raw(b->data, b->len, rp->arg);
        return rp->fn == NULL; /* a result journal holds nothing else */
    }
    for (uint32_t i = 0; i < rd.count; i++) {
        const char *host;
        size_t hlen;
        struct tf_result r;
        if (!tf_wire_get_str(&rd, &host, &hlen) || !tf_wire_get_result(&rd, &r))
            return false;
        r.host = (char *)host;
        if (rp->fn)
            rp->fn(&r, rp->arg);
    }
    return true;
}

static enum tf_status open_replaying(const char *path, struct tf_journal_header *hdr,
                                     const struct replay *rp, struct tf_journal **out, char *errmsg,
                                     size_t errlen)
{
    int fd = open_existing(path, O_RDWR, errmsg, errlen);
    if (fd < 0)
        return TF_EIO;
    struct tf_buf buf = {0};
    off_t off;
    if (!lock_or_explain(fd, path, errmsg, errlen) ||
        !read_header(fd, path, hdr, &off, &buf, errmsg, errlen)) {
        tf_buf_fini(&buf);
        close(fd);
        return TF_EINPUT;
    }
    int rc;
    uint64_t records = 0;
    while ((rc = read_record(fd, &off, &buf)) == 1) {
        if (!replay_record(&buf, rp)) {
            rc = -1;
            break;
        }
        records++;
    }
    tf_buf_fini(&buf);
    struct stat st;
    if (rc < 0 && fstat(fd, &st) == 0) {
        /* A kill during a commit: that record was never reported as committed. */
        tf_log(TF_LOG_WARN, "journal '%s': dropping %lld bytes of a record cut off by a crash",
               path, (long long)(st.st_size - off));
        if (ftruncate(fd, off) != 0) {
            snprintf(errmsg, errlen, "cannot repair journal '%s': %s", path, strerror(errno));
            close(fd);
            return TF_EIO;
        }
    }
    lseek(fd, 0, SEEK_END);
    tf_log(TF_LOG_DEBUG, "journal '%s': %llu records replayed", path, (unsigned long long)records);
    *out = journal_new(fd, path);
    return TF_OK;
}

enum tf_status tf_journal_open(const char *path, struct tf_journal_header *hdr,
                               void (*fn)(const struct tf_result *r, void *arg), void *arg,
                               struct tf_journal **out, char *errmsg, size_t errlen)
{
    struct replay rp = {fn, NULL, arg};
    return open_replaying(path, hdr, &rp, out, errmsg, errlen);
}

enum tf_status tf_journal_open_raw(const char *path, struct tf_journal_header *hdr,
                                   void (*fn)(const void *data, size_t len, void *arg), void *arg,
                                   struct tf_journal **out, char *errmsg, size_t errlen)
{
    struct replay rp = {NULL, fn, arg};
    return open_replaying(path, hdr, &rp, out, errmsg, errlen);
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
