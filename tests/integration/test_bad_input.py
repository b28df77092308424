"""Every bad input is refused with one clear line on stderr, the documented exit code, no
output file left behind and an existing one untouched."""
import os
import stat

import harness


def snapshot(path):
    if not os.path.exists(path):
        return None
    st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        return sorted(os.listdir(path))
    with open(path, "rb") as f:
        return (f.read(), st.st_mtime_ns, st.st_ino)


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()

    def write(name, data):
        p = os.path.join(wd, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    good = write("good.tasks", b"echo a\necho b\n")
    out = os.path.join(wd, "out.h5")

    def refused(what, argv, needle, np_=0, code=2, out_path=out):
        before = snapshot(out_path)
        res = harness.run(args, np_, *argv, cwd=wd, timeout=120)
        c.eq(f"{what}: exit code", res.returncode, code)
        ours = [l for l in res.stderr.splitlines() if l.startswith("taskfarm: error:")]
        c.eq(f"{what}: one error line on stderr ({res.stderr!r})", len(ours), 1)
        if ours:
            c.true(f"{what}: error {ours[0]!r} names {needle!r}", needle in ours[0])
        if np_ == 0:
            other = [l for l in res.stderr.splitlines() if not l.startswith("taskfarm: error:")]
            c.eq(f"{what}: nothing else on stderr", other, [])
        c.eq(f"{what}: output file untouched", snapshot(out_path), before)

    # task file problems
    refused("missing task file", ["run", os.path.join(wd, "nope.tasks"), "-o", out],
            "cannot open task file")
    refused("directory as task file", ["run", wd, "-o", out], "is a directory")
    refused("NUL byte", ["run", write("nul.tasks", b"echo a\necho \0b\n"), "-o", out],
            "nul.tasks:2: a NUL byte")
    refused("invalid UTF-8", ["run", write("bad.tasks", b"echo ok\necho \xc3\x28\n"), "-o", out],
            "bad.tasks:2: invalid UTF-8")
    refused("CRLF", ["run", write("crlf.tasks", b"echo a\r\necho b\r\n"), "-o", out],
            "crlf.tasks:1: a carriage return")
    refused("long line", ["run", write("long.tasks", b"echo a\n: " + b"x" * (1 << 20) + b"\n"),
                          "-o", out], "long.tasks:2: line is longer than 1048576 bytes")
    if os.geteuid() != 0:  # root reads anything; the check is meaningless there
        unreadable = write("secret.tasks", b"echo a\n")
        os.chmod(unreadable, 0)
        refused("unreadable task file", ["run", unreadable, "-o", out], "Permission denied")

    # output problems
    refused("output directory missing", ["run", good, "-o", os.path.join(wd, "no/dir/o.h5")],
            "does not exist", out_path=os.path.join(wd, "no/dir/o.h5"))
    refused("output in an unwritable place", ["run", good, "-o", "/proc/tf-test.h5"],
            "/proc/tf-test.h5", out_path="/proc/tf-test.h5")
    if os.geteuid() != 0:
        ro = os.path.join(wd, "ro")
        os.mkdir(ro, 0o555)
        refused("read-only directory", ["run", good, "-o", os.path.join(ro, "o.h5")],
                "not writable", out_path=os.path.join(ro, "o.h5"))
    refused("output is a directory", ["run", good, "-o", wd], "is a directory", out_path=wd)
    refused("output is the task file", ["run", good, "-o", good, "--force"],
            "is the task file itself", out_path=good)
    write("out.h5", b"precious results")
    refused("existing output without --force", ["run", good, "-o", out], "--force to overwrite")
    refused("existing output, under mpirun", ["run", good, "-o", out], "--force to overwrite", np_=3)
    refused("bad task file, under mpirun", ["run", os.path.join(wd, "nul.tasks"), "-o",
                                            os.path.join(wd, "x.h5")], "a NUL byte", np_=3,
            out_path=os.path.join(wd, "x.h5"))

    # usage errors
    refused("unknown option", ["run", good, "--frobnicate"], "unknown option '--frobnicate'")
    refused("missing option value", ["run", good, "-o"], "option '-o' needs a value")
    refused("missing --mode value", ["run", good, "--mode"], "option '--mode' needs a value")
    refused("bad --mode", ["run", good, "--mode", "fast"], "invalid --mode 'fast'")
    refused("bad --capture", ["run", good, "--capture", "lots"], "invalid --capture 'lots'")
    refused("no task file", ["run"], "missing TASKFILE")
    refused("unknown command", ["walk"], "unknown command 'walk'")

    # --force replaces; an empty task file is a valid run of zero tasks
    res = harness.run(args, 0, "run", good, "-o", out, "--force", cwd=wd)
    c.eq("--force overwrites: exit code", res.returncode, 0)
    cols, attrs, _ = harness.read_tasks(out)
    c.eq("--force overwrites: rows", list(cols["stdout"]), ["a\n", "b\n"])
    empty = write("empty.tasks", b"# nothing to do\n\n")
    res = harness.run(args, 0, "run", empty, "-o", os.path.join(wd, "empty.h5"), cwd=wd)
    c.eq("empty task file: exit code", res.returncode, 0)
    c.true("empty task file: warned", "holds no tasks" in res.stderr)
    cols, attrs, _ = harness.read_tasks(os.path.join(wd, "empty.h5"))
    c.eq("empty task file: zero rows", len(cols["command"]), 0)
    c.eq("empty task file: ntasks", int(attrs["ntasks"]), 0)

    # help and version: stdout, exit 0
    for argv in (["--help"], ["run", "--help"], ["help"]):
        res = harness.run(args, 0, *argv)
        c.eq(f"{argv}: exit 0", res.returncode, 0)
        c.true(f"{argv}: usage on stdout", "Usage: taskfarm run TASKFILE" in res.stdout)
        c.true(f"{argv}: exit codes documented", "Exit status:" in res.stdout)
    res = harness.run(args, 0, "--version")
    c.true(f"--version: {res.stdout!r}", res.returncode == 0 and
           res.stdout.startswith("taskfarm "))
    res = harness.run(args, 2, "--help")
    c.eq("--help under mpirun printed once", res.stdout.count("Usage:"), 1)
    c.finish()


if __name__ == "__main__":
    main()
