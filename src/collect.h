/* collect.h - --collect: typed result values from what command tasks print. A task's last
 * non-empty stdout line, when it is `key=value key2=value2 ...` or one flat JSON object,
 * gives that task's values; the keys become columns /results/<key> (see README, "Result
 * values from command tasks"). Plain C.
 */
#ifndef TF_COLLECT_H
#define TF_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "params.h" /* enum tf_param_type: the same typing rule */

struct tf_collect;

struct tf_collect *tf_collect_new(uint64_t nrows);
void tf_collect_free(struct tf_collect *c);
/* Take row's values from its captured stdout (any text; a line that is neither form gives
 * none). Returns the number of values taken. */
int tf_collect_row(struct tf_collect *c, uint64_t row, const char *out, size_t len);

int tf_collect_keys(const struct tf_collect *c);
const char *tf_collect_key(const struct tf_collect *c, int k);
uint64_t tf_collect_rows(const struct tf_collect *c);
/* The value of key k in row, NULL when the row did not give one. */
const char *tf_collect_value(const struct tf_collect *c, int k, uint64_t row);
/* INT when every given value is an integer and none is missing; FLOAT when every given
 * value is a number (missing ones become NaN); else STRING (missing: ""). */
enum tf_param_type tf_collect_type(const struct tf_collect *c, int k);

#endif
