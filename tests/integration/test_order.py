"""--durations-from: a second run starts the longest tasks first (known from the first run),
still writes rows in input order, and refuses a file that is not a result file."""
import os

import harness


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "skew.tasks")
    durations = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 1.2, 0.1, 0.1, 0.8]
    with open(tasks, "w") as f:
        f.write("".join(f"sleep {d}; echo {i}\n" for i, d in enumerate(durations)))
    first = os.path.join(wd, "first.h5")
    res = harness.run(args, 3, "run", tasks, "-o", first)
    c.eq("first run: exit code", res.returncode, 0)
    _, attrs, _ = harness.read_tasks(first)
    c.eq("first run: order", attrs["order"], "file order")

    second = os.path.join(wd, "second.h5")
    # One process of 3 slots: it starts what it receives in the order handed out (three
    # processes would start their first tasks in whatever order their messages arrive).
    res = harness.run(args, 0, "run", tasks, "-o", second, "--durations-from", first, "-j", "3")
    c.eq(f"second run: exit code ({res.stderr})", res.returncode, 0)
    cols, attrs, _ = harness.read_tasks(second)
    c.true(f"second run: order attribute ({attrs['order']})",
           attrs["order"].startswith("longest first: durations of 10 of 10 tasks known"))
    c.eq("second run: rows in input order", list(cols["stdout"]), [f"{i}\n" for i in range(10)])
    starts = cols["start"]
    c.true("second run: the two longest started first",
           max(starts[6], starts[9]) <= min(s for i, s in enumerate(starts) if i not in (6, 9)))

    for bad, needle in ((os.path.join(wd, "none.h5"), "none.h5"), (tasks, "skew.tasks")):
        out = os.path.join(wd, "never.h5")
        res = harness.run(args, 0, "run", tasks, "-o", out, "--durations-from", bad)
        c.eq(f"--durations-from {bad}: exit code", res.returncode, 2)
        lines = [l for l in res.stderr.splitlines() if l.startswith("taskfarm: error:")]
        c.true(f"--durations-from {bad}: one line naming it ({res.stderr!r})",
               len(lines) == 1 and needle in lines[0])
        c.true(f"--durations-from {bad}: no output written", not os.path.exists(out))
    c.finish()


if __name__ == "__main__":
    main()
