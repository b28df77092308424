/* loop.h - the event loop of one process of the farm. It waits for whatever can happen next
 * (a task slot's pipes or exit, a finished batch of items, a message from another rank or
 * from this one, a timer, a stop signal) and hands it to the parts that live in this
 * process: an agent that runs tasks in slots, and on rank 0 the master beside it. One loop
 * serves task files and in-process maps; the parts say what they do with what arrives.
 */
#ifndef TF_LOOP_H
#define TF_LOOP_H

#include <poll.h>
#include <stdbool.h>

#include "comm.h"
#include "status.h"

struct tf_part {
    void *self;
    const char *name; /* for messages: "agent", "master" */
    /* Whether messages of this kind are for this part. */
    bool (*takes)(enum tf_msg_kind kind);
    /* It may keep msg->data (setting it NULL): the loop frees what is left. */
    enum tf_status (*on_message)(void *self, struct tf_msg *msg);
    /* Its descriptors (the array stays valid until the next call of any of its functions;
     * fd -1 entries are ignored), and the same array back with revents after the wait. */
    struct pollfd *(*pollfds)(void *self, nfds_t *n);
    enum tf_status (*on_ready)(void *self, const struct pollfd *fds);
    /* After every wait: act on timers and state (start tasks, send, persist). */
    enum tf_status (*step)(void *self);
    /* tf_monotonic() time by which step must run again, 0: none. */
    double (*deadline)(void *self);
    bool (*done)(void *self);
    double seconds; /* filled by the loop: time spent in on_message and step (its cost) */
};

/* Run until every part is done, or one fails (its status is returned). */
enum tf_status tf_loop_run(struct tf_part *parts, int nparts) TF_NODISCARD;

#endif
