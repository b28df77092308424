"""The README's pandas example, run verbatim against a real run of the seed example."""
import os
import re
import subprocess

import harness


def main():
    args = harness.parse_args()
    c = harness.Checker()
    with open(os.path.join(args.source, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    m = re.search(r"<!-- example: load-tasks.*?-->\s*```python\n(.*?)```", readme, re.S)
    c.true("README has the load-tasks example", m is not None)
    if m is None:
        c.finish()
    snippet = m.group(1)
    c.eq("example is three lines", len(snippet.strip().splitlines()), 3)
    wd = harness.workdir()
    tasks = os.path.join(args.source, "jobs/examples/hello.tasks")
    res = harness.run(args, 4, "run", tasks, "-o", "hello.h5", cwd=wd)
    c.eq("hello example: exit code", res.returncode, 0)
    c.true(f"summary names the file: {res.stdout!r}", "16 succeeded" in res.stdout and
           "results in hello.h5" in res.stdout)
    check = snippet + """
assert len(df) == 16, len(df)
assert set(df.columns) >= {"command", "line", "status", "exit_code", "signal", "rank", "host",
    "start", "end", "attempts", "stdout", "stderr", "stdout_truncated", "stderr_truncated"}
assert (df.status == 1).all()
assert df.stdout[0].startswith("item 01: processed by rank "), df.stdout[0]
assert df.stdout[15].startswith("item 16:"), df.stdout[15]
assert df.line.tolist() == list(range(7, 23)), df.line.tolist()
print("example ok")
"""
    res = subprocess.run(["/usr/bin/python3", "-c", check], cwd=wd, capture_output=True,
                         text=True)
    c.eq(f"example runs: {res.stderr}", res.stdout.strip(), "example ok")
    c.finish()


if __name__ == "__main__":
    main()
