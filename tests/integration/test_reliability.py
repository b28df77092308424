"""Timeouts, retries, --max-failures, resource columns, misbehaving tasks, stop signals,
--walltime, and every way a --resume must refuse: each with the real binary, processes
signalled for real and result files read back."""
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

from harness import Checker, command, parse_args, read_tasks, run, workdir
from journal import wait_for_finished

args = parse_args()
ck = Checker()
d = workdir()
S = {"NOT_RUN": 0, "SUCCEEDED": 1, "FAILED": 2, "KILLED": 3, "TIMED_OUT": 4}


def write(name, lines):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def same_bytes(path, data, what):
    with open(path, "rb") as f:
        ck.true(f"{what}: {path} left untouched", f.read() == data)


# ---- per task: timeout, kill grace, misbehaving tasks, resource use --------------------
per_task = write("per_task.tasks", [
    "sleep 30",                                   # 0 timed out by SIGTERM
    "trap '' TERM; sleep 30",                     # 1 ignores SIGTERM: SIGKILL after grace
    "yes",                                        # 2 prints without end: capped, timed out
    "sleep 30 & echo parent-left",                # 3 a child outlives it: killed after exit
    "exec 1>&-; sleep 0.2; echo err >&2",         # 4 closes its stdout early
    "head -c 50000000 /dev/zero | tail -c 1 >/dev/null; echo mem",  # 5 uses memory
    "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo cpu",  # 6 uses CPU
    "kill -SEGV $$",                              # 7 crashes
])
for np_ in (0, 3):
    out = os.path.join(d, f"per_task_{np_}.h5")
    t0 = time.monotonic()
    r = run(args, np_, "run", per_task, "-o", out, "--timeout", "1.5", "--kill-grace", "1",
            "--capture", "64K")
    took = time.monotonic() - t0
    what = f"per task, np {np_}"
    ck.eq(f"{what}: exit code", r.returncode, 1)
    ck.true(f"{what}: the run did not wait for sleep 30 ({took:.1f} s)", took < 20)
    c, a, _ = read_tasks(out)
    st = list(c["status"])
    ck.eq(f"{what}: statuses", st, [4, 4, 4, 1, 1, 1, 1, 3])
    dur = c["end"] - c["start"]
    ck.true(f"{what}: timeout after 1.5 s ({dur[0]:.2f})", 1.4 < dur[0] < 3.0)
    ck.eq(f"{what}: signal of the timed-out task", int(c["signal"][0]), signal.SIGTERM)
    ck.true(f"{what}: SIGTERM ignored -> SIGKILL after the grace ({dur[1]:.2f})",
            2.4 < dur[1] < 4.5 and int(c["signal"][1]) == signal.SIGKILL)
    ck.true(f"{what}: endless output capped", c["stdout_truncated"][2] == 1 and
            len(c["stdout"][2]) == 65536)
    ck.true(f"{what}: child that outlived its task did not hold the worker ({dur[3]:.2f})",
            dur[3] < 2.5 and c["stdout"][3] == "parent-left\n")
    ck.true(f"{what}: closed stdout", c["stderr"][4] == "err\n")
    ck.true(f"{what}: max_rss recorded", all(c["max_rss"][:8] > 0))
    ck.true(f"{what}: cpu_user of the CPU task > 0.05 s ({c['cpu_user'][6]:.3f})",
            c["cpu_user"][6] > 0.05)
    ck.true(f"{what}: cpu of the sleeping task < 0.05 s", c["cpu_user"][0] + c["cpu_system"][0]
            < 0.05)
    ck.eq(f"{what}: crash signal", int(c["signal"][7]), signal.SIGSEGV)
    ck.eq(f"{what}: counts", (a["tasks_timed_out"], a["tasks_killed"], a["tasks_succeeded"]),
          (3, 1, 4))
    ck.true(f"{what}: no journal left after a complete run", not os.path.exists(out + ".journal"))
# No process of a task outlives the run (the `sleep 30` children above).
time.sleep(0.5)
left = subprocess.run(["pgrep", "-f", "^sleep 30$"], capture_output=True, text=True).stdout
ck.eq("no task process left behind", left, "")

# ---- retries ---------------------------------------------------------------------------
retry_tasks = write("retry.tasks", [
    "echo $TASKFARM_RANK >> %s/always.log; exit 7" % d,       # fails every time
    "echo x >> %s/flaky.log; [ $(wc -l < %s/flaky.log) -ge 3 ]" % (d, d),  # third time lucky
    "echo fine",
] + ["sleep 0.05"] * 160)  # new tasks left while the retries come back, even on a slow machine
out = os.path.join(d, "retry.h5")
r = run(args, 4, "run", retry_tasks, "-o", out, "--retries", "3")
ck.eq("retries: exit code (one task never succeeds)", r.returncode, 1)
c, a, _ = read_tasks(out)
ck.eq("retries: attempts", list(c["attempts"][:3]), [4, 3, 1])
ck.eq("retries: statuses", list(c["status"][:3]), [2, 1, 1])
ck.eq("retries: the last attempt's exit code is kept", int(c["exit_code"][0]), 7)
with open(os.path.join(d, "always.log")) as f:
    ranks = f.read().split()
ck.eq("retries: the failing task ran 1 + 3 times", len(ranks), 4)
ck.true(f"retries: went to another worker at least once ({ranks})", len(set(ranks)) > 1)

# ---- --max-failures / --fail-fast --------------------------------------------------------
ff = write("ff.tasks", ["exit 1"] * 3 + ["sleep 0.2"] * 60)
out = os.path.join(d, "ff.h5")
r = run(args, 3, "run", ff, "-o", out, "--max-failures", "2", "--mode", "pool")
c, a, _ = read_tasks(out)
ck.eq("max-failures: exit code 1 (failures)", r.returncode, 1)
ck.true(f"max-failures: stopped handing out tasks ({a['tasks_not_run']} not run)",
        a["tasks_not_run"] > 40)
ck.eq("max-failures: stop reason", a.get("stop_reason"), "--max-failures reached")
ck.eq("max-failures: file closed", a["state"], "closed")
ck.true("max-failures: every finished task stored",
        int(np.sum(c["status"] != 0)) == a["tasks_succeeded"] + a["tasks_failed"])
r = run(args, 0, "run", ff, "-o", os.path.join(d, "ff0.h5"), "--fail-fast", "-j", "1")
c, a, _ = read_tasks(os.path.join(d, "ff0.h5"))
ck.eq("fail-fast alone, one slot: one failure, then nothing",
      (a["tasks_failed"], a["tasks_not_run"]), (1, 62))
# In two slots, what was handed out before the first failure came back may still run (the
# first batch: two tasks a slot); nothing after it.
r = run(args, 0, "run", ff, "-o", os.path.join(d, "ff2.h5"), "--fail-fast", "-j", "2")
c, a, _ = read_tasks(os.path.join(d, "ff2.h5"))
ck.true(f"fail-fast alone, two slots: only the first batch ran ({a['tasks_not_run']} not run)",
        a["tasks_not_run"] >= 63 - 4 and a["tasks_failed"] >= 1)

# ---- stop signals: drain, second signal, exit 4, resume ----------------------------------
sig_tasks = write("sig.tasks", ["sleep 0.3; echo s$TASKFARM_TASK_ID"] * 6 +
                  ["sleep 6; echo long"] * 3 + ["echo after"] * 10)


def start(np_, *extra, out):
    return subprocess.Popen(command(args, np_, "run", sig_tasks, "-o", out, *extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


for np_, sig in ((4, signal.SIGUSR1), (0, signal.SIGTERM), (0, signal.SIGINT)):
    what = f"signal {sig.name}, np {np_}"
    out = os.path.join(d, f"sig_{np_}_{sig.name}.h5")
    p = start(np_, "--drain", "1", out=out)
    ck.true(f"{what}: run under way", wait_for_finished(out, 6))
    t0 = time.monotonic()
    p.send_signal(sig)
    so, se = p.communicate(timeout=60)
    took = time.monotonic() - t0
    ck.eq(f"{what}: exit code 4 (incomplete)", p.returncode, 4)
    ck.true(f"{what}: drained within about --drain ({took:.1f} s)", took < 4.5)
    ck.true(f"{what}: says how to finish", "--resume" in se)
    c, a, _ = read_tasks(out)
    ck.eq(f"{what}: file closed", a["state"], "closed")
    ck.true(f"{what}: long tasks stopped and left NOT_RUN", all(c["status"][6:9] == 0))
    ck.true(f"{what}: short tasks kept", all(c["status"][:6] == 1))
    ck.true(f"{what}: journal kept for the resume", os.path.exists(out + ".journal"))
    r = run(args, np_, "run", sig_tasks, "-o", out, "--resume")
    ck.eq(f"{what}: resume exit code", r.returncode, 0)
    c, a, _ = read_tasks(out)
    ck.true(f"{what}: resume finished everything", all(c["status"] == 1))
    ck.eq(f"{what}: resumes attribute", int(a["resumes"]), 1)
    ck.eq(f"{what}: outputs", list(c["stdout"][:7]),
          [f"s{i}\n" for i in range(6)] + ["long\n"])

# A second signal stops running tasks at once, whatever --drain says.
out = os.path.join(d, "sig_twice.h5")
p = start(3, "--drain", "60", out=out)
ck.true("second signal: run under way", wait_for_finished(out, 6))
p.send_signal(signal.SIGUSR1)
time.sleep(0.5)
t0 = time.monotonic()
p.send_signal(signal.SIGUSR1)
p.communicate(timeout=60)
ck.eq("second signal: exit code 4", p.returncode, 4)
ck.true(f"second signal: stopped at once ({time.monotonic() - t0:.1f} s)",
        time.monotonic() - t0 < 4)
c, a, _ = read_tasks(out)
ck.eq("second signal: file closed", a["state"], "closed")

# ---- --walltime -------------------------------------------------------------------------
wt = write("wt.tasks", ["sleep 1"] * 40)
out = os.path.join(d, "wt.h5")
r = run(args, 3, "run", wt, "-o", out, "--walltime", "12", "--drain", "1",
        "--expected-duration", "3")
c, a, _ = read_tasks(out)
took = a["end_time"] - a["start_time"]
ck.eq("walltime: exit code 4", r.returncode, 4)
ck.true(f"walltime: file closed before the walltime ({took:.1f} s)", took < 12 - 3)
ck.true("walltime: no task stopped half-way (all finished ones succeeded)",
        all(s in (0, 1) for s in c["status"]))
ck.true(f"walltime: some ran ({a['tasks_succeeded']})", 2 <= a["tasks_succeeded"] < 40)
ck.eq("walltime: reason", a.get("stop_reason"), "the walltime leaves no room for another task")

# Slurm's end time, when the job has one, works as a walltime.
out = os.path.join(d, "slurm_end.h5")
job_end = int(time.time()) + 12
env = dict(os.environ, SLURM_JOB_END_TIME=str(job_end))
r = subprocess.run(command(args, 3, "run", wt, "-o", out, "--drain", "2"), capture_output=True,
                   text=True, env=env, timeout=120)
c, a, _ = read_tasks(out)
ck.eq("SLURM_JOB_END_TIME: exit code 4", r.returncode, 4)
# The master closed the file about 5 s before the job's end (mpirun's own start and exit,
# seconds on some machines, are outside taskfarm's control and this check).
ck.true(f"SLURM_JOB_END_TIME: file closed {job_end - a['end_time']:.1f} s before the end",
        a["end_time"] < job_end - 3)
ck.eq("SLURM_JOB_END_TIME: reason", a.get("stop_reason"), "walltime nearly over")

# ---- resume: what must be refused, with nothing changed ----------------------------------
base = write("base.tasks", ["echo %d" % i for i in range(20)])
good = os.path.join(d, "good.h5")
ck.eq("resume setup run", run(args, 0, "run", base, "-o", good).returncode, 0)
with open(good, "rb") as f:
    good_bytes = f.read()


def refused(what, *run_args, names, path=good, data=None):
    r = run(args, 0, "run", *run_args)
    err = r.stderr.strip().splitlines()
    ck.eq(f"{what}: exit code", r.returncode, 2)
    ck.true(f"{what}: one line naming {names!r}: {err}",
            len(err) == 1 and names in err[0] and err[0].startswith("taskfarm: error:"))
    same_bytes(path, good_bytes if data is None else data, what)


changed = write("changed.tasks", ["echo %d" % i for i in range(19)] + ["echo changed"])
refused("changed task file", changed, "-o", good, "--resume", names="--allow-changed-taskfile")
shorter = write("shorter.tasks", ["echo %d" % i for i in range(10)])
refused("task file of another length", shorter, "-o", good, "--resume", "--allow-changed-taskfile",
        names="has 20 tasks")
other = os.path.join(d, "other.h5")
run(args, 0, "run", changed, "-o", other)
with open(other, "rb") as f:
    other_bytes = f.read()
refused("result file of another run", base, "-o", other, "--resume", names="not the one",
        path=other, data=other_bytes)
trunc = os.path.join(d, "trunc.h5")
with open(trunc, "wb") as f:
    f.write(good_bytes[:len(good_bytes) // 2])
refused("truncated result file", base, "-o", trunc, "--resume", names="cannot open result file",
        path=trunc, data=good_bytes[:len(good_bytes) // 2])
corrupt = os.path.join(d, "corrupt.h5")
bad = bytearray(good_bytes)
bad[0:512] = b"\xff" * 512
with open(corrupt, "wb") as f:
    f.write(bad)
refused("corrupted result file", base, "-o", corrupt, "--resume", names="cannot open result file",
        path=corrupt, data=bytes(bad))
notours = os.path.join(d, "plain.h5")
with h5py.File(notours, "w") as f:
    f["x"] = [1, 2, 3]
with open(notours, "rb") as f:
    plain_bytes = f.read()
refused("HDF5 file that is not a result file", base, "-o", notours, "--resume",
        names="not a taskfarm result file", path=notours, data=plain_bytes)
# A journal of another run beside the file.
j2 = os.path.join(d, "j2.h5")
ck.eq("journal setup", run(args, 0, "run", base, "-o", j2).returncode, 0)
p = start(0, out=os.path.join(d, "jsrc.h5"))
wait_for_finished(os.path.join(d, "jsrc.h5"), 2)
p.kill()
p.wait()
shutil.copy(os.path.join(d, "jsrc.h5.journal"), j2 + ".journal")
with open(j2, "rb") as f:
    j2_bytes = f.read()
refused("journal of another run", base, "-o", j2, "--resume", names="belongs to another run",
        path=j2, data=j2_bytes)
# A stale journal without --resume or --force.
refused("stale journal", base, "-o", j2, names="--resume to continue", path=j2, data=j2_bytes)
refused("--resume with --force", base, "-o", good, "--resume", "--force", names="choose one")

# --retry-failed runs failed tasks again; --resume alone does not.
rf = write("rf.tasks", ["test -e %s/ok || exit 5" % d] * 3 + ["echo fine"])
out = os.path.join(d, "rf.h5")
ck.eq("retry-failed: first run fails", run(args, 0, "run", rf, "-o", out).returncode, 1)
ck.eq("resume of a finished run does nothing", run(args, 0, "run", rf, "-o", out,
                                                    "--resume").returncode, 1)
c, a, _ = read_tasks(out)
ck.eq("resume alone keeps failures", list(c["attempts"]), [1, 1, 1, 1])
open(os.path.join(d, "ok"), "w").close()
r = run(args, 2, "run", rf, "-o", out, "--retry-failed")
ck.eq("retry-failed: exit code", r.returncode, 0)
c, a, _ = read_tasks(out)
ck.eq("retry-failed: statuses", list(c["status"]), [1, 1, 1, 1])
ck.eq("retry-failed: attempts count earlier runs", list(c["attempts"]), [2, 2, 2, 1])
ck.true("retry-failed: journal removed", not os.path.exists(out + ".journal"))

# --resume of a file that does not exist yet starts it (campaign scripts run one command).
fresh = os.path.join(d, "fresh.h5")
ck.eq("resume creates", run(args, 0, "run", base, "-o", fresh, "--resume").returncode, 0)
ck.eq("resume creates: rows", int(read_tasks(fresh)[1]["tasks_succeeded"]), 20)
ck.finish()
