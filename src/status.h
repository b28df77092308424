/* status.h - outcomes of farm operations, shared by every module.
 *
 * A task that fails is data (see task.h), not a tf_status. Append only; never renumber.
 */
#ifndef TF_STATUS_H
#define TF_STATUS_H

#define TF_STATUS_LIST(X)                                                                          \
    X(TF_OK, "success")                                                                            \
    X(TF_ENOMEM, "out of memory")                                                                  \
    X(TF_EINVAL, "invalid argument")                                                               \
    X(TF_EIO, "file or I/O error")                                                                 \
    X(TF_EINPUT, "bad input")                                                                      \
    X(TF_EMPI, "MPI call failed")                                                                  \
    X(TF_EHDF5, "HDF5 call failed")                                                                \
    X(TF_ESPAWN, "could not start task")                                                           \
    X(TF_EPROTO, "malformed message between ranks")

enum tf_status {
#define TF_AS_ENUM(name, text) name,
    TF_STATUS_LIST(TF_AS_ENUM)
#undef TF_AS_ENUM
        TF_STATUS_COUNT
};

#define TF_NODISCARD    __attribute__((warn_unused_result))
#define TF_PRINTF(f, a) __attribute__((format(printf, f, a)))

const char *tf_status_str(enum tf_status st);

/* Return early with the callee's status; the callee already logged the cause. */
#define TF_TRY(expr)                                                                               \
    do {                                                                                           \
        enum tf_status tf_try_st_ = (expr);                                                        \
        if (tf_try_st_ != TF_OK)                                                                   \
            return tf_try_st_;                                                                     \
    } while (0)

/* Process exit codes, documented in README.md and `taskfarm --help`. */
enum tf_exit {
    TF_EXIT_OK = 0,         /* every task succeeded */
    TF_EXIT_TASKS = 1,      /* the run finished, some tasks did not succeed */
    TF_EXIT_USAGE = 2,      /* usage or input error: nothing written, nothing overwritten */
    TF_EXIT_INTERNAL = 3,   /* MPI, HDF5, memory or system failure during the run */
    TF_EXIT_INCOMPLETE = 4, /* stopped early (signal, walltime): --resume finishes it */
};

#endif
