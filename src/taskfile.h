/* taskfile.h - the task file: one shell command per line; blank lines and lines whose
 * first non-blank character is '#' are not tasks.
 *
 * The master reads the file twice, both times as a stream: tf_taskfile_scan validates it
 * whole (before any output exists) and counts tasks; tf_taskfile_next then hands tasks
 * out in order. Memory stays bounded by the longest line, whatever the number of tasks.
 *
 * The scan keeps its descriptor: readers opened on the same path afterwards read through it,
 * and every read first checks that the file is still the one scanned (size, mtime, inode,
 * and that the path still names it). A file changed during the run makes the readers fail
 * (TF_EINPUT) with tf_taskfile_changed saying why; no line mixing old and new bytes is ever
 * returned.
 */
#ifndef TF_TASKFILE_H
#define TF_TASKFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"
#include "task.h"

#define TF_TASKFILE_MAX_LINE (1024 * 1024) /* bytes, not counting the newline */

struct tf_taskfile_info {
    uint64_t ntasks;
    uint64_t nlines;
    uint64_t nbytes;
    char sha256[65]; /* of the file's bytes, lower-case hex */
};

/* Validate the whole file: regular (a FIFO or device is refused without waiting) and readable, no
 * NUL byte, valid UTF-8, no carriage return, no line over TF_TASKFILE_MAX_LINE. On
 * TF_EINPUT/TF_EIO, errmsg holds one line naming the file and, where it applies, the line number.
 */
enum tf_status tf_taskfile_scan(const char *path, struct tf_taskfile_info *info, char *errmsg,
                                size_t errlen) TF_NODISCARD;

struct tf_taskfile;

enum tf_status tf_taskfile_open(const char *path, struct tf_taskfile **out, char *errmsg,
                                size_t errlen) TF_NODISCARD;
/* Next task in file order. *got is false at the end of the file. task->command points into
 * the reader and stays valid until the next call. */
enum tf_status tf_taskfile_next(struct tf_taskfile *tf, struct tf_task *task,
                                bool *got) TF_NODISCARD;
/* The task whose line starts at byte `offset` (from an earlier tf_taskfile_next), given its
 * id and line number back. Moves the stream: tf_taskfile_next continues after it. */
enum tf_status tf_taskfile_read_at(struct tf_taskfile *tf, uint64_t id, uint64_t line,
                                   uint64_t offset, struct tf_task *task) TF_NODISCARD;
/* Read past the next n tasks (a --slice starts further on); ids then count from 0 again.
 * False when the file holds fewer. */
bool tf_taskfile_skip(struct tf_taskfile *tf, uint64_t n);
/* The file scanned at `from` was renamed to `to` by the caller (a sweep's commands, written
 * under a temporary name): its readers check the new name from now on. */
void tf_taskfile_moved(const char *from, const char *to);
/* Why the file is no longer the one scanned ("its size went from 10 to 7 bytes"), or NULL
 * while it is (a failure was then an I/O error). NULL-safe. */
const char *tf_taskfile_changed(const struct tf_taskfile *tf);
void tf_taskfile_close(struct tf_taskfile *tf); /* NULL-safe */

#endif
