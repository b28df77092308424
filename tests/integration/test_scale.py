"""Many ranks on few cores: 129 ranks of one slot each on this machine's cores must
finish, spread the work over every rank (rank 0 runs tasks beside scheduling), and waiting
ranks must not spin: a run of sleeps costs little CPU however long the sleeps are."""
import collections
import os
import resource
import subprocess
import time

import harness


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()

    # 1000 short sleeps on 129 ranks
    tasks = os.path.join(wd, "many.tasks")
    with open(tasks, "w") as f:
        f.write("sleep 0.05\n" * 1000)
    out = os.path.join(wd, "many.h5")
    res = harness.run(args, 129, "run", tasks, "-o", out, timeout=500)
    c.eq(f"129 ranks: exit code ({res.stderr[-500:]})", res.returncode, 0)
    cols, attrs, _ = harness.read_tasks(out)
    c.eq("129 ranks: every task succeeded", int((cols["status"] == 1).sum()), 1000)
    per = collections.Counter(cols["rank"].tolist())
    c.eq("129 ranks: every rank ran tasks", sorted(per), list(range(129)))
    c.eq("129 ranks: one slot each", set(cols["slot"].tolist()), {0})
    c.true(f"129 ranks: balanced ({min(per.values())}..{max(per.values())} tasks per worker)",
           max(per.values()) <= 4 * max(1, min(per.values())) + 4)

    # Long sleeps: a spinning wait would burn (cores x seconds) of CPU. Starting and ending
    # 17 ranks costs the same CPU whatever the tasks do (seconds, under sanitizers), so the
    # waiting is measured as the difference from the same run with short sleeps.
    def cpu_of_run(seconds):
        tasks = os.path.join(wd, f"idle{seconds}.tasks")
        with open(tasks, "w") as f:
            f.write(f"sleep {seconds}\n" * 8)
        before, t0 = children_cpu(), time.monotonic()
        res = harness.run(args, 17, "run", tasks, "-o", tasks + ".h5")  # 8 busy, 8 idle
        c.eq(f"idle ranks, sleep {seconds}: exit code", res.returncode, 0)
        return children_cpu() - before, time.monotonic() - t0

    cpu0, wall0 = cpu_of_run(0.1)
    # 8 s, not less: the start-up CPU of 17 ranks varies by a second or more on a loaded
    # 2-core machine, and the waiting must stand clear of that noise.
    cpu, wall = cpu_of_run(8)
    extra_cpu, extra_wall = cpu - cpu0, wall - wall0
    # One spinning rank alone would cost a whole core (1 CPU s per s); polling with the
    # back-off costs about 0.015 per waiting rank here.
    c.true(f"idle ranks do not spin: {extra_cpu:.2f} CPU s more over {extra_wall:.1f} s more "
           f"waiting with 17 ranks ({cpu:.1f} CPU s in all)", extra_cpu < 0.5 * extra_wall)
    c.finish()


if __name__ == "__main__":
    main()
