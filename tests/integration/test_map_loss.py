"""Issue 15 for in-process maps: with Open MPI's recovery on, a map survives the death of a
worker rank. Two runs of `taskfarm run --plugin` on 4 ranks:

1. one worker killed with SIGKILL in the middle: the map ends by itself, every item's result
   is there and right, and each item is stored exactly once (the /batches rows cover every
   item once); the lost rank is in the attributes.
2. an item that kills its own process (SIGKILL, nothing to catch) every time: after 2 lost
   workers it is recorded failed with code and signal -1 (TASKFARM_ITEM_LOST), the rest of
   its batch is computed, and the run still finishes (`taskfarm status` exits 1).

Results are written by the workers themselves (every rank shares rank 0's node here), so a
batch half-written by the killed rank must be rewritten by whoever computes it again.
"""
import glob
import os
import signal
import subprocess
import time

import h5py
import numpy as np

import harness

TIMEOUT = "2"  # seconds: a lost worker is noticed within about that


def launch(p, out, n, env_extra, piddir):
    env = dict(os.environ, TF_TEST_PIDDIR=piddir, TF_TEST_WORKER_TIMEOUT=TIMEOUT, **env_extra)
    cmd = [p.args.mpiexec, "--oversubscribe", "--mca", "orte_enable_recovery", "1", "-n", "4",
           p.args.taskfarm, "run", "--plugin", f"{p.args.plugin}:value", "--items", str(n),
           "-o", out]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait(proc, what, c, limit=120):
    try:
        so, se = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        so, se = proc.communicate()
        c.true(f"{what}: did not end by itself within {limit} s; stderr: {se[-2000:]}", False)
    return so, se


def check_items(c, what, out, n, lost=()):
    with h5py.File(out, "r") as f:
        res = f["results/value"][()]
        first, count = f["batches/first"][()], f["batches/count"][()]
        fitem = f["failures/item"][()]
        fcode, fsig = f["failures/code"][()], f["failures/signal"][()]
        attrs = dict(f.attrs)
    covered = np.zeros(n, dtype=np.int64)
    for a, k in zip(first, count):
        covered[a:a + k] += 1
    c.eq(f"{what}: items covered more than once by /batches", int((covered > 1).sum()), 0)
    c.eq(f"{what}: items not covered by /batches", int((covered == 0).sum()), 0)
    idx = np.arange(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    ok[list(lost)] = False
    c.eq(f"{what}: wrong item index in results", int((res["i"][ok] != idx[ok]).sum()), 0)
    c.eq(f"{what}: wrong values in results", int((res["v"][ok] != 3 * idx[ok] + 1).sum()), 0)
    c.eq(f"{what}: failed items", sorted(int(x) for x in fitem), sorted(lost))
    for i, code, sig in zip(fitem, fcode, fsig):
        c.eq(f"{what}: item {i} failure code", int(code), -1)
        c.eq(f"{what}: item {i} failure signal", int(sig), -1)
    for i in lost:
        c.eq(f"{what}: lost item {i} row zeroed", (int(res["i"][i]), int(res["v"][i])), (0, 0))
    return attrs


def status_code(p, out):
    return subprocess.run([p.args.taskfarm, "status", out], capture_output=True,
                          text=True).returncode


def killed_worker(p, c):
    d = harness.workdir()
    out, piddir = os.path.join(d, "out.h5"), os.path.join(d, "pids")
    os.mkdir(piddir)
    n = 4000
    t0 = time.monotonic()
    proc = launch(p, out, n, {"TF_TEST_SLEEP_US": "2000"}, piddir)
    victim = os.path.join(piddir, "2.pid")
    while not os.path.exists(victim) and proc.poll() is None and time.monotonic() - t0 < 60:
        time.sleep(0.05)
    time.sleep(0.8)  # well into the map: batches in hand, some written
    killed = False
    try:
        os.kill(int(open(victim).read()), signal.SIGKILL)
        killed = True
    except (OSError, ValueError) as e:
        c.true(f"killed worker: could not kill rank 2: {e}", False)
    so, se = wait(proc, "killed worker", c)
    secs = time.monotonic() - t0
    c.true("killed worker: rank 2 was killed before the map ended", killed and proc.returncode == 0
           and "rank 2 on" in se)
    c.true(f"killed worker: one warning naming rank 2 and its host: {se[-1500:]}",
           se.count("not heard from for") == 1 and "rank 2 on " in se)
    attrs = check_items(c, "killed worker", out, n)
    c.eq("killed worker: workers_lost", int(attrs.get("workers_lost", -1)), 1)
    c.eq("killed worker: lost_worker_ranks", list(attrs.get("lost_worker_ranks", [])), [2])
    c.eq("killed worker: items_lost", int(attrs.get("items_lost", -1)), 0)
    c.eq("killed worker: items_done", int(attrs.get("items_done", -1)), n)
    c.eq("killed worker: taskfarm status", status_code(p, out), 0)
    print(f"killed worker: {secs:.1f} s")


def killer_item(p, c):
    d = harness.workdir()
    out, piddir = os.path.join(d, "out.h5"), os.path.join(d, "pids")
    os.mkdir(piddir)
    n, killer = 600, 12  # item 12 is in rank 2's second batch ([11, 15)): see lossfn.c
    t0 = time.monotonic()
    proc = launch(p, out, n, {"TF_TEST_SLEEP_US": "2000", "TF_TEST_KILLER": str(killer)},
                  piddir)
    so, se = wait(proc, "killer item", c)
    secs = time.monotonic() - t0
    c.eq(f"killer item: ranks declared lost: {se[-2000:]}", se.count("not heard from for"), 2)
    c.true("killer item: the item is named in a warning",
           f"item {killer} was running on 2 processes that were lost" in se)
    attrs = check_items(c, "killer item", out, n, lost=[killer])
    c.eq("killer item: workers_lost", int(attrs.get("workers_lost", -1)), 2)
    c.eq("killer item: lost_worker_ranks include rank 2",
         2 in list(attrs.get("lost_worker_ranks", [])), True)
    c.eq("killer item: lost_worker_hosts", len(attrs.get("lost_worker_hosts", [])), 2)
    c.eq("killer item: lost_worker_times", len(attrs.get("lost_worker_times", [])), 2)
    c.eq("killer item: items_lost", int(attrs.get("items_lost", -1)), 1)
    c.eq("killer item: items_failed", int(attrs.get("items_failed", -1)), 1)
    c.eq("killer item: taskfarm status", status_code(p, out), 1)
    print(f"killer item: {secs:.1f} s")


def main():
    args = harness.parse_args({"--plugin": {"required": True}})
    p = type("P", (), {"args": args})
    c = harness.Checker()
    killed_worker(p, c)
    killer_item(p, c)
    c.finish()


if __name__ == "__main__":
    main()
