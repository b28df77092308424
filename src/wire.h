/* wire.h - the byte format of messages between master and workers: a fixed 16-byte header
 * (magic, version, kind, record count), then records packed field by field in little-endian
 * order. Strings travel as length + bytes + NUL, so the receiver can point into the message
 * instead of copying.
 */
#ifndef TF_WIRE_H
#define TF_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "task.h"

#define TF_WIRE_MAGIC   0x4d524654u /* "TFRM" */
#define TF_WIRE_VERSION 3

/* A growable byte buffer that owns its storage. */
struct tf_buf {
    unsigned char *data;
    size_t len, cap;
};
void tf_buf_fini(struct tf_buf *b);

/* Start a message of `kind` in b (b is reset), then append records; the header's record
 * count is kept up to date by the put functions. */
void tf_wire_begin(struct tf_buf *b, uint16_t kind);
void tf_wire_put_str(struct tf_buf *b, const char *s, size_t len); /* not a record */
void tf_wire_put_u64(struct tf_buf *b, uint64_t v);                /* not a record */
/* Append room for len bytes read back as a string (tf_wire_get_str) and return it, to be
 * filled in place before the buffer grows again. Not a record. */
unsigned char *tf_wire_put_blob(struct tf_buf *b, size_t len);
/* Every worker -> master message starts with the worker's report of itself. */
struct tf_report {
    const char *host;  /* points into the message */
    uint64_t queued;   /* tasks queued on the worker, not started */
    uint64_t received; /* tasks the worker has received in all */
    uint64_t want;     /* for how many of its slots it wants work (a request) */
};
void tf_wire_put_report(struct tf_buf *b, const struct tf_report *r);
/* Update the counts of the report that starts message b (the host stays). */
void tf_wire_patch_report(struct tf_buf *b, const struct tf_report *r);
void tf_wire_put_task(struct tf_buf *b, const struct tf_task *t);
void tf_wire_put_result(struct tf_buf *b, const struct tf_result *r); /* host not sent */
uint32_t tf_wire_count(const struct tf_buf *b);

struct tf_wire_reader {
    const unsigned char *p, *end;
    uint16_t kind;
    uint32_t count;
};

/* Check the header of a received message. TF_EPROTO when it is not ours or is truncated. */
enum tf_status tf_wire_open(struct tf_wire_reader *rd, const void *data, size_t len) TF_NODISCARD;
/* Each get returns false when the message is malformed. Strings point into the message. */
bool tf_wire_get_str(struct tf_wire_reader *rd, const char **s, size_t *len);
bool tf_wire_get_u64(struct tf_wire_reader *rd, uint64_t *v);
bool tf_wire_get_report(struct tf_wire_reader *rd, struct tf_report *r);
bool tf_wire_get_task(struct tf_wire_reader *rd, struct tf_task *t);
bool tf_wire_get_result(struct tf_wire_reader *rd, struct tf_result *r); /* host left NULL */

#endif
