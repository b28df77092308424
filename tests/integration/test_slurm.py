"""The sbatch scripts of slurm/ against a real Slurm: a private single-node cluster (munged,
slurmctld, slurmd from Debian's packages, in a temporary directory; one node with this
machine's CPUs) started and stopped by this test. Scripts are submitted unchanged,
adapted only by sbatch options and the environment variables they document, and their
result files are read back. Every job is one taskfarm process on the node
(--ntasks-per-node=1) given the node's CPUs (--cpus-per-task), running tasks in its slots:
- single-node.sbatch with `sbatch --wait`, under mpirun and srun: every task done by rank 0
  in its slots, several at once, the job recorded;
- campaign.sbatch stopped twice the way a time limit stops it (`scancel --batch
  --signal=TERM`, what `--signal=B:TERM@margin` sends) once each job has finished some
  tasks: it resubmits itself with the job's shape, resumes, and ends with the same file as
  one uninterrupted job; and a campaign whose job finished no task does not resubmit itself;
- array-of-farms.sbatch as a 3-element job array, then `taskfarm merge` in a dependent job:
  the same file as one run over the whole task file, each part run by one process.
Without root or the packages it says "skipped" and why, and exits 77 (ctest: skipped)."""
import os
import re
import shutil
import subprocess
import sys
import time

import h5py

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "slurm"))
from cluster import Cluster, Unavailable, log_of  # noqa: E402

# Columns that must agree between two runs of the same tasks (at least these), and those that
# differ from run to run (where, in which slot, when, what it cost) and are not compared.
COMPARED = ("status", "exit_code", "signal", "stdout", "stderr", "attempts", "command", "line")
PER_RUN = {"rank", "slot", "host", "start", "end", "max_rss", "cpu_user", "cpu_system"}
# The private node has this machine's CPUs, and one taskfarm process takes them all
# (--cpus-per-task): a job has CPUS slots (taskfarm counts the cores it finds, the cpuset).
CPUS = len(os.sched_getaffinity(0))
ONE_NODE = ["--ntasks-per-node=1", f"--cpus-per-task={CPUS}"]


def same_columns(c, what, cols, ref):
    """Every column of cols as in ref, but those that differ from run to run."""
    c.eq(f"{what}: the same columns", sorted(cols), sorted(ref))
    names = sorted(set(ref) - PER_RUN)
    c.true(f"{what}: compares {COMPARED} at least ({names})", set(COMPARED) <= set(names))
    for name in names:
        if name in cols:
            c.eq(f"{what}: /tasks/{name}", list(cols[name]), list(ref[name]))


def read(path):
    with h5py.File(path, "r") as f:
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        cols = {n: (d.asstr()[()] if d.dtype.kind == "O" else d[()]) for n, d in f["tasks"].items()}
        ids = a.get("slurm_job_ids", "").split(",")
    return a, cols, ids


def most_at_once(cols):
    """The most tasks that ran at the same moment, from the start and end columns."""
    events = sorted([(t, 1) for t in cols["start"]] + [(t, -1) for t in cols["end"]],
                    key=lambda e: (e[0], e[1]))
    now = most = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def single_node(cl, args, wd, env, c):
    tasks = os.path.join(wd, "t.tasks")
    n = 24
    with open(tasks, "w") as f:
        for i in range(n):
            f.write(f"echo task {i} on $TASKFARM_RANK slot $TASKFARM_SLOT; sleep 0.3\n")
    script = os.path.join(args.source, "slurm", "single-node.sbatch")
    for launcher in ("mpirun", "srun"):
        out_h5 = f"{launcher}.h5"
        job, rc, out = cl.sbatch_wait([*ONE_NODE, "--time=5", script, tasks, out_h5],
                                      env=dict(env, TASKFARM_LAUNCHER=launcher), cwd=wd)
        what = f"single-node ({launcher})"
        log = log_of(wd, job)
        c.eq(f"{what}: sbatch --wait exit ({out} {log[-500:]})", rc, 0)
        if rc != 0:
            continue
        a, cols, ids = read(os.path.join(wd, out_h5))
        c.eq(f"{what}: every task succeeded", int((cols["status"] == 1).sum()), n)
        c.eq(f"{what}: the job id is recorded", a.get("slurm_job_id"), job)
        c.eq(f"{what}: the job's shape is recorded",
             (a.get("slurm_ntasks"), a.get("slurm_cpus_per_task")), ("1", str(CPUS)))
        c.eq(f"{what}: one process runs tasks", int(a["nworkers"]), 1)
        c.eq(f"{what}: tasks ran on rank 0", set(cols["rank"].tolist()), {0})
        c.eq(f"{what}: a slot per CPU", (int(a["nslots"]), list(a["slots_per_rank"])),
             (CPUS, [CPUS]))
        c.eq(f"{what}: every slot used", set(cols["slot"].tolist()), set(range(CPUS)))
        c.eq(f"{what}: TASKFARM_RANK and TASKFARM_SLOT as the file says",
             [(int(s.split()[3]), int(s.split()[5])) for s in cols["stdout"]],
             list(zip(cols["rank"].tolist(), cols["slot"].tolist())))
        c.eq(f"{what}: {CPUS} tasks at once, never more", most_at_once(cols), min(CPUS, n))
        c.eq(f"{what}: the node list is recorded", a.get("slurm_job_nodelist"), cl.node)
        # Slurm 22.05 exports no SLURM_JOB_END_TIME: the end comes from squeue's time left.
        m = re.search(r"Slurm ends this job in (\d+) s \((\w+)\)", log)
        c.true(f"{what}: the job's end read from Slurm ({log[:300]})",
               m is not None and 200 <= int(m.group(1)) <= 300)


def finished(args, path):
    """Tasks with an outcome in the result file so far (`taskfarm status`, which reads a
    file being written; the run flushes it every 2 s), None before there is one."""
    r = subprocess.run([args.taskfarm, "status", path], capture_output=True, text=True)
    m = re.search(r": (\d+) tasks: .* (\d+) not run", r.stdout.split("\n")[0])
    return int(m.group(1)) - int(m.group(2)) if m else None


def campaign(cl, args, wd, env, c):
    script = os.path.join(args.source, "slurm", "campaign.sbatch")
    tasks = os.path.join(wd, "camp.tasks")
    n = 30 * CPUS  # 0.4 s each: 12 s in CPUS slots, long enough to be stopped twice midway
    with open(tasks, "w") as f:
        for i in range(n):
            f.write(f"sleep 0.4; echo {i} $(({i} * {i}))\n")
    env = dict(env, TASKFARM_DRAIN="30")
    # One uninterrupted job: the reference file.
    whole, rc, out = cl.sbatch_wait([*ONE_NODE, script, tasks, "whole.h5"], env=env, cwd=wd)
    c.eq(f"campaign: an uninterrupted job ends the campaign ({out} {log_of(wd, whole)[-400:]})", rc, 0)
    c.true("campaign: it says it is done after one job", "done after 1 job" in log_of(wd, whole))
    # The same campaign stopped twice by its time limit's signal, each time once the job has
    # finished some tasks of its own (the file says so) and many are left.
    camp = os.path.join(wd, "camp.h5")
    first = cl.sbatch([*ONE_NODE, script, tasks, "camp.h5"], env=env, cwd=wd)
    job, seen, done_at_stop = first, [first], []
    for stop in range(2):
        cl.wait_for(lambda: cl.jobs().get(job) == "RUNNING", f"job {job} to run")
        before = finished(args, camp) or 0
        cl.wait_for(lambda: (finished(args, camp) or 0) >= before + 2 * CPUS,
                    f"job {job} to finish some tasks (log: {log_of(wd, job)[-600:]})", timeout=60)
        cl.signal_batch(job)
        job = cl.wait_for(lambda: next((j for j in cl.jobs() if j not in seen), None),
                          f"the job after {job} (log: {log_of(wd, job)[-600:]})", timeout=90)
        seen.append(job)
        done_at_stop.append(finished(args, camp))
    c.true(f"campaign: each stop left tasks to the next job (done: {done_at_stop} of {n})",
           all(d is not None and d < n for d in done_at_stop) and done_at_stop[0] < done_at_stop[1])
    cl.wait_for(lambda: not any(j in seen for j in cl.jobs()), "the campaign to end", timeout=180)
    time.sleep(1.0)
    extra = [j for j in cl.jobs() if j not in seen]
    c.eq("campaign: no job after the last one", extra, [])
    logs = [log_of(wd, j) for j in seen]
    for i, lg in enumerate(logs[:2]):
        c.true(f"campaign: job {i + 1} stopped and submitted the next ({lg[-500:]})",
               f"submitted job {seen[i + 1]}" in lg)
    c.true(f"campaign: the third job finished it ({logs[2][-500:]})", "done after 3 job(s)" in logs[2])
    a, cols, ids = read(camp)
    wa, wcols, _ = read(os.path.join(wd, "whole.h5"))
    c.eq("campaign: every task succeeded", int((cols["status"] == 1).sum()), n)
    c.eq("campaign: outputs", list(cols["stdout"]), [f"{i} {i * i}\n" for i in range(n)])
    c.eq("campaign: every job that wrote the file is recorded, in order", ids, seen)
    c.eq("campaign: resumed twice", int(a.get("resumes", 0)), 2)
    c.eq("campaign: closed", a.get("state"), "closed")
    # The last job was submitted by the one before: it carried the job's shape on.
    c.eq("campaign: the resubmitted job had the first one's shape",
         (a.get("slurm_job_num_nodes"), a.get("slurm_ntasks"), a.get("slurm_cpus_per_task")),
         ("1", "1", str(CPUS)))
    c.eq("campaign: ... and so its slots", (int(a["nslots"]), list(a["slots_per_rank"])),
         (CPUS, [CPUS]))
    c.eq("campaign: tasks ran in every slot of rank 0",
         (set(cols["rank"].tolist()), set(cols["slot"].tolist())), ({0}, set(range(CPUS))))
    same_columns(c, "campaign: as in the uninterrupted run", cols, wcols)


def campaign_no_progress(cl, args, wd, env, c):
    """A job that finishes no task (here: tasks longer than the drain) must not resubmit
    itself forever."""
    script = os.path.join(args.source, "slurm", "campaign.sbatch")
    tasks = os.path.join(wd, "slow.tasks")
    with open(tasks, "w") as f:
        f.write("sleep 60\n" * 3)
    job = cl.sbatch([*ONE_NODE, script, tasks, "slow.h5"],
                    env=dict(env, TASKFARM_DRAIN="0"), cwd=wd)
    cl.wait_for(lambda: cl.jobs().get(job) == "RUNNING", f"job {job} to run")
    time.sleep(2.0)
    cl.signal_batch(job)
    cl.wait_for(lambda: job not in cl.jobs(), f"job {job} to end", timeout=60)
    time.sleep(1.0)
    c.eq("no progress: no job submitted after it", list(cl.jobs()), [])
    c.true(f"no progress: it says why ({log_of(wd, job)[-400:]})",
           "finished no task: not submitting" in log_of(wd, job))
    a, cols, _ = read(os.path.join(wd, "slow.h5"))
    c.eq("no progress: the tasks stay to be run", int((cols["status"] == 0).sum()), 3)


def array_of_farms(cl, args, wd, env, c):
    script = os.path.join(args.source, "slurm", "array-of-farms.sbatch")
    tasks = os.path.join(wd, "arr.tasks")
    with open(tasks, "w") as f:
        for i in range(50):
            f.write(f"echo {i} $TASKFARM_TASK_ID $TASKFARM_NTASKS\n")
    job, rc, out = cl.sbatch_wait(["--array=0-2", *ONE_NODE, "-o",
                                   os.path.join(wd, "arr-%A_%a.log"), script, tasks, "parts"],
                                  env=env, cwd=wd)
    c.eq(f"array: every element succeeded ({out})", rc, 0)
    parts = sorted(os.listdir(os.path.join(wd, "parts")))
    c.eq("array: one part per element", parts, [f"part-{i}-of-3.h5" for i in range(3)])
    merge = f"{args.taskfarm} merge -o all.h5 parts/part-*.h5"
    mjob, rc, out = cl.sbatch_wait([f"--dependency=afterok:{job}", "-o", os.path.join(wd, "merge.log"),
                                    "--wrap", merge], env=env, cwd=wd)
    with open(os.path.join(wd, "merge.log")) as f:
        mlog = f.read()
    c.eq(f"array: the merge job ({out} {mlog})", rc, 0)
    if rc != 0:
        return
    a, cols, ids = read(os.path.join(wd, "all.h5"))
    c.eq("array: every task succeeded", int((cols["status"] == 1).sum()), 50)
    c.eq("array: rows in task order, TASKFARM_TASK_ID of the whole file",
         list(cols["stdout"]), [f"{i} {i} 50\n" for i in range(50)])
    c.eq("array: the three elements' jobs recorded", len(ids), 3)
    c.eq("array: each element one process (rank 0) running the tasks", set(cols["rank"].tolist()), {0})
    c.true(f"array: in its slots ({set(cols['slot'].tolist())})",
           set(cols["slot"].tolist()) <= set(range(CPUS)))
    for p in parts:
        pa, _, _ = read(os.path.join(wd, "parts", p))
        c.eq(f"array: {p}: a slot per CPU of its one process",
             (int(pa["nworkers"]), int(pa["nslots"]), list(pa["slots_per_rank"])), (1, CPUS, [CPUS]))
    ref = os.path.join(wd, "ref.h5")
    harness.run(args, 2, "run", tasks, "-o", ref)
    _, rcols, _ = read(ref)
    same_columns(c, "array: as one run over the whole file", cols, rcols)
    # One element again (as after a failure): it resumes its complete part, runs nothing.
    job2, rc, out = cl.sbatch_wait(["--array=1", *ONE_NODE, "-o",
                                    os.path.join(wd, "again-%A_%a.log"), script, tasks, "parts"],
                                   env=dict(env, TASKFARM_SLICES="3"), cwd=wd)
    c.eq(f"array: one element again ({out})", rc, 0)
    pa, pcols, pids = read(os.path.join(wd, "parts", "part-1-of-3.h5"))
    c.eq("array: its part resumed, not redone", (int(pa.get("resumes", 0)), int((pcols["attempts"] == 1).sum())),
         (1, len(pcols["attempts"])))


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    # The jobs run as a user's would: mpirun places one process per node of the allocation
    # and needs no oversubscription (the suite's environment allows it for other tests).
    os.environ.pop("OMPI_MCA_rmaps_base_oversubscribe", None)
    cl = Cluster(cpus=CPUS)
    try:
        cl.start()
    except Unavailable as e:
        print(f"skipped: {e}")
        sys.exit(77)
    env = {"TASKFARM": args.taskfarm,
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    try:
        for test in (single_node, campaign, campaign_no_progress, array_of_farms):
            t = time.monotonic()
            test(cl, args, wd, env, c)
            print(f"{test.__name__}: {time.monotonic() - t:.1f} s", flush=True)
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
