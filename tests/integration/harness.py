"""Shared helpers for the integration tests: run the real taskfarm binary (under mpirun or
alone) and read its result file back with h5py."""
import argparse
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--taskfarm", required=True)
    p.add_argument("--mpiexec", default="mpirun")
    p.add_argument("--source", required=True)
    for name, kw in (extra or {}).items():
        p.add_argument(name, **kw)
    return p.parse_args()


def command(args, np_, *run_args):
    """The command line for np_ ranks; np_ == 0 means no launcher at all."""
    base = [args.taskfarm, *run_args]
    if np_ == 0:
        return base
    return [args.mpiexec, "--oversubscribe", "-n", str(np_), *base]


def run(args, np_, *run_args, cwd=None, timeout=300):
    return subprocess.run(command(args, np_, *run_args), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def read_tasks(path):
    """/tasks as a dict of numpy arrays (strings decoded) plus the root attributes."""
    with h5py.File(path, "r") as f:
        cols = {}
        for name, d in f["tasks"].items():
            cols[name] = d.asstr()[()] if d.dtype.kind == "O" else d[()]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        status_names = h5py.check_enum_dtype(f["tasks/status"].dtype)
    return cols, attrs, status_names


def workdir():
    return tempfile.mkdtemp(prefix="tf-test-")


class Checker:
    """Collects failures so one run reports every mismatch, then exits non-zero."""

    def __init__(self):
        self.failures = []

    def eq(self, what, got, want):
        if got != want:
            self.failures.append(f"{what}: got {got!r}, want {want!r}")

    def true(self, what, cond):
        if not cond:
            self.failures.append(what)

    def finish(self):
        for f in self.failures[:40]:
            print("FAIL:", f)
        if len(self.failures) > 40:
            print(f"... and {len(self.failures) - 40} more")
        if self.failures:
            sys.exit(1)
        print("ok")
