"""Tasks that need several cores or GPUs, per task slot: --cores-per-task K
(OMP_NUM_THREADS, at most cores/K tasks at once per node), --bind (each slot's tasks on its
own cores), --gpus-per-task G (each slot its own CUDA_VISIBLE_DEVICES); Slurm's
SLURM_CPUS_PER_TASK gives a process its cores, not cores per task. Each task reports what it
was given; the result file is read back. GPUs are played by CUDA_VISIBLE_DEVICES."""
import os
import subprocess

import harness

NODE_CPUS = sorted(os.sched_getaffinity(0))
LINE = ('echo "$TASKFARM_RANK|${OMP_NUM_THREADS-unset}|${CUDA_VISIBLE_DEVICES-unset}|'
        '$(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status)|$TASKFARM_SLOT"; '
        'sleep 0.05\n')


def cpu_list(text):
    out = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "t.tasks")
    with open(tasks, "w") as f:
        f.write(LINE * 24)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("SLURM_") and k != "CUDA_VISIBLE_DEVICES"}

    def run(name, np_, *opts, env=None, mpi=("--bind-to", "none")):
        out = os.path.join(wd, name + ".h5")
        cmd = harness.command(args, np_, "run", tasks, "-o", out, *opts)
        if np_:
            cmd[1:1] = list(mpi)
        r = subprocess.run(cmd, cwd=wd, capture_output=True, text=True, timeout=300,
                           env=dict(clean, **(env or {})))
        c.eq(f"{name}: exit ({r.stderr[-400:]})", r.returncode, 0)
        if r.returncode != 0:
            return None, None
        cols, attrs, _ = harness.read_tasks(out)
        rows = [s.strip().split("|") for s in cols["stdout"]]
        return rows, attrs

    ncpu = len(NODE_CPUS)

    def by_slot(rows, field):
        """{(rank, slot): set of what its tasks saw in field}"""
        seen = {}
        for r in rows:
            seen.setdefault((r[0], r[4]), set()).add(r[field])
        return seen

    # K = 2, five ranks unbound: the node's cores make max(1, ncpu // 2) slots, rank 0's
    # first; the ranks left without one run no tasks.
    rows, a = run("k2", 5, "--cores-per-task", "2")
    if rows:
        want = max(1, ncpu // 2)
        c.eq("k2: slots running tasks", len(by_slot(rows, 0)), want)
        c.eq("k2: nslots attribute", int(a["nslots"]), want)
        c.eq("k2: slots_per_rank", [int(v) for v in a["slots_per_rank"]], [want])
        c.eq("k2: cores_per_task attribute", int(a["cores_per_task"]), 2)
        c.eq("k2: OMP_NUM_THREADS", {r[1] for r in rows}, {str(min(2, ncpu))})
        c.eq("k2: without --bind a task may use the node's cores",
             {frozenset(cpu_list(r[3])) for r in rows}, {frozenset(NODE_CPUS)})
        c.eq("k2: CUDA_VISIBLE_DEVICES untouched", {r[2] for r in rows}, {"unset"})
    # K = 1 with --bind, even when mpirun binds ranks itself: one core per slot, never shared.
    for name, np_, opts in (("bind", 5, []), ("bind_solo", 0, ["-j", str(ncpu)])):
        rows, a = run(name, np_, "--cores-per-task", "1", "--bind", *opts, mpi=())
        if rows:
            cores = by_slot(rows, 3)
            c.eq(f"{name}: slots running tasks", len(cores), ncpu)
            c.true(f"{name}: each slot's tasks on one core of its own ({cores})",
                   all(len(v) == 1 and len(cpu_list(next(iter(v)))) == 1 for v in cores.values())
                   and len({next(iter(v)) for v in cores.values()}) == len(cores))
            c.eq(f"{name}: attribute", a["bind"], "yes")
    # Four GPUs (as a GPU node's CUDA_VISIBLE_DEVICES names them), two per task: two slots,
    # in two processes or in one.
    for name, np_, opts in (("gpus", 5, []), ("gpus_solo", 0, ["-j", "8"])):
        rows, a = run(name, np_, "--gpus-per-task", "2", *opts,
                      env={"CUDA_VISIBLE_DEVICES": "3,4,5,6"})
        if rows:
            gpus = by_slot(rows, 2)
            sets = [next(iter(v)) for v in gpus.values()]
            c.eq(f"{name}: slots running tasks", len(gpus), 2)
            c.true(f"{name}: one fixed pair per slot ({gpus})",
                   all(len(v) == 1 for v in gpus.values()))
            c.eq(f"{name}: the pairs split the node's GPUs", sorted(",".join(sets).split(",")),
                 ["3", "4", "5", "6"])
            c.eq(f"{name}: OMP_NUM_THREADS untouched", {r[1] for r in rows}, {"unset"})
            c.eq(f"{name}: attribute", int(a["gpus_per_task"]), 2)
    # Inside `sbatch --ntasks-per-node=1 --cpus-per-task=2`: the process's cores, not cores
    # per task; with one process on the node that is the layout meant, so no hint.
    out = os.path.join(wd, "slurm_k.h5")
    r = subprocess.run([args.taskfarm, "run", tasks, "-o", out], cwd=wd, capture_output=True,
                       text=True, timeout=120, env=dict(clean, SLURM_CPUS_PER_TASK="2"))
    c.eq(f"slurm_k: exit ({r.stderr[-300:]})", r.returncode, 0)
    cols, a, _ = harness.read_tasks(out)
    c.eq("slurm_k: cores_per_task not taken from Slurm", int(a["cores_per_task"]), 0)
    c.eq("slurm_k: OMP_NUM_THREADS left alone", {s.split("|")[1] for s in cols["stdout"]},
         {"unset"})
    c.true(f"slurm_k: no hint for one process on the node ({r.stderr[-400:]})",
           "--cores-per-task 2" not in r.stderr)
    c.eq("slurm_k: the node's cores as slots", int(a["nslots"]), ncpu)
    rows, a = run("solo", 0, "--cores-per-task", "2", "--bind")
    if rows:
        c.eq("solo: the one process runs every task", {r[0] for r in rows}, {"0"})
        c.eq("solo: bound to its slot", len(cpu_list(rows[0][3])), min(2, ncpu))
    # Refusals: one line naming the thing, exit 2, no file.
    for name, opts, env, word in (
            ("k0", ["--cores-per-task", "0"], {}, "--cores-per-task '0'"),
            ("gx", ["--gpus-per-task", "x"], {}, "--gpus-per-task 'x'"),
            ("nogpu", ["--gpus-per-task", "1"], {"CUDA_VISIBLE_DEVICES": ""}, "--gpus-per-task 1"),
            ("j0", ["-j", "0"], {}, "--jobs '0'"),
            ("jx", ["--jobs", "x"], {}, "--jobs 'x'"),
            ("plugin", ["--bind", "--plugin", "x.so:f", "--items", "3"], {}, "--bind")):
        out = os.path.join(wd, f"refused_{name}.h5")
        argv = ["run", "-o", out, *opts] + ([] if name == "plugin" else [tasks])
        r = subprocess.run(harness.command(args, 3, *argv), cwd=wd, capture_output=True,
                           text=True, timeout=120, env=dict(clean, **env))
        lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
        c.eq(f"refused {name}: exit", r.returncode, 2)
        c.true(f"refused {name}: one error line naming {word} ({r.stderr!r})",
               len(lines) == 1 and word in lines[0])
        c.true(f"refused {name}: no file", not os.path.exists(out))
    c.finish()


if __name__ == "__main__":
    main()
