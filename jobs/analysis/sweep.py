#!/usr/bin/python3
"""sweep.py RESULTS.h5 - a parameter sweep as one pandas DataFrame: /tasks (outcome, timing,
host), /params (the sweep's parameters) and /results (values from --collect), one row per
task; then a small summary: outcomes, and the mean of every numeric result by the first
parameter. sweep.R prints the same from R.

Uses only h5py and pandas (Debian: python3-h5py python3-pandas)."""
import sys

import h5py
import pandas as pd


def columns(group):
    return {k: (d.asstr()[()] if d.dtype.kind == "O" else d[()]) for k, d in group.items()}


def load(path):
    """The DataFrame: task columns, then parameters, then results."""
    with h5py.File(path, "r") as f:
        names = {v: k for k, v in h5py.check_enum_dtype(f["tasks/status"].dtype).items()}
        tasks = pd.DataFrame(columns(f["tasks"]))
        tasks["status"] = tasks["status"].map(names)
        tasks["seconds"] = tasks["end"] - tasks["start"]
        params = pd.DataFrame(columns(f["params"])) if "params" in f else pd.DataFrame()
        results = pd.DataFrame(columns(f["results"])) if "results" in f else pd.DataFrame()
    return pd.concat([tasks, params, results], axis=1), list(params), list(results)


def fmt(v):
    return f"{v:.6g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sweep.py RESULTS.h5")
    df, params, results = load(sys.argv[1])
    print(f"tasks {len(df)}")
    for status, n in sorted(df["status"].value_counts().items()):
        print(f"status {status} {n}")
    if not params:
        return
    by = params[0]
    for key in results:
        if df[key].dtype.kind not in "if":
            continue
        for value, grp in df.groupby(by, sort=True):
            print(f"mean {key} by {by}={fmt(value)}: {fmt(grp[key].mean())} "
                  f"over {grp[key].count()} tasks")


if __name__ == "__main__":
    main()
