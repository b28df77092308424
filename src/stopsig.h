/* stopsig.h - the signals that ask a run to stop: SIGTERM (Slurm at the time limit, kill),
 * SIGINT (Ctrl-C) and SIGUSR1 (which mpirun forwards to every rank). They are counted,
 * never fatal, so the farm can drain, close its files and exit with a resumable state.
 * Also the stop watch that turns signals, a walltime and a drain deadline into how far a
 * run's stop has got: one policy for task files and in-process maps.
 */
#ifndef TF_STOPSIG_H
#define TF_STOPSIG_H

#include <stdbool.h>

/* Catch the stop signals from now on (no SA_RESTART: a wait is woken up by them). */
void tf_stopsig_install(void);
/* How many stop signals arrived so far, and the last one. */
int tf_stopsig_count(void);
int tf_stopsig_last(void);

/* How far a stop has got: no new tasks; running tasks being stopped; stopped at once. The
 * values travel in DRAIN messages. */
enum tf_stop { TF_RUNNING, TF_STOP_NEW, TF_STOP_TERM, TF_STOP_KILL };

/* With a walltime, the run stops this long before the end, to close its files. */
#define TF_CLOSE_MARGIN 5.0

struct tf_stopwatch {
    enum tf_stop stop;
    const char *reason;    /* why the run stops, NULL while it does not */
    bool interrupted;      /* by a signal or the walltime: incomplete, exit code 4 */
    double drain;          /* --drain: seconds running tasks get after a signal */
    double drain_deadline; /* monotonic; 0: running tasks may finish */
    double end_at;         /* monotonic time to be done by (walltime), 0: none */
    int signals_seen;
    char why[64];
};

void tf_stopwatch_init(struct tf_stopwatch *w, double drain, double end_at);
/* Begin to stop: no new work; what runs gets `grace` seconds (< 0: as long as it takes).
 * Nothing when already stopping. */
void tf_stopwatch_begin(struct tf_stopwatch *w, const char *why, double grace, bool interrupted);
/* Look at signals, the walltime (`expected`: seconds one more task takes, 0 unknown) and the
 * drain deadline; true when w->stop moved on (the caller tells the workers). */
bool tf_stopwatch_poll(struct tf_stopwatch *w, double now, double expected);

#endif
