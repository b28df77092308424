/* wire.c - packing and unpacking of task batches and result batches. Every read is bounds
 * checked: a malformed message is refused, never trusted.
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HDR_SIZE 16

static bool get_u64(struct tf_wire_reader *rd, uint64_t *v);

void tf_buf_fini(struct tf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static unsigned char *grow(struct tf_buf *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->data = tf_xrealloc(b->data, cap);
        b->cap = cap;
    }
    unsigned char *p = b->data + b->len;
    b->len += n;
    return p;
}

static void put_u64(struct tf_buf *b, uint64_t v)
{
    unsigned char *p = grow(b, 8);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u32(struct tf_buf *b, uint32_t v)
{
    unsigned char *p = grow(b, 4);
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64(struct tf_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    put_u64(b, u);
}

static void set_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void tf_wire_begin(struct tf_buf *b, uint16_t kind)
{
    b->len = 0;
    put_u32(b, TF_WIRE_MAGIC);
    put_u32(b, (uint32_t)TF_WIRE_VERSION | (uint32_t)kind << 16);
    put_u32(b, 0); /* record count */
    put_u32(b, 0); /* reserved */
}

static void count_record(struct tf_buf *b)
{
    set_u32(b->data + 8, get_u32_at(b->data + 8) + 1);
}

uint32_t tf_wire_count(const struct tf_buf *b)
{
    return b->len >= HDR_SIZE ? get_u32_at(b->data + 8) : 0;
}

void tf_wire_put_str(struct tf_buf *b, const char *s, size_t len)
{
    put_u32(b, (uint32_t)len);
    unsigned char *p = grow(b, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
}

unsigned char *tf_wire_put_blob(struct tf_buf *b, size_t len)
{
    put_u32(b, (uint32_t)len);
    unsigned char *p = grow(b, len + 1);
    p[len] = '\0';
    return p;
}

void tf_wire_put_u64(struct tf_buf *b, uint64_t v)
{
    put_u64(b, v);
}

void tf_wire_put_report(struct tf_buf *b, const struct tf_report *r)
{
    tf_wire_put_str(b, r->host, strlen(r->host));
    put_u64(b, r->queued);
    put_u64(b, r->received);
    put_u64(b, r->want);
}

void tf_wire_patch_report(struct tf_buf *b, const struct tf_report *r)
{
    size_t at = HDR_SIZE + 4 + get_u32_at(b->data + HDR_SIZE) + 1; /* past the host string */
    size_t len = b->len;
    b->len = at;
    put_u64(b, r->queued);
    put_u64(b, r->received);
    put_u64(b, r->want);
    b->len = len;
}

void tf_wire_put_task(struct tf_buf *b, const struct tf_task *t)
{
    put_u64(b, t->id);
    put_u64(b, t->line);
    put_u64(b, t->offset);
    put_u32(b, (uint32_t)t->attempts);
    tf_wire_put_str(b, t->command, t->command_len);
    count_record(b);
}

void tf_wire_put_result(struct tf_buf *b, const struct tf_result *r)
{
    put_u64(b, r->id);
    put_u64(b, r->line);
    put_u64(b, r->offset);
    put_u64(b, (uint64_t)r->max_rss);
    put_f64(b, r->cpu_user);
    put_f64(b, r->cpu_system);
    put_u32(b, (uint32_t)(uint8_t)r->status | (uint32_t)r->out_truncated << 8 |
                   (uint32_t)r->err_truncated << 9);
    put_u32(b, (uint32_t)r->exit_code);
    put_u32(b, (uint32_t)r->signal);
    put_u32(b, (uint32_t)r->rank);
    put_u32(b, (uint32_t)r->slot);
    put_u32(b, (uint32_t)r->attempts);
    put_f64(b, r->start);
    put_f64(b, r->end);
    tf_wire_put_str(b, r->out ? r->out : "", r->out_len);
    tf_wire_put_str(b, r->err ? r->err : "", r->err_len);
    count_record(b);
}

enum tf_status tf_wire_open(struct tf_wire_reader *rd, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < HDR_SIZE || get_u32_at(p) != TF_WIRE_MAGIC ||
        (get_u32_at(p + 4) & 0xffff) != TF_WIRE_VERSION)
        return TF_EPROTO;
    rd->kind = (uint16_t)(get_u32_at(p + 4) >> 16);
    rd->count = get_u32_at(p + 8);
    rd->p = p + HDR_SIZE;
    rd->end = p + len;
    return TF_OK;
}

static bool get_u32(struct tf_wire_reader *rd, uint32_t *v)
{
    if (rd->end - rd->p < 4)
        return false;
    *v = get_u32_at(rd->p);
    rd->p += 4;
    return true;
}

static bool get_u64(struct tf_wire_reader *rd, uint64_t *v)
{
    uint32_t lo, hi;
    if (!get_u32(rd, &lo) || !get_u32(rd, &hi))
        return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

static bool get_f64(struct tf_wire_reader *rd, double *v)
{
    uint64_t u;
    if (!get_u64(rd, &u))
        return false;
    memcpy(v, &u, sizeof *v);
    return true;
}

bool tf_wire_get_str(struct tf_wire_reader *rd, const char **s, size_t *len)
{
    uint32_t n;
    if (!get_u32(rd, &n) || (size_t)(rd->end - rd->p) < (size_t)n + 1 || rd->p[n] != '\0')
        return false;
    *s = (const char *)rd->p;
    *len = n;
    rd->p += (size_t)n + 1;
    return true;
}

bool tf_wire_get_u64(struct tf_wire_reader *rd, uint64_t *v)
{
    return get_u64(rd, v);
}

bool tf_wire_get_report(struct tf_wire_reader *rd, struct tf_report *r)
{
    size_t len;
    return tf_wire_get_str(rd, &r->host, &len) && get_u64(rd, &r->queued) &&
           get_u64(rd, &r->received) && get_u64(rd, &r->want);
}

bool tf_wire_get_task(struct tf_wire_reader *rd, struct tf_task *t)
{
    uint32_t att;
    t->avoid_rank = -1;
    if (!get_u64(rd, &t->id) || !get_u64(rd, &t->line) || !get_u64(rd, &t->offset) ||
        !get_u32(rd, &att) || !tf_wire_get_str(rd, &t->command, &t->command_len))
        return false;
    t->attempts = (int32_t)att;
    return true;
}

bool tf_wire_get_result(struct tf_wire_reader *rd, struct tf_result *r)
{
    uint32_t flags, ec, sig, rank, slot, att;
    uint64_t rss;
    const char *out, *err;
    memset(r, 0, sizeof *r);
    if (!get_u64(rd, &r->id) || !get_u64(rd, &r->line) || !get_u64(rd, &r->offset) ||
        !get_u64(rd, &rss) || !get_f64(rd, &r->cpu_user) || !get_f64(rd, &r->cpu_system) ||
        !get_u32(rd, &flags) || !get_u32(rd, &ec) || !get_u32(rd, &sig) || !get_u32(rd, &rank) ||
        !get_u32(rd, &slot) || !get_u32(rd, &att) || !get_f64(rd, &r->start) ||
        !get_f64(rd, &r->end) || !tf_wire_get_str(rd, &out, &r->out_len) ||
        !tf_wire_get_str(rd, &err, &r->err_len))
        return false;
    r->status = (int8_t)(flags & 0xff);
    r->out_truncated = flags >> 8 & 1;
    r->err_truncated = flags >> 9 & 1;
    r->exit_code = (int32_t)ec;
    r->signal = (int32_t)sig;
    r->rank = (int32_t)rank;
    r->slot = (int32_t)slot;
    r->attempts = (int32_t)att;
    r->max_rss = (int64_t)rss;
    /* RATIONALE: borrowed from the message buffer; the caller copies what it keeps. */
    r->out = (char *)out;
    r->err = (char *)err;
    return true;
}
