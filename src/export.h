/* export.h - `taskfarm export RESULTS.h5 [--csv | --tsv | --json-lines] [-o FILE]`. */
#ifndef TF_EXPORT_H
#define TF_EXPORT_H

enum tf_export_format { TF_EXPORT_CSV, TF_EXPORT_TSV, TF_EXPORT_JSON_LINES };

/* Write every row of the result file at path to output (stdout when NULL; an existing file
 * is refused). CSV is RFC 4180 with a header row; TSV escapes tab, line breaks and
 * backslash as \t \n \r \\; JSON lines hold one object per task, numbers unquoted, missing
 * values null. Returns an exit code: 0, 2 (bad input, nothing written), 3 (write failed). */
int tf_export_run(const char *path, enum tf_export_format fmt, const char *output);

#endif
