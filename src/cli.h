/* cli.h - turns argv into a struct tf_config. Pure: no MPI, no file system access. */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stdio.h>

#include "config.h"

enum tf_cli_outcome {
    TF_CLI_RUN,    /* cfg is filled: go and run */
    TF_CLI_DONE,   /* help or version was printed: exit 0 */
    TF_CLI_USAGE,  /* a usage error was reported: exit TF_EXIT_USAGE */
    TF_CLI_STATUS, /* `taskfarm status FILE`: cfg->output names FILE */
    TF_CLI_MERGE,  /* `taskfarm merge -o OUT PART...`: cfg->output, force, merge_parts */
    TF_CLI_EXPORT, /* `taskfarm export FILE [--csv|--tsv|--json-lines] [-o OUT]` */
    TF_CLI_REPORT, /* `taskfarm report FILE [-o OUT.html|OUT.svg]`: export_file, output */
};

/* Parse argv. Help and version go to `out`, the one-line error to `err`; either may be NULL
 * to stay silent (ranks other than 0). On TF_CLI_RUN the caller owns cfg (tf_config_fini). */
enum tf_cli_outcome tf_cli_parse(int argc, char **argv, struct tf_config *cfg, FILE *out,
                                 FILE *err);

#endif
