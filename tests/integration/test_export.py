"""taskfarm export: a result file as CSV (read back with pandas), TSV and JSON lines, each
compared cell by cell with what h5py reads: /tasks (status as names), /params, /results,
with output holding commas, quotes, tabs and line breaks, and missing values. Refusals: a
file that is not a result file, an existing -o, an unknown option (exit 2)."""
import csv
import io
import json
import math
import os
import shutil
import subprocess

import h5py
import pandas as pd

import harness


def reference(path):
    with h5py.File(path, "r") as f:
        names = {v: k for k, v in h5py.check_enum_dtype(f["tasks/status"].dtype).items()}
        cols = {}
        for group in ("tasks", "params", "results"):
            if group in f:
                for k, d in f[group].items():
                    v = d.asstr()[()] if d.dtype.kind == "O" else d[()]
                    cols[k if k not in cols else f"{group}.{k}"] = [x.item() if hasattr(x, "item") else x for x in v]
        cols["status"] = [names[s] for s in cols["status"]]
    return cols


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            return (a is None or (isinstance(a, float) and math.isnan(a))) and \
                   (b is None or (isinstance(b, float) and math.isnan(b)))
        return float(a) == float(b)
    return a == b


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tmpl = 'printf "line one, \\"quoted\\"\\n\\ttabbed\\\\n\\n"; test {k} -ne 2 && echo "v={k}.5 status={k}"'
    out = os.path.join(wd, "x.h5")
    r = subprocess.run(harness.command(args, 3, "run", "--template", tmpl, "--grid", "k=1..4",
                                       "--collect", "-o", out), cwd=wd, capture_output=True, text=True)
    c.eq(f"the run ({r.stderr[-300:]})", r.returncode, 1)
    ref = reference(out)
    names = ["id"] + list(ref)
    c.true(f"a result named like a task column gets a prefix ({names})", "results.status" in names)

    def export(*opts):
        return subprocess.run([args.taskfarm, "export", out, *opts], capture_output=True, text=True)

    r = export()
    c.eq(f"csv: exit ({r.stderr})", r.returncode, 0)
    rows = list(csv.reader(io.StringIO(r.stdout)))
    c.eq("csv: header, every column", sorted(rows[0]), sorted(names))
    c.eq("csv: /tasks in the format's order first", rows[0][:5], ["id", "command", "line", "status", "exit_code"])
    c.eq("csv: then /params, then /results", rows[0][-3:], ["k", "v", "results.status"])
    df = pd.read_csv(io.StringIO(r.stdout), keep_default_na=False, na_values=[""],
                     float_precision="round_trip")
    for k, v in ref.items():
        got = [None if isinstance(x, float) and math.isnan(x) else x for x in df[k].tolist()]
        if k in ("stdout", "stderr", "command", "host"):
            got = ["" if x is None else x for x in got]
        c.true(f"csv: column {k} ({got[:2]} vs {v[:2]})", all(same(a, b) for a, b in zip(got, v)))
    r = export("--json-lines")
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    c.eq("json: one object per task, ids in order", [o["id"] for o in objs], list(range(4)))
    for k, v in ref.items():
        c.true(f"json: column {k}", all(same(o[k], b) for o, b in zip(objs, v)))
    c.eq("json: a missing number is null", objs[1]["v"], None)
    r = export("--tsv")
    lines = r.stdout.split("\n")
    c.eq("tsv: one line per task plus the header", len([ln for ln in lines if ln]), 5)
    unesc = lambda s: s.replace("\\n", "\n").replace("\\t", "\t")  # noqa: E731 (no backslashes in these values but \\n)
    fields = lines[1].split("\t")
    c.eq("tsv: stdout escaped on one line", unesc(fields[lines[0].split("\t").index("stdout")]).replace("\\\\", "\\"),
         ref["stdout"][0].replace("\\\\", "\\"))
    # -o writes a new file; an existing one is refused and left alone
    dest = os.path.join(wd, "x.csv")
    r = export("-o", dest)
    c.eq("-o: exit", r.returncode, 0)
    with open(dest) as f:
        c.eq("-o: same as stdout", f.read(), export().stdout)
    r = export("-o", dest, "--tsv")
    c.eq("-o existing: exit", r.returncode, 2)
    c.true(f"-o existing: says so ({r.stderr})", "x.csv" in r.stderr)
    # LOST (format 4), as the master records a task whose workers died: exported by name
    lost = os.path.join(wd, "lost.h5")
    shutil.copy(out, lost)
    with h5py.File(lost, "r+") as f:
        c.eq("the enum has LOST=5", h5py.check_enum_dtype(f["tasks/status"].dtype)["LOST"], 5)
        f["tasks/status"][2] = 5
    r = subprocess.run([args.taskfarm, "export", lost], capture_output=True, text=True)
    c.eq(f"lost: exit ({r.stderr})", r.returncode, 0)
    got = [row["status"] for row in csv.DictReader(io.StringIO(r.stdout))]
    c.eq("lost: the status column by name", got, [ref["status"][0], ref["status"][1], "LOST",
                                                  ref["status"][3]])
    r = subprocess.run([args.taskfarm, "export", lost, "--json-lines"], capture_output=True,
                       text=True)
    c.eq("lost: json", [json.loads(line)["status"] for line in r.stdout.splitlines()][2], "LOST")
    for argv, word in ((["export", os.path.join(wd, "nope.h5")], "nope.h5"),
                       (["export", out, "--xml"], "'--xml'"), (["export"], "taskfarm export RESULTS.h5")):
        r = subprocess.run([args.taskfarm, *argv], capture_output=True, text=True)
        c.eq(f"{argv}: exit", r.returncode, 2)
        c.true(f"{argv}: one line naming {word} ({r.stderr!r})", len(r.stderr.strip().splitlines()) == 1 and word in r.stderr)
    c.finish()


if __name__ == "__main__":
    main()
