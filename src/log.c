/* log.c - formats diagnostics into one buffer and writes them with one call, so lines
 * from many ranks sharing a terminal interleave whole rather than mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum tf_log_level tf_log_threshold = TF_LOG_WARN;
static char identity[24] = "";

void tf_log_set_identity(int rank, char role)
{
    snprintf(identity, sizeof identity, "%c%d ", role, rank);
}

void tf_log_from_env(void)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *v = getenv("TASKFARM_LOG_LEVEL");
    if (v == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp(v, names[i]) == 0)
            tf_log_threshold = (enum tf_log_level)i;
}

void tf_log_emit(enum tf_log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = {"error", "warning", "info", "debug"};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "taskfarm %02d:%02d:%02d.%03ld %s%s: ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, identity, tags[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    for (size_t i = (size_t)n; i < len; i++) /* one message, one line */
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nothing sensible to do if stderr is gone */
}

/* Line breaks inside a message become spaces: HDF5's and strerror's texts can carry them,
 * and a refusal is one line (scripts and the tests read the first). Trailing ones go. */
static void one_line(char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
}

void tf_print_error(const char *fmt, ...)
{
    char msg[2048], line[2100];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    one_line(msg);
    snprintf(line, sizeof line, "taskfarm: error: %s\n", msg);
    fputs(line, stderr);
    fflush(stderr);
}
