"""Tasks that need several cores or GPUs: --cores-per-task K (OMP_NUM_THREADS, at most
cores/K tasks at once per node), --bind (each task on its own cores), --gpus-per-task G (its
own CUDA_VISIBLE_DEVICES), and K taken from Slurm's SLURM_CPUS_PER_TASK. Each task reports
what it was given; the result file is read back. GPUs are played by CUDA_VISIBLE_DEVICES."""
import os
import subprocess

import harness

NODE_CPUS = sorted(os.sched_getaffinity(0))
LINE = ('echo "$TASKFARM_RANK|${OMP_NUM_THREADS-unset}|${CUDA_VISIBLE_DEVICES-unset}|'
        '$(sed -n "s/^Cpus_allowed_list:[[:space:]]*//p" /proc/self/status)"; sleep 0.05\n')


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
    # K = 2, five ranks (four workers) unbound: the node's cores make max(1, ncpu // 2) slots.
    rows, a = run("k2", 5, "--cores-per-task", "2")
    if rows:
        want = min(4, max(1, ncpu // 2))
        c.eq("k2: workers running tasks", len({r[0] for r in rows}), want)
        c.eq("k2: nworkers attribute", int(a["nworkers"]), want)
        c.eq("k2: cores_per_task attribute", int(a["cores_per_task"]), 2)
        c.eq("k2: OMP_NUM_THREADS", {r[1] for r in rows}, {str(min(2, ncpu))})
        c.eq("k2: without --bind a task may use the node's cores",
             {frozenset(cpu_list(r[3])) for r in rows}, {frozenset(NODE_CPUS)})
        c.eq("k2: CUDA_VISIBLE_DEVICES untouched", {r[2] for r in rows}, {"unset"})
    # K = 1 with --bind, even when mpirun binds ranks itself: one core per worker, never shared.
    rows, a = run("bind", 5, "--cores-per-task", "1", "--bind", mpi=())
    if rows:
        by_rank = {}
        for r in rows:
            by_rank.setdefault(r[0], set()).add(r[3])
        c.eq("bind: workers running tasks", len(by_rank), min(4, ncpu))
        c.true(f"bind: each worker's tasks on one core of its own ({by_rank})",
               all(len(v) == 1 and len(cpu_list(next(iter(v)))) == 1 for v in by_rank.values())
               and len({next(iter(v)) for v in by_rank.values()}) == len(by_rank))
        c.eq("bind: attribute", a["bind"], "yes")
    # Four GPUs (as a GPU node's CUDA_VISIBLE_DEVICES names them), two per task: two slots.
    rows, a = run("gpus", 5, "--gpus-per-task", "2", env={"CUDA_VISIBLE_DEVICES": "3,4,5,6"})
    if rows:
        by_rank = {}
        for r in rows:
            by_rank.setdefault(r[0], set()).add(r[2])
        sets = [next(iter(v)) for v in by_rank.values()]
        c.eq("gpus: workers running tasks", len(by_rank), 2)
        c.true(f"gpus: one fixed pair per worker ({by_rank})", all(len(v) == 1 for v in by_rank.values()))
        c.eq("gpus: the pairs split the node's GPUs", sorted(",".join(sets).split(",")),
             ["3", "4", "5", "6"])
        c.eq("gpus: OMP_NUM_THREADS untouched", {r[1] for r in rows}, {"unset"})
        c.eq("gpus: attribute", int(a["gpus_per_task"]), 2)
    # Inside `sbatch --cpus-per-task=2`: K from SLURM_CPUS_PER_TASK; the command line wins.
    rows, a = run("slurm_k", 3, env={"SLURM_CPUS_PER_TASK": "2"})
    if rows:
        c.eq("slurm_k: cores_per_task from Slurm", int(a["cores_per_task"]), 2)
        c.eq("slurm_k: OMP_NUM_THREADS", {r[1] for r in rows}, {str(min(2, ncpu))})
    rows, a = run("slurm_k1", 3, "--cores-per-task", "1", env={"SLURM_CPUS_PER_TASK": "2"})
    if rows:
        c.eq("slurm_k1: --cores-per-task wins", {r[1] for r in rows}, {"1"})
        c.eq("slurm_k1: both workers run", len({r[0] for r in rows}), min(2, ncpu))
    rows, a = run("solo", 0, "--cores-per-task", "2", "--bind")
    if rows:
        c.eq("solo: the one process runs every task", {r[0] for r in rows}, {"0"})
        c.eq("solo: bound to its slot", len(cpu_list(rows[0][3])), min(2, ncpu))
    # Refusals: one line naming the thing, exit 2, no file.
    for name, opts, env, word in (
            ("k0", ["--cores-per-task", "0"], {}, "--cores-per-task '0'"),
            ("gx", ["--gpus-per-task", "x"], {}, "--gpus-per-task 'x'"),
            ("nogpu", ["--gpus-per-task", "1"], {"CUDA_VISIBLE_DEVICES": ""}, "--gpus-per-task 1"),
            ("badslurm", [], {"SLURM_CPUS_PER_TASK": "two"}, "SLURM_CPUS_PER_TASK"),
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
