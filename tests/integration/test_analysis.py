"""jobs/analysis/sweep.py (pandas) and sweep.R (hdf5r) against a sweep this test just ran
with --collect: both must load /tasks, /params and /results into one data frame and print
the summary the test computes itself from the known parameters. --lang R skips (exit 77,
with the reason) where Rscript or hdf5r is missing; CI installs r-cran-hdf5r."""
import os
import shutil
import subprocess
import sys

import harness


def main():
    args = harness.parse_args({"--lang": {"choices": ["python", "R"], "required": True}})
    wd = harness.workdir()
    c = harness.Checker()
    if args.lang == "R":
        ok = shutil.which("Rscript") and subprocess.run(
            ["Rscript", "-e", "library(hdf5r)"], capture_output=True).returncode == 0
        if not ok:
            print("skipped: Rscript with hdf5r not installed (apt-get install r-cran-hdf5r)")
            sys.exit(77)
    # loss = alpha_index * seed, except seed 2 of the second alpha, which fails silently
    tmpl = 'test {seed} -ne 2 -o {alpha} != 0.25 && echo "loss=$(({i} * {seed})) steps={seed} tag=s{seed}"'
    out = os.path.join(wd, "sweep.h5")
    r = subprocess.run(harness.command(args, 3, "run", "--template", tmpl, "--grid", "alpha=0.5,0.25",
                                       "i=3", "seed=1..4", "--collect", "-o", out),
                       cwd=wd, capture_output=True, text=True, timeout=120)
    c.eq(f"the sweep ran (one task fails) ({r.stderr[-300:]})", r.returncode, 1)
    want = ["tasks 8", "status FAILED 1", "status SUCCEEDED 7"]
    rows = [(a, s) for a in (0.5, 0.25) for s in range(1, 5) if not (a == 0.25 and s == 2)]
    for key in ("loss", "steps"):
        for a in (0.25, 0.5):
            vals = [(3 * s if key == "loss" else s) for aa, s in rows if aa == a]
            want.append(f"mean {key} by alpha={a:.6g}: {sum(vals) / len(vals):.6g} over {len(vals)} tasks")
    script = os.path.join(args.source, "jobs", "analysis", "sweep.py" if args.lang == "python" else "sweep.R")
    cmd = ["/usr/bin/python3", script, out] if args.lang == "python" else ["Rscript", script, out]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    c.eq(f"{args.lang}: exit ({r.stderr[-500:]})", r.returncode, 0)
    c.eq(f"{args.lang}: the summary", r.stdout.splitlines(), want)
    c.finish()


if __name__ == "__main__":
    main()
