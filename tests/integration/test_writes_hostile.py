"""Writes that must not destroy anything (issue 14, findings D1 D4 D5 W2 W5 W6 U1 U2 and
the aliases): every refusal is exit 2 with one line naming the culprit, and every file that
was there before is byte for byte as it was, with nothing new left behind. Then the ordinary
writes still work: run --force over a result, a merge equal to the whole run, export and
report. The binary runs alone (no launcher)."""
import filecmp
import hashlib
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

import harness

COMPARED = ("status", "exit_code", "signal", "stdout", "stderr", "attempts", "command", "line")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(wd):
    """Every name in wd (symlinks as such) with its bytes' hash: what a refusal must keep."""
    out = {}
    for name in os.listdir(wd):
        p = os.path.join(wd, name)
        if os.path.islink(p):
            out[name] = "-> " + os.readlink(p)
        elif os.path.isfile(p):
            out[name] = digest(p)
        else:
            out[name] = "dir"
    return out


def main():
    args = harness.parse_args({"--plugin": {"default": None}})
    wd = harness.workdir()
    c = harness.Checker()

    def tf(*argv, timeout=120):
        return subprocess.run([args.taskfarm, *argv], cwd=wd, capture_output=True, text=True,
                              timeout=timeout)

    def p(name):
        return os.path.join(wd, name)

    def rm(name):
        """Remove what a step made (tolerant: the binary under test may have moved it)."""
        q = p(name)
        if os.path.isdir(q) and not os.path.islink(q):
            shutil.rmtree(q)
        elif os.path.lexists(q):
            os.unlink(q)

    def refused(what, argv, words, keep=None):
        """argv is refused: exit 2, one line holding every word, wd unchanged."""
        before = snapshot(wd)
        r = tf(*argv)
        c.eq(f"{what}: exit ({r.stderr!r})", r.returncode, 2)
        lines = r.stderr.strip().splitlines()
        c.true(f"{what}: one line ({r.stderr!r})", len(lines) == 1)
        for w in words:
            c.true(f"{what}: names '{w}' ({r.stderr!r})", w in r.stderr)
        after = snapshot(wd)
        c.eq(f"{what}: every file as it was, nothing new", after, before)
        return r

    with open(p("small.tasks"), "w") as f:
        for i in range(5):
            f.write(f"echo task{i}{'; exit 3' if i == 3 else ''}\n")
    r = tf("run", "small.tasks", "-o", "base.h5")
    c.eq(f"the base run ({r.stderr[-300:]})", r.returncode, 1)
    for i in (0, 1):
        r = tf("run", "small.tasks", "--slice", f"{i}/2", "-o", f"p{i}.h5", "-q")
        c.eq(f"slice {i}/2 ({r.stderr[-300:]})", r.returncode, 1 if i == 1 else 0)

    # D1: the output of a merge is one of its parts, by name, by symlink, by hard link.
    os.symlink("p0.h5", p("alias.h5"))
    os.link(p("p0.h5"), p("hard.h5"))
    keep = os.path.join(harness.workdir(), "p0.h5")  # outside wd, to go on after a failure
    shutil.copy(p("p0.h5"), keep)
    for out in ("p0.h5", "alias.h5", "hard.h5"):
        refused(f"D1 merge -o {out} --force p0 p1", ["merge", "-o", out, "--force", "p0.h5", "p1.h5"],
                ["merge part", out])
        if not os.path.exists(p("p0.h5")) or not filecmp.cmp(keep, p("p0.h5"), shallow=False):
            shutil.copy(keep, p("p0.h5"))
    rm("hard.h5")

    # The merge of two real parts is the whole run, and --force replaces an existing output
    # (a copy of base.h5) with it, leaving no temporary file.
    r = tf("merge", "-o", "m.h5", "p0.h5", "p1.h5")
    c.eq(f"merge: exit ({r.stderr})", r.returncode, 1)
    cols, a, _ = harness.read_tasks(p("m.h5"))
    rcols, _, _ = harness.read_tasks(p("base.h5"))
    for name in COMPARED:
        c.eq(f"merge: /tasks/{name} as the whole run", list(cols[name]), list(rcols[name]))
    shutil.copy(p("base.h5"), p("old.h5"))
    r = tf("merge", "-o", "old.h5", "--force", "p0.h5", "p1.h5")
    c.eq(f"merge --force over a file: exit ({r.stderr})", r.returncode, 1)
    c.eq("merge --force: the merged file in its place", harness.read_tasks(p("old.h5"))[1]["mode"],
         "merged")
    c.true("merge: no temporary file left", not [n for n in os.listdir(wd) if ".tmp." in n])
    rm("old.h5")

    # D5, W2: a part whose rows are not its slice's; refused before writing anything.
    bad = [("D5 first_task 1 for slice 1/2", "first_task", 1),
           ("W2 first_task out of range", "first_task", 4),
           ("W2 first_task past the end", "first_task", 99),
           ("W2 ntasks larger than its slice", "ntasks", 5)]
    for what, attr, value in bad:
        shutil.copy(p("p1.h5"), p("bad.h5"))
        with h5py.File(p("bad.h5"), "r+") as f:
            f.attrs[attr] = np.int64(value)
        refused(what, ["merge", "-o", "mbad.h5", "p0.h5", "bad.h5"], ["bad.h5"])
        c.true(f"{what}: no output", not os.path.exists(p("mbad.h5")))
        rm("bad.h5")

    # D4: run --force when the journal cannot be made: out.h5 keeps its bytes.
    shutil.copy(p("base.h5"), p("out.h5"))
    os.mkdir(p("out.h5.journal"))
    refused("D4 journal a directory", ["run", "small.tasks", "-o", "out.h5", "--force"],
            ["out.h5.journal"])
    rm("out.h5.journal")
    with open(p("elsewhere.txt"), "w") as f:
        f.write("not a journal\n")
    os.symlink("elsewhere.txt", p("out.h5.journal"))
    refused("D4 journal a symlink", ["run", "small.tasks", "-o", "out.h5", "--force"],
            ["out.h5.journal"])
    rm("out.h5.journal")
    c.true("D4: out.h5 unchanged", filecmp.cmp(p("out.h5"), p("base.h5"), shallow=False))

    # W6: a name whose journal would be longer than a name may be.
    long_name = "a" * 250 + ".h5"
    refused("W6 -o a 253-byte name", ["run", "small.tasks", "-o", long_name], ["too long"])

    # W5: a sweep refused for a too long command leaves no OUT.h5.tasks behind.
    with open(p("field.csv"), "w") as f:
        f.write("a\n1\n" + "x" * (2 << 20) + "\n")
    refused("W5 sweep line too long", ["run", "--template", "true {a}", "--params", "field.csv",
                                       "-o", "g.h5"], ["field.csv:3"])
    rm("field.csv")

    # Outputs never alias inputs (by device and inode).
    with open(p("p.csv"), "w") as f:
        f.write("a\n1\n2\n")
    os.symlink("small.tasks", p("tl.h5"))
    os.link(p("base.h5"), p("bl.h5"))
    for what, argv, word in (
            ("run -o a symlink to the task file", ["run", "small.tasks", "-o", "tl.h5", "--force"], "task file"),
            ("run -o the --params file", ["run", "--template", "echo {a}", "--params", "p.csv", "-o", "p.csv",
                                          "--force"], "--params"),
            ("run -o the --durations-from file", ["run", "small.tasks", "--durations-from", "base.h5", "-o",
                                                  "base.h5", "--force"], "--durations-from"),
            ("run -o a hard link to --durations-from", ["run", "small.tasks", "--durations-from", "base.h5",
                                                        "-o", "bl.h5", "--force"], "--durations-from"),
            ("export -o the file it reads", ["export", "base.h5", "-o", "base.h5"], "input"),
            ("export -o a link to the file it reads", ["export", "base.h5", "-o", "bl.h5"], "input"),
            ("report -o the file it reads", ["report", "base.h5", "-o", "base.h5"], "input")):
        refused(what, argv, [word])
    rm("tl.h5")
    rm("bl.h5")
    if args.plugin:  # an in-process map whose output is its --items file
        with h5py.File(p("items.h5"), "w") as f:
            f["x"] = np.arange(10, dtype=np.int64)
        refused("run --plugin -o the --items file", ["run", "--plugin", f"{args.plugin}:square",
                                                      "--items", "items.h5:/x", "-o", "items.h5", "--force"],
                ["--items"])
        rm("items.h5")

    # U1, U2: outputs that cannot be result files, refused before anything is made.
    os.symlink("nonexist.h5", p("d.h5"))
    refused("U2 -o a dangling symlink", ["run", "small.tasks", "-o", "d.h5"], ["d.h5", "nonexist.h5"])
    c.true("U2: nothing made at the symlink's target", not os.path.exists(p("nonexist.h5")))
    refused("U2 export -o a dangling symlink", ["export", "base.h5", "-o", "d.h5"], ["d.h5"])
    rm("d.h5")
    refused("U1 -o /dev/full --force", ["run", "small.tasks", "-o", "/dev/full", "--force"],
            ["/dev/full", "not a regular file"])
    refused("U1 -o /proc/version --force", ["run", "small.tasks", "-o", "/proc/version", "--force"],
            ["/proc/version"])

    # The ordinary writes still work: run --force over a result (directly and through a
    # symlink, which stays one), export and report to new files.
    shutil.copy(p("base.h5"), p("again.h5"))
    r = tf("run", "small.tasks", "-o", "again.h5", "--force", "-q")
    c.eq(f"run --force over a result: exit ({r.stderr})", r.returncode, 1)
    _, a1, _ = harness.read_tasks(p("again.h5"))
    _, a0, _ = harness.read_tasks(p("base.h5"))
    c.true("run --force: a new run's file", a1["run_id"] != a0["run_id"] and a1["state"] == "closed")
    c.true("run --force: its journal is gone", not os.path.exists(p("again.h5.journal")))
    os.symlink("again.h5", p("link.h5"))
    r = tf("run", "small.tasks", "-o", "link.h5", "--force", "-q")
    c.eq(f"run --force through a symlink: exit ({r.stderr})", r.returncode, 1)
    c.true("run --force through a symlink: still a symlink", os.path.islink(p("link.h5")))
    c.true("... to the new result", harness.read_tasks(p("again.h5"))[1]["run_id"] != a1["run_id"])
    r = tf("export", "base.h5", "-o", "x.csv")
    c.eq(f"export -o: exit ({r.stderr})", r.returncode, 0)
    with open(p("x.csv")) as f:
        c.true("export -o: the CSV", f.readline().startswith("id,command"))
    r = tf("report", "base.h5", "-o", "r.svg")
    c.eq(f"report -o r.svg: exit ({r.stderr})", r.returncode, 0)
    with open(p("r.svg")) as f:
        c.true("report -o r.svg: an SVG", f.read(4) == "<svg")
    c.true("no temporary file left", not [n for n in os.listdir(wd) if ".tmp." in n])

    # Ctrl-C during an export: either it finished, or nothing is left (no temporary file).
    with open(p("many.tasks"), "w") as f:
        for i in range(20000):
            f.write(f"echo {'x' * 200} {i}\n")
    r = tf("run", "many.tasks", "-o", "many.h5", "-q")
    c.eq(f"the run for export ({r.stderr[-200:]})", r.returncode, 0)
    for delay in (0.05, 0.15):
        pr = subprocess.Popen([args.taskfarm, "export", "many.h5", "-o", "many.csv"], cwd=wd)
        time.sleep(delay)
        pr.send_signal(signal.SIGINT)
        pr.wait(timeout=60)
        left = [n for n in os.listdir(wd) if "many.csv" in n]
        c.true(f"export stopped by SIGINT: done or nothing left ({pr.returncode}, {left})",
               (pr.returncode == 0 and left == ["many.csv"]) or (pr.returncode != 0 and left == []))
        rm("many.csv")
    for name in ("many.tasks", "many.h5"):
        rm(name)

    # A stop signal while a big sweep is set up: the run ends at once, and a run stopped
    # before it made anything leaves nothing (exit 2); one stopped later is resumable (4).
    # A table of 5 million rows takes seconds to read and expand (2.4 s here); a grid no
    # longer does (it is never materialised), so a grid finished before the signal came.
    with open(p("big.csv"), "w") as f:
        f.write("a\n" + "".join(f"{i}\n" for i in range(5_000_000)))
    before = snapshot(wd)
    pr = subprocess.Popen([args.taskfarm, "run", "--template", "true {a}", "--params", "big.csv",
                           "--slice", "0/500000", "-o", "big.h5", "-q"], cwd=wd,
                          stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    in_start_up = pr.poll() is None and not os.path.exists(p("big.h5"))
    pr.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = pr.communicate(timeout=120)
    took = time.monotonic() - sent
    c.true("SIGINT in start-up: the signal came while the run was starting", in_start_up)
    c.true(f"SIGINT in start-up: exit 2 or 4 ({pr.returncode}, {err!r})", pr.returncode in (2, 4))
    c.true(f"SIGINT in start-up: ends promptly ({took:.1f} s)", took < 10)
    if pr.returncode == 2:
        c.eq("SIGINT before anything was made: nothing left", snapshot(wd), before)
        c.true(f"... one line ({err!r})", len(err.strip().splitlines()) == 1)
    rm("big.csv")
    c.finish()


if __name__ == "__main__":
    main()
