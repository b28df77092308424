/* stopsig.c - counts stop signals in a handler that only stores two integers, the one
 * thing a signal handler may safely do; the loops look at the count between steps. The
 * stop watch turns the count, a walltime and a drain deadline into a stop level.
 */
#include "stopsig.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

static volatile sig_atomic_t count, last;

static void on_signal(int sig)
{
    last = sig;
    count++;
}

void tf_stopsig_install(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

int tf_stopsig_count(void)
{
    return count;
}

int tf_stopsig_last(void)
{
    return last;
}

/* ---- the stop watch ------------------------------------------------------------------- */

void tf_stopwatch_init(struct tf_stopwatch *w, double drain, double end_at)
{
    memset(w, 0, sizeof *w);
    w->drain = drain;
    w->end_at = end_at;
    w->signals_seen = tf_stopsig_count();
}

void tf_stopwatch_begin(struct tf_stopwatch *w, const char *why, double grace, bool interrupted)
{
    if (w->stop != TF_RUNNING)
        return;
    w->stop = TF_STOP_NEW;
    w->reason = why;
    w->interrupted = interrupted;
    w->drain_deadline = grace >= 0 ? tf_monotonic() + grace : 0;
    if (grace >= 0)
        tf_log(TF_LOG_WARN, "%s: no new tasks; running tasks get %.0f s to finish", why, grace);
    else
        tf_log(TF_LOG_WARN, "%s: no new tasks; running tasks finish", why);
}

static void on_signals(struct tf_stopwatch *w, double now)
{
    snprintf(w->why, sizeof w->why, "received signal %s", sigabbrev_np(tf_stopsig_last()));
    if (w->signals_seen == 0 && w->stop == TF_RUNNING) {
        tf_stopwatch_begin(w, w->why, w->drain, true);
        tf_log(TF_LOG_WARN, "a second signal stops running tasks at once");
    } else if (w->signals_seen == 0 && w->stop == TF_STOP_NEW) {
        double d = now + w->drain; /* already stopping: at most --drain more */
        if (w->drain_deadline == 0 || d < w->drain_deadline)
            w->drain_deadline = d;
        w->reason = w->why;
        w->interrupted = true;
    } else if (w->stop < TF_STOP_KILL) {
        tf_log(TF_LOG_WARN, "%s again: stopping running tasks now", w->why);
        w->stop = TF_STOP_KILL;
        w->reason = w->why;
        w->interrupted = true;
    }
}

bool tf_stopwatch_poll(struct tf_stopwatch *w, double now, double expected)
{
    enum tf_stop before = w->stop;
    int sigs = tf_stopsig_count();
    if (sigs > w->signals_seen) {
        on_signals(w, now);
        w->signals_seen = sigs;
    }
    if (w->end_at > 0 && w->stop == TF_RUNNING) {
        double close_by = w->end_at - TF_CLOSE_MARGIN;
        if (now >= close_by - w->drain)
            tf_stopwatch_begin(w, "walltime nearly over", close_by - now, true);
        else if (expected > 0 && now + expected > close_by)
            tf_stopwatch_begin(w, "the walltime leaves no room for another task", close_by - now,
                               true);
    }
    if (w->stop == TF_STOP_NEW && w->drain_deadline > 0 && now >= w->drain_deadline) {
        tf_log(TF_LOG_WARN, "drain time is up: stopping running tasks");
        w->stop = TF_STOP_TERM;
    }
    return w->stop != before;
}
