#!/usr/bin/python3
"""summary.py RESULTS.h5 - what happened in a taskfarm run: outcomes, load per rank, the
slowest tasks and the first failures with the end of their stderr.

Uses only h5py and pandas (Debian: python3-h5py python3-pandas)."""
import sys

import h5py
import pandas as pd


def load(path):
    with h5py.File(path, "r") as f:
        df = pd.DataFrame({k: (c.asstr()[()] if c.dtype.kind == "O" else c[()])
                           for k, c in f["tasks"].items()})
        names = {v: k for k, v in h5py.check_enum_dtype(f["tasks/status"].dtype).items()}
        attrs = dict(f.attrs)
    df["status"] = df["status"].map(names)
    df["seconds"] = df["end"] - df["start"]
    return df, attrs


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summary.py RESULTS.h5")
    df, a = load(sys.argv[1])
    print(f"{a['ntasks']} tasks from {a['taskfile']} on {a['nworkers']} workers, "
          f"mode {a['mode']}, {a['end_time'] - a['start_time']:.1f} s")
    print("\noutcomes:\n" + df["status"].value_counts().to_string())
    ran = df[df["rank"] >= 0]
    if len(ran):
        load_ = ran.groupby("rank")["seconds"].agg(["count", "sum"])
        print("\nload per rank (tasks, busy seconds):\n" + load_.to_string())
        print("\nslowest tasks:\n" +
              ran.nlargest(5, "seconds")[["line", "seconds", "command"]].to_string())
    bad = df[df["status"].isin(["FAILED", "KILLED", "TIMED_OUT", "LOST"])]
    for _, row in bad.head(5).iterrows():
        tail = row["stderr"].strip().splitlines()[-1:] or [""]
        print(f"\nline {row['line']}: {row['status']} (exit {row['exit_code']}, "
              f"signal {row['signal']}): {row['command']}\n    {tail[0]}")


if __name__ == "__main__":
    main()
