"""Many ranks on few cores: 129 ranks (128 workers) on this machine's cores must finish,
spread the work over every worker, and waiting ranks must not spin: a run of sleeps costs
little CPU however long the sleeps are."""
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

    # 1000 short sleeps on 128 workers
    tasks = os.path.join(wd, "many.tasks")
    with open(tasks, "w") as f:
        f.write("sleep 0.05\n" * 1000)
    out = os.path.join(wd, "many.h5")
    res = harness.run(args, 129, "run", tasks, "-o", out, timeout=500)
    c.eq(f"129 ranks: exit code ({res.stderr[-500:]})", res.returncode, 0)
    cols, attrs, _ = harness.read_tasks(out)
    c.eq("129 ranks: every task succeeded", int((cols["status"] == 1).sum()), 1000)
    per = collections.Counter(cols["rank"].tolist())
    c.eq("129 ranks: every worker ran tasks", sorted(per), list(range(1, 129)))
    c.true(f"129 ranks: balanced ({min(per.values())}..{max(per.values())} tasks per worker)",
           max(per.values()) <= 4 * max(1, min(per.values())) + 4)

    # Long sleeps: a spinning wait would burn (cores x seconds) of CPU.
    tasks = os.path.join(wd, "idle.tasks")
    with open(tasks, "w") as f:
        f.write("sleep 5\n" * 8)
    out = os.path.join(wd, "idle.h5")
    before, t0 = children_cpu(), time.monotonic()
    res = harness.run(args, 17, "run", tasks, "-o", out)  # 8 workers busy, 8 idle at once
    cpu, wall = children_cpu() - before, time.monotonic() - t0
    c.eq("idle ranks: exit code", res.returncode, 0)
    c.true(f"idle ranks do not spin: {cpu:.1f} CPU s over {wall:.1f} s with 17 ranks",
           cpu < 0.5 * wall)
    c.finish()


if __name__ == "__main__":
    main()
