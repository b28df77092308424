"""The sbatch scripts of slurm/ against a real Slurm: a private single-node cluster (munged,
slurmctld, slurmd from Debian's packages, in a temporary directory) started and stopped by
this test. Submits slurm/single-node.sbatch unchanged with `sbatch --wait` (adapted only by
sbatch options and environment variables) and reads the result file back. Without root or
the packages it says "skipped" and why, and exits 77 (ctest reports it as skipped)."""
import os
import shutil
import sys

import h5py

import harness

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "slurm"))
from cluster import Cluster, Unavailable  # noqa: E402


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    cl = Cluster(cpus=8)
    try:
        cl.start()
    except Unavailable as e:
        print(f"skipped: {e}")
        sys.exit(77)
    try:
        tasks = os.path.join(wd, "t.tasks")
        with open(tasks, "w") as f:
            for i in range(40):
                f.write(f"echo task {i} on $TASKFARM_RANK\n")
        env = {"TASKFARM": args.taskfarm, "TASKFARM_MPIRUN_ARGS": "--oversubscribe",
               "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
        script = os.path.join(args.source, "slurm", "single-node.sbatch")
        job, rc, out = cl.sbatch_wait(["--ntasks-per-node=4", "-o", os.path.join(wd, "job.log"),
                                       script, tasks, "out.h5"], env=env, cwd=wd)
        with open(os.path.join(wd, "job.log")) as f:
            log = f.read()
        c.eq(f"single-node: sbatch --wait exit ({out} {log[-500:]})", rc, 0)
        with h5py.File(os.path.join(wd, "out.h5"), "r") as f:
            a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            status = f["tasks/status"][:]
            ranks = set(f["tasks/rank"][:].tolist())
        c.eq("single-node: every task succeeded", (status == 1).sum(), 40)
        c.eq("single-node: the job id is recorded", a.get("slurm_job_id"), job)
        c.eq("single-node: workers", int(a["nworkers"]), 3)
        c.eq("single-node: tasks ran on ranks 1-3", ranks, {1, 2, 3})
        c.eq("single-node: the node list is recorded", a.get("slurm_job_nodelist"), cl.node)
    finally:
        cl.stop()
        if not c.failures:
            shutil.rmtree(cl.dir, ignore_errors=True)
    c.finish()


if __name__ == "__main__":
    main()
