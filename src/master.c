/* master.c - rank 0's loop: hand out batches, store what comes back, stop every worker.
 *
 * Termination: a worker asks for work (REQUEST) only when its batch is done, so when the
 * scheduler has nothing left for it, it gets STOP and sends nothing more. The loop ends
 * when every worker has been stopped; by then every assigned task has come back, because
 * each REQUEST carried the last results of that worker's batch.
 */
#include <stdio.h>
#include <string.h>

#include "comm.h"
#include "farm.h"
#include "log.h"
#include "util.h"
#include "wire.h"

/* A batch message is cut at this size even when the scheduler allows more tasks: long
 * command lines must not make messages of gigabytes. */
#define ASSIGN_MAX_BYTES (4u << 20)
#define FLUSH_SECONDS    2.0
#define PROGRESS_SECONDS 30.0

/* Send `worker` its next batch, or STOP. */
static enum tf_status dispatch(struct tf_master *m, struct tf_buf *buf, int worker, int *stopped)
{
    uint64_t want = tf_sched_batch_size(m->sched, worker - 1), n = 0;
    if (want == 0) {
        (*stopped)++;
        return tf_comm_send(worker, TF_MSG_STOP, NULL, 0);
    }
    tf_wire_begin(buf, TF_MSG_ASSIGN);
    while (n < want && buf->len < ASSIGN_MAX_BYTES) {
        struct tf_task t;
        TF_TRY(tf_master_next_task(m, &t));
        tf_wire_put_task(buf, &t);
        n++;
    }
    tf_sched_assigned(m->sched, worker - 1, n);
    tf_log(TF_LOG_DEBUG, "assigned %llu tasks to rank %d", (unsigned long long)n, worker);
    return tf_comm_send(worker, TF_MSG_ASSIGN, buf->data, buf->len);
}

static enum tf_status store_results(struct tf_master *m, const struct tf_msg *msg)
{
    struct tf_wire_reader rd;
    const char *host;
    size_t host_len;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK || !tf_wire_get_str(&rd, &host, &host_len))
        goto bad;
    for (uint32_t i = 0; i < rd.count; i++) {
        struct tf_result r;
        if (!tf_wire_get_result(&rd, &r))
            goto bad;
        TF_TRY(tf_master_store(m, &r, host));
    }
    tf_sched_completed(m->sched, msg->peer - 1, rd.count);
    return TF_OK;
bad:
    tf_log(TF_LOG_ERROR, "malformed results message from rank %d", msg->peer);
    return TF_EPROTO;
}

static void report_progress(const struct tf_master *m, double *next)
{
    double now = tf_monotonic();
    if (now < *next)
        return;
    *next = now + PROGRESS_SECONDS;
    uint64_t done = m->counts[1] + m->counts[2] + m->counts[3] + m->counts[4];
    tf_log(TF_LOG_INFO, "%llu of %llu tasks done (%llu not succeeded)", (unsigned long long)done,
           (unsigned long long)m->ntasks, (unsigned long long)(done - m->counts[1]));
}

enum tf_status tf_master_run(struct tf_master *m)
{
    struct tf_buf buf = {0};
    enum tf_status st = TF_OK;
    int stopped = 0;
    double next_report = tf_monotonic() + PROGRESS_SECONDS;

    /* Every worker gets its first batch (or its whole share) without asking. */
    for (int w = 1; w <= m->nworkers && st == TF_OK; w++)
        st = dispatch(m, &buf, w, &stopped);
    while (st == TF_OK && stopped < m->nworkers) {
        struct tf_msg msg = {0};
        bool got;
        st = tf_comm_recv(&msg, FLUSH_SECONDS, &got);
        if (st == TF_OK && got) {
            if (msg.kind == TF_MSG_RESULTS || msg.kind == TF_MSG_REQUEST)
                st = store_results(m, &msg);
            else
                st = TF_EPROTO;
            if (st == TF_OK && msg.kind == TF_MSG_REQUEST)
                st = dispatch(m, &buf, msg.peer, &stopped);
        }
        tf_msg_clear(&msg);
        if (st == TF_OK)
            st = tf_h5out_flush_if_older(m->h5, FLUSH_SECONDS);
        report_progress(m, &next_report);
    }
    tf_buf_fini(&buf);
    return st;
}
