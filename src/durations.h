/* durations.h - expected task durations learned from an earlier run, and the order they
 * suggest: longest first (LPT), which brings the makespan towards max(sum/P, longest).
 * Pure C: the result file is read by h5out, the task file by taskfile.
 */
#ifndef TF_DURATIONS_H
#define TF_DURATIONS_H

#include <stddef.h>
#include <stdint.h>

/* command -> seconds. Owns copies of the commands. */
struct tf_durations;

struct tf_durations *tf_durations_new(void);
void tf_durations_free(struct tf_durations *d); /* NULL-safe */
/* Record that `command` took `seconds` (a later record for the same command wins). */
void tf_durations_put(struct tf_durations *d, const char *command, double seconds);
/* Seconds for `command`, or a negative number when unknown. */
double tf_durations_get(const struct tf_durations *d, const char *command);
size_t tf_durations_count(const struct tf_durations *d);

/* Where to find task `id` in the task file, and how long it is expected to take. */
struct tf_planned {
    uint64_t id, line, offset;
    double expected;
};

/* Sort tasks longest expected first; ties (and unknown durations, which count as the mean
 * of the known ones) keep file order. */
void tf_durations_order(struct tf_planned *tasks, size_t n);

#endif
