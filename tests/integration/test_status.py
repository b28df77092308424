"""`taskfarm status FILE`: the counts of a result file in one line, and the exit code `run`
would give for it as it is (0 all succeeded, 1 all have an outcome, 4 tasks left, 2 not a
result file). Campaign scripts decide on it whether to go on."""
import os
import signal
import subprocess
import time

import harness


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
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    harness.run(args, 3, "run", tasks, "-o", os.path.join(wd, "mixed.h5"))
    rc, out, _ = status(os.path.join(wd, "mixed.h5"))
    c.eq("mixed: exit", rc, 1)
    c.true(f"mixed: counts ({out})",
           out.endswith("mixed.h5: 4 tasks: 2 succeeded, 1 failed, 1 killed, 0 timed out, 0 not run"))
    harness.run(args, 2, "run", ok, "-o", os.path.join(wd, "ok.h5"))
    rc, out, _ = status(os.path.join(wd, "ok.h5"))
    c.eq(f"all succeeded: exit ({out})", rc, 0)
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
