/* stopsig.h - the signals that ask a run to stop: SIGTERM (Slurm at the time limit, kill),
 * SIGINT (Ctrl-C) and SIGUSR1 (which mpirun forwards to every rank). They are counted,
 * never fatal, so the farm can drain, close its files and exit with a resumable state.
 */
#ifndef TF_STOPSIG_H
#define TF_STOPSIG_H

/* Catch the stop signals from now on (no SA_RESTART: a wait is woken up by them). */
void tf_stopsig_install(void);
/* How many stop signals arrived so far, and the last one. */
int tf_stopsig_count(void);
int tf_stopsig_last(void);

#endif
