"""A run inside a Slurm job records the job in its result file: slurm_* attributes from the
SLURM_* environment, and slurm_job_ids, every job that wrote the file (a campaign's
history). Plays the environment a job would have, for a task file and for an in-process
map; outside Slurm nothing is recorded."""
import os
import subprocess

import h5py

import harness


def attrs(path):
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


def main():
    args = harness.parse_args({"--plugin": {"required": True}})
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "t.tasks")
    with open(tasks, "w") as fh:
        fh.write("true\ntrue\nexit 3\n")
    job = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "node[1-2]", "SLURM_JOB_NUM_NODES": "2",
           "SLURM_NTASKS": "3", "SLURM_CPUS_PER_TASK": "2", "SLURM_JOB_PARTITION": "short"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}

    def run(argv, env):
        return subprocess.run(harness.command(args, 0, *argv), cwd=wd, capture_output=True,
                              text=True, timeout=120, env=dict(clean, **env))

    for kind, argv in (("tasks", ["run", tasks]),
                       ("map", ["run", "--plugin", f"{args.plugin}:square", "--items", "10"])):
        out = os.path.join(wd, f"{kind}.h5")
        res = run(argv + ["-o", out], job)
        c.true(f"{kind}: ran ({res.stderr[-300:]})", res.returncode in (0, 1))
        a = attrs(out)
        c.eq(f"{kind}: slurm_job_id", a.get("slurm_job_id"), "4242")
        c.eq(f"{kind}: slurm_job_nodelist", a.get("slurm_job_nodelist"), "node[1-2]")
        c.eq(f"{kind}: slurm_ntasks", a.get("slurm_ntasks"), "3")
        c.eq(f"{kind}: slurm_cpus_per_task", a.get("slurm_cpus_per_task"), "2")
        c.eq(f"{kind}: slurm_job_partition", a.get("slurm_job_partition"), "short")
        c.eq(f"{kind}: slurm_job_ids", a.get("slurm_job_ids"), "4242")
        # The next job of a campaign resumes the file: its id joins the history.
        res = run(argv + ["-o", out, "--resume"], dict(job, SLURM_JOB_ID="4243"))
        c.true(f"{kind} resumed: ran ({res.stderr[-300:]})", res.returncode in (0, 1))
        a = attrs(out)
        c.eq(f"{kind} resumed: slurm_job_id", a.get("slurm_job_id"), "4243")
        c.eq(f"{kind} resumed: slurm_job_ids", a.get("slurm_job_ids"), "4242,4243")
        # Outside Slurm: nothing recorded.
        out2 = os.path.join(wd, f"{kind}-plain.h5")
        run(argv + ["-o", out2], {})
        c.eq(f"{kind} outside Slurm: no slurm_* attributes",
             sorted(k for k in attrs(out2) if k.startswith("slurm")), [])
    c.finish()


if __name__ == "__main__":
    main()
