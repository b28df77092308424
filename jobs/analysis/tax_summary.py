#!/usr/bin/python3
"""Read the tax example's results next to its input: tax_summary.py HOUSEHOLDS.h5 TAX.h5

Joins /households (the input) with /results/tax (row i = household i), drops the households
the function rejected (/failures), and prints the mean tax, benefit and net income by number
of children, plus how the work was spread (/batches)."""
import sys

import h5py
import pandas as pd

with h5py.File(sys.argv[1], "r") as f:
    households = pd.DataFrame(f["households"][:])
with h5py.File(sys.argv[2], "r") as f:
    results = pd.DataFrame(f["results/tax"][:])
    failed = f["failures/item"][:]
    batches = pd.DataFrame({k: f["batches"][k][:] for k in f["batches"]})
    state = f.attrs["state"]

df = households.drop(columns=["id"]).join(results)
ok = df.drop(index=failed)
print(f"households: {len(df)}  failed: {len(failed)}  file: {state}")
print(ok.groupby(ok["children"].clip(upper=4))[["income", "tax", "benefit", "net_income"]]
      .mean().round(0).to_string())
print(f"mean tax rate: {ok['tax'].sum() / ok['income'].sum():.4f}")
per_rank = batches.groupby("rank")["count"].sum()
print("items per rank: " + ", ".join(f"{r}: {n}" for r, n in per_rank.items()))
