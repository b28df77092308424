"""Crafted and damaged journals on --resume (issue 14: D2, D3, W3, H8, H4, D4).

A real interrupted run (kill -9 once 4 of 5 tasks are recorded) gives a result file and a
journal whose header belongs to it; each case copies that pair and rewrites the journal's
records with journal.py. Each task appends its id to side.log, so a case sees which tasks ran
again. Checked: a damaged record in the middle is reported with its offset and only its task
runs again; a torn tail is still cut; a journal holding what cannot be is refused with exit 2
and one line, every file as it was; a malformed result file resumed three times changes
nothing; 20,000 records of repeated ids rebuild in seconds; a FIFO journal is refused, never
waited on; a journal is never created through a symlink or over a directory; a rebuild keeps
the file it replaces as OUT.h5.damaged (.damaged.1 when that is taken); an output name
whose journal name is too long is refused before the result file is created.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

from harness import Checker, command, parse_args, read_tasks, run, workdir
from journal import frame, read_journal, results_payload, split_journal, wait_for_finished

args = parse_args()
ck = Checker()
top = workdir()
side = os.path.join(top, "side.log")
go = os.path.join(top, "GO")
tasks = os.path.join(top, "t.tasks")
NT = 5
with open(tasks, "w") as f:
    for i in range(NT - 1):
        f.write(f"echo {i} >> {side} && echo r{i}\n")
    # the last task waits until GO exists, so the fixture run can be killed with 4 recorded
    f.write(f"while [ ! -e {go} ]; do sleep 0.05; done; echo {NT - 1} >> {side} && "
            f"echo r{NT - 1}\n")

# The fixture: an interrupted run (state "running") and its journal.
fix = os.path.join(top, "fix.h5")
p = subprocess.Popen(command(args, 0, "run", tasks, "-o", fix, "-q"), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
ck.true("fixture: 4 tasks recorded", wait_for_finished(fix, NT - 1, timeout=60, proc=p))
os.killpg(p.pid, signal.SIGKILL)
p.wait()
open(go, "w").close()


def orphans():
    """Processes of this test's task file still alive (the killed run's waiting task, which
    taskfarm ran in a process group of its own): found by the GO path, unique to this test."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if go.encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


t0 = time.monotonic()
while orphans() and time.monotonic() - t0 < 20:
    time.sleep(0.05)  # it sees GO, writes its id and ends
ck.eq("fixture: the killed run's task ended", orphans(), [])
HEAD, fix_records = split_journal(fix + ".journal")
FIX = {r: dict(v, id=r) for r, v in read_journal(fix + ".journal").items()}
ck.eq("fixture: recorded tasks", sorted(FIX), list(range(NT - 1)))

# A complete, closed run of the same task file (for the malformed-file case).
done = os.path.join(top, "done.h5")
ck.eq("complete run", run(args, 0, "run", tasks, "-o", done, "-q").returncode, 0)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(d):
    """Every file of a directory with its bytes' hash (a symlink as its target)."""
    out = {}
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.islink(p):
            out[name] = "-> " + os.readlink(p)
        elif os.path.isfile(p):
            out[name] = digest(p)
        else:
            out[name] = "special"
    return out


def case(name, records=None, raw=None):
    """A directory holding out.h5 (the interrupted fixture) and a journal of the fixture's
    header followed by `records` (payloads, each framed) or the bytes `raw`."""
    d = os.path.join(top, name)
    os.mkdir(d)
    out = os.path.join(d, "out.h5")
    shutil.copy(fix, out)
    body = raw if raw is not None else b"".join(frame(p) for p in records)
    with open(out + ".journal", "wb") as f:
        f.write(HEAD + body)
    return d, out


def side_ids():
    if not os.path.exists(side):
        return []
    with open(side) as f:
        ids = [int(x) for x in f.read().split()]
    os.unlink(side)
    return ids


def resume(out, *extra, timeout=60):
    side_ids()  # forget what ran before
    t0 = time.monotonic()
    r = run(args, 0, "run", tasks, "-o", out, "--resume", *extra, timeout=timeout)
    return r, time.monotonic() - t0


def errors(r):
    return [line for line in r.stderr.splitlines() if line.startswith("taskfarm: error:")]


def refused(what, d, out, needles, *extra):
    """Exit 2, one error line naming each needle, nothing else on stderr, no file changed."""
    before = snapshot(d)
    try:
        r, _ = resume(out, *extra, timeout=30)
    except subprocess.TimeoutExpired:
        ck.true(f"{what}: the resume hung", False)
        return
    ck.eq(f"{what}: exit code", r.returncode, 2)
    lines = errors(r)
    ck.eq(f"{what}: one error line ({r.stderr!r})", len(lines), 1)
    for n in needles:
        ck.true(f"{what}: {lines[:1]} names {n!r}", bool(lines) and n in lines[0])
    ck.eq(f"{what}: nothing else on stderr", [x for x in r.stderr.splitlines()
                                              if not x.startswith("taskfarm: error:")], [])
    ck.eq(f"{what}: every file as it was", snapshot(d), before)
    ck.eq(f"{what}: no task ran", side_ids(), [])


def one(i, **kw):
    return results_payload([dict(FIX[i], **kw)])


def finished_rows(out):
    cols, attrs, _ = read_tasks(out)
    return cols, attrs


# ---- D2: a damaged record in the middle ------------------------------------------------------
recs = [one(i) for i in range(NT - 1)]
d, out = case("d2", recs)
old = digest(out)
jbytes = bytearray(open(out + ".journal", "rb").read())
second = len(HEAD) + len(frame(recs[0]))  # offset of task 1's record
end_second = second + len(frame(recs[1]))
jbytes[end_second - 3] ^= 0x5A  # byte -3 of the 2nd record, as in the notes' reproducer
with open(out + ".journal", "wb") as f:
    f.write(jbytes)
r, _ = resume(out)
ck.eq("D2: exit code", r.returncode, 0)
warn = [x for x in r.stderr.splitlines() if "damaged" in x and "journal" in x]
ck.eq(f"D2: one line reports the damaged record ({r.stderr!r})", len(warn), 1)
ck.true(f"D2: the line names offset {second}: {warn[:1]}",
        bool(warn) and f"offset {second}" in warn[0])
ck.eq("D2: only the damaged record's task and the unfinished one ran", sorted(side_ids()), [1, 4])
cols, attrs = finished_rows(out)
ck.eq("D2: every task succeeded", list(cols["status"]), [1] * NT)
ck.eq("D2: rows hold their output", list(cols["stdout"]), [f"r{i}\n" for i in range(NT)])
ck.eq("D2: state", attrs["state"], "closed")
ck.true("D2: the replaced file is kept as out.h5.damaged",
        os.path.exists(out + ".damaged") and digest(out + ".damaged") == old)

# ---- a torn tail: still cut; an existing .damaged is not overwritten --------------------------
torn = frame(one(3))[:-7]
d, out = case("torn", raw=b"".join(frame(x) for x in recs[:3]) + torn)
old = digest(out)
with open(out + ".damaged", "wb") as f:
    f.write(b"an earlier copy")
r, _ = resume(out)
ck.eq("torn tail: exit code", r.returncode, 0)
ck.true(f"torn tail: reported as cut ({r.stderr!r})", "cut off by a crash" in r.stderr)
ck.eq("torn tail: the torn task and the unfinished one ran", sorted(side_ids()), [3, 4])
cols, attrs = finished_rows(out)
ck.eq("torn tail: rows hold their output", list(cols["stdout"]), [f"r{i}\n" for i in range(NT)])
ck.eq("torn tail: the earlier .damaged kept", open(out + ".damaged", "rb").read(),
      b"an earlier copy")
ck.true("torn tail: the replaced file is kept as out.h5.damaged.1",
        os.path.exists(out + ".damaged.1") and digest(out + ".damaged.1") == old)

# ---- W3: records that cannot be -------------------------------------------------------------
bad = {
    "id 7 of 5": (dict(id=7), ["task id 7, but the run has 5 tasks"]),
    "id 2^64-1": (dict(id=2**64 - 1), ["task id 18446744073709551615"]),
    "status 77": (dict(status=77), ["status 77"]),
    "attempts -1": (dict(attempts=-1), ["-1 attempts"]),
    "stdout not UTF-8": (dict(stdout=b"r2\xff\xfe\n"), ["stdout", "UTF-8"]),
    "stderr not UTF-8": (dict(stderr=b"\xed\xa0\x80"), ["stderr", "UTF-8"]),
    "host not UTF-8": (dict(host=b"no\xc3(de"), ["host", "UTF-8"]),
    "infinite end": (dict(end=float("inf")), ["infinite"]),
}
for k, (kw, needles) in bad.items():
    name = "w3-" + "".join(ch if ch.isalnum() else "_" for ch in k)
    base = dict(FIX[2])
    base.update(kw)
    recs_w3 = [one(0), one(1), results_payload([base])]
    d, out = case(name, recs_w3)
    at = len(HEAD) + len(frame(recs_w3[0])) + len(frame(recs_w3[1]))
    refused(f"W3 {k}", d, out, [out + ".journal", f"offset {at}"] + needles)

# ---- D3: a malformed result file, no journal, resumed three times ----------------------------
# Exit 2 and the one line naming the column come from the result-file validation (h5out.c);
# the resume's part is that nothing is created or changed first, so no later resume rebuilds.
d = os.path.join(top, "d3")
os.mkdir(d)
out = os.path.join(d, "out.h5")
shutil.copy(done, out)
with h5py.File(out, "r+") as f:
    st = f["tasks/status"][()].astype("f8")
    del f["tasks/status"]
    f["tasks/status"] = st
before = snapshot(d)
for i in range(3):
    r, _ = resume(out)
    ck.eq(f"D3 #{i + 1}: exit code", r.returncode, 2)
    ck.eq(f"D3 #{i + 1}: one error line ({r.stderr!r})", len(errors(r)), 1)
    ck.eq(f"D3 #{i + 1}: nothing created, nothing changed", snapshot(d), before)
    ck.true(f"D3 #{i + 1}: no rebuild", "rebuil" not in r.stderr)

# ---- H8: 20,000 records whose ids repeat ------------------------------------------------------
N = 20000
recs_h8 = [results_payload([dict(FIX[k % 4], id=k % 4, stdout=f"r{k % 4}-{k}\n")])
           for k in range(N)]
d, out = case("h8", recs_h8)
r, took = resume(out, timeout=120)
ck.eq("H8: exit code", r.returncode, 0)
print(f"H8: 20,000 duplicate-id records rebuilt and resumed in {took:.2f} s")
ck.true(f"H8: rebuilt in {took:.1f} s (18 s before)", took < 5.0)
cols, _ = finished_rows(out)
ck.eq("H8: each row holds the task's last record",
      list(cols["stdout"][:4]), [f"r{i}-{N - 4 + i}\n" for i in range(4)])
ck.eq("H8: only the unfinished task ran", side_ids(), [4])

# ---- H4: a FIFO as the journal -----------------------------------------------------------------
d = os.path.join(top, "fifo")
os.mkdir(d)
out = os.path.join(d, "out.h5")
shutil.copy(fix, out)
os.mkfifo(out + ".journal")
refused("FIFO journal", d, out, [out + ".journal", "FIFO"])

# ---- D4, the journal's half: run --force with a symlinked or directory journal ---------------
d = os.path.join(top, "link")
os.mkdir(d)
out = os.path.join(d, "out.h5")
shutil.copy(done, out)
victim = os.path.join(d, "victim.txt")
with open(victim, "wb") as f:
    f.write(b"not a journal, and not to be written")
os.symlink(victim, out + ".journal")
before = snapshot(d)
side_ids()
r = run(args, 0, "run", tasks, "-o", out, "--force", timeout=30)
ck.eq("symlinked journal: exit code", r.returncode, 2)
ck.eq(f"symlinked journal: one line ({r.stderr!r})", len(errors(r)), 1)
ck.true("symlinked journal: names it", any("symbolic link" in x and out + ".journal" in x
                                          for x in errors(r)))
ck.eq("symlinked journal: every file as it was (the link's target too)", snapshot(d), before)
ck.eq("symlinked journal: no task ran", side_ids(), [])

d = os.path.join(top, "jdir")
os.mkdir(d)
out = os.path.join(d, "out.h5")
shutil.copy(done, out)
os.mkdir(out + ".journal")
before = snapshot(d)
r = run(args, 0, "run", tasks, "-o", out, "--force", timeout=30)
ck.eq("directory journal: exit code", r.returncode, 2)
ck.eq(f"directory journal: one line ({r.stderr!r})", len(errors(r)), 1)
ck.true("directory journal: says so", any("a directory" in x for x in errors(r)))
ck.eq("directory journal: every file as it was", snapshot(d), before)

# ---- W6: a result file name whose journal name is too long: refused before anything exists ----
d = os.path.join(top, "longname")
os.mkdir(d)
out = os.path.join(d, "a" * 250 + ".h5")
r = run(args, 0, "run", tasks, "-o", out, timeout=30)
ck.eq("journal name too long: exit code", r.returncode, 2)
ck.eq(f"journal name too long: one line ({r.stderr!r})", len(errors(r)), 1)
ck.true("journal name too long: says so", any("too long" in x for x in errors(r)))
ck.eq("journal name too long: nothing left behind", os.listdir(d), [])
ck.finish()
