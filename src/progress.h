/* progress.h - the run's progress on stderr: on a terminal one live line, rewritten in
 * place; in a log (Slurm's output file, a pipe) a plain line every interval, never carriage
 * returns. The text is plain C, tested alone.
 */
#ifndef TF_PROGRESS_H
#define TF_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tf_progress {
    bool live;       /* stderr is a terminal */
    double interval; /* seconds between lines (live: between redraws); <= 0: silent */
    double start, next;
    uint64_t total;
    size_t shown; /* length of the live line on screen */
};

/* "120 of 1000 tasks done (3 not succeeded), 16 running, 12.3 tasks/s, about 1m12s left" */
void tf_progress_format(char *buf, size_t len, uint64_t done, uint64_t bad, uint64_t running,
                        uint64_t total, double elapsed);
void tf_progress_init(struct tf_progress *p, uint64_t total, double interval, double now);
/* Print when due (or always with force). */
void tf_progress_update(struct tf_progress *p, double now, uint64_t done, uint64_t bad,
                        uint64_t running, bool force);
/* Leave the live line (a newline), before other messages and at the end. */
void tf_progress_end(struct tf_progress *p);

#endif
