/* merge.h - `taskfarm merge -o OUT.h5 PART.h5...`: join the result files of a task file's
 * slices (--slice I/N) into the file one run over the whole task file would have written.
 */
#ifndef TF_MERGE_H
#define TF_MERGE_H

#include <stdbool.h>

struct tf_merge_args {
    const char *output;
    bool force;
    const char *command_line;
    char **parts;
    int nparts;
};

/* Checks the output (not one of the parts, by device and inode) and every part first (one
 * slicing of one task file, each slice once, all closed, each holding its slice's rows), and
 * writes nothing when one fails: exit 2 with one line naming it. The merged file is written
 * under a temporary name and takes the output's place when whole. Then exit 0, 1 or 4 as
 * `taskfarm status` would give for the merged file, or 3 when writing failed (nothing left,
 * an existing output as it was). */
int tf_merge_run(const struct tf_merge_args *a);

#endif
