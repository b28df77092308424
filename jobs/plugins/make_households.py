#!/usr/bin/python3
"""Make a table of synthetic households for the tax example: make_households.py OUT.h5 N [SEED].

/households is a compound dataset (id, region, adults, children, income, age_head), in an
order and with fields the plugin does not all use: it names the ones it reads. About one in
a thousand households has a negative income, which the plugin rejects as invalid."""
import sys

import h5py
import numpy as np

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 2026)
dtype = np.dtype([("id", "<i8"), ("region", "S8"), ("adults", "<i4"), ("children", "<i4"),
                  ("income", "<f8"), ("age_head", "<i2")])
h = np.zeros(n, dtype=dtype)
h["id"] = np.arange(n) + 100000
h["region"] = rng.choice([b"north", b"south", b"east", b"west"], n)
h["adults"] = rng.integers(1, 3, n, endpoint=True)
h["children"] = rng.poisson(0.9, n)
h["income"] = np.round(rng.lognormal(10.4, 0.7, n) * h["adults"], 2)
h["income"][rng.random(n) < 0.001] *= -1
h["age_head"] = rng.integers(18, 95, n)
with h5py.File(out, "w") as f:
    f.create_dataset("households", data=h, chunks=True)
print(f"{out}: {n} households")
