"""In-process maps through the CLI (--plugin): typed results read back and checked value by
value, failures, crashes, kill -9 and resume, bad input, and the examples in jobs/."""
import os
import signal
import struct
import subprocess
import time
import zlib

import h5py
import numpy as np

import harness

M64 = (1 << 64) - 1


def mix(n):
    """f(i) of the benchmark (jobs/plugins/mix.c), vectorised: uint64 arithmetic wraps."""
    x = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for _ in range(96):
            x = x * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
            x ^= x >> np.uint64(29)
    return x


def attrs_of(f):
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def table(f, group):
    return {k: f[group][k][:] for k in f[group]}


def journal_records(path):
    """Whole records in a journal (a torn tail is not counted)."""
    try:
        with open(path, "rb") as fh:
            d = fh.read()
    except FileNotFoundError:
        return 0
    p, n = 8, 0
    while p + 8 <= len(d):
        length, crc = struct.unpack_from("<II", d, p)
        payload = d[p + 8:p + 8 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break
        p, n = p + 8 + length, n + 1
    return n - 1  # the header


class Plugin:
    def __init__(self, args, c, wd):
        self.args, self.c, self.wd = args, c, wd

    def run(self, np_, fn, items, out, *extra, env=None, lib=None, timeout=300):
        cmd = harness.command(self.args, np_, "run", "--plugin", f"{lib or self.args.plugin}:{fn}",
                              "--items", str(items), "-o", out, *extra)
        e = dict(os.environ, **(env or {}))
        if np_ and env:  # mpirun passes only what it is told to
            for k in env:
                cmd[1:1] = ["-x", k]
        return subprocess.run(cmd, cwd=self.wd, capture_output=True, text=True, timeout=timeout,
                              env=e)

    def check_cover(self, what, f, n):
        """/batches covers items 0..n-1 exactly once."""
        b = table(f, "batches")
        o = np.argsort(b["first"], kind="stable")
        first, count = b["first"][o], b["count"][o]
        self.c.eq(f"{what}: items in /batches", int(count.sum()), n)
        self.c.true(f"{what}: batches neither overlap nor leave gaps",
                    n == 0 or (len(first) > 0 and first[0] == 0 and
                               (first[1:] == first[:-1] + count[:-1]).all()))
        return b


def check_mix(p, np_, n, env=None):
    """By default workers on the master's node write results into the file themselves;
    with TASKFARM_DIRECT_WRITES=0 every byte goes through the master."""
    c, wd = p.c, p.wd
    out = os.path.join(wd, f"mix{np_}_{n}{'_via_master' if env else ''}.h5")
    res = p.run(np_, "mix", n, out, lib=os.path.join(p.args.examples, "libmix.so"), env=env)
    c.eq(f"mix np{np_} n{n}: exit ({res.stderr[-300:]})", res.returncode, 0)
    with h5py.File(out, "r") as f:
        got = f["results/mix"][:]
        c.eq(f"mix np{np_} n{n}: dtype", got.dtype, np.dtype("<u8"))
        c.true(f"mix np{np_} n{n}: every value is f(i)", np.array_equal(got, mix(n)))
        b = p.check_cover(f"mix np{np_} n{n}", f, n)
        a = attrs_of(f)
        c.eq(f"mix np{np_} n{n}: state", a["state"], "closed")
        c.eq(f"mix np{np_} n{n}: items_done", int(a["items_done"]), n)
        want_ranks = set(range(max(np_, 1)))  # every rank computes, rank 0 too
        if n >= 1000 * np_:
            c.eq(f"mix np{np_} n{n}: every worker took part", set(b["rank"].tolist()), want_ranks)
        c.true(f"mix np{np_} n{n}: batches grew past one item", n < 100 or b["count"].max() > 16)
    c.true(f"mix np{np_} n{n}: journal removed", not os.path.exists(out + ".journal"))
    c.true(f"mix np{np_}: summary on stdout", f"{n} items of mix" in res.stdout)


def check_square(p, f, n, what, crashed=()):
    c = p.c
    r = f["results/square"][:]
    i = np.arange(n)
    bad = (i % 1000 == 999) | np.isin(i, list(crashed))
    good = ~bad
    c.eq(f"{what}: fields", r.dtype.names, ("i", "sq", "tag"))
    c.true(f"{what}: i", np.array_equal(r["i"][good], i[good]))
    c.true(f"{what}: sq", np.array_equal(r["sq"][good], i[good].astype(float) ** 2))
    tags = np.where(i % 2 == 1, b"odd", b"ok")
    c.true(f"{what}: tag", np.array_equal(r["tag"][good], tags[good]))
    c.true(f"{what}: failed rows are zero", (r["i"][bad] == 0).all() and (r["sq"][bad] == 0).all())
    fl = table(f, "failures")
    order = np.argsort(fl["item"])
    c.eq(f"{what}: failed items", fl["item"][order].tolist(), i[bad].tolist())
    codes = dict(zip(fl["item"].tolist(), fl["code"].tolist()))
    sigs = dict(zip(fl["item"].tolist(), fl["signal"].tolist()))
    for k in i[bad]:
        k = int(k)
        want = (128 + 11, 11) if k in crashed else (7, 0)
        c.eq(f"{what}: code and signal of item {k}", (codes.get(k), sigs.get(k)), want)
    return p.check_cover(what, f, n)


def check_failures_and_types(p):
    c, wd = p.c, p.wd
    n = 5000
    out = os.path.join(wd, "square.h5")
    res = p.run(3, "square", n, out)
    c.eq(f"square: exit 1 when items failed ({res.stderr[-300:]})", res.returncode, 1)
    c.true("square: the warning counts failures", "failed on 5 of 5000 items" in res.stderr)
    with h5py.File(out, "r") as f:
        check_square(p, f, n, "square")
        c.eq("square: items_failed", int(f.attrs["items_failed"]), 5)
    # More workers than items, one item, zero items.
    for np_, n in ((6, 3), (2, 1), (3, 0), (0, 0)):
        out = os.path.join(wd, f"small{np_}_{n}.h5")
        res = p.run(np_, "square", n, out)
        c.eq(f"square np{np_} n{n}: exit ({res.stderr[-300:]})", res.returncode, 0)
        with h5py.File(out, "r") as f:
            c.eq(f"square np{np_} n{n}: rows", f["results/square"].shape, (n,))
            check_square(p, f, n, f"square np{np_} n{n}")


def check_hdf5_items(p):
    c, wd = p.c, p.wd
    n = 3000
    src = os.path.join(wd, "items.h5")
    dt = np.dtype([("name", "S4"), ("id", "<i8"), ("x", "<f4"), ("extra", "<i2")])
    items = np.zeros(n, dtype=dt)
    items["id"] = np.arange(n) * 3
    items["x"] = np.linspace(-5, 5, n).astype(np.float32)
    with h5py.File(src, "w") as f:
        f["table"] = items
        f["flat"] = np.arange(n, dtype=np.float64)
    out = os.path.join(wd, "pick.h5")
    res = p.run(2, "pick", f"{src}:/table", out)
    c.eq(f"pick: exit ({res.stderr[-300:]})", res.returncode, 0)
    with h5py.File(out, "r") as f:
        got = f["results/pick"][:]
        c.eq("pick: a plain float64 dataset", got.dtype, np.dtype("<f8"))
        want = items["x"].astype(np.float64) * 2 + items["id"]
        c.true("pick: converted by field name, whatever the file's order and widths",
               np.allclose(got, want))
        c.eq("pick: items_source", attrs_of(f)["items_source"], f"{src}:/table")
    # The function needs field 'x'; a dataset without it is refused before anything runs.
    res = p.run(2, "pick", f"{src}:/flat", os.path.join(wd, "nope.h5"))
    c.eq("pick from records without the fields: exit 2", res.returncode, 2)
    c.true(f"pick from records without the fields: names the problem ({res.stderr!r})",
           "/flat" in res.stderr)
    c.true("pick from records without the fields: no output",
           not os.path.exists(os.path.join(wd, "nope.h5")))


def check_crash_resume(p):
    """A function that crashes its process: the item is reported, finished results are kept,
    and a resume records the item as failed and finishes the rest."""
    c, wd = p.c, p.wd
    n, bad = 20000, 12345
    out = os.path.join(wd, "crash.h5")
    res = p.run(3, "square", n, out, env={"TF_TEST_CRASH": str(bad)})
    c.true(f"crash: the run fails ({res.returncode})", res.returncode != 0)
    c.true(f"crash: stderr names the item ({res.stderr[-400:]!r})",
           f"crashed the process: item {bad} signal 11" in res.stderr)
    with open(out + ".crashes") as fh:
        c.true("crash: recorded beside the result file", fh.read().startswith(f"item {bad} "))
    res = p.run(3, "square", n, out, "--resume", env={"TF_TEST_CRASH": str(bad)})
    c.eq(f"crash resume: exit 1 (failures) ({res.stderr[-400:]})", res.returncode, 1)
    with h5py.File(out, "r") as f:
        check_square(p, f, n, "crash resume", crashed=(bad,))
        c.eq("crash resume: closed", f.attrs["state"], b"closed" if isinstance(
            f.attrs["state"], bytes) else "closed")
    c.true("crash resume: crash note consumed", not os.path.exists(out + ".crashes"))
    c.true("crash resume: journal removed", not os.path.exists(out + ".journal"))


def check_kill_resume(p):
    """kill -9 mid-run, then resume: nothing journaled is computed again, nothing is lost."""
    c, wd = p.c, p.wd
    n = 6000
    out = os.path.join(wd, "killed.h5")
    cmd = harness.command(p.args, 0, "run", "--plugin", f"{p.args.plugin}:square", "--items",
                          str(n), "-o", out)
    proc = subprocess.Popen(cmd, cwd=wd, env=dict(os.environ, TF_TEST_SLEEP_US="500"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while journal_records(out + ".journal") < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    recorded = journal_records(out + ".journal")
    c.true(f"kill: the journal had records ({recorded})", recorded >= 8)
    res = p.run(3, "square", n, out, "--resume")
    c.eq(f"kill resume: exit 1 (failures) ({res.stderr[-400:]})", res.returncode, 1)
    c.true("kill resume: the file was rebuilt", "rebuilding" in res.stderr)
    with h5py.File(out, "r") as f:
        b = check_square(p, f, n, "kill resume")
        c.true(f"kill resume: the killed run's batches were kept ({recorded})",
               int((b["rank"] == 0).sum()) >= recorded)
        c.eq("kill resume: resumes", int(f.attrs["resumes"]), 0)


def check_signal_resume(p):
    """SIGUSR1 (what mpirun forwards): no new batches, the file closed, exit 4; resume ends it."""
    c, wd = p.c, p.wd
    n = 4000
    out = os.path.join(wd, "stopped.h5")
    cmd = harness.command(p.args, 3, "run", "--plugin", f"{p.args.plugin}:square", "--items",
                          str(n), "-o", out)
    cmd[1:1] = ["-x", "TF_TEST_SLEEP_US"]
    proc = subprocess.Popen(cmd, cwd=wd, env=dict(os.environ, TF_TEST_SLEEP_US="1000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while journal_records(out + ".journal") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=120)
    c.eq(f"signal: exit 4 ({err[-300:]})", proc.returncode, 4)
    with h5py.File(out, "r") as f:
        a = attrs_of(f)
        c.eq("signal: file closed", a["state"], "closed")
        c.true(f"signal: some items not run ({a['items_not_run']})", a["items_not_run"] > 0)
    res = p.run(2, "square", n, out, "--resume")
    c.eq(f"signal resume: exit 1 ({res.stderr[-300:]})", res.returncode, 1)
    with h5py.File(out, "r") as f:
        check_square(p, f, n, "signal resume")
        c.eq("signal resume: resumes", int(f.attrs["resumes"]), 1)


def check_threads(p):
    """Slots of a map are compute threads: a function declared thread-safe runs on the
    process's share of the cores (or -j), checked value by value, with failures and a crash;
    one not so declared runs on one thread, and a line says how to use more."""
    c, wd = p.c, p.wd
    n = 1000000
    out = os.path.join(wd, "mix_threads.h5")
    res = p.run(0, "mix", n, out, "-j", "2", lib=os.path.join(p.args.examples, "libmix.so"))
    c.eq(f"threads: mix -j 2 exit ({res.stderr[-300:]})", res.returncode, 0)
    c.true(f"threads: mix on 2 threads ({res.stderr[-300:]})",
           "2 compute threads in 1 process" in res.stderr)
    c.true(f"threads: summary ({res.stdout})", "on 2 threads of 1 process" in res.stdout)
    with h5py.File(out, "r") as f:
        c.true("threads: every value of mix is f(i)", np.array_equal(f["results/mix"][:], mix(n)))
        p.check_cover("threads: mix", f, n)
    safe = {"TF_TEST_THREAD_SAFE": "1"}
    for np_ in (0, 2):
        out = os.path.join(wd, f"square_threads{np_}.h5")
        res = p.run(np_, "square", 20000, out, "-j", "4", env=safe)
        c.eq(f"threads np{np_}: square exit 1 (failures) ({res.stderr[-300:]})", res.returncode, 1)
        with h5py.File(out, "r") as f:
            b = check_square(p, f, 20000, f"threads np{np_}: square")
            c.eq(f"threads np{np_}: batches from every rank", set(b["rank"].tolist()),
                 set(range(max(np_, 1))))
    # How many calls ran at once, as the function itself saw it.
    slow = {"TF_TEST_SLEEP_US": "300"}
    out = os.path.join(wd, "inflight1.h5")
    res = p.run(0, "inflight", 600, out, "-j", "4", env=slow)
    c.eq(f"threads: undeclared exit ({res.stderr[-300:]})", res.returncode, 0)
    with h5py.File(out, "r") as f:
        c.eq("threads: a function not declared thread-safe never runs twice at once",
             int(f["results/inflight"][:].max()), 1)
    c.true(f"threads: the note says how to use more cores ({res.stderr[-300:]})",
           "not declared thread-safe" in res.stderr and "taskfarm_map_thread_safe" in res.stderr)
    out = os.path.join(wd, "inflight4.h5")
    res = p.run(0, "inflight", 600, out, "-j", "4", env=dict(slow, **safe))
    with h5py.File(out, "r") as f:
        most = int(f["results/inflight"][:].max())
    c.true(f"threads: declared, -j 4: calls at once ({most})", 2 <= most <= 4)
    # A crash on one of several threads names its item; a resume records it failed.
    out, bad = os.path.join(wd, "crash_threads.h5"), 7777
    env = dict(safe, TF_TEST_CRASH=str(bad))
    res = p.run(0, "square", 20000, out, "-j", "3", env=env)
    c.true(f"threads: the crash ends the run ({res.returncode})", res.returncode != 0)
    c.true(f"threads: stderr names the item ({res.stderr[-300:]!r})",
           f"crashed the process: item {bad} signal 11" in res.stderr)
    res = p.run(0, "square", 20000, out, "-j", "3", "--resume", env=env)
    c.eq(f"threads: crash resume exit 1 ({res.stderr[-300:]})", res.returncode, 1)
    with h5py.File(out, "r") as f:
        check_square(p, f, 20000, "threads: crash resume", crashed=(bad,))


def check_bad_input(p):
    c, wd = p.c, p.wd
    out = os.path.join(wd, "bad.h5")
    existing = os.path.join(wd, "existing.h5")
    p.run(0, "square", 10, existing)
    with open(existing, "rb") as fh:
        before = fh.read()

    def refused(what, argv, needle, code=2, np_=0, path=out):
        res = subprocess.run(harness.command(p.args, np_, *argv), cwd=wd, capture_output=True,
                             text=True, timeout=120)
        c.eq(f"{what}: exit", res.returncode, code)
        lines = [l for l in res.stderr.splitlines() if l.startswith("taskfarm: error:")]
        c.eq(f"{what}: one error line ({res.stderr!r})", len(lines), 1)
        c.true(f"{what}: names {needle!r} ({lines})", bool(lines) and needle in lines[0])
        if path == out:
            c.true(f"{what}: nothing written", not os.path.exists(out))

    lib = p.args.plugin
    refused("no such library", ["run", "--plugin", "nolib.so:f", "--items", "5", "-o", out],
            "nolib.so")
    refused("no such function", ["run", "--plugin", f"{lib}:nope", "--items", "5", "-o", out],
            "nope")
    refused("no items", ["run", "--plugin", f"{lib}:square", "-o", out], "--items")
    refused("bad items", ["run", "--plugin", f"{lib}:square", "--items", "x", "-o", out], "x")
    refused("bad plugin spec", ["run", "--plugin", "lib.so", "--items", "5"], "lib.so")
    refused("task-only option", ["run", "--plugin", f"{lib}:square", "--items", "5",
                                 "--timeout", "5", "-o", out], "--timeout")
    refused("task file and plugin", ["run", "x.tasks", "--plugin", f"{lib}:square",
                                     "--items", "5", "-o", out], "x.tasks")
    refused("items file missing", ["run", "--plugin", f"{lib}:pick", "--items",
                                   "missing.h5:/t", "-o", out], "missing.h5")
    refused("existing output", ["run", "--plugin", f"{lib}:square", "--items", "10", "-o",
                                existing], "existing.h5", path=existing)
    refused("resume of another map", ["run", "--plugin", f"{lib}:square", "--items", "11",
                                      "-o", existing, "--resume"], "different map",
            path=existing, np_=2)
    with open(existing, "rb") as fh:
        c.true("refusals left the existing file untouched", fh.read() == before)


def check_examples(p):
    """jobs/: the tax microsimulation end to end, its numbers checked against the schedule."""
    c, wd = p.c, p.wd
    src = p.args.source
    hh = os.path.join(wd, "households.h5")
    subprocess.run(["/usr/bin/python3", os.path.join(src, "jobs/plugins/make_households.py"),
                    hh, "20000", "7"], check=True, capture_output=True)
    out = os.path.join(wd, "tax.h5")
    res = p.run(3, "tax", f"{hh}:/households", out, lib=os.path.join(p.args.examples, "libtax.so"))
    with h5py.File(hh, "r") as f:
        h = f["households"][:]
    invalid = np.flatnonzero(h["income"] < 0)
    c.eq(f"tax: exit 1 (invalid households) ({res.stderr[-300:]})", res.returncode, 1)
    with h5py.File(out, "r") as f:
        r = f["results/tax"][:]
        c.eq("tax: failures are the negative incomes", np.sort(f["failures/item"][:]).tolist(),
             invalid.tolist())
    ok = np.setdiff1d(np.arange(len(h)), invalid)
    c.true("tax: ids carried through", np.array_equal(r["id"][ok], h["id"][ok]))
    per = h["income"] / h["adults"] - 12570 - 3000 * h["children"]
    bands = [(0, 50270, 0.20), (50270, 125140, 0.40), (125140, np.inf, 0.45)]
    tax = sum(np.clip(np.minimum(per, hi) - lo, 0, None) * rate for lo, hi, rate in bands)
    tax = np.where(per > 0, tax, 0) * h["adults"]
    c.true("tax: tax matches the schedule", np.allclose(r["tax"][ok], tax[ok], rtol=1e-9, atol=1e-6))
    net = h["income"] - r["tax"] + r["benefit"]
    c.true("tax: net income = income - tax + benefit", np.allclose(r["net_income"][ok], net[ok]))
    res = subprocess.run(["/usr/bin/python3", os.path.join(src, "jobs/analysis/tax_summary.py"),
                          hh, out], capture_output=True, text=True)
    c.eq(f"tax_summary.py: exit ({res.stderr})", res.returncode, 0)
    c.true(f"tax_summary.py: counts ({res.stdout!r})",
           f"households: 20000  failed: {len(invalid)}  file: closed" in res.stdout)


def main():
    args = harness.parse_args({"--plugin": {"required": True}, "--examples": {"required": True}})
    wd = harness.workdir()
    c = harness.Checker()
    p = Plugin(args, c, wd)
    for np_, n in ((0, 100000), (1, 5000), (3, 200000), (5, 50000)):
        check_mix(p, np_, n)
    check_mix(p, 3, 200000, env={"TASKFARM_DIRECT_WRITES": "0"})
    check_failures_and_types(p)
    check_hdf5_items(p)
    check_crash_resume(p)
    check_kill_resume(p)
    check_signal_resume(p)
    check_threads(p)
    check_bad_input(p)
    check_examples(p)
    c.finish()


if __name__ == "__main__":
    main()
