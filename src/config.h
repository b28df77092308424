/* config.h - what the command line asked for: plain data, filled by cli.c and read by the
 * farm. Every rank parses the same argv, so every rank holds the same config.
 */
#ifndef TF_CONFIG_H
#define TF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

#define TF_DEFAULT_CAPTURE (1024 * 1024)

enum tf_log_verbosity { TF_QUIET = -1, TF_NORMAL = 0, TF_VERBOSE = 1, TF_DEBUG = 2 };

struct tf_config {
    const char *taskfile; /* borrowed from argv */
    char *output;         /* owned: -o, or the task file's name with .h5 */
    enum tf_mode mode;
    uint64_t capture_bytes;     /* cap per stream per task */
    bool force;                 /* overwrite an existing output file */
    const char *durations_from; /* borrowed: an earlier result file, or NULL */
    bool no_steal;              /* diagnostic: no stealing, no shedding */
    int verbosity;
    char *command_line; /* owned: argv joined, shell-quoted where needed */
};

void tf_config_fini(struct tf_config *cfg);

#endif
