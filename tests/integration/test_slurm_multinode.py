"""slurm/multi-node.sbatch on two simulated nodes: each a network namespace with its own
address on a veth link and a UTS namespace with its own host name, each with its own slurmd
(tests/slurm/cluster.py), so that Open MPI's second process reaches rank 0 over a network.
The script is submitted unchanged (sbatch options and documented environment variables
only), one taskfarm process per node (--ntasks-per-node=1) given the node's CPUs
(--cpus-per-task); the result file is read back: every task done, on both hosts, where it
says it ran, in the slots of both processes. Then the same script with
TASKFARM_ARGS="--cores-per-task 2": OMP_NUM_THREADS=2, and a node runs (cores / 2) tasks at
once (this machine's cores, which both nodes share). Without root, the packages or
namespaces: "skipped" and why (exit 77)."""
import os
import shutil
import sys

import h5py

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "slurm"))
from cluster import Cluster, Unavailable, log_of  # noqa: E402

# Each simulated node has this machine's CPUs (they share them), and its one taskfarm
# process takes them all: CPUS slots per node (taskfarm counts the cores it finds there).
CPUS = len(os.sched_getaffinity(0))
HOSTS = ["tfnode1", "tfnode2"]


def read(path):
    with h5py.File(path, "r") as f:
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        cols = {n: (d.asstr()[()] if d.dtype.kind == "O" else d[()]) for n, d in f["tasks"].items()}
    return a, cols


def most_at_once(starts, ends):
    """The most tasks that ran at the same moment."""
    now = most = 0
    for _, d in sorted([(t, 1) for t in starts] + [(t, -1) for t in ends]):
        now += d
        most = max(most, now)
    return most


def per_host(cols, host):
    """The most tasks at once on one host."""
    on = cols["host"] == host
    return most_at_once(cols["start"][on], cols["end"][on])


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    # The jobs run as a user's would: mpirun places one process per node of the allocation
    # and needs no oversubscription (the suite's environment allows it for other tests).
    os.environ.pop("OMPI_MCA_rmaps_base_oversubscribe", None)
    cl = Cluster(cpus=CPUS, nodes=2)
    try:
        cl.start()
    except Unavailable as e:
        print(f"skipped: {e}")
        sys.exit(77)
    script = os.path.join(args.source, "slurm", "multi-node.sbatch")
    tasks = os.path.join(wd, "t.tasks")
    n = 30
    with open(tasks, "w") as f:
        for i in range(n):
            f.write(f'echo "$(hostname) {i} ${{OMP_NUM_THREADS-unset}} $TASKFARM_RANK '
                    f'$TASKFARM_SLOT"; sleep 0.2\n')
    env = {"TASKFARM": args.taskfarm,
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    shape = ["-N", "2", "--ntasks-per-node=1", f"--cpus-per-task={CPUS}"]
    try:
        job, rc, out = cl.sbatch_wait([*shape, script, tasks, "mn.h5"], env=env, cwd=wd)
        c.eq(f"multi-node: exit ({out} {log_of(wd, job)[-800:]})", rc, 0)
        if rc == 0:
            a, cols = read(os.path.join(wd, "mn.h5"))
            words = [s.split() for s in cols["stdout"]]
            c.eq("multi-node: every task succeeded", int((cols["status"] == 1).sum()), n)
            c.eq("multi-node: tasks ran on both nodes", set(cols["host"]), set(HOSTS))
            c.eq("multi-node: each ran where the file says", [w[0] for w in words],
                 list(cols["host"]))
            c.eq("multi-node: outputs in task order", [int(w[1]) for w in words], list(range(n)))
            c.eq("multi-node: no OMP_NUM_THREADS without --cores-per-task",
                 {w[2] for w in words}, {"unset"})
            c.eq("multi-node: TASKFARM_RANK and TASKFARM_SLOT as the file says",
                 [(int(w[3]), int(w[4])) for w in words],
                 list(zip(cols["rank"].tolist(), cols["slot"].tolist())))
            c.eq("multi-node: the master on the first node", a.get("master_host"), "tfnode1")
            c.eq("multi-node: one process per node runs tasks", int(a["nworkers"]), 2)
            c.eq("multi-node: rank 0 on the first node, rank 1 on the second",
                 sorted({(int(r), h) for r, h in zip(cols["rank"], cols["host"])}),
                 [(0, "tfnode1"), (1, "tfnode2")])
            c.eq("multi-node: a slot per CPU of each node",
                 (int(a["nslots"]), list(a["slots_per_rank"])), (2 * CPUS, [CPUS, CPUS]))
            c.true(f"multi-node: tasks in the slots ({set(cols['slot'].tolist())})",
                   set(cols["slot"].tolist()) <= set(range(CPUS)))
            c.eq("multi-node: nodes recorded", (a.get("slurm_job_num_nodes"),
                                                a.get("slurm_job_nodelist")), ("2", cl.node))
            c.eq("multi-node: the job's shape recorded",
                 (a.get("slurm_ntasks"), a.get("slurm_cpus_per_task")), ("2", str(CPUS)))
        # Two cores per task: every task gets OMP_NUM_THREADS=2, and a node runs as many tasks
        # at once as it has cores / 2 (this machine's cores, which both nodes share).
        job, rc, out = cl.sbatch_wait([*shape, script, tasks, "k2.h5"],
                                      env=dict(env, TASKFARM_ARGS="--cores-per-task 2"), cwd=wd)
        c.eq(f"cores-per-task: exit ({out} {log_of(wd, job)[-800:]})", rc, 0)
        if rc == 0:
            a, cols = read(os.path.join(wd, "k2.h5"))
            per_node = max(1, CPUS // 2)
            c.eq("cores-per-task: every task succeeded", int((cols["status"] == 1).sum()), n)
            c.eq("cores-per-task: OMP_NUM_THREADS", {s.split()[2] for s in cols["stdout"]},
                 {str(min(2, CPUS))})
            c.eq("cores-per-task: the cores_per_task attribute", int(a["cores_per_task"]), 2)
            c.eq("cores-per-task: (cores / 2) slots per node",
                 (int(a["nworkers"]), int(a["nslots"]), list(a["slots_per_rank"])),
                 (2, 2 * per_node, [per_node, per_node]))
            c.eq("cores-per-task: on both nodes", set(cols["host"]), set(HOSTS))
            c.eq("cores-per-task: at most (cores / 2) tasks at once per node",
                 [per_host(cols, h) for h in HOSTS], [per_node, per_node])
    finally:
        cl.stop()
        if not c.failures:
            shutil.rmtree(cl.dir, ignore_errors=True)
            shutil.rmtree(wd, ignore_errors=True)
        else:
            print(f"kept for inspection: {wd} {cl.dir}")
    c.finish()


if __name__ == "__main__":
    main()
