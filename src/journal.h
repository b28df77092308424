/* journal.h - the append-only record of finished tasks beside the result file
 * (OUT.h5.journal). A task counts as finished once its record is committed here; the HDF5
 * file is written behind it in batches and can always be rebuilt from the journal.
 *
 * Layout: an 8-byte magic, then records [u32 length][u32 CRC-32][payload], each payload a
 * wire.h message: first a header (run id, task file SHA-256, task count, start time), then
 * RESULTS messages. A kill -9 can tear only the last record; opening the journal drops a
 * torn tail (its CRC fails) and appends after the last whole record. A record that fails its
 * check with whole records after it (damage, not a kill) is reported with its offset and
 * skipped; the records after it are kept. A journal is never created through a symbolic link,
 * and only regular files are read (a FIFO is refused, never waited on).
 */
#ifndef TF_JOURNAL_H
#define TF_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "task.h"

struct tf_journal_header {
    char run_id[64];
    char taskfile_sha256[72];
    uint64_t ntasks;
    double start_time;
    uint64_t data_offset; /* in-process map: where its results start in the result file */
};

struct tf_journal;

/* Whether a journal can be created at path: false with one line in errmsg when it is a
 * symbolic link, exists as anything but a regular file, exists without `overwrite` or with
 * other names (hard links), or its name cannot be (too long). Lets a caller refuse before it
 * changes any other file. */
bool tf_journal_creatable(const char *path, bool overwrite, char *errmsg, size_t errlen);

/* Create a journal at path holding only the header: refused if the file exists, unless
 * `overwrite`, and refused as tf_journal_creatable refuses. Locked against a second writer.
 * One line in errmsg on failure. */
enum tf_status tf_journal_create(const char *path, bool overwrite,
                                 const struct tf_journal_header *hdr, struct tf_journal **out,
                                 char *errmsg, size_t errlen) TF_NODISCARD;

/* Name the journal j, created under a temporary name, `path` (refused if path exists): a
 * journal filled from elsewhere appears only once whole. */
enum tf_status tf_journal_publish(struct tf_journal *j, const char *path, char *errmsg,
                                  size_t errlen) TF_NODISCARD;

/* Read the header of an existing journal without opening it for writing. */
enum tf_status tf_journal_peek(const char *path, struct tf_journal_header *hdr, char *errmsg,
                               size_t errlen) TF_NODISCARD;

/* Read a result journal without changing it and check every record: task ids below the
 * header's ntasks, known statuses, attempts >= 0, no infinite times, valid UTF-8 (no NUL) in
 * host, stdout and stderr. TF_EINPUT with one line naming the journal and the record's offset;
 * also when another run holds it. */
enum tf_status tf_journal_check(const char *path, struct tf_journal_header *hdr, char *errmsg,
                                size_t errlen) TF_NODISCARD;

/* Open an existing journal to go on appending: lock it, check every record as
 * tf_journal_check does (TF_EINPUT, nothing called and nothing changed, when one is refused),
 * then call fn once for each task that has a result, with its last one (a later record of a
 * task replaces an earlier one), in commit order of those records, and cut a torn tail.
 * fn may be NULL. r->host is set; strings are borrowed for the call. */
enum tf_status tf_journal_open(const char *path, struct tf_journal_header *hdr,
                               void (*fn)(const struct tf_result *r, void *arg), void *arg,
                               struct tf_journal **out, char *errmsg, size_t errlen) TF_NODISCARD;

/* The same for a journal of other records (an in-process map's batches): fn gets each
 * record's payload, a wire message, borrowed for the call. */
enum tf_status tf_journal_open_raw(const char *path, struct tf_journal_header *hdr,
                                   void (*fn)(const void *data, size_t len, void *arg), void *arg,
                                   struct tf_journal **out, char *errmsg,
                                   size_t errlen) TF_NODISCARD;
/* Append one wire message as its own record, at once (one write()). */
enum tf_status tf_journal_append(struct tf_journal *j, const void *data, size_t len) TF_NODISCARD;
/* Stage a finished result; nothing reaches the file before tf_journal_commit. */
void tf_journal_add(struct tf_journal *j, const struct tf_result *r, const char *host);
/* Append everything staged as one record with one write(): from here on the tasks are
 * finished, whatever is killed next. */
enum tf_status tf_journal_commit(struct tf_journal *j) TF_NODISCARD;
/* Commit, then ask the kernel to put the file on disk (survives a node crash too). */
enum tf_status tf_journal_sync(struct tf_journal *j) TF_NODISCARD;
/* The open file, for a sync elsewhere (bgsync.h); records are written when appended. */
int tf_journal_fd(const struct tf_journal *j);
/* Commit and close; with `remove_file`, delete it (the result file holds everything).
 * NULL-safe. */
enum tf_status tf_journal_close(struct tf_journal *j, bool remove_file);

#endif
