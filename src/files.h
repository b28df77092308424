/* files.h - how taskfarm opens the files it is given: regular files only (a FIFO or a device
 * would block or never end), identities compared by device and inode rather than by name, and
 * new files written under a temporary name that is renamed into place only on success.
 */
#ifndef TF_FILES_H
#define TF_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What identifies a file's content on disk: a changed file differs in one of these. */
struct tf_file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
};

/* Open path for reading without ever blocking in open(2) (O_NONBLOCK, then cleared), and
 * refuse anything that is not a regular file. Returns the descriptor (O_CLOEXEC), or -1 with
 * one line in err ("'x' is not a regular file (a FIFO)", or the system's reason). */
int tf_open_regular(const char *path, char *err, size_t errlen);
/* What a file that is not a regular one is, for messages: "a FIFO", "a directory", ... */
const char *tf_file_kind(mode_t m);
/* The same check for a library that opens the path itself (HDF5): path names a regular
 * file now. Opens and closes it, so a FIFO is never waited on. */
bool tf_check_regular(const char *path, char *err, size_t errlen);
/* The identity of an open file, or of a path (following symlinks); false when it cannot be
 * read (errno set). */
bool tf_file_id_of_fd(int fd, struct tf_file_id *id);
bool tf_file_id_of_path(const char *path, struct tf_file_id *id);
/* Whether a and b are the same file (same device and inode): aliases, hard links and
 * symlinks included. False when either does not exist. */
bool tf_same_file(const char *a, const char *b);
bool tf_file_id_same_content(const struct tf_file_id *a, const struct tf_file_id *b);

/* A temporary name beside path, unique to this process: "DIR/.NAME.tmp.PID" (malloc'd).
 * Write there, then tf_rename_into_place; on failure unlink it. */
char *tf_temp_name_for(const char *path);
/* rename(2) tmp over path, then fsync the directory so the new name survives a crash.
 * Returns 0, or -1 with errno set. */
int tf_rename_into_place(const char *tmp, const char *path);

#endif
