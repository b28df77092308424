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

/* Checks every part first (one slicing of one task file, each slice once, all closed), and
 * writes nothing when one fails: exit 2 with one line naming it. Then exit 0, 1 or 4 as
 * `taskfarm status` would give for the merged file, or 3 when writing failed (nothing left). */
int tf_merge_run(const struct tf_merge_args *a);

#endif
