/* log.h - diagnostics on stderr, one line per message, prefixed with time and rank.
 *
 * Knows nothing about MPI: main sets the identity once the rank is known. stdout is
 * reserved for the master's final one-line summary.
 */
#ifndef TF_LOG_H
#define TF_LOG_H

#include "status.h"

enum tf_log_level { TF_LOG_ERROR, TF_LOG_WARN, TF_LOG_INFO, TF_LOG_DEBUG };

extern enum tf_log_level tf_log_threshold;

/* role is 'M' (master) or 'W' (worker); before this is called lines carry no identity. */
void tf_log_set_identity(int rank, char role);
/* Apply TASKFARM_LOG_LEVEL=error|warn|info|debug from the environment, if set. */
void tf_log_from_env(void);
void tf_log_emit(enum tf_log_level lvl, const char *fmt, ...) TF_PRINTF(2, 3);

/* The level is checked before the arguments are evaluated. */
#define tf_log(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= tf_log_threshold)                                                             \
            tf_log_emit((lvl), __VA_ARGS__);                                                       \
    } while (0)

/* "taskfarm: error: MESSAGE" on stderr as one write: under mpirun, the launcher's own
 * notices can otherwise land between the pieces of the line. */
void tf_print_error(const char *fmt, ...) TF_PRINTF(1, 2);

#endif
