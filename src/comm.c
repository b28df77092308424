/* comm.c - the only file that includes <mpi.h>: init, a private duplicate of
 * MPI_COMM_WORLD with errors returned rather than fatal, framed send/receive (with a local
 * queue for messages to this rank itself), waiting on messages and descriptors, agreement.
 */
#include "comm.h"

#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Receive back-off: first spin briefly (a reply usually arrives within microseconds), then
 * sleep, doubling up to the cap. The cap bounds the latency added to an idle master. */
#define SPIN_SECONDS 50e-6
#define SLEEP_MIN_NS 20000L
#define SLEEP_MAX_NS 1000000L
/* The first slice when descriptors can end the wait (see tf_comm_wait). */
#define WAIT_WITH_FDS_NS 250000L

static MPI_Comm farm_comm = MPI_COMM_NULL;
/* After tf_comm_keep_only: every rank of the job, where the idle ones wait for the end. */
static MPI_Comm outer_comm = MPI_COMM_NULL;
/* On the master, after tf_comm_keep_only: which ranks of outer_comm took no part. */
static bool *parked;
static int outer_size;
/* The master's word to those, on outer_comm, when a rank died: leave without the barrier. */
#define TAG_LEAVE 101
/* After a death, a send whose receiver is gone never completes: waiting for every send
 * stops after this long, and the rest are let go. */
#define SEND_WAIT_AFTER_DEATH 5.0
static int my_rank, my_size;
static bool solo, started;
static bool we_initialized; /* MPI_Finalize is ours to call only when MPI_Init was */

/* Non-blocking sends in flight, with the buffers they own. */
struct pending_send {
    MPI_Request req;
    void *data;
    int peer;
};
static struct pending_send *sends;
static size_t nsends, cap_sends;

/* Peers given up on (tf_comm_forget_peer): nothing is sent to them, what they send is read
 * and dropped, and no collective is entered again (it would wait for them for ever). */
static bool *forgotten;
static int nforgotten;
static bool no_collectives;
/* A receive from a peer that has not completed after this long gives the peer up (0: wait
 * for ever, as MPI does): a rank that dies half-way through a large message leaves it. */
static double recv_deadline;
static int unresponsive = -1; /* the last peer a receive gave up on, for the caller */

/* Messages to this rank itself, in the order sent (a ring). */
static struct tf_msg *loopback;
static size_t loop_head, loop_len, loop_cap;

static void loopback_push(enum tf_msg_kind kind, void *data, size_t len)
{
    if (loop_len == loop_cap) {
        size_t cap = loop_cap ? 2 * loop_cap : 16;
        struct tf_msg *q = tf_xmalloc(cap * sizeof *q);
        for (size_t i = 0; i < loop_len; i++)
            q[i] = loopback[(loop_head + i) % loop_cap];
        free(loopback);
        loopback = q;
        loop_head = 0;
        loop_cap = cap;
    }
    loopback[(loop_head + loop_len++) % loop_cap] =
        (struct tf_msg){.kind = kind, .peer = my_rank, .data = data, .len = len};
}

static enum tf_status mpi_fail(const char *what, int rc)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    tf_log(TF_LOG_ERROR, "%s failed: %s", what, text);
    return TF_EMPI;
}

static void nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

enum tf_status tf_comm_init(int *argc, char ***argv)
{
    int already = 0, provided = 0;
    MPI_Initialized(&already);
    if (!already) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return TF_EMPI;
        we_initialized = true;
    }
    started = true;
    MPI_Comm_dup(MPI_COMM_WORLD, &farm_comm);
    MPI_Comm_set_name(farm_comm, "taskfarm");
    MPI_Comm_set_errhandler(farm_comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(farm_comm, &my_rank);
    MPI_Comm_size(farm_comm, &my_size);
    return TF_OK;
}

/* One wait: spin while it is young, then sleep longer each time up to the cap. */
struct backoff {
    double t0;
    long sleep_ns;
};

static struct backoff backoff_start(void)
{
    return (struct backoff){tf_monotonic(), SLEEP_MIN_NS};
}

static double backoff_waited(const struct backoff *b)
{
    return tf_monotonic() - b->t0;
}

static void backoff_pause(struct backoff *b, double waited)
{
    if (waited < SPIN_SECONDS)
        return;
    nap(b->sleep_ns);
    b->sleep_ns = b->sleep_ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : b->sleep_ns * 2;
}

/* Complete a non-blocking operation without spinning a core. */
static int wait_lazily(MPI_Request *req)
{
    int done = 0;
    struct backoff b = backoff_start();
    for (;;) {
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        backoff_pause(&b, backoff_waited(&b));
    }
}

enum tf_status tf_comm_start(void)
{
    if (started)
        return TF_OK;
    int already = 0;
    MPI_Initialized(&already);
    if (already || tf_comm_launcher_rank() >= 0)
        return tf_comm_init(NULL, NULL);
    tf_comm_init_solo();
    return TF_OK;
}

bool tf_comm_started(void)
{
    return started;
}

int tf_comm_launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                                       "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return atoi(v);
    }
    return -1;
}

void tf_comm_init_solo(void)
{
    started = true;
    solo = true;
    my_rank = 0;
    my_size = 1;
}

/* A rank that took no part waits for the end: the barrier of every rank, or the master's
 * word that a rank died (then false: leave without MPI_Finalize). */
static bool wait_parked(void)
{
    MPI_Request req;
    if (MPI_Ibarrier(outer_comm, &req) != MPI_SUCCESS)
        return true;
    struct backoff b = backoff_start();
    for (;;) {
        int done = 0, told = 0;
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done)
            return true;
        MPI_Iprobe(0, TAG_LEAVE, outer_comm, &told, MPI_STATUS_IGNORE);
        if (told) {
            char c;
            MPI_Recv(&c, 1, MPI_BYTE, 0, TAG_LEAVE, outer_comm, MPI_STATUS_IGNORE);
            return false; /* the barrier never ends (Open MPI refuses to free it): left */
        }
        backoff_pause(&b, backoff_waited(&b));
    }
}

/* The master, leaving without collectives: the ranks that took no part go too. */
static void release_parked(void)
{
    if (parked == NULL || outer_comm == MPI_COMM_NULL)
        return;
    static const char bye = 0;
    MPI_Request *reqs = tf_xcalloc((size_t)outer_size, sizeof *reqs);
    int n = 0;
    for (int r = 1; r < outer_size; r++)
        if (parked[r] &&
            MPI_Isend(&bye, 1, MPI_BYTE, r, TAG_LEAVE, outer_comm, &reqs[n]) == MPI_SUCCESS)
            n++;
    double until = tf_monotonic() + SEND_WAIT_AFTER_DEATH;
    int all = 0;
    while (!all && tf_monotonic() < until) {
        MPI_Testall(n, reqs, &all, MPI_STATUSES_IGNORE);
        nap(1000 * 1000);
    }
    free(reqs);
    free(parked);
    parked = NULL;
}

void tf_comm_finalize(void)
{
    if (!started)
        return;
    started = false;
    while (loop_len > 0) {
        free(loopback[loop_head].data);
        loop_head = (loop_head + 1) % loop_cap;
        loop_len--;
    }
    free(loopback);
    loopback = NULL;
    loop_head = loop_cap = 0;
    if (solo)
        return;
    free(sends);
    sends = NULL;
    cap_sends = nsends = 0;
    if (no_collectives) {
        /* A peer is gone: a barrier, MPI_Comm_free or MPI_Finalize would wait for it for
         * ever (measured with Open MPI 4.1: Finalize hangs in its fence). The files are
         * durable by now; the process ends without them, and so do the ranks that took no
         * part, which wait for the end in a barrier. */
        release_parked();
        started = false;
        return;
    }
    /* Ranks that finish first wait here for the rest: sleeping, not spinning. */
    MPI_Comm *comms[] = {&farm_comm, &outer_comm};
    if (farm_comm == MPI_COMM_NULL && outer_comm != MPI_COMM_NULL) { /* took no part */
        if (!wait_parked())
            return; /* a rank died: the master said to go without MPI_Finalize */
        MPI_Comm_free(&outer_comm);
    }
    for (int i = 0; i < 2; i++)
        if (*comms[i] != MPI_COMM_NULL) {
            MPI_Request req;
            if (MPI_Ibarrier(*comms[i], &req) == MPI_SUCCESS)
                wait_lazily(&req);
            MPI_Comm_free(comms[i]);
        }
    if (we_initialized)
        MPI_Finalize();
    we_initialized = false;
}

void tf_comm_abort(int exit_code)
{
    if (solo)
        exit(exit_code);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    exit(exit_code); /* not reached with a working MPI */
}

int tf_comm_rank(void)
{
    return my_rank;
}

int tf_comm_size(void)
{
    return my_size;
}

enum tf_status tf_comm_send(int peer, enum tf_msg_kind kind, const void *data, size_t len)
{
    if (peer == my_rank) {
        void *copy = tf_xmalloc(len + 1);
        if (len)
            memcpy(copy, data, len);
        loopback_push(kind, copy, len);
        return TF_OK;
    }
    if (len > (size_t)INT32_MAX) {
        tf_log(TF_LOG_ERROR, "message of %zu bytes is too large for MPI", len);
        return TF_EMPI;
    }
    if (forgotten && forgotten[peer])
        return TF_OK; /* a blocking send to a dead rank never returns */
    int rc = MPI_Send(data, (int)len, MPI_BYTE, peer, (int)kind, farm_comm);
    return rc == MPI_SUCCESS ? TF_OK : mpi_fail("MPI_Send", rc);
}

enum tf_status tf_comm_isend(int peer, enum tf_msg_kind kind, void *data, size_t len)
{
    if (len > (size_t)INT32_MAX) {
        tf_log(TF_LOG_ERROR, "message of %zu bytes is too large for MPI", len);
        free(data);
        return TF_EMPI;
    }
    if (peer == my_rank) {
        loopback_push(kind, data, len);
        return TF_OK;
    }
    if (forgotten && forgotten[peer]) {
        free(data);
        return TF_OK;
    }
    if (nsends == cap_sends) {
        cap_sends = cap_sends ? 2 * cap_sends : 64;
        sends = tf_xrealloc(sends, cap_sends * sizeof *sends);
    }
    struct pending_send *p = &sends[nsends];
    int rc = MPI_Isend(data, (int)len, MPI_BYTE, peer, (int)kind, farm_comm, &p->req);
    if (rc != MPI_SUCCESS) {
        free(data);
        return mpi_fail("MPI_Isend", rc);
    }
    p->data = data;
    p->peer = peer;
    nsends++;
    return TF_OK;
}

void tf_comm_forget_peer(int rank)
{
    if (solo || rank < 0 || rank >= my_size || rank == my_rank)
        return;
    if (forgotten == NULL)
        forgotten = tf_xcalloc((size_t)my_size, sizeof *forgotten);
    if (forgotten[rank])
        return;
    forgotten[rank] = true;
    nforgotten++;
    no_collectives = true;
    /* Sends to it never complete: their requests are let go and their buffers kept (MPI may
     * still read them), so nothing waits for them. */
    for (size_t i = 0; i < nsends;) {
        if (sends[i].peer == rank) {
            MPI_Request_free(&sends[i].req);
            sends[i] = sends[--nsends];
        } else {
            i++;
        }
    }
}

bool tf_comm_peer_forgotten(int rank)
{
    return forgotten && rank >= 0 && rank < my_size && forgotten[rank];
}

void tf_comm_skip_collectives(void)
{
    no_collectives = true;
}

bool tf_comm_collectives_skipped(void)
{
    return no_collectives;
}

void tf_comm_set_recv_deadline(double seconds)
{
    recv_deadline = seconds;
}

int tf_comm_take_unresponsive(void)
{
    int r = unresponsive;
    unresponsive = -1;
    return r;
}

static void abandon_sends(void)
{
    for (size_t i = 0; i < nsends; i++)
        MPI_Request_free(&sends[i].req); /* buffers stay: MPI may still read them */
    nsends = 0;
}

enum tf_status tf_comm_progress(bool wait)
{
    if (wait && (no_collectives || tf_comm_recovery_on())) {
        /* A rank may have died after its last word (recovery keeps the job): a send to it
         * never completes, and neither would a barrier with it. */
        double until = tf_monotonic() + SEND_WAIT_AFTER_DEATH;
        while (nsends > 0 && tf_monotonic() < until) {
            TF_TRY(tf_comm_progress(false));
            nap(1000 * 1000);
        }
        if (nsends > 0) {
            tf_log(TF_LOG_INFO, "%zu messages to ranks that are gone were let go", nsends);
            no_collectives = true;
        }
        abandon_sends();
        return TF_OK;
    }
    size_t i = 0;
    while (i < nsends) {
        int done = 0;
        int rc =
            wait ? wait_lazily(&sends[i].req) : MPI_Test(&sends[i].req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_fail("completing a send", rc);
        if (wait || done) {
            free(sends[i].data);
            sends[i] = sends[--nsends]; /* order of completion does not matter */
        } else {
            i++;
        }
    }
    return TF_OK;
}

bool tf_comm_recovery_on(void)
{
    const char *v = getenv("OMPI_MCA_orte_enable_recovery");
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

static int watchdog_code;

static void watchdog_fire(union sigval v)
{
    (void)v;
    tf_log(TF_LOG_WARN, "still in MPI's shutdown after a while (a rank died?): leaving without it");
    _exit(watchdog_code);
}

void tf_comm_watchdog(double seconds, int exit_code)
{
    /* A POSIX timer that runs its function on a thread of its own: SIGALRM may be the
     * program's (a library map) or MPI's. */
    timer_t t;
    struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = watchdog_fire};
    struct itimerspec when = {
        .it_value = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)}};
    watchdog_code = exit_code;
    if (timer_create(CLOCK_MONOTONIC, &ev, &t) == 0)
        timer_settime(t, 0, &when, NULL);
}

/* Collective: the lowest rank sharing memory with us, which names our node. */
static int node_key(void)
{
    MPI_Comm local;
    int key = my_rank;
    MPI_Request req;
    MPI_Comm_split_type(farm_comm, MPI_COMM_TYPE_SHARED, my_rank, MPI_INFO_NULL, &local);
    if (MPI_Iallreduce(&my_rank, &key, 1, MPI_INT, MPI_MIN, local, &req) != MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
    MPI_Comm_free(&local);
    return key;
}

int tf_comm_node_id(void)
{
    return solo ? 0 : node_key();
}

void tf_comm_allgather(const void *mine, size_t len, void *all)
{
    if (solo) {
        memcpy(all, mine, len);
        return;
    }
    MPI_Request req;
    if (len > INT_MAX ||
        MPI_Iallgather(mine, (int)len, MPI_BYTE, all, (int)len, MPI_BYTE, farm_comm, &req) !=
            MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
}

void tf_comm_keep_only(bool keep)
{
    if (solo || outer_comm != MPI_COMM_NULL)
        return;
    /* The master learns who takes no part, to release them should a rank die. */
    int mine = keep, *all = tf_xcalloc((size_t)my_size, sizeof *all);
    MPI_Request req;
    if (MPI_Iallgather(&mine, 1, MPI_INT, all, 1, MPI_INT, farm_comm, &req) != MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
    if (my_rank == 0) {
        outer_size = my_size;
        parked = tf_xcalloc((size_t)my_size, sizeof *parked);
        for (int r = 0; r < my_size; r++)
            parked[r] = !all[r];
    }
    free(all);
    MPI_Comm kept = MPI_COMM_NULL;
    if (MPI_Comm_split(farm_comm, keep ? 0 : MPI_UNDEFINED, my_rank, &kept) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
    outer_comm = farm_comm;
    farm_comm = kept;
    if (keep) {
        MPI_Comm_set_errhandler(farm_comm, MPI_ERRORS_RETURN);
        MPI_Comm_rank(farm_comm, &my_rank);
        MPI_Comm_size(farm_comm, &my_size);
    } else {
        my_rank = -1;
        my_size = 0;
    }
}

bool tf_comm_on_master_node(void)
{
    return solo || node_key() == 0;
}

void tf_comm_node_map(int *node_of)
{
    if (solo) {
        if (node_of)
            node_of[0] = 0;
        return;
    }
    int key = node_key();
    MPI_Request req;
    if (MPI_Igather(&key, 1, MPI_INT, node_of, 1, MPI_INT, 0, farm_comm, &req) != MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
}

/* Receive the matched message: through MPI_Imrecv, so that a sender that dies half-way
 * through a large message (the envelope came, the rest never will) costs at most
 * recv_deadline, not the process. Messages of forgotten peers are read and dropped. */
static int take_matched(struct tf_msg *msg, MPI_Message *handle, MPI_Status *status, bool *got)
{
    int count = 0;
    MPI_Get_count(status, MPI_BYTE, &count);
    unsigned char *data = tf_xmalloc((size_t)count + 1);
    MPI_Request req;
    int rc = MPI_Imrecv(data, count, MPI_BYTE, handle, &req);
    if (rc != MPI_SUCCESS) {
        free(data);
        return rc;
    }
    int done = 0;
    struct backoff b = backoff_start();
    for (;;) {
        rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            break;
        double waited = backoff_waited(&b);
        if (recv_deadline > 0 && waited >= recv_deadline) {
            /* Never completes: the request and its buffer are let go (MPI owns them). */
            MPI_Request_free(&req);
            tf_log(TF_LOG_WARN, "a message of %d bytes from rank %d did not arrive within %g s",
                   count, status->MPI_SOURCE, recv_deadline);
            unresponsive = status->MPI_SOURCE;
            tf_comm_forget_peer(status->MPI_SOURCE);
            *got = false;
            return MPI_SUCCESS;
        }
        backoff_pause(&b, waited);
    }
    if (rc != MPI_SUCCESS || tf_comm_peer_forgotten(status->MPI_SOURCE)) {
        free(data);
        *got = false;
        return rc;
    }
    *msg = (struct tf_msg){.kind = (enum tf_msg_kind)status->MPI_TAG,
                           .peer = status->MPI_SOURCE,
                           .data = data,
                           .len = (size_t)count};
    *got = true;
    return MPI_SUCCESS;
}

enum tf_status tf_comm_recv(struct tf_msg *msg, double timeout, bool *got)
{
    MPI_Status status;
    int flag = 0;
    struct backoff b = backoff_start();
    *got = false;
    if (loop_len > 0) {
        *msg = loopback[loop_head];
        loop_head = (loop_head + 1) % loop_cap;
        loop_len--;
        *got = true;
        return TF_OK;
    }
    if (solo) { /* nothing but the local queue can bring a message */
        if (timeout > 0)
            nap((long)(timeout * 1e9));
        return TF_OK;
    }
    for (;;) {
        MPI_Message handle;
        int rc = MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, farm_comm, &flag, &handle, &status);
        if (rc != MPI_SUCCESS)
            return mpi_fail("MPI_Improbe", rc);
        if (flag) {
            rc = take_matched(msg, &handle, &status, got);
            if (rc != MPI_SUCCESS)
                return mpi_fail("MPI_Imrecv", rc);
            if (*got)
                return TF_OK;
            continue; /* from a forgotten peer, or given up: look again */
        }
        double waited = backoff_waited(&b);
        if (timeout >= 0 && waited >= timeout)
            return TF_OK;
        backoff_pause(&b, waited);
    }
}

/* Poll fds for at most `seconds` (0: just look). */
static int poll_for(struct pollfd *fds, nfds_t n, double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    int rc = ppoll(fds, n, &ts, NULL);
    return rc < 0 && errno != EINTR ? 0 : rc;
}

/* Whether any of fds is a descriptor to wait on. */
static bool any_fd(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++)
        if (fds[i].fd >= 0)
            return true;
    return false;
}

int tf_comm_wait(struct pollfd *fds, nfds_t n, double until)
{
    if (loop_len > 0)
        return poll_for(fds, n, 0);
    if (solo) {
        if (until <= 0) {
            int rc = ppoll(fds, n, NULL, NULL);
            return rc < 0 && errno != EINTR ? 0 : rc;
        }
        double left = until - tf_monotonic();
        return poll_for(fds, n, left > 0 ? left : 0);
    }
    /* RATIONALE: with descriptors to wait on (running tasks, compute threads) their events
     * end the wait at once, and spinning or short slices would only take the CPU the tasks
     * need: MPI is then looked at every WAIT_WITH_FDS_NS at most. With nothing else to wait
     * for, the back-off: spin briefly, then sleep longer each time up to the cap. */
    struct backoff b = backoff_start();
    bool fds_wake = any_fd(fds, n);
    if (fds_wake)
        b.sleep_ns = WAIT_WITH_FDS_NS;
    for (;;) {
        int flag = 0;
        if (MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, farm_comm, &flag, MPI_STATUS_IGNORE) !=
                MPI_SUCCESS ||
            flag)
            return poll_for(fds, n, 0); /* the caller receives it (or meets the error) */
        double now = tf_monotonic(), waited = now - b.t0;
        double slice = waited < SPIN_SECONDS && !fds_wake ? 0 : (double)b.sleep_ns / 1e9;
        if (until > 0 && now + slice > until)
            slice = until > now ? until - now : 0;
        int rc = poll_for(fds, n, slice);
        if (rc != 0 || (until > 0 && tf_monotonic() >= until))
            return rc;
        if (waited >= SPIN_SECONDS || fds_wake)
            b.sleep_ns = b.sleep_ns * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : b.sleep_ns * 2;
    }
}

void tf_msg_clear(struct tf_msg *msg)
{
    free(msg->data);
    msg->data = NULL;
    msg->len = 0;
}

int tf_comm_agree_max(int code)
{
    if (solo)
        return code;
    int all = code;
    MPI_Request req;
    if (MPI_Iallreduce(&code, &all, 1, MPI_INT, MPI_MAX, farm_comm, &req) != MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
    return all;
}

void tf_comm_bcast_u64(uint64_t *value)
{
    if (solo)
        return;
    MPI_Request req;
    if (MPI_Ibcast(value, 1, MPI_UINT64_T, 0, farm_comm, &req) != MPI_SUCCESS ||
        wait_lazily(&req) != MPI_SUCCESS)
        tf_comm_abort(TF_EXIT_INTERNAL);
}
