/* export.h - `taskfarm export RESULTS.h5 [--csv | --tsv | --json-lines] [-o FILE]`. */
#ifndef TF_EXPORT_H
#define TF_EXPORT_H

#include <stdbool.h>
#include <stdio.h>

enum tf_export_format { TF_EXPORT_CSV, TF_EXPORT_TSV, TF_EXPORT_JSON_LINES };

/* Write every row of the result file at path to output (stdout when NULL; an existing file
 * is refused). CSV is RFC 4180 with a header row; TSV escapes tab, line breaks and
 * backslash as \t \n \r \\; JSON lines hold one object per task, numbers unquoted, missing
 * values null. Returns an exit code: 0, 2 (bad input, nothing written), 3 (write failed). */
int tf_export_run(const char *path, enum tf_export_format fmt, const char *output);

/* An output file (export, report) that appears whole or not at all: written under a
 * temporary name beside path, given its name by tf_output_finish only when complete, and
 * never over an existing file. NULL with one line in err ("cannot create 'x': it exists"). */
FILE *tf_output_begin(const char *path, char **tmp, char *err, size_t errlen);
/* Close f; when ok and every write succeeded, give the file its name (refused if one
 * appeared meanwhile), else remove it. Returns 0, or -1 with one line in err. */
int tf_output_finish(FILE *f, char *tmp, const char *path, bool ok, char *err, size_t errlen);

#endif
