/* worker.c - a worker's loop: run each assigned batch, send results back (in pieces when
 * they grow large), ask for more with the last piece, until STOP.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "farm.h"
#include "log.h"
#include "wire.h"

/* Results are sent early once this many bytes are waiting, so neither the message nor the
 * worker's memory grows with the batch size times the capture cap. */
#define RESULTS_MAX_BYTES (8u << 20)

static void begin_results(struct tf_buf *out, const char *host)
{
    tf_wire_begin(out, TF_MSG_RESULTS);
    tf_wire_put_str(out, host, strlen(host));
}

static enum tf_status run_batch(const struct tf_exec_env *env, const struct tf_msg *msg,
                                struct tf_buf *out, const char *host)
{
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, msg->data, msg->len) != TF_OK)
        return TF_EPROTO;
    begin_results(out, host);
    for (uint32_t i = 0; i < rd.count; i++) {
        struct tf_task t;
        struct tf_result r;
        if (!tf_wire_get_task(&rd, &t))
            return TF_EPROTO;
        tf_exec_run(env, &t, &r);
        tf_wire_put_result(out, &r);
        tf_result_fini(&r);
        if (out->len >= RESULTS_MAX_BYTES && i + 1 < rd.count) {
            TF_TRY(tf_comm_send(0, TF_MSG_RESULTS, out->data, out->len));
            begin_results(out, host);
        }
    }
    return tf_comm_send(0, TF_MSG_REQUEST, out->data, out->len);
}

enum tf_status tf_worker_run(int rank, uint64_t ntasks, uint64_t capture)
{
    const struct tf_exec_env env = {.ntasks = ntasks, .rank = rank, .capture_max = capture};
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct tf_buf out = {0};
    enum tf_status st = TF_OK;
    for (;;) {
        struct tf_msg msg = {0};
        bool got;
        st = tf_comm_recv(&msg, -1, &got);
        if (st != TF_OK || msg.kind == TF_MSG_STOP) {
            tf_msg_clear(&msg);
            break;
        }
        st = msg.kind == TF_MSG_ASSIGN ? run_batch(&env, &msg, &out, host) : TF_EPROTO;
        tf_msg_clear(&msg);
        if (st != TF_OK)
            break;
    }
    if (st != TF_OK)
        tf_log(TF_LOG_ERROR, "worker stopped: %s", tf_status_str(st));
    tf_buf_fini(&out);
    return st;
}
