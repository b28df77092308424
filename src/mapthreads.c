/* mapthreads.c - a map agent's compute threads: a mutex, a condition variable per thread, a
 * queue of finished ones and an eventfd that tells the event loop. With bgsync.c, the only
 * module that starts threads.
 */
#include "mapthreads.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "map_impl.h"
#include "util.h"

enum { IDLE, WORK, DONE };

struct worker {
    struct tf_mapthreads *pool;
    int index, state;
    uint64_t lo, count;
    pthread_t tid;
    pthread_cond_t cv;
};

struct tf_mapthreads {
    pthread_mutex_t mu;
    struct tf_compute *c;
    struct worker *w;
    int n, started;
    int *done; /* ring of finished threads' indices */
    int head, len;
    bool quit;
    int efd;
    struct tf_rank_plan plan;
    bool unbind;
};

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    struct tf_mapthreads *t = w->pool;
    tf_mapbatch_guard_thread(true);
    if (t->unbind)
        tf_slots_unbind(&t->plan); /* this thread only: the caller's stays as it was */
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (w->state != WORK && !t->quit)
            pthread_cond_wait(&w->cv, &t->mu);
        if (w->state != WORK)
            break;
        pthread_mutex_unlock(&t->mu);
        tf_mapbatch_compute(&t->c[w->index], w->lo, w->count);
        pthread_mutex_lock(&t->mu);
        w->state = DONE;
        t->done[(t->head + t->len++) % t->n] = w->index;
        uint64_t one = 1;
        (void)!write(t->efd, &one, sizeof one);
    }
    pthread_mutex_unlock(&t->mu);
    tf_mapbatch_guard_thread(false);
    return NULL;
}

struct tf_mapthreads *tf_mapthreads_start(struct tf_compute *c, int n,
                                          const struct tf_rank_plan *plan)
{
    struct tf_mapthreads *t = tf_xcalloc(1, sizeof *t);
    if (plan) {
        t->plan = *plan;
        t->unbind = true;
    }
    pthread_mutex_init(&t->mu, NULL);
    t->c = c;
    t->n = n;
    t->w = tf_xcalloc((size_t)n, sizeof *t->w);
    t->done = tf_xcalloc((size_t)n, sizeof *t->done);
    t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    bool ok = t->efd >= 0;
    for (int i = 0; i < n && ok; i++) {
        t->w[i] = (struct worker){.pool = t, .index = i, .state = IDLE};
        pthread_cond_init(&t->w[i].cv, NULL);
        ok = pthread_create(&t->w[i].tid, NULL, thread_main, &t->w[i]) == 0;
        t->started += ok;
    }
    if (!ok) {
        tf_mapthreads_stop(t);
        return NULL;
    }
    return t;
}

void tf_mapthreads_give(struct tf_mapthreads *t, int i, uint64_t lo, uint64_t count)
{
    pthread_mutex_lock(&t->mu);
    t->w[i].lo = lo;
    t->w[i].count = count;
    t->w[i].state = WORK;
    pthread_cond_signal(&t->w[i].cv);
    pthread_mutex_unlock(&t->mu);
}

int tf_mapthreads_fd(const struct tf_mapthreads *t)
{
    return t->efd;
}

int tf_mapthreads_take(struct tf_mapthreads *t)
{
    uint64_t v;
    int i = -1;
    pthread_mutex_lock(&t->mu);
    if (t->len == 0) {
        (void)!read(t->efd, &v, sizeof v); /* nothing waits: quiet the descriptor */
    } else {
        i = t->done[t->head];
        t->head = (t->head + 1) % t->n;
        t->len--;
        t->w[i].state = IDLE;
    }
    pthread_mutex_unlock(&t->mu);
    return i;
}

void tf_mapthreads_stop(struct tf_mapthreads *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->quit = true;
    for (int i = 0; i < t->started; i++)
        pthread_cond_signal(&t->w[i].cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 0; i < t->started; i++)
        pthread_join(t->w[i].tid, NULL);
    for (int i = 0; i < t->n; i++)
        pthread_cond_destroy(&t->w[i].cv);
    pthread_mutex_destroy(&t->mu);
    if (t->efd >= 0)
        close(t->efd);
    free(t->w);
    free(t->done);
    free(t);
}
