"""Fault injection: kill -9 mpirun at random moments, resume, repeat until done. With
--np 0 --jobs 128: one process alone running 128 tasks at once, killed (its running tasks
are orphaned and run again; what was recorded never is).

Each task appends its id to side.log (a side effect outside taskfarm's control) and prints
result-<id>. After every kill the journal is read independently (journal.py) to learn
which tasks were recorded as finished at that moment; the test then checks that
  - nothing recorded as finished is ever lost (the set only grows, kill after kill),
  - no task recorded as finished before a kill runs again after it (side.log), and
  - the result file left by the kill opens, and every row it holds is right,
and at the end that the file holds every task once with the right output, equal to the
file of one uninterrupted run apart from timings, ranks and hosts.
Short version in ctest (20 kills of 5,000 tasks); the long one is `make soak` (100 kills).
"""
import os
import random
import signal
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

from harness import Checker, command, parse_args, read_tasks, run, workdir
from journal import read_journal

args = parse_args({
    "--iterations": {"type": int, "default": 20},
    "--tasks": {"type": int, "default": 5000},
    "--seed": {"type": int, "default": 20261129},
    "--np": {"type": int, "default": 4},
    "--jobs": {"type": int, "default": 0},
})
jobs = ["-j", str(args.jobs)] if args.jobs else []
ck = Checker()
rng = random.Random(args.seed)
d = workdir()
tasks = os.path.join(d, "side.tasks")
out = os.path.join(d, "out.h5")
journal = out + ".journal"
side = os.path.join(d, "side.log")
with open(tasks, "w") as f:
    for i in range(args.tasks):
        f.write(f"echo {i} >> {side} && sleep 0.02 && echo result-{i}\n")


def side_ids(start=0):
    if not os.path.exists(side):
        return [], start
    with open(side, "rb") as f:
        f.seek(start)
        data = f.read()
    return [int(x) for x in data.split()], start + len(data)


def rank_pids():
    """{MPI rank: pid} of this run's taskfarm processes. A task between fork and exec has its
    rank's command line and environment: a process whose parent is one of them is a task."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            # this test's own ranks only: other tests may run the same binary meanwhile
            if argv[:3] != [args.taskfarm.encode(), b"run", tasks.encode()]:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
            with open(f"/proc/{pid}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            found[int(pid)] = (int(env[b"OMPI_COMM_WORLD_RANK"]), ppid)
        except (OSError, KeyError, ValueError, IndexError):
            pass
    return {rank: pid for pid, (rank, ppid) in found.items() if ppid not in found}


def check_rows(what, path, ids):
    """Rows of finished tasks hold exactly their own output."""
    with h5py.File(path, "r") as f:
        t = f["tasks"]
        status = t["status"][()]
        stdout = t["stdout"].asstr()[()]
    for i in ids:
        if status[i] != 1 or stdout[i] != f"result-{i}\n":
            ck.true(f"{what}: row {i} is {status[i]} {stdout[i]!r}", False)
            return


finished_before = set()
side_offset = 0
kills = opened_after_kill = 0
# --durations-from would change the order; plain runs, all with --resume (the first creates).
for it in range(args.iterations):
    p = subprocess.Popen(command(args, args.np, "run", tasks, "-o", out, "--resume", "-q", *jobs),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    # Kill at a random moment: mostly once a random number of tasks has run (so every
    # iteration lands mid-run however fast this machine is), sometimes during start-up.
    t0, base = time.monotonic(), os.path.getsize(side) if os.path.exists(side) else 0
    early = rng.random() < 0.2
    delay = rng.uniform(0.05, 0.6) if early else 60.0
    grow = rng.randint(30, 200) * 8  # about 8 bytes per side.log line
    want = len(finished_before) + grow // 8
    while p.poll() is None and time.monotonic() - t0 < delay:
        if not early and os.path.exists(side) and os.path.getsize(side) - base >= grow:
            # Many slots start many tasks at once (each writes side.log first): wait for
            # results to be recorded instead.
            if not args.jobs:
                break
            try:
                if len(read_journal(journal)) >= want:
                    break
            except (OSError, ValueError, struct.error):
                pass
        time.sleep(0.003)
    if p.poll() is not None:
        print(f"iteration {it}: finished before the kill (exit {p.returncode})")
        break
    delay = time.monotonic() - t0
    target = ("mpirun", "master", "worker", "everything")[it % 4]
    ranks = rank_pids()
    if target == "master" and 0 in ranks:
        os.kill(ranks[0], signal.SIGKILL)
    elif target == "worker" and len(ranks) > 1:
        os.kill(ranks[rng.choice(sorted(r for r in ranks if r > 0))], signal.SIGKILL)
    elif target == "everything":
        os.killpg(p.pid, signal.SIGKILL)  # mpirun, every rank and every task at once
    else:
        target = "mpirun"
        os.kill(p.pid, signal.SIGKILL)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    kills += 1
    # Ranks and tasks die with mpirun; wait until none is left before taking the snapshot.
    for _ in range(600):
        if not rank_pids():
            break
        time.sleep(0.05)
    time.sleep(0.1)
    ids, side_offset_now = side_ids(side_offset)
    # No task recorded as finished before an earlier kill ran again since.
    again = finished_before.intersection(ids)
    ck.true(f"iteration {it}: {len(again)} tasks finished before a kill ran again "
            f"(e.g. {sorted(again)[:5]})", not again)
    side_offset = side_offset_now
    if os.path.exists(journal):
        rec = read_journal(journal)
        now = set(rec)
        lost = finished_before - now
        ck.true(f"iteration {it}: {len(lost)} finished tasks lost from the journal", not lost)
        bad = [i for i, r in rec.items() if r["status"] != 1 or r["stdout"] != f"result-{i}\n"]
        ck.true(f"iteration {it}: journal rows wrong: {bad[:5]}", not bad)
        finished_before = now
    # The result file as the kill left it: it opens, and what it holds is right.
    if not os.path.exists(out):
        print(f"iteration {it}: killed at {delay:.2f} s, before the result file existed")
        kills -= 1
        continue
    try:
        with h5py.File(out, "r") as f:
            st = f["tasks/status"][()]
        opened_after_kill += 1
        check_rows(f"iteration {it}, file after kill", out, np.nonzero(st == 1)[0])
    except OSError as e:
        print(f"iteration {it}: result file does not open after kill -9: {e}")
    print(f"iteration {it}: kill -9 of {target} after {delay:.2f} s; "
          f"{len(finished_before)} recorded finished", flush=True)

# Finish the run.
r = run(args, args.np, "run", tasks, "-o", out, "--resume", "-q", *jobs, timeout=600)
ck.eq("final run exit code", r.returncode, 0)
ids, _ = side_ids(side_offset)
again = finished_before.intersection(ids)
ck.true(f"final run: {len(again)} tasks finished before the last kill ran again", not again)
cols, attrs, _ = read_tasks(out)
ck.eq("every task succeeded", int(np.sum(cols["status"] == 1)), args.tasks)
ck.true("every row holds its own output",
        all(cols["stdout"][i] == f"result-{i}\n" for i in range(args.tasks)))
ck.eq("state", attrs["state"], "closed")
ck.eq("tasks_succeeded attribute", int(attrs["tasks_succeeded"]), args.tasks)
ck.true("journal removed once complete", not os.path.exists(journal))
ran, _ = side_ids(0)
ck.eq("every task ran at least once", set(ran), set(range(args.tasks)))

# One uninterrupted run of the same file: the same file apart from timings, ranks, hosts.
d2 = workdir()
ref = os.path.join(d2, "ref.h5")
r = run(args, args.np, "run", tasks, "-o", ref, "-q", *jobs, timeout=600)
ck.eq("reference run exit code", r.returncode, 0)
rcols, rattrs, _ = read_tasks(ref)
for name in ("command", "line", "status", "exit_code", "signal", "stdout", "stderr",
             "stdout_truncated", "stderr_truncated", "attempts"):
    ck.true(f"column {name} equals the uninterrupted run's",
            np.array_equal(cols[name], rcols[name]))
for name in ("ntasks", "taskfile_sha256", "tasks_succeeded", "tasks_failed", "tasks_not_run",
             "format_version", "state"):
    ck.eq(f"attribute {name}", attrs[name], rattrs[name])
print(f"{kills} kills; the result file opened after {opened_after_kill} of them")
ck.true("at least 5 kills happened", kills >= min(5, args.iterations))
ck.eq("result file opened after every kill", opened_after_kill, kills)
ck.finish()
