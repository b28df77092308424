/* progress.c - progress lines: the text, and where and how often it is written. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#define LIVE_SECONDS 0.5

/* "1h02m", "3m05s", "42s" */
static void span(char *buf, size_t len, double s)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%lds", t);
}

void tf_progress_format(char *buf, size_t len, uint64_t done, uint64_t bad, uint64_t running,
                        uint64_t total, double elapsed)
{
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    char left[48] = "";
    if (rate > 0 && done < total) {
        char t[24];
        span(t, sizeof t, (double)(total - done) / rate);
        snprintf(left, sizeof left, ", about %s left", t);
    }
    snprintf(buf, len, "%llu of %llu tasks done (%llu not succeeded), %llu running, %.3g tasks/s%s",
             (unsigned long long)done, (unsigned long long)total, (unsigned long long)bad,
             (unsigned long long)running, rate, left);
}

void tf_progress_init(struct tf_progress *p, uint64_t total, double interval, double now)
{
    p->live = interval > 0 && isatty(STDERR_FILENO);
    p->interval = p->live ? LIVE_SECONDS : interval;
    p->start = now;
    p->next = now + p->interval;
    p->total = total;
    p->shown = 0;
}

void tf_progress_update(struct tf_progress *p, double now, uint64_t done, uint64_t bad,
                        uint64_t running, bool force)
{
    if (p->interval <= 0 || (!force && now < p->next))
        return;
    p->next = now + p->interval;
    char line[256];
    tf_progress_format(line, sizeof line, done, bad, running, p->total, now - p->start);
    if (p->live) {
        int n = fprintf(stderr, "\r%s", line);
        for (size_t i = n > 0 ? (size_t)n - 1 : 0; i < p->shown; i++)
            fputc(' ', stderr); /* wipe the end of a longer earlier line */
        p->shown = n > 0 ? (size_t)n - 1 : 0;
    } else {
        fprintf(stderr, "taskfarm: %s\n", line);
    }
    fflush(stderr);
}

void tf_progress_end(struct tf_progress *p)
{
    if (p->live && p->shown > 0)
        fputc('\n', stderr);
    p->shown = 0;
}
