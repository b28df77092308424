"""--slice I/N and `taskfarm merge`: slices of one task file, run apart (as the elements of a
job array do), merged into the file one run over the whole task file writes; and every set of
parts merge must refuse (one line naming the part, exit 2, nothing written), and a resume
that asks for another slice than its file holds."""
import filecmp
import os
import shutil
import signal
import subprocess
import time

import harness

COMPARED = ("status", "exit_code", "signal", "stdout", "stderr", "attempts", "command", "line")


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "t.tasks")
    with open(tasks, "w") as f:
        f.write("# a comment line is not a task\n")
        for i in range(23):
            f.write(f"echo {i} $TASKFARM_TASK_ID $TASKFARM_NTASKS{'; exit 5' if i == 7 else ''}\n")

    def tf(*argv, np_=0):
        return subprocess.run(harness.command(args, np_, *argv), cwd=wd, capture_output=True,
                              text=True, timeout=120)

    parts = []
    for i in (2, 0, 3, 1):  # any order
        p = os.path.join(wd, f"part{i}.h5")
        r = tf("run", tasks, "--slice", f"{i}/4", "-o", p, np_=3)
        c.eq(f"slice {i}/4: exit ({r.stderr[-300:]})", r.returncode, 1 if i == 1 else 0)
        cols, a, _ = harness.read_tasks(p)
        lo, hi = 23 * i // 4, 23 * (i + 1) // 4
        c.eq(f"slice {i}/4: its tasks, with their ids in the whole file",
             list(cols["stdout"]), [f"{k} {k} 23\n" for k in range(lo, hi)])
        c.eq(f"slice {i}/4: attributes", (a["slice"], int(a["first_task"]), int(a["taskfile_ntasks"])),
             (f"{i}/4", lo, 23))
        parts.append(p)
    out = os.path.join(wd, "all.h5")
    r = tf("merge", "-o", out, *parts)
    c.eq(f"merge: exit 1 (task 7 failed) ({r.stderr})", r.returncode, 1)
    c.true(f"merge: one summary line ({r.stdout})", "23 tasks from 4 slices: 22 succeeded, 1 failed" in r.stdout)
    ref = os.path.join(wd, "ref.h5")
    tf("run", tasks, "-o", ref, np_=3)
    cols, a, _ = harness.read_tasks(out)
    rcols, _, _ = harness.read_tasks(ref)
    for name in COMPARED:
        c.eq(f"merge: /tasks/{name} as one run over the whole file", list(cols[name]), list(rcols[name]))
    c.eq("merge: attributes", (int(a["ntasks"]), a["state"], a["mode"], int(a["tasks_failed"])),
         (23, "closed", "merged", 1))
    r = tf("run", tasks, "-o", out, "--resume", "--retry-failed", np_=2)
    c.eq(f"merged file resumes as a whole-file run ({r.stderr[-300:]})", r.returncode, 1)
    cols, a, _ = harness.read_tasks(out)
    c.eq("resume: only the failed task ran again", int(cols["attempts"].sum()), 24)

    # Refusals: exit 2, one line naming the part, the output left as it was (or absent).
    other = os.path.join(wd, "other.tasks")
    shutil.copy(tasks, other)
    with open(other, "a") as f:
        f.write("echo extra\n")
    tf("run", other, "--slice", "3/4", "-o", os.path.join(wd, "other3.h5"), np_=2)
    tf("run", tasks, "--slice", "1/2", "-o", os.path.join(wd, "half1.h5"), np_=2)
    unclosed = os.path.join(wd, "unclosed.h5")
    slow = os.path.join(wd, "slow.tasks")
    with open(slow, "w") as f:
        f.write("sleep 60\n" * 4)
    p = subprocess.Popen(harness.command(args, 2, "run", slow, "--slice", "0/1", "-o", unclosed),
                         cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(2.5)
    os.killpg(p.pid, signal.SIGKILL)
    subprocess.run(["pkill", "-9", "-f", unclosed])  # ranks mpirun started in sessions of their own
    p.wait()
    time.sleep(0.5)
    existing = os.path.join(wd, "existing.h5")
    shutil.copy(ref, existing)
    cases = [
        ("missing slice", [parts[0], parts[1], parts[2]], "slice 1/4 is missing"),
        ("slice twice", parts + [parts[0]], "is given twice"),
        ("not a slice", [ref], "holds no --slice"),
        ("other task file", [parts[1], parts[3], parts[0], os.path.join(wd, "other3.h5")], "different task files"),
        ("other slicing", [parts[1], os.path.join(wd, "half1.h5")], "different task files"),
        ("not closed", [unclosed], "did not close it"),
        ("not HDF5", [tasks], "t.tasks"),
    ]
    for name, given, word in cases:
        dest = os.path.join(wd, "refused.h5")
        r = tf("merge", "-o", dest, *given)
        c.eq(f"refused {name}: exit", r.returncode, 2)
        c.true(f"refused {name}: one line with '{word}' ({r.stderr!r})",
               len(r.stderr.strip().splitlines()) == 1 and word in r.stderr)
        c.true(f"refused {name}: nothing written", not os.path.exists(dest))
    r = tf("merge", "-o", existing, *parts)
    c.eq("existing output: exit", r.returncode, 2)
    c.true("existing output: untouched", filecmp.cmp(existing, ref, shallow=False))
    r = tf("merge", "-o", existing, "--force", *parts)
    c.eq("--force replaces it", r.returncode, 1)
    ecols, _, _ = harness.read_tasks(existing)
    c.eq("--force: the merged rows in its place", list(ecols["stdout"]), list(rcols["stdout"]))
    c.true("--force: no temporary file left", not [n for n in os.listdir(wd) if ".tmp." in n])
    # D1: the output one of the parts (by name, or a symlink to it), even with --force.
    kept = os.path.join(wd, "kept.h5")
    shutil.copy(parts[0], kept)
    os.symlink(parts[0], os.path.join(wd, "alias.h5"))
    for dest in (parts[0], os.path.join(wd, "alias.h5")):
        r = tf("merge", "-o", dest, "--force", *parts)
        c.eq(f"merge onto its part {os.path.basename(dest)}: exit ({r.stderr})", r.returncode, 2)
        c.true(f"... one line naming it ({r.stderr!r})",
               len(r.stderr.strip().splitlines()) == 1 and "merge part" in r.stderr)
        c.true("... the part as it was", filecmp.cmp(parts[0], kept, shallow=False))
    for argv, word in ((["merge", *parts], "merge -o OUT.h5"), (["merge", "-o", out], "merge -o OUT.h5"),
                       (["merge", "-x", "-o", out, *parts], "'-x'"),
                       (["run", tasks, "--slice", "4/4"], "--slice '4/4'"),
                       (["run", tasks, "--slice", "1/0"], "--slice '1/0'"),
                       (["run", tasks, "--slice", "x"], "--slice 'x'")):
        r = tf(*argv)
        c.eq(f"usage {argv[-1]}: exit", r.returncode, 2)
        c.true(f"usage: names {word} ({r.stderr!r})", word in r.stderr)
    # A part resumed with another slice than it holds.
    r = tf("run", tasks, "--slice", "2/4", "-o", parts[2], "--resume", np_=2)  # parts[2] is 3/4
    c.eq("resume with another slice: exit", r.returncode, 2)
    c.true(f"resume with another slice: says so ({r.stderr[-300:]})", "slice 3/4" in r.stderr)
    r = tf("run", tasks, "-o", parts[2], "--resume", np_=2)
    c.eq("resume a slice as the whole file: exit", r.returncode, 2)
    c.finish()


if __name__ == "__main__":
    main()
