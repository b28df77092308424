"""Task slots, read back from the result file: one process runs as many tasks at once as it
has slots (the overlap of the tasks' start and end times), a slot never runs two at once,
TASKFARM_SLOT is the slot column, and several processes share the work. Then one process
alone with 128 slots (-j 128) runs tasks that fail, time out, print a lot and retry, each
with the outcome it has alone; stopped by SIGUSR1 mid-run (exit 4) and resumed, it ends with
the same outcomes, and its memory stays small."""
import os
import signal
import subprocess
import time

import numpy as np

import harness
from journal import read_journal


def most_at_once(start, end):
    """The most intervals [start, end) open at one moment."""
    ev = sorted([(s, 1) for s in start] + [(e, -1) for e in end], key=lambda x: (x[0], x[1]))
    now = most = 0
    for _, d in ev:
        now += d
        most = max(most, now)
    return most


def slots_never_overlap(cols):
    for key in set(zip(cols["rank"].tolist(), cols["slot"].tolist())):
        sel = (cols["rank"] == key[0]) & (cols["slot"] == key[1])
        s, e = cols["start"][sel], cols["end"][sel]
        o = np.argsort(s)
        if len(o) > 1 and (s[o][1:] < e[o][:-1] - 1e-6).any():
            return False
    return True


def concurrency(args, c, wd):
    tasks = os.path.join(wd, "c.tasks")
    with open(tasks, "w") as f:
        f.write("sleep 0.3; echo $TASKFARM_SLOT\n" * 48)
    for name, np_, opts, slots_per_rank in (("one process, -j 8", 0, ["-j", "8"], [8]),
                                            ("two processes, -j 4", 2, ["-j", "4"], [4, 4])):
        out = os.path.join(wd, f"c{np_}.h5")
        r = harness.run(args, np_, "run", tasks, "-o", out, *opts)
        c.eq(f"{name}: exit ({r.stderr[-300:]})", r.returncode, 0)
        cols, attrs, _ = harness.read_tasks(out)
        total = sum(slots_per_rank)
        c.eq(f"{name}: slots_per_rank", [int(v) for v in attrs["slots_per_rank"]], slots_per_rank)
        c.eq(f"{name}: nslots", int(attrs["nslots"]), total)
        c.eq(f"{name}: tasks at once, from the file", most_at_once(cols["start"], cols["end"]),
             total)
        for rank, k in enumerate(slots_per_rank):
            sel = cols["rank"] == rank
            c.eq(f"{name}: rank {rank} at once", most_at_once(cols["start"][sel], cols["end"][sel]),
                 k)
            c.eq(f"{name}: rank {rank} slots used", set(cols["slot"][sel].tolist()), set(range(k)))
        c.true(f"{name}: a slot runs one task at a time", slots_never_overlap(cols))
        c.eq(f"{name}: TASKFARM_SLOT is the slot column",
             [int(s) for s in cols["stdout"]], cols["slot"].tolist())
        span = cols["end"].max() - cols["start"].min()
        ideal = 48 * 0.3 / total
        c.true(f"{name}: makespan {span:.2f} s near the ideal {ideal:.2f} s", span < ideal + 1.0)


def mixed_lines(d):
    """400 tasks of every kind; what each must end as."""
    lines, want = [], []
    for i in range(400):
        if i % 40 == 3:
            lines.append("sleep 0.1; exit 3")
            want.append((2, 3, False))
        elif i % 97 == 5:
            lines.append("sleep 30")
            want.append((4, -1, False))
        elif i % 50 == 7:
            lines.append("head -c 3000000 /dev/zero | tr '\\0' x; echo")
            want.append((1, 0, True))
        elif i % 61 == 11:  # fails once, then succeeds
            flag = os.path.join(d, f"flag{i}")
            lines.append(f"[ -e {flag} ] || {{ touch {flag}; exit 9; }}")
            want.append((1, 0, False))
        else:
            lines.append(f"sleep 0.2; echo ok {i}")
            want.append((1, 0, False))
    return lines, want


MIXED_OPTS = ["-j", "128", "--timeout", "2", "--kill-grace", "1", "--retries", "1",
              "--capture", "64K"]


def check_outcomes(c, what, cols, want, retried):
    got = list(zip(cols["status"].tolist(), cols["exit_code"].tolist(),
                   cols["stdout_truncated"].astype(bool).tolist()))
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, want)) if g != w]
    c.true(f"{what}: every task's outcome as alone ({len(bad)} differ, e.g. {bad[:3]})", not bad)
    flaky = [i for i in range(400) if i % 61 == 11 and i % 40 != 3 and i % 97 != 5
             and i % 50 != 7]
    if retried:
        c.eq(f"{what}: the flaky tasks ran twice", [int(cols["attempts"][i]) for i in flaky],
             [2] * len(flaky))
    ok = [i for i, w in enumerate(want) if w == (1, 0, False) and i not in flaky]
    c.true(f"{what}: outputs", all(cols["stdout"][i] == f"ok {i}\n" for i in ok))


def mixed_run_dir(wd, name):
    """A directory of its own (the flaky tasks' flags) with the task file; (tasks, out, want)."""
    d = os.path.join(wd, name)
    os.mkdir(d)
    lines, want = mixed_lines(d)
    tasks = os.path.join(d, "m.tasks")
    with open(tasks, "w") as f:
        f.write("\n".join(lines) + "\n")
    return tasks, os.path.join(d, "m.h5"), want


def many_slots(args, c, wd):
    tasks, out, want = mixed_run_dir(wd, "whole")
    t0 = time.monotonic()
    r = harness.run(args, 0, "run", tasks, "-o", out, *MIXED_OPTS)
    wall = time.monotonic() - t0
    c.eq(f"128 slots: exit 1, some fail ({r.stderr[-300:]})", r.returncode, 1)
    cols, attrs, _ = harness.read_tasks(out)
    check_outcomes(c, "128 slots", cols, want, retried=True)
    c.eq("128 slots: nslots", int(attrs["nslots"]), 128)
    c.true(f"128 slots: many slots used ({len(set(cols['slot'].tolist()))})",
           len(set(cols["slot"].tolist())) > 64)
    c.true(f"128 slots: ran at once ({most_at_once(cols['start'], cols['end'])})",
           most_at_once(cols["start"], cols["end"]) > 64)
    c.true("128 slots: a slot runs one task at a time", slots_never_overlap(cols))
    c.true(f"128 slots: the process's memory ({attrs['master_peak_rss_mib']:.1f} MiB) < 100 MiB",
           attrs["master_peak_rss_mib"] < 100)
    c.true(f"128 slots: done in {wall:.1f} s, not one after another", wall < 30)

    # The same tasks, stopped by SIGUSR1 once some are done, then resumed (the tasks that
    # failed in the stopped run, the flaky ones among them, run again with --retry-failed).
    tasks, out, want = mixed_run_dir(wd, "stopped")
    p = subprocess.Popen(harness.command(args, 0, "run", tasks, "-o", out, "--drain", "3",
                                         *MIXED_OPTS), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and p.poll() is None:
        try:
            if len(read_journal(out + ".journal")) >= 60:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGUSR1)
    _, err = p.communicate(timeout=120)
    c.eq(f"128 slots, SIGUSR1: exit 4 ({err[-300:]})", p.returncode, 4)
    cols, attrs, _ = harness.read_tasks(out)
    left = int((cols["status"] == 0).sum())
    c.true(f"128 slots, SIGUSR1: tasks left ({left})", 0 < left < 400)
    c.eq("128 slots, SIGUSR1: stop reason", attrs.get("stop_reason"), "received signal USR1")
    r = harness.run(args, 0, "run", tasks, "-o", out, "--resume", "--retry-failed", *MIXED_OPTS)
    c.eq(f"128 slots, resumed: exit 1 ({r.stderr[-300:]})", r.returncode, 1)
    cols, attrs, _ = harness.read_tasks(out)
    check_outcomes(c, "128 slots, resumed", cols, want, retried=False)
    c.eq("128 slots, resumed: closed", attrs["state"], "closed")


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    concurrency(args, c, wd)
    many_slots(args, c, wd)
    c.finish()


if __name__ == "__main__":
    main()
