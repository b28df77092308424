"""A node that dies in the middle of slurm/multi-node.sbatch: on the two simulated nodes of
tests/slurm/cluster.py (each a network and UTS namespace with its own slurmd), the script is
submitted unchanged over a task file of counted tasks (each sleeps 0.05-0.2 s, then appends
its id and host to a side file on the shared disk). Once both nodes have finished some tasks,
every process of node 2 is killed at once with SIGKILL, as a node that dies loses them: its
slurmd, the job's step daemon, mpirun's orted, the taskfarm process and its running tasks.

The job must go on on node 1 and end with every task done: the script's exit code 0 (read
from `taskfarm status`, since mpirun's is always 0 under recovery), `taskfarm status` 0, every
row SUCCEEDED, every id in the side file, workers_lost 1 naming rank 1 on tfnode2, no row
recorded on node 2 that ended after it died, and within a bound. The cluster's SlurmdTimeout
is short (5 s), so Slurm marks node 2 down while the run still goes on: the test checks that
it did, which is the moment mpirun's daemon step (srun) ends and Slurm would end a job
without --no-kill. Without root, the packages or namespaces: "skipped" and why (exit 77)."""
import os
import shutil
import subprocess
import sys
import time

import h5py

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "slurm"))
from cluster import Cluster, Unavailable, log_of  # noqa: E402

CPUS = len(os.sched_getaffinity(0))
N = 700            # tasks: about 90 s of work, some 40 s after the kill on node 1's slots
KILL_AFTER = 150   # side-file lines (tasks done) before node 2 dies, some of them on node 2
BOUND = 240        # seconds from submission to the end of sbatch --wait


def read(path):
    with h5py.File(path, "r") as f:
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        cols = {n: (d.asstr()[()] if d.dtype.kind == "O" else d[()]) for n, d in f["tasks"].items()}
        names = {v: k for k, v in h5py.check_enum_dtype(f["tasks/status"].dtype).items()}
    return a, cols, names


def side_lines(path):
    try:
        with open(path) as f:
            return [ln.split() for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return []


def strs(v):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in v]


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    os.environ.pop("OMPI_MCA_rmaps_base_oversubscribe", None)
    cl = Cluster(cpus=CPUS, nodes=2, conf="SlurmdTimeout=5\n")
    try:
        cl.start()
    except Unavailable as e:
        print(f"skipped: {e}")
        sys.exit(77)
    script = os.path.join(args.source, "slurm", "multi-node.sbatch")
    tasks = os.path.join(wd, "t.tasks")
    side = os.path.join(wd, "done.txt")
    with open(tasks, "w") as f:
        for i in range(N):
            f.write(f'sleep 0.{5 + (i * 7) % 16:02d} && echo "{i} $(hostname)" >> {side}\n')
    env = {"TASKFARM": os.path.abspath(args.taskfarm),
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    shape = ["-N", "2", "--ntasks-per-node=1", f"--cpus-per-task={CPUS}"]
    out_h5 = os.path.join(wd, "loss.h5")
    sb = None
    try:
        t0 = time.monotonic()
        sb = subprocess.Popen(cl.client(["sbatch", "--wait", "--parsable", *shape, script, tasks,
                                         out_h5]),
                              env=dict(cl.env, **env), cwd=wd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)

        def ready():
            lines = side_lines(side)
            return len(lines) >= KILL_AFTER and any(w[1:] == ["tfnode2"] for w in lines)
        cl.wait_for(ready, "both nodes to finish some tasks", timeout=120, every=0.05)
        killed = cl.kill_node(1)
        t_kill = time.time()
        done_at_kill = len(side_lines(side))
        print(f"killed node 2 ({len(killed)} processes) after {time.monotonic() - t0:.1f} s, "
              f"{done_at_kill} tasks done")
        # While the run goes on, Slurm must mark node 2 down (SlurmdTimeout): watch for it.
        down_at = None
        while sb.poll() is None and time.monotonic() - t0 < BOUND:
            if down_at is None and "down" in cl.out(["sinfo", "-h", "-n", "tfnode2", "-o", "%T"]):
                down_at = time.time()
                print(f"node 2 marked down {down_at - t_kill:.1f} s after it died")
            time.sleep(0.5)
        try:
            sb_out, _ = sb.communicate(timeout=max(1, BOUND - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            sb.kill()
            sb_out, _ = sb.communicate()
        took = time.monotonic() - t0
        rc = sb.returncode
        job = sb_out.strip().split(";")[0].splitlines()[0] if sb_out.strip() else ""
        log = log_of(wd, job)
        print(f"job {job}: exit {rc} after {took:.1f} s")
        c.true(f"the job ended within {BOUND} s (took {took:.1f} s)", took < BOUND)
        c.eq(f"the script's exit: every task succeeded ({sb_out} {log[-1500:]})", rc, 0)
        st = subprocess.run([args.taskfarm, "status", out_h5], capture_output=True, text=True)
        c.eq(f"taskfarm status ({st.stdout[:300]} {st.stderr[:300]})", st.returncode, 0)
        c.true("Slurm marked node 2 down while the run went on (SlurmdTimeout): the case "
               "--no-kill and the srun stand-in are for", down_at is not None)
        if os.path.exists(out_h5):
            a, cols, names = read(out_h5)
            status = [names.get(int(s), str(s)) for s in cols["status"]]
            c.eq("every row SUCCEEDED", {s for s in status}, {"SUCCEEDED"})
            c.eq("rows", len(status), N)
            c.eq("workers_lost", int(a.get("workers_lost", -1)), 1)
            c.eq("lost_worker_ranks", [int(r) for r in a.get("lost_worker_ranks", [])], [1])
            c.eq("lost_worker_hosts", strs(a.get("lost_worker_hosts", [])), ["tfnode2"])
            lt = [float(t) for t in a.get("lost_worker_times", [])]
            c.true(f"lost_worker_times: one, after the kill ({lt}, kill at {t_kill:.1f})",
                   len(lt) == 1 and t_kill - 1 <= lt[0] <= t_kill + 60)
            c.eq("tasks_lost", int(a.get("tasks_lost", -1)), 0)
            c.eq("the file was closed by its run", a.get("state"), "closed")
            on2 = cols["host"] == "tfnode2"
            c.true("some tasks are recorded on node 2, before it died", bool(on2.any()))
            late = [int(i) for i in (cols["end"][on2] > t_kill + 0.5).nonzero()[0]]
            c.eq("no task recorded on node 2 after it died", late, [])
            c.true("the rest ran on node 1 after the kill",
                   bool((cols["start"][cols["host"] == "tfnode1"] > t_kill).any()))
            c.true("a task running on node 2 when it died started again (attempts 2)",
                   bool((cols["attempts"] >= 2).any()))
        ids = [int(w[0]) for w in side_lines(side)]
        c.eq("no task's id missing from the side file", sorted(set(range(N)) - set(ids))[:20], [])
        c.true(f"few ids twice (a task done on node 2 that it never reported): "
               f"{len(ids) - len(set(ids))}", len(ids) - len(set(ids)) <= 2 * CPUS + 4)
        c.true("the loss in the job's log", "rank 1 on tfnode2 not heard from" in log)
        c.true(f"mpirun ended without the script's backstop ({log[-600:]})",
               "mpirun still running" not in log)
    finally:
        if sb is not None and sb.poll() is None:
            sb.kill()  # sbatch --wait of a test that failed before the job ended
            sb.wait()
        cl.stop()
        if not c.failures:
            shutil.rmtree(cl.dir, ignore_errors=True)
            shutil.rmtree(wd, ignore_errors=True)
        else:
            print(f"kept for inspection: {wd} {cl.dir}")
    c.finish()


if __name__ == "__main__":
    main()
