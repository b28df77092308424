"""`taskfarm status FILE`: the counts of a result file in one line, and the exit code `run`
would give for it as it is (0 all succeeded, 1 all have an outcome, 4 tasks left, 2 not a
result file). Campaign scripts decide on it whether to go on."""
import os
import re
import shutil
import signal
import subprocess
import time

import h5py

import harness


def lost_status(args, c, wd, real):
    """LOST (format 4): a copy of a real run's file with its killed task made LOST, as the
    master records a task whose workers died, is counted as lost and exits 1 like a failure."""
    with h5py.File(real, "r") as f:
        enum = h5py.check_enum_dtype(f["tasks/status"].dtype)
        c.eq("a new file: format 4", int(f.attrs["format_version"]), 4)
        c.eq("a new file: LOST=5 in its status enum", enum.get("LOST"), 5)
        c.eq("a new file: tasks_lost counted", int(f.attrs["tasks_lost"]), 0)
    lost = os.path.join(wd, "lost.h5")
    shutil.copy(real, lost)
    with h5py.File(lost, "r+") as f:
        f["tasks/status"][3] = 5
        f["tasks/attempts"][3] = 2
    r = subprocess.run([args.taskfarm, "status", lost], capture_output=True, text=True)
    c.eq(f"lost: exit 1, as for a failure ({r.stderr})", r.returncode, 1)
    first = r.stdout.splitlines()[0] if r.stdout else ""
    c.true(f"lost: counts ({first})",
           first.endswith("lost.h5: 4 tasks: 2 succeeded, 1 failed, 0 killed, 0 timed out, "
                          "1 lost, 0 not run"))
    c.true(f"lost: the lost task among those that did not succeed ({r.stdout})",
           "task 3 (line 4) LOST after 2 starts (its workers died)" in r.stdout)
    with h5py.File(lost, "r+") as f:
        f["tasks/status"][...] = [1, 1, 1, 5]
    r = subprocess.run([args.taskfarm, "status", lost], capture_output=True, text=True)
    c.eq(f"only a lost task left undone: exit 1 ({r.stdout})", r.returncode, 1)
    c.true(f"... counted ({r.stdout})", "3 succeeded, 0 failed, 0 killed, 0 timed out, 1 lost, "
                                        "0 not run" in r.stdout)


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "t.tasks")
    with open(tasks, "w") as f:
        f.write("true\nexit 3\ntrue\nkill -9 $$\n")
    ok = os.path.join(wd, "ok.tasks")
    with open(ok, "w") as f:
        f.write("true\n" * 3)

    def status(path):
        r = subprocess.run([args.taskfarm, "status", path], capture_output=True, text=True)
        return r.returncode, r.stdout.strip().splitlines()[0] if r.stdout.strip() else "", r.stderr.strip()

    harness.run(args, 3, "run", tasks, "-o", os.path.join(wd, "mixed.h5"))
    rc, out, _ = status(os.path.join(wd, "mixed.h5"))
    c.eq("mixed: exit", rc, 1)
    c.true(f"mixed: counts ({out})",
           out.endswith("mixed.h5: 4 tasks: 2 succeeded, 1 failed, 1 killed, 0 timed out, 0 not run"))
    r = subprocess.run([args.taskfarm, "status", os.path.join(wd, "mixed.h5")], capture_output=True, text=True)
    details = r.stdout.splitlines()[1:]
    c.true(f"mixed: time and utilisation ({details})",
           "busy" in details[0] and "in 3 slots of 3 processes" in details[0])
    c.true(f"mixed: the failed and the killed task, with exit code and signal ({details})",
           any("task 1 (line 2) FAILED exit 3" in d for d in details) and
           any("task 3 (line 4) KILLED signal 9" in d for d in details))
    c.true(f"mixed: slowest tasks ({details})", details[-1].startswith("  slowest: task "))
    lost_status(args, c, wd, os.path.join(wd, "mixed.h5"))
    harness.run(args, 2, "run", ok, "-o", os.path.join(wd, "ok.h5"))
    rc, out, _ = status(os.path.join(wd, "ok.h5"))
    c.eq(f"all succeeded: exit ({out})", rc, 0)
    # While the run is going (its master holds the file open and locked): counts so far.
    busy = os.path.join(wd, "busy.tasks")
    with open(busy, "w") as f:
        f.write("sleep 0.25\n" * 48)
    p = subprocess.Popen(harness.command(args, 3, "run", busy, "-o", os.path.join(wd, "busy.h5")),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4.0)
    r = subprocess.run([args.taskfarm, "status", os.path.join(wd, "busy.h5")], capture_output=True, text=True)
    p.wait(timeout=60)
    m = re.match(r".*: 48 tasks: (\d+) succeeded, 0 failed, 0 killed, 0 timed out, (\d+) not run \(its run did not close",
                 r.stdout)
    c.eq(f"while running: exit 4 ({r.stdout} {r.stderr})", r.returncode, 4)
    c.true(f"while running: some done, some not ({r.stdout})", m is not None and 0 < int(m.group(1)) < 48)
    c.true(f"while running: time so far ({r.stdout})", "to now" in r.stdout)
    rc, out, _ = status(os.path.join(wd, "busy.h5"))
    c.eq("after it: complete", rc, 0)

    # Progress: plain lines in a log (no carriage returns), one live line on a terminal.
    prog = os.path.join(wd, "prog.tasks")
    with open(prog, "w") as f:
        f.write("sleep 0.2\n" * 12)
    r = harness.run(args, 3, "run", prog, "-o", os.path.join(wd, "prog.h5"), "--progress", "0.4")
    lines = [ln for ln in r.stderr.splitlines() if "tasks done" in ln]
    c.true(f"progress in a log: lines ({r.stderr[-600:]})",
           len(lines) >= 2 and all(re.match(r"taskfarm: \d+ of 12 tasks done \(0 not succeeded\), \d+ running, "
                                            r"[0-9.]+ tasks/s", ln) for ln in lines))
    c.true("progress in a log: no carriage return", "\r" not in r.stderr)
    r = harness.run(args, 2, "run", prog, "-o", os.path.join(wd, "prog.h5"), "--force", "--progress", "0")
    c.true(f"--progress 0: none ({r.stderr[-300:]})", "tasks done" not in r.stderr)
    if shutil.which("script"):
        cmd = f"{args.taskfarm} run {prog} -o {os.path.join(wd, 'tty.h5')}"
        r = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, timeout=60)
        tty = r.stdout.decode(errors="replace")  # bytes: text mode would turn \r into \n
        c.true(f"progress on a terminal: one line redrawn ({tty[-300:]!r})",
               len(re.findall(r"\r\d+ of 12 tasks done", tty)) >= 2)
        c.true(f"progress on a terminal: ends with the whole count ({tty[-300:]!r})",
               re.search(r"\r12 of 12 tasks done[^\r\n]*\r?\n", tty) is not None)

    # Stopped by a signal (as at a time limit) before anything finished: every task is left.
    slow = os.path.join(wd, "slow.tasks")
    with open(slow, "w") as f:
        f.write("sleep 60\n" * 3)
    p = subprocess.Popen(harness.command(args, 2, "run", slow, "-o", os.path.join(wd, "left.h5"),
                                         "--drain", "0"), stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    p.send_signal(signal.SIGUSR1)
    err = p.communicate(timeout=60)[1]
    c.eq(f"stopped run: exit ({err[-300:]})", p.returncode, 4)
    rc, out, _ = status(os.path.join(wd, "left.h5"))
    c.eq("tasks left: exit", rc, 4)
    c.true(f"tasks left: counts ({out})", out.endswith("3 tasks: 0 succeeded, 0 failed, 0 killed, 0 timed out, 3 not run"))
    for name, path, word in (("missing", os.path.join(wd, "nope.h5"), "nope.h5"),
                             ("not HDF5", tasks, "t.tasks")):
        rc, out, err = status(path)
        c.eq(f"{name}: exit", rc, 2)
        c.true(f"{name}: one line naming the file ({err})", len(err.splitlines()) == 1 and word in err)
    r = subprocess.run([args.taskfarm, "status"], capture_output=True, text=True)
    c.eq("no file: exit", r.returncode, 2)
    c.finish()


if __name__ == "__main__":
    main()
