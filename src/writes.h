/* writes.h - the checks made before any command creates or replaces an output file (a
 * result file, a merge, an export, a report): what the name is now, that it is none of the
 * inputs, that every name derived from it fits the directory, and putting a finished
 * temporary file in its place (files.h makes and renames the temporary names).
 */
#ifndef TF_WRITES_H
#define TF_WRITES_H

#include <stdbool.h>
#include <stddef.h>

/* Refuse an output path that can never become a result: a symlink to nothing, or an
 * existing directory, device, FIFO or socket (a name to replace must be a plain file).
 * Whether an existing file may be replaced is the caller's (its own advice). One line. */
bool tf_writes_check_output(const char *path, char *err, size_t errlen);

/* Refuse an output whose directory cannot take it: missing, not a directory, not
 * writable, or refusing a new file there (/proc, a read-only mount), tried by creating and
 * removing the temporary name the output will be written under. One line. */
bool tf_writes_check_dir(const char *path, char *err, size_t errlen);

/* Refuse when path, its temporary name (files.h) or path followed by one of the n
 * suffixes is longer than a name in its directory may be: the run would stop half-way,
 * after creating the first. One line. */
bool tf_writes_check_names(const char *path, const char *const *suffixes, int n, char *err,
                           size_t errlen);

/* Refuse an output that is the input `input` (same device and inode: a symlink or a hard
 * link to it too); what names the input ("the task file", "merge part"). One line. */
bool tf_writes_not_input(const char *output, const char *input, const char *what, char *err,
                         size_t errlen);

/* The file to write for output path: path itself, or, when path is a symlink to an existing
 * file, that file (so the link goes on pointing at the new result). malloc'd. */
char *tf_writes_target(const char *path);

/* Put the finished temporary file tmp at path: over an existing file when `replace`, else
 * only when path still does not exist (-1, errno EEXIST, when it appeared meanwhile).
 * 0, or -1 with errno set; tmp is left for the caller to remove on failure. */
int tf_writes_place(const char *tmp, const char *path, bool replace);

/* For commands that stop at a signal (merge, export, report): a SIGINT, SIGTERM or SIGHUP
 * removes the temporary file tmp before the process ends as the signal says, so a Ctrl-C
 * leaves nothing behind. One file at a time; tf_writes_forget ends it. */
void tf_writes_remove_on_signal(const char *tmp);
void tf_writes_forget(void);

#endif
