/* params.h - parameter sweeps: a table of named columns (from a CSV file, RFC 4180, or a
 * cartesian --grid), and a command template whose {name} fields take a row's values,
 * shell-quoted so that a value can never become a command. Plain C, no I/O beyond reading
 * the CSV file.
 */
#ifndef TF_PARAMS_H
#define TF_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct tf_params;

enum tf_param_type { TF_PARAM_INT, TF_PARAM_FLOAT, TF_PARAM_STRING };

/* A CSV file: the first row names the columns (unique, non-empty); every row has as many
 * fields; quoted fields may hold commas, quotes ("") and line breaks. Errors name the file,
 * the row and what is wrong. */
enum tf_status tf_params_read_csv(const char *path, struct tf_params **out, char *err,
                                  size_t errlen) TF_NODISCARD;
/* The cartesian product of specs "name=v1,v2,..." or "name=A..B" (integers, step 1, either
 * direction), the first varying slowest, as nested loops in the order given. */
enum tf_status tf_params_grid(const char *const *specs, int nspecs, struct tf_params **out,
                              char *err, size_t errlen) TF_NODISCARD;
void tf_params_free(struct tf_params *p);
/* Whether the len bytes at s are a column name: letters, digits and _, not starting with a
 * digit (also what --collect accepts as a key). */
bool tf_params_is_name(const char *s, size_t len);

uint64_t tf_params_rows(const struct tf_params *p);
int tf_params_cols(const struct tf_params *p);
const char *tf_params_name(const struct tf_params *p, int col);
const char *tf_params_value(const struct tf_params *p, uint64_t row, int col);
/* INT when every value of the column is a decimal integer (int64), FLOAT when every value
 * is a number, else STRING. */
enum tf_param_type tf_params_type(const struct tf_params *p, int col);

/* Check a template against the table: every {name} is a column, braces balance ({{ and }}
 * are literal braces, ${...} is the shell's), and no value holds a line break or NUL
 * (a task is one line). */
enum tf_status tf_params_check(const struct tf_params *p, const char *tmpl, char *err,
                               size_t errlen) TF_NODISCARD;
/* The command of one row: {name} -> its value, quoted for /bin/sh where it needs it;
 * {#} -> the row index. Malloc'd; call after tf_params_check. */
char *tf_params_expand(const struct tf_params *p, const char *tmpl, uint64_t row);

#endif
