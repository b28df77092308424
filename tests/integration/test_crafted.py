"""Crafted result files (issue 14): a table of variants made with h5py from real files the
built taskfarm wrote, each given to the commands that read result files (status, export,
report, --durations-from, --resume), with the exit code and the message each must give.

Every refusal: the documented exit code (2), exactly one "taskfarm: error:" line naming the
object at fault, no crash (no exit >= 128), within a time bound, and the crafted file's bytes
as they were. Valid variants must still be read. Also: FIFOs where a result file is read,
-o problems (U1, U2), and a full disk on a small tmpfs (C6)."""
import hashlib
import os
import shutil
import stat
import subprocess

import h5py
import numpy as np

import harness

TIMEOUT = 20  # seconds per command: every reader must bound its work by what the file holds
TASKS = b"echo a\nexit 3\nkill -9 $$\nsleep 3\necho b; echo err >&2\n"
SWEEP = ["--template", "echo {a} {b}", "--grid", "a=1..3", "--grid", "b=x,y"]
STATUS_NAMES = {"NOT_RUN": 0, "SUCCEEDED": 1, "FAILED": 2, "KILLED": 3, "TIMED_OUT": 4,
                "LOST": 5}
OLD_NAMES = {k: v for k, v in STATUS_NAMES.items() if k != "LOST"}  # formats 2 and 3


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---- the mutations: f is an h5py.File opened r+ --------------------------------------------

def replace(f, name, data, **kw):
    del f[name]
    f.create_dataset(name, data=data, **kw)


def raw_status(values):
    def m(f):
        d = f["tasks/status"]
        d.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(values, "i1"),
                   mtype=h5py.h5t.NATIVE_INT8)
    return m


def resize_all(n, ntasks=None):
    def m(f):
        for k in f["tasks"]:
            f["tasks"][k].resize((n,))
        f.attrs["ntasks"] = np.int64(n if ntasks is None else ntasks)
    return m


def set_attr(name, value):
    def m(f):
        f.attrs[name] = value
    return m


def extra_member(f):
    names = dict(STATUS_NAMES, WEIRD=9)
    replace(f, "tasks/status", np.array([1, 9, 9, 9, 2], "i1"),
            dtype=h5py.enum_dtype(names, "i1"))


def status_float(f):
    replace(f, "tasks/status", np.array([1, 2, 3, 4, 1], "f8"))


def start_str(f):
    replace(f, "tasks/start", np.array(["x"] * 5, dtype=h5py.string_dtype()))


def host_int(f):
    replace(f, "tasks/host", np.arange(5, dtype="i8"))


def two_d(f):
    replace(f, "tasks/rank", np.zeros((5, 2), "i4"))


def scalar_col(f):
    replace(f, "tasks/signal", np.int32(0))


def missing_col(f):
    del f["tasks/stderr"]


def tasks_dataset(f):
    del f["tasks"]
    f["tasks"] = np.arange(5)


def dangling(f):
    del f["tasks/host"]
    f["tasks/host"] = h5py.SoftLink("/nowhere")


def soft(f):
    del f["tasks/host"]
    f["tasks/host"] = h5py.SoftLink("/tasks/command")


def external_passwd(f):
    del f["tasks/stdout"]
    f["tasks/stdout"] = h5py.ExternalLink("/etc/passwd", "/x")


def fixed_strings(f):
    replace(f, "tasks/stderr", np.array([b"abc"] * 5, "S3"))


def external_storage(f):
    line = f["tasks/line"][()]
    del f["tasks/line"]
    raw = os.path.join(os.path.dirname(os.path.abspath(f.filename)), "line.bin")
    f.create_dataset("tasks/line", data=line, external=[(raw, 0, 1 << 20)])


def long_enum(f):
    del f["params/a"]
    f.create_dataset("params/a", data=np.array([0, 1, 0, 1, 0, 1], "i1"),
                     dtype=h5py.enum_dtype({"X" * 200: 0, "Y": 1}, "i1"))


def params_compound(f):
    del f["params/a"]
    f["params/a"] = np.zeros(6, dtype=[("p", "i4"), ("q", "f8")])


def params_opaque(f):
    del f["params/b"]
    f["params/b"] = np.zeros(6, "V4")


def times(start, end):
    def m(f):
        f["tasks/start"][1] = start
        f["tasks/end"][1] = end
    return m


def none_ran(f):
    f["tasks/status"][...] = np.zeros(5, "i1")
    f["tasks/rank"][...] = -1


def old_enum(f, extra=None):
    """/tasks/status as taskfarm wrote it before format 4: the 5-member enum, values kept
    (extra: raw values written over them, as no taskfarm wrote)."""
    v = f["tasks/status"][()]
    dt = h5py.enum_dtype(OLD_NAMES, "i1")
    del f["tasks/status"]
    d = f.create_dataset("tasks/status", shape=v.shape, dtype=dt, chunks=v.shape,
                         maxshape=(None,))
    d[...] = v
    if extra is not None:
        d.id.write(h5py.h5s.ALL, h5py.h5s.ALL, np.array(extra, "i1"),
                   mtype=h5py.h5t.NATIVE_INT8)
    if "tasks_lost" in f.attrs:
        del f.attrs["tasks_lost"]


def format3(f):
    old_enum(f)
    f.attrs["format_version"] = np.int64(3)


def format3_lost(f):
    old_enum(f, [1, 5, 3, 4, 1])
    f.attrs["format_version"] = np.int64(3)


def format2(f):
    old_enum(f)
    del f["tasks/slot"]
    for a in ("nslots", "slots_per_rank"):
        if a in f.attrs:
            del f.attrs[a]
    f.attrs["format_version"] = np.int64(2)


def random_bytes(offset, seed):
    def m(path):
        rnd = np.random.default_rng(seed).bytes(16)
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(rnd)
    m.raw = True
    return m


# ---- the table --------------------------------------------------------------------------

ALL = ("status", "export", "report", "durations", "resume")
READ = ("status", "export", "report", "durations")


def refuse(needle, cmds=ALL + ("merge",)):
    return {c: (2, needle) for c in cmds}


VALID = {"status": (1, None), "export": (0, None), "report": (0, None),
         "durations": (0, None), "resume": (1, None)}
VARIANTS = [
    # name, base, mutation, {command: (exit, fragment of the error line)}
    ("normal", "base", None, VALID),
    ("format 2", "base", format2, VALID),
    ("format 3", "base", format3, VALID),
    ("LOST rows at format 4", "base", raw_status([1, 5, 5, 3, 1]), VALID),
    ("LOST enum at format 3", "base", set_attr("format_version", np.int64(3)),
     refuse("/tasks/status is not of the type taskfarm writes (the status enum of formats 2 "
            "and 3")),
    ("LOST value at format 3", "base", format3_lost,
     refuse("/tasks/status row 1 holds 5, which is no status (0 to 4)")),
    ("status 6 at format 4", "base", raw_status([1, 6, 1, 1, 1]),
     refuse("/tasks/status row 1 holds 6, which is no status (0 to 5)")),
    ("format 4 enum without LOST", "base", old_enum,
     refuse("/tasks/status is not of the type taskfarm writes (the status enum of format 4")),
    ("sweep", "sweep", None, {"status": (0, None), "export": (0, None), "report": (0, None)}),
    ("C1 end inf", "base", times(1.0, np.inf), VALID),
    ("C1 start -1e308 end 1e308", "base", times(-1e308, 1e308), VALID),
    ("C11 no task ran", "base", none_ran, {"status": (4, None), "report": (0, None)}),
    ("C2/W7 status 77", "base", raw_status([1, 77, -5, 3, 1]),
     refuse("/tasks/status row 1 holds 77")),
    ("C3 ntasks array", "base", set_attr("ntasks", np.array([5, 6], "i8")),
     refuse("attribute ntasks is not one value")),
    ("C3 nworkers array", "base", set_attr("nworkers", np.array([1, 2, 3], "i8")),
     refuse("attribute nworkers is not one value")),
    ("C3 format_version string", "base", set_attr("format_version", "3"),
     refuse("attribute format_version is not one value")),
    ("C4 long enum name in /params", "sweep", long_enum,
     {"export": (0, None), "status": (0, None)}),
    ("C5 status enum with WEIRD=9", "base", extra_member,
     refuse("/tasks/status is not of the type taskfarm writes")),
    ("H1 2^40 rows", "base", resize_all(2 ** 40), refuse("attribute ntasks is 1099511627776")),
    ("H1 2e9 rows", "base", resize_all(2 * 10 ** 9), refuse("attribute ntasks is 2000000000")),
    ("H1 10^6 rows in chunks of 5", "base", resize_all(10 ** 6),
     refuse("/tasks/command is stored in chunks of fewer than 1024 rows")),
    ("H1 7 rows, ntasks 5", "base", resize_all(7, 5),
     refuse("/tasks/command has 7 rows, ntasks says 5")),
    ("H2 ntasks 2^62", "base", set_attr("ntasks", np.int64(2 ** 62)),
     refuse("attribute ntasks is 4611686018427387904")),
    ("H2 ntasks 6", "base", set_attr("ntasks", np.int64(6)),
     refuse("/tasks/command has 5 rows, ntasks says 6")),
    ("H3 nworkers 10^8", "base", set_attr("nworkers", np.int64(10 ** 8)),
     refuse("attribute nworkers is 100000000")),
    ("H3 huge slot layout", "base",
     set_attr("slots_per_rank", np.full(16000, 4096, "i4")), {"report": (0, None)}),
    ("W1 status float64", "base", status_float, refuse("/tasks/status is not of the type")),
    ("W1 start strings", "base", start_str, refuse("/tasks/start is not of the type")),
    ("W1 host int", "base", host_int, refuse("/tasks/host is not of the type")),
    ("W1 2-D column", "base", two_d, refuse("/tasks/rank has 2 dimensions")),
    ("W1 scalar column", "base", scalar_col, refuse("/tasks/signal has 0 dimensions")),
    ("W1 missing column", "base", missing_col, refuse("/tasks has no column stderr")),
    ("W1 /tasks a dataset", "base", tasks_dataset, refuse("/tasks is not a group")),
    ("W1 dangling soft link", "base", dangling, refuse("/tasks/host is a soft link")),
    ("W1 soft link", "base", soft, refuse("/tasks/host is a soft link")),
    ("W1 external link", "base", external_passwd, refuse("/tasks/stdout is an external link")),
    ("W1 external raw data", "base", external_storage,
     refuse("/tasks/line keeps its data outside the file")),
    ("W4 fixed-length strings", "base", fixed_strings, refuse("/tasks/stderr is not of the type")),
    ("W4 /params compound", "sweep", params_compound,
     {"export": (2, "/params/a has a compound type"), "status": (0, None)}),
    ("W4 /params opaque", "sweep", params_opaque,
     {"export": (2, "/params/b has an opaque type"), "status": (0, None)}),
    ("W8 ntasks 0, 5 rows", "base", set_attr("ntasks", np.int64(0)),
     refuse("/tasks/command has 5 rows, ntasks says 0")),
    ("U3 map file", "map", None,
     {"status": (0, None), "export": (2, "is the result file of an in-process map"),
      "report": (2, "is the result file of an in-process map"),
      "durations": (2, "is the result file of an in-process map")}),
    ("U4 map negative counts", "map",
     lambda f: (f.attrs.__setitem__("items_done", np.int64(-1)),
                f.attrs.__setitem__("items_failed", np.int64(-100))),
     {"status": (2, "attribute items_done is -1")}),
]
# C10: random bytes over the file's metadata: no crash, whatever the answer
for off in (96, 800, 1429, 2000, 3000, 4100):
    VARIANTS.append((f"C10 random bytes at {off}", "base", random_bytes(off, off),
                     {c: (None, None) for c in ALL}))


class Runner:
    def __init__(self, args, wd, c):
        self.args, self.wd, self.c = args, wd, c
        self.n = 0

    def run(self, argv):
        try:
            res = subprocess.run(harness.command(self.args, 0, *argv), cwd=self.wd,
                                 capture_output=True, text=True, timeout=TIMEOUT,
                                 stdin=subprocess.DEVNULL)
            return res.returncode, res.stdout, res.stderr
        except subprocess.TimeoutExpired:
            return "timeout", "", ""

    def expect(self, what, argv, code, needle, guard=()):
        """Run argv; check the exit, the one error line and that guarded files kept their
        bytes when it was refused."""
        before = {p: sha(p) for p in guard if os.path.exists(p)}
        rc, out, err = self.run(argv)
        c = self.c
        c.true(f"{what}: ended within {TIMEOUT} s", rc != "timeout")
        if rc == "timeout":
            return rc, out, err
        c.true(f"{what}: no crash (exit {rc}; {err[-300:]!r})", 0 <= rc < 128)
        c.true(f"{what}: no sanitizer report ({err[-300:]!r})",
               "runtime error:" not in err and "Sanitizer" not in err)
        lines = err.splitlines()
        ours = [l for l in lines if l.startswith("taskfarm: error:")]
        others = [l for l in lines if "error" in l and not l.startswith("taskfarm: error:")]
        if code is not None:
            c.eq(f"{what}: exit code ({err.strip()[:300]!r})", rc, code)
        if rc == 2:
            c.eq(f"{what}: one error line ({err!r})", len(ours), 1)
            c.eq(f"{what}: no other error lines", others, [])
            if needle and ours:
                c.true(f"{what}: {ours[0]!r} names {needle!r}", needle in ours[0])
            for p, h in before.items():
                c.true(f"{what}: {p} unchanged", os.path.exists(p) and sha(p) == h)
        return rc, out, err


def make_bases(args, wd, c):
    tasks = os.path.join(wd, "small.tasks")
    with open(tasks, "wb") as f:
        f.write(TASKS)
    quick = os.path.join(wd, "quick.tasks")
    with open(quick, "wb") as f:
        f.write(b"true\ntrue\n")
    bases = {"base": os.path.join(wd, "base.h5"), "sweep": os.path.join(wd, "sweep.h5"),
             "map": os.path.join(wd, "map.h5")}
    runs = [["run", tasks, "-o", bases["base"], "--timeout", "0.3"],
            ["run", *SWEEP, "-o", bases["sweep"]],
            ["run", "--plugin", f"{args.plugin}:square", "--items", "10", "-o", bases["map"]]]
    for argv in runs:
        res = harness.run(args, 0, *argv, cwd=wd, timeout=120)
        c.true(f"making {argv[-1]}: exit {res.returncode} {res.stderr[-300:]!r}",
               res.returncode in (0, 1))
    return tasks, quick, bases


def craft(bases, wd, i, base, mutate):
    path = os.path.join(wd, f"v{i}.h5")
    shutil.copy(bases[base], path)
    if mutate is not None and getattr(mutate, "raw", False):
        mutate(path)
    elif mutate is not None:
        with h5py.File(path, "r+") as f:
            mutate(f)
    return path


def commands(r, tasks, quick, path, i, base):
    """argv and guarded files of each reader command for the file at path."""
    wd = r.wd
    resume_out = os.path.join(wd, f"resume{i}.h5")
    rel = os.path.relpath(path, wd)
    return {
        "status": (["status", rel], [path]),
        "merge": (["merge", "-o", os.path.join(wd, f"m{i}.h5"), rel], [path]),
        "export": (["export", rel], [path]),
        "report": (["report", rel, "-o", os.path.join(wd, f"r{i}.html")], [path]),
        "durations": (["run", quick, "-o", os.path.join(wd, f"d{i}.h5"), "--durations-from",
                       rel], [path]),
        "resume": (["run", tasks, "-o", resume_out, "--resume", "--timeout", "0.3"]
                   if base == "base" else None, [resume_out]),
    }


def upgraded(c, name, old, resumed):
    """A resumed file of format 2 or 3 is format 4: the 6-member enum, its values kept."""
    with h5py.File(old, "r") as f:
        before = f["tasks/status"][()]
    with h5py.File(resumed, "r") as f:
        c.eq(f"{name}: resumed: format 4", int(f.attrs["format_version"]), 4)
        c.eq(f"{name}: resumed: the enum with LOST",
             h5py.check_enum_dtype(f["tasks/status"].dtype), STATUS_NAMES)
        c.eq(f"{name}: resumed: statuses kept", list(f["tasks/status"][()]), list(before))
        c.eq(f"{name}: resumed: no temporary column left", sorted(f["tasks"]).count(
            "status.format4"), 0)
        c.true(f"{name}: resumed: a slot column", "slot" in f["tasks"])


def variants(r, tasks, quick, bases):
    c = r.c
    for i, (name, base, mutate, want) in enumerate(VARIANTS):
        try:
            path = craft(bases, r.wd, i, base, mutate)
        except Exception as e:  # a crafting step h5py refuses is a broken test, not a pass
            c.true(f"{name}: crafted ({e!r})", False)
            continue
        cmds = commands(r, tasks, quick, path, i, base)
        for cmd, (code, needle) in want.items():
            argv, guard = cmds[cmd]
            if argv is None:
                continue
            if cmd == "resume":
                shutil.copy(path, guard[0])
            rc, out, err = r.expect(f"{name}: {cmd}", argv, code, needle, guard)
            if name in ("format 2", "format 3") and cmd == "resume" and rc == 1:
                upgraded(c, name, path, guard[0])
            if name == "LOST rows at format 4" and cmd == "status":
                c.true(f"{name}: counted ({out!r})", "2 lost, 0 not run" in out)
            if name == "LOST rows at format 4" and cmd == "export":
                c.eq(f"{name}: exported by name", out.count(",LOST,"), 2)
            if name.startswith("C4") and cmd == "export":
                c.true(f"{name}: the long name exported", "X" * 200 in out)
            if name.startswith("C1 ") and cmd == "report" and rc == 0:
                with open(argv[3]) as f:
                    c.true(f"{name}: report says what it left out", "impossible" in f.read())
            if name.startswith("H3") and cmd == "report" and rc == 0:
                size = os.path.getsize(argv[3])
                c.true(f"{name}: report bounded ({size} bytes)", size < 2 << 20)
                with open(argv[3]) as f:
                    c.true(f"{name}: report says lanes were left out", "slots drawn" in f.read())
            if cmd in ("durations", "merge", "report") and rc == 2:
                made = argv[argv.index("-o") + 1]
                c.true(f"{name}: {cmd} left no {made}", not os.path.exists(made))


def fifos(r, tasks, quick):
    """H4: a FIFO where a result file is read is refused at once, never waited on."""
    wd = r.wd
    q = os.path.join(wd, "q.h5")
    os.mkfifo(q)
    for what, argv in (("status", ["status", q]), ("export", ["export", q]),
                       ("report", ["report", q, "-o", os.path.join(wd, "q.html")]),
                       ("durations", ["run", quick, "-o", os.path.join(wd, "qd.h5"),
                                      "--durations-from", q]),
                       ("merge", ["merge", "-o", os.path.join(wd, "qm.h5"), q,
                                  os.path.join(wd, "base.h5")]),
                       ("--items F:/x", ["run", "--plugin", f"{r.args.plugin}:square",
                                         "--items", f"{q}:/x", "-o",
                                         os.path.join(wd, "qi.h5")])):
        r.expect(f"H4 FIFO for {what}", argv, 2, "is not a regular file (a FIFO)")
    # resume: the result file is a FIFO (no journal)
    qr = os.path.join(wd, "qr.h5")
    os.mkfifo(qr)
    r.expect("H4 FIFO as the result file to resume", ["run", tasks, "-o", qr, "--resume"], 2,
             "is not a regular file (a FIFO)")
    # an external link to the FIFO inside a result file, or in an items file: never followed
    base = os.path.join(wd, "base.h5")
    ext = os.path.join(wd, "ext.h5")
    shutil.copy(base, ext)
    with h5py.File(ext, "r+") as f:
        del f["tasks/stdout"]
        f["tasks/stdout"] = h5py.ExternalLink(q, "/x")
    r.expect("H4 external link to a FIFO in a result file", ["status", ext], 2,
             "/tasks/stdout is an external link", [ext])
    items = os.path.join(wd, "items.h5")
    with h5py.File(items, "w") as f:
        f["table"] = np.zeros(4, dtype=[("id", "i8"), ("x", "f8")])
        f["soft"] = h5py.SoftLink("/table")
        f["ext"] = h5py.ExternalLink(q, "/x")
    for name, kind in (("soft", "a soft link"), ("ext", "an external link")):
        r.expect(f"--items through {kind}", ["run", "--plugin", f"{r.args.plugin}:pick",
                                             "--items", f"{items}:/{name}", "-o",
                                             os.path.join(wd, f"i_{name}.h5")], 2,
                 f"{name} is {kind}", [items])
    c = r.c
    c.true("H4: the FIFOs are still FIFOs", stat.S_ISFIFO(os.stat(q).st_mode) and
           stat.S_ISFIFO(os.stat(qr).st_mode))


def outputs(r, tasks):
    """U1, U2: -o problems in one plain line, no HDF5 text."""
    wd = r.wd
    link = os.path.join(wd, "d.h5")
    os.symlink("nonexist.h5", link)
    for what, argv, needle in (
            ("U2 dangling symlink", ["run", tasks, "-o", link], "symlink to 'nonexist.h5', which does not exist"),
            ("U1 /dev/full --force", ["run", tasks, "-o", "/dev/full", "--force"],
             "'/dev/full'"),
            ("U1 /proc/version --force", ["run", tasks, "-o", "/proc/version", "--force"],
             "'/proc/version'")):
        rc, out, err = r.expect(what, argv, 2, needle)
        for bad in ("errno", "H5FD", "flags", "18446744073709551615"):
            r.c.true(f"{what}: no HDF5 text {bad!r} in {err!r}", bad not in err)
    r.c.true("U2: nothing created through the link", not os.path.exists(os.path.join(
        wd, "nonexist.h5")))


def full_disk(r):
    """C6: a full disk ends with exit 3 and one clear line, no crash at exit, and a message
    that does not claim results are where they are not; --resume rebuilds from the journal."""
    wd = r.wd
    mnt = os.path.join(wd, "full")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        print("C6 skipped: cannot mount a 2 MiB tmpfs here (needs root)")
        return
    try:
        t = os.path.join(wd, "full.tasks")
        with open(t, "w") as f:
            for i in range(2000):
                f.write("head -c 10240 /dev/zero | tr '\\0' x\n")
        out = os.path.join(mnt, "out.h5")
        rc, so, err = r.run(["run", t, "-o", out])
        c = r.c
        c.true(f"C6: no crash (exit {rc}, {err[-400:]!r})", rc != "timeout" and 0 <= rc < 128)
        c.eq(f"C6: exit 3 ({err[-400:]!r})", rc, 3)
        ours = [l for l in err.splitlines() if " error: " in l or l.startswith("taskfarm: error:")]
        c.true(f"C6: an error line says the disk is full ({ours!r})",
               any("No space left on device" in l or "full" in l for l in ours))
        c.true(f"C6: no claim that results are in the file ({ours!r})",
               not any("finished results so far are in" in l for l in ours))
        # the journal (if any reached the disk) lets --resume rebuild elsewhere
        j = out + ".journal"
        if os.path.exists(j):
            wd2 = os.path.join(wd, "again")
            os.mkdir(wd2)
            shutil.copy(j, os.path.join(wd2, "out.h5.journal"))
            if os.path.exists(out):
                shutil.copy(out, os.path.join(wd2, "out.h5"))
            rc2, so2, err2 = r.run(["run", t, "-o", os.path.join(wd2, "out.h5"), "--resume"])
            c.true(f"C6: --resume elsewhere finishes (exit {rc2}, {err2[-300:]!r})", rc2 == 0)
        # export and report onto the full disk: exit 3, one line, no file (not even partial)
        with open(os.path.join(mnt, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        base = os.path.join(wd, "base.h5")
        for what, argv, made in (
                ("export", ["export", base, "-o", os.path.join(mnt, "x.csv")], "x.csv"),
                ("report", ["report", base, "-o", os.path.join(mnt, "x.html")], "x.html")):
            before = set(os.listdir(mnt))
            rc, so, err = r.run(argv)
            c.eq(f"C6 {what} onto a full disk: exit ({err!r})", rc, 3)
            ours = [l for l in err.splitlines() if l.startswith("taskfarm: error:")]
            c.eq(f"C6 {what} onto a full disk: one line ({err!r})", len(ours), 1)
            c.eq(f"C6 {what} onto a full disk: no file left", set(os.listdir(mnt)), before)
    finally:
        subprocess.run(["umount", mnt], capture_output=True)


def main():
    args = harness.parse_args({"--plugin": {"required": True}})
    wd = harness.workdir()
    c = harness.Checker()
    r = Runner(args, wd, c)
    tasks, quick, bases = make_bases(args, wd, c)
    variants(r, tasks, quick, bases)
    fifos(r, tasks, quick)
    outputs(r, tasks)
    full_disk(r)
    c.finish()


if __name__ == "__main__":
    main()
