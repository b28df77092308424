/* taskfile.h - the task file: one shell command per line; blank lines and lines whose
 * first non-blank character is '#' are not tasks.
 *
 * The master reads the file twice, both times as a stream: tf_taskfile_scan validates it
 * whole (before any output exists) and counts tasks; tf_taskfile_next then hands tasks
 * out in order. Memory stays bounded by the longest line, whatever the number of tasks.
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

/* Validate the whole file: regular and readable, no NUL byte, valid UTF-8, no carriage
 * return, no line over TF_TASKFILE_MAX_LINE. On TF_EINPUT/TF_EIO, errmsg holds one line
 * naming the file and, where it applies, the line number. */
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
void tf_taskfile_close(struct tf_taskfile *tf); /* NULL-safe */

#endif
