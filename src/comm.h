/* comm.h - the farm's only door to MPI. No MPI type appears here.
 *
 * Messages are byte buffers (see wire.h) whose kind travels as the MPI tag. Receives poll
 * with a growing sleep rather than blocking in MPI, because Open MPI's blocking calls
 * spin a core, and an oversubscribed node (more ranks than cores) would then spend its
 * cores waiting instead of running tasks. A message a rank sends to itself (rank 0's
 * master to its own agent, and back) never enters MPI: it waits in a local queue, so a run
 * without a launcher speaks the same protocol with no MPI at all.
 */
#ifndef TF_COMM_H
#define TF_COMM_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

enum tf_msg_kind {
    TF_MSG_ASSIGN = 1,     /* master -> worker: a batch of tasks */
    TF_MSG_RESULTS = 2,    /* worker -> master: report + finished tasks */
    TF_MSG_REQUEST = 3,    /* worker -> master: report + finished tasks, and "send more" */
    TF_MSG_STOP = 4,       /* master -> worker: no more work; leave the loop */
    TF_MSG_STEAL = 5,      /* master -> worker: give back up to N queued tasks */
    TF_MSG_RELEASE = 6,    /* worker -> master: report + tasks given back */
    TF_MSG_DRAIN = 7,      /* master -> worker: stop level (see enum tf_stop in master.h) */
    TF_MSG_MAP_ASSIGN = 8, /* master -> worker: a range of items (and their bytes) */
    TF_MSG_MAP_RESULT = 9, /* worker -> master: a batch's results, failures and timing */
    TF_MSG_MAP_BYE = 10,   /* worker -> master: stopped; nothing more comes from it */
    TF_MSG_HEARTBEAT = 11, /* worker -> master: still here (sent when quiet, recovery on) */
    TF_MSG_STARTED = 12,   /* worker -> master: these tasks start now (recovery on) */
    TF_MSG_ALIVE = 13,     /* master -> worker: the answer to a heartbeat */
};

/* What TF_MSG_STOP's first value says. */
enum tf_stop_why {
    TF_WHY_DONE = 0,      /* the run is over */
    TF_WHY_PEER_LOST = 1, /* over, and a worker was lost: leave without collectives */
    TF_WHY_YOU_LOST = 2,  /* you were declared lost: kill your tasks, leave at once */
};

struct tf_msg {
    enum tf_msg_kind kind;
    int peer;
    unsigned char *data; /* owned; tf_msg_clear frees */
    size_t len;
};

/* Start MPI, or join it when the program already did (then MPI_Finalize stays its job).
 * Threads that never call MPI may run beside the one that does (MPI_THREAD_FUNNELED). */
enum tf_status tf_comm_init(int *argc, char ***argv) TF_NODISCARD;
/* For the library: nothing when already started; join or start MPI when the program did or
 * a launcher started us; otherwise solo. */
enum tf_status tf_comm_start(void) TF_NODISCARD;
bool tf_comm_started(void);
/* The rank a launcher gave this process, from its environment, or -1 when no launcher
 * started it. Needs no MPI: usage errors print once, not once per rank. */
int tf_comm_launcher_rank(void);
/* A run with no launcher: rank 0 of 1 without initialising MPI at all, so a laptop run
 * needs no MPI runtime (no orted, no network lookups). Collectives become no-ops. */
void tf_comm_init_solo(void);
/* Leave MPI (finalizing it only if tf_comm_init started it); tf_comm_start works again. */
void tf_comm_finalize(void);
_Noreturn void tf_comm_abort(int exit_code); /* ends every rank */
int tf_comm_rank(void);
int tf_comm_size(void);

enum tf_status tf_comm_send(int peer, enum tf_msg_kind kind, const void *data,
                            size_t len) TF_NODISCARD;
/* Send without waiting for the receiver: comm takes ownership of `data` (malloc'd) and
 * frees it once MPI is done with it. Progressed by tf_comm_progress and tf_comm_recv. */
enum tf_status tf_comm_isend(int peer, enum tf_msg_kind kind, void *data, size_t len) TF_NODISCARD;
/* Complete what can be completed of earlier tf_comm_isend calls; with `wait`, all of them. */
enum tf_status tf_comm_progress(bool wait) TF_NODISCARD;

/* Collective: on the master, node_of[r] for every rank r (ranks that share memory share a
 * value); other ranks pass NULL. */
void tf_comm_node_map(int *node_of);
/* Collective: a number shared by exactly the ranks of this node. */
int tf_comm_node_id(void);
/* Collective: every rank's len bytes, in rank order, into all (size * len bytes). */
void tf_comm_allgather(const void *mine, size_t len, void *all);
/* Collective: from now on the farm is the ranks that pass true (renumbered in rank order;
 * rank 0 must be one). The others take no further part; tf_comm_finalize lets them wait,
 * asleep, until the farm is over. */
void tf_comm_keep_only(bool keep);
/* Collective: whether this rank shares memory (a node, a page cache) with rank 0. */
bool tf_comm_on_master_node(void);

/* Wait up to timeout seconds (< 0: forever) for a message from anyone. *got says whether
 * one arrived. */
enum tf_status tf_comm_recv(struct tf_msg *msg, double timeout, bool *got) TF_NODISCARD;
/* Wait until a message is here, one of fds[0..n) is ready (revents set, as poll does), a
 * signal arrives, or the tf_monotonic() time `until` passes (0: no limit). Returns poll's
 * result: > 0 when fds are ready, 0 otherwise, -1 on a signal. With MPI it sleeps in short
 * slices between probes (the back-off above); alone, only fds, the local queue and `until`
 * can end the wait. */
int tf_comm_wait(struct pollfd *fds, nfds_t n, double until);
void tf_msg_clear(struct tf_msg *msg);

/* ---- peers that die (Open MPI with orte_enable_recovery keeps the job; MPI reports nothing)
 * A rank given up on is never sent to again (a send to a dead rank never completes; a blocking
 * one never returns), what it still sends is read and dropped, and this process enters no
 * collective again (barriers and MPI_Finalize would wait for it for ever). */
void tf_comm_forget_peer(int rank);
bool tf_comm_peer_forgotten(int rank);
/* No collective from now on, though no peer was forgotten here (the master says one was). */
void tf_comm_skip_collectives(void);
bool tf_comm_collectives_skipped(void);
/* A receive that has not completed after `seconds` (0: never) gives its sender up; the rank
 * is then returned once by tf_comm_take_unresponsive (-1: none). */
void tf_comm_set_recv_deadline(double seconds);
int tf_comm_take_unresponsive(void);

/* Whether a rank's death leaves the job running: Open MPI's orte_enable_recovery, which
 * mpirun passes to its ranks as OMPI_MCA_orte_enable_recovery. */
bool tf_comm_recovery_on(void);
/* From now until the process ends, end it with exit_code if it is still here `seconds` later
 * (a collective or MPI_Finalize that waits for a rank that died). */
void tf_comm_watchdog(double seconds, int exit_code);

/* Collective: every rank passes its own code and gets the largest one, so all ranks take
 * the same decision (go on, or exit with that code) without a hang. */
int tf_comm_agree_max(int code);
/* Collective: the master's value reaches every rank. */
void tf_comm_bcast_u64(uint64_t *value);

#endif
