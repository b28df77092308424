/* config.h - what the command line asked for: plain data, filled by cli.c and read by the
 * farm. Every rank parses the same argv, so every rank holds the same config.
 */
#ifndef TF_CONFIG_H
#define TF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "scheduler.h"

#define TF_DEFAULT_CAPTURE    (1024 * 1024)
#define TF_DEFAULT_KILL_GRACE 5.0
/* A worker not heard from for this long is lost (with Open MPI's recovery on). */
#define TF_DEFAULT_WORKER_TIMEOUT 5.0
/* A task running on this many lost workers is recorded LOST. */
#define TF_DEFAULT_LOST_AFTER 2
#define TF_DEFAULT_DRAIN      20.0
#define TF_DEFAULT_PROGRESS   30.0
#define TF_MAX_JOBS           4096 /* -j: slots (or threads) of one process */
#define TF_MAX_JOBS_TEXT      "4096"

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
    /* reliability (README "When things go wrong") */
    double timeout;           /* seconds per task, 0: none */
    double kill_grace;        /* SIGTERM to SIGKILL */
    int retries;              /* extra runs of a task that did not succeed */
    uint64_t max_failures;    /* stop handing out tasks after this many failures, 0: never */
    double drain;             /* after a stop signal: seconds running tasks may go on */
    bool resume;              /* continue OUT.h5 (created if absent) */
    bool retry_failed;        /* with resume: run failed tasks again too */
    bool allow_changed;       /* resume even though the task file's content changed */
    double walltime;          /* seconds from start the run must be over by, 0: none */
    double expected_duration; /* seconds a task is expected to take, 0: unknown */
    bool no_journal;          /* diagnostic: measure what crash safety costs */
    double worker_timeout;    /* a worker silent this long is lost (issue 15) */
    int lost_after;           /* a task at this many lost workers is LOST */
    /* resources per task (README "On a cluster"); 0 cores: not asked, tasks unchanged */
    int cores_per_task;
    int gpus_per_task;
    bool bind;
    int jobs; /* -j N: tasks (or item threads) one process runs at once; 0: its cores' share */
    /* --slice I/N: this run is part I (0-based) of N contiguous parts of the task file */
    uint64_t slice_index, slice_count; /* slice_count 0: the whole file */
    char **merge_parts;                /* taskfarm merge: the parts' paths (borrowed from argv) */
    /* parameter sweeps: --template with --params or --grid (strings borrowed from argv) */
    const char *template_cmd, *params_file;
    const char **grid;
    int ngrid;
    char *sweep_taskfile;    /* owned: OUT.h5.tasks, the expanded commands (then taskfile) */
    bool collect;            /* --collect: /results from the tasks' last output lines */
    double progress;         /* seconds between progress lines (a terminal: live), 0: none */
    const char *export_file; /* taskfarm export: the result file (then output: where to) */
    int export_format;       /* enum tf_export_format */
    int nmerge;
    char *command_line; /* owned: argv joined, shell-quoted where needed */
    /* in-process map (--plugin): then taskfile is NULL */
    char *plugin_lib, *plugin_fn; /* owned */
    const char *plugin_arg;       /* borrowed */
    const char *items;            /* borrowed: "N" or "FILE.h5:/DATASET" */
};

void tf_config_fini(struct tf_config *cfg);

#endif
