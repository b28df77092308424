/* durations.c - an open-addressing hash map from command line to seconds, and the
 * longest-first ordering built on it.
 */
#include "durations.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct slot {
    char *command; /* NULL: empty */
    double seconds;
};

struct tf_durations {
    struct slot *slots;
    size_t cap, count; /* cap is a power of two, kept at most half full */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct tf_durations *tf_durations_new(void)
{
    struct tf_durations *d = tf_xcalloc(1, sizeof *d);
    d->cap = 1024;
    d->slots = tf_xcalloc(d->cap, sizeof *d->slots);
    return d;
}

void tf_durations_free(struct tf_durations *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->cap; i++)
        free(d->slots[i].command);
    free(d->slots);
    free(d);
}

static struct slot *find(const struct tf_durations *d, const char *command)
{
    size_t i = (size_t)hash(command) & (d->cap - 1);
    while (d->slots[i].command && strcmp(d->slots[i].command, command) != 0)
        i = (i + 1) & (d->cap - 1);
    return &d->slots[i];
}

static void grow(struct tf_durations *d)
{
    struct tf_durations bigger = {tf_xcalloc(2 * d->cap, sizeof *d->slots), 2 * d->cap, d->count};
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i].command)
            *find(&bigger, d->slots[i].command) = d->slots[i];
    free(d->slots);
    *d = bigger;
}

void tf_durations_put(struct tf_durations *d, const char *command, double seconds)
{
    if (2 * (d->count + 1) > d->cap)
        grow(d);
    struct slot *s = find(d, command);
    if (s->command == NULL) {
        s->command = tf_xstrdup(command);
        d->count++;
    }
    s->seconds = seconds;
}

double tf_durations_get(const struct tf_durations *d, const char *command)
{
    const struct slot *s = find(d, command);
    return s->command ? s->seconds : -1;
}

size_t tf_durations_count(const struct tf_durations *d)
{
    return d->count;
}

static int longest_first(const void *a, const void *b)
{
    const struct tf_planned *x = a, *y = b;
    if (x->expected != y->expected)
        return x->expected < y->expected ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

void tf_durations_order(struct tf_planned *tasks, size_t n)
{
    double sum = 0;
    size_t known = 0;
    for (size_t i = 0; i < n; i++)
        if (tasks[i].expected >= 0)
            sum += tasks[i].expected, known++;
    double mean = known ? sum / (double)known : 0;
    for (size_t i = 0; i < n; i++)
        if (tasks[i].expected < 0)
            tasks[i].expected = mean;
    qsort(tasks, n, sizeof *tasks, longest_first);
}
