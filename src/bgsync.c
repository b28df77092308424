/* bgsync.c - the background syncer (see bgsync.h): one thread, one pending request. */
#include "bgsync.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct tf_bgsync {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    int fd_a, fd_b;
    unsigned long asked, done; /* requests made and completed */
    bool quit, failed, detached;
};

static void free_syncer(struct tf_bgsync *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->idle);
    free(s);
}

static void *syncer(void *arg)
{
    struct tf_bgsync *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->quit && s->done == s->asked)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->done == s->asked && s->quit)
            break;
        unsigned long upto = s->asked;
        int a = s->fd_a, b = s->fd_b;
        s->fd_a = s->fd_b = -1;
        pthread_mutex_unlock(&s->lock);
        /* Order matters: results before the journal records that point at them. */
        bool ok = (a < 0 || fdatasync(a) == 0) && (b < 0 || fdatasync(b) == 0);
        if (a >= 0)
            close(a);
        if (b >= 0)
            close(b);
        pthread_mutex_lock(&s->lock);
        s->failed |= !ok;
        s->done = upto;
        pthread_cond_broadcast(&s->idle);
    }
    bool detached = s->detached;
    pthread_mutex_unlock(&s->lock);
    if (detached)
        free_syncer(s);
    return NULL;
}

struct tf_bgsync *tf_bgsync_start(void)
{
    struct tf_bgsync *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->fd_a = s->fd_b = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (pthread_create(&s->thread, NULL, syncer, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        pthread_cond_destroy(&s->idle);
        free(s);
        return NULL;
    }
    return s;
}

/* Our own descriptor for the file: the caller may close its own while a sync runs. */
static int dup_or_none(int fd)
{
    return fd < 0 ? -1 : dup(fd);
}

void tf_bgsync_request(struct tf_bgsync *s, int fd_a, int fd_b)
{
    int a = dup_or_none(fd_a), b = dup_or_none(fd_b);
    pthread_mutex_lock(&s->lock);
    if (s->fd_a >= 0) /* a request not started yet: this one covers it */
        close(s->fd_a);
    if (s->fd_b >= 0)
        close(s->fd_b);
    s->fd_a = a;
    s->fd_b = b;
    s->asked++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

bool tf_bgsync_wait(struct tf_bgsync *s)
{
    pthread_mutex_lock(&s->lock);
    unsigned long upto = s->asked;
    while (s->done < upto)
        pthread_cond_wait(&s->idle, &s->lock);
    bool ok = !s->failed;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

bool tf_bgsync_stop(struct tf_bgsync *s, bool wait)
{
    if (s == NULL)
        return true;
    if (!wait) {
        /* The thread finishes the sync in hand on its own and frees itself: s may be gone
         * as soon as the lock is released. */
        pthread_detach(s->thread);
        pthread_mutex_lock(&s->lock);
        s->quit = s->detached = true;
        pthread_cond_signal(&s->wake);
        pthread_mutex_unlock(&s->lock);
        return true;
    }
    bool ok = tf_bgsync_wait(s);
    pthread_mutex_lock(&s->lock);
    s->quit = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    free_syncer(s);
    return ok;
}
