"""slurm/multi-node.sbatch on two simulated nodes: each a network namespace with its own
address on a veth link and a UTS namespace with its own host name, each with its own slurmd
(tests/slurm/cluster.py), so that Open MPI's ranks on the second node reach the master over
a network. The script is submitted unchanged (sbatch options and documented environment
variables only); the result file is read back: every task done, on both hosts, where it
says it ran. Then the same script with --cpus-per-task=2: OMP_NUM_THREADS=2 and one task
at a time per node. Without root, the packages or namespaces: "skipped" and why (exit 77)."""
import os
import shutil
import sys

import h5py

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "slurm"))
from cluster import Cluster, Unavailable, log_of  # noqa: E402


def read(path):
    with h5py.File(path, "r") as f:
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        cols = {n: (d.asstr()[()] if d.dtype.kind == "O" else d[()]) for n, d in f["tasks"].items()}
    return a, cols


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    cl = Cluster(cpus=4, nodes=2)
    try:
        cl.start()
    except Unavailable as e:
        print(f"skipped: {e}")
        sys.exit(77)
    script = os.path.join(args.source, "slurm", "multi-node.sbatch")
    tasks = os.path.join(wd, "t.tasks")
    with open(tasks, "w") as f:
        for i in range(30):
            f.write(f'echo "$(hostname) {i} ${{OMP_NUM_THREADS-unset}}"; sleep 0.2\n')
    env = {"TASKFARM": args.taskfarm, "TASKFARM_MPIRUN_ARGS": "--oversubscribe",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    try:
        job, rc, out = cl.sbatch_wait(["-N", "2", "--ntasks-per-node=3", script, tasks, "mn.h5"],
                                      env=env, cwd=wd)
        c.eq(f"multi-node: exit ({out} {log_of(wd, job)[-800:]})", rc, 0)
        if rc == 0:
            a, cols = read(os.path.join(wd, "mn.h5"))
            c.eq("multi-node: every task succeeded", int((cols["status"] == 1).sum()), 30)
            c.eq("multi-node: tasks ran on both nodes", set(cols["host"]), {"tfnode1", "tfnode2"})
            c.eq("multi-node: each ran where the file says",
                 [s.split()[0] for s in cols["stdout"]], list(cols["host"]))
            c.eq("multi-node: outputs in task order", [int(s.split()[1]) for s in cols["stdout"]],
                 list(range(30)))
            c.eq("multi-node: the master on the first node", a.get("master_host"), "tfnode1")
            c.eq("multi-node: workers", int(a["nworkers"]), 5)
            c.eq("multi-node: nodes recorded", (a.get("slurm_job_num_nodes"),
                                                a.get("slurm_job_nodelist")), ("2", cl.node))
        # Two cores per task: every task gets OMP_NUM_THREADS=2, and a node runs as many tasks
        # at once as it has cores / 2 (this machine's cores, which both nodes share).
        ncores = len(os.sched_getaffinity(0))
        job, rc, out = cl.sbatch_wait(["-N", "2", "--ntasks-per-node=2", "--cpus-per-task=2",
                                       script, tasks, "k2.h5"], env=env, cwd=wd)
        c.eq(f"cpus-per-task: exit ({out} {log_of(wd, job)[-800:]})", rc, 0)
        if rc == 0:
            a, cols = read(os.path.join(wd, "k2.h5"))
            c.eq("cpus-per-task: every task succeeded", int((cols["status"] == 1).sum()), 30)
            c.eq("cpus-per-task: OMP_NUM_THREADS", {s.split()[2] for s in cols["stdout"]},
                 {str(min(2, ncores))})
            c.eq("cpus-per-task: cores_per_task from Slurm", int(a["cores_per_task"]), 2)
            per_node = max(1, ncores // 2)
            want = min(1, per_node) + min(2, per_node)  # node 1 has the master and one worker
            c.eq("cpus-per-task: workers running tasks", len(set(cols["rank"].tolist())), want)
            c.eq("cpus-per-task: on both nodes", set(cols["host"]), {"tfnode1", "tfnode2"})
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
