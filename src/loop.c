/* loop.c - one process's event loop: messages first (they may start or stop work), then
 * descriptors, then every part's step, then one wait for the earliest of everything.
 */
#include "loop.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define MAX_PARTS 4

/* Hand every message already here to the part that takes its kind. */
static enum tf_status deliver(struct tf_part *parts, int nparts, bool *any)
{
    for (;;) {
        struct tf_msg msg = {0};
        bool got = false;
        TF_TRY(tf_comm_recv(&msg, 0, &got));
        if (!got)
            return TF_OK;
        *any = true;
        int p = 0;
        while (p < nparts && !parts[p].takes(msg.kind))
            p++;
        enum tf_status st = TF_EPROTO;
        double t0 = tf_monotonic();
        if (p < nparts)
            st = parts[p].on_message(parts[p].self, &msg);
        if (p < nparts)
            parts[p].seconds += tf_monotonic() - t0;
        else
            tf_log(TF_LOG_ERROR, "unexpected message (kind %d) from rank %d", msg.kind, msg.peer);
        tf_msg_clear(&msg);
        TF_TRY(st);
    }
}

/* The parts' descriptors side by side in one array, for one poll. */
struct fdset {
    struct pollfd *all;
    nfds_t n, cap;
    nfds_t at[MAX_PARTS], len[MAX_PARTS];
};

static void gather_fds(struct fdset *f, struct tf_part *parts, int nparts)
{
    f->n = 0;
    for (int p = 0; p < nparts; p++) {
        nfds_t k = 0;
        struct pollfd *mine = parts[p].pollfds ? parts[p].pollfds(parts[p].self, &k) : NULL;
        if (f->n + k > f->cap) {
            f->cap = (f->n + k) * 2;
            f->all = tf_xrealloc(f->all, f->cap * sizeof *f->all);
        }
        if (k)
            memcpy(f->all + f->n, mine, k * sizeof *mine);
        f->at[p] = f->n;
        f->len[p] = k;
        f->n += k;
    }
}

static double earliest(struct tf_part *parts, int nparts)
{
    double at = 0;
    for (int p = 0; p < nparts; p++) {
        double d = parts[p].deadline ? parts[p].deadline(parts[p].self) : 0;
        if (d > 0 && (at == 0 || d < at))
            at = d;
    }
    return at;
}

static bool all_done(struct tf_part *parts, int nparts)
{
    for (int p = 0; p < nparts; p++)
        if (!parts[p].done(parts[p].self))
            return false;
    return true;
}

enum tf_status tf_loop_run(struct tf_part *parts, int nparts)
{
    struct fdset f = {0};
    enum tf_status st = TF_OK;
    int ready = 0;
    while (st == TF_OK && nparts <= MAX_PARTS) {
        bool any = false;
        st = deliver(parts, nparts, &any);
        for (int p = 0; st == TF_OK && p < nparts; p++)
            if (ready > 0 && f.len[p] > 0 && parts[p].on_ready)
                st = parts[p].on_ready(parts[p].self, f.all + f.at[p]);
        for (int p = 0; st == TF_OK && p < nparts; p++) {
            double t0 = tf_monotonic();
            st = parts[p].step(parts[p].self);
            parts[p].seconds += tf_monotonic() - t0;
        }
        if (st != TF_OK || all_done(parts, nparts))
            break;
        gather_fds(&f, parts, nparts);
        ready = tf_comm_wait(f.all, f.n, earliest(parts, nparts));
    }
    free(f.all);
    return st;
}
