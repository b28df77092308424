"""Process and Pool modes: auto picks Process for no more tasks than slots and starts
them all at once, each in its own slot; forced modes are honoured and recorded."""
import collections
import os

import harness


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()

    # 8 one-second sleeps on 9 ranks of one slot each: all at once, one per slot.
    few = os.path.join(wd, "few.tasks")
    with open(few, "w") as f:
        f.write("".join("sleep 1\n" for _ in range(8)))
    res = harness.run(args, 9, "run", few, "-o", os.path.join(wd, "few.h5"))
    c.eq("few tasks: exit code", res.returncode, 0)
    c.true("mode printed at start", "mode process" in res.stderr)
    cols, attrs, _ = harness.read_tasks(os.path.join(wd, "few.h5"))
    c.eq("few tasks: mode", attrs["mode"], "process")
    c.true("few tasks: reason recorded", "no more tasks than slots" in attrs["mode_reason"])
    c.eq("few tasks: one slot each", [int(v) for v in attrs["slots_per_rank"]], [1] * 9)
    c.eq("few tasks: one task per slot", sorted(cols["rank"].tolist()), list(range(8)))
    starts = cols["start"]
    c.true(f"few tasks: started together (spread {starts.max() - starts.min():.2f} s)",
           starts.max() - starts.min() < 1.0)
    span = cols["end"].max() - starts.min()
    c.true(f"few tasks: concurrent, not serial ({span:.1f} s for 8 x 1 s)", span < 4.0)

    # forced modes on 10 tasks over 5 ranks of one slot each
    ten = os.path.join(wd, "ten.tasks")
    with open(ten, "w") as f:
        f.write("".join(f"echo {i}\n" for i in range(10)))
    for mode in ("process", "pool"):
        out = os.path.join(wd, f"ten-{mode}.h5")
        res = harness.run(args, 5, "run", ten, "-o", out, "--mode", mode)
        c.eq(f"{mode}: exit code", res.returncode, 0)
        cols, attrs, _ = harness.read_tasks(out)
        c.eq(f"{mode}: recorded mode", attrs["mode"], mode)
        c.eq(f"{mode}: outputs in input order", list(cols["stdout"]),
             [f"{i}\n" for i in range(10)])
        if mode == "process":
            # Shares (2 each) go out at once, one block per worker; stealing may move queued
            # tasks later, but each worker starts with the head of its own block.
            counts = collections.Counter(cols["rank"].tolist())
            c.true(f"process: tasks per worker {sorted(counts.items())}",
                   sorted(counts) == [0, 1, 2, 3, 4] and set(counts.values()) <= {1, 2, 3})
            first = sorted(min((cols["start"][i], i) for i, r in enumerate(cols["rank"])
                               if r == rank)[1] for rank in counts)
            c.eq("process: first task of each worker heads its share", first, [0, 2, 4, 6, 8])

    # A long task must not hold the tasks queued behind it in its worker's share.
    held = os.path.join(wd, "held.tasks")
    with open(held, "w") as f:
        f.write("sleep 3\n" + "sleep 0.2\n" * 11)
    out = os.path.join(wd, "held.h5")
    res = harness.run(args, 5, "run", held, "-o", out, "--mode", "process")
    c.eq("held: exit code", res.returncode, 0)
    cols, attrs, _ = harness.read_tasks(out)
    c.true(f"held: tasks 1 and 2 ran elsewhere than task 0 (ranks {cols['rank'][:3]})",
           cols["rank"][1] != cols["rank"][0] and cols["rank"][2] != cols["rank"][0])
    span = cols["end"].max() - cols["start"].min()
    c.true(f"held: makespan {span:.2f} s is the long task's, not long + queued", span < 3.6)

    # auto with more tasks than workers -> pool
    out = os.path.join(wd, "ten-auto.h5")
    res = harness.run(args, 3, "run", ten, "-o", out)
    cols, attrs, _ = harness.read_tasks(out)
    c.eq("auto, 10 tasks on 2 workers: mode", attrs["mode"], "pool")

    # A task may itself be an MPI program (here: taskfarm, as a singleton): the launcher's
    # per-rank environment must not leak into it.
    inner = os.path.join(wd, "inner.tasks")
    with open(inner, "w") as f:
        f.write("echo inner\n")
    nested = os.path.join(wd, "nested.tasks")
    with open(nested, "w") as f:
        for i in range(2):
            f.write(f"OMPI_MCA_btl=self,vader {args.taskfarm} run {inner} -o {wd}/inner{i}.h5 -q"
                    f" && echo nested-ok\n")
    out = os.path.join(wd, "nested.h5")
    res = harness.run(args, 3, "run", nested, "-o", out)
    cols, _, _ = harness.read_tasks(out)
    c.eq("nested MPI program in a task: stdout", list(cols["stdout"]), ["nested-ok\n"] * 2)
    c.eq(f"nested MPI program in a task: exit code ({cols['stderr'][0][:300]})",
         res.returncode, 0)
    c.finish()


if __name__ == "__main__":
    main()
