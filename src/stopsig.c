/* stopsig.c - counts stop signals in a handler that only stores two integers, the one
 * thing a signal handler may safely do; the loops look at the count between steps.
 */
#include "stopsig.h"

#include <signal.h>
#include <string.h>

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
