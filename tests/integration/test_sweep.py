"""Parameter sweeps: --template over --params FILE.csv (RFC 4180) or --grid. Every value
reaches its task as exactly one shell word (values that look like commands are echoed, never
run); {#} is the task index; /params holds the parameters as typed columns in task order;
OUT.h5.tasks the commands; a resume works and a changed table is refused; every usage error
is one line, exit 2, and writes nothing."""
import os
import subprocess

import h5py

import harness


def params_of(path):
    with h5py.File(path, "r") as f:
        g = f["params"]
        return {k: (g[k].asstr()[()].tolist() if g[k].dtype.kind == "O" else g[k][()].tolist())
                for k in g}, {k: g[k].dtype.kind for k in g}, list(g)


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()

    def tf(*argv, np_=3):
        return subprocess.run(harness.command(args, np_, "run", *argv), cwd=wd,
                              capture_output=True, text=True, timeout=120)

    evil = ["$(touch PWNED1)", "; touch PWNED2", "`touch PWNED3`", "it's \"quoted\", ok",
            "a b  c", "", "x|touch PWNED4", "*"]
    with open(os.path.join(wd, "grid.csv"), "w") as f:
        f.write("alpha,seed,label\r\n")
        for i, v in enumerate(evil):
            q = '"' + v.replace('"', '""') + '"'
            f.write(f"{0.5 * i},{i + 1},{q}\r\n")
    r = tf("--template", "printf '%s|%s|%s|%s\\n' {alpha} {seed} {label} {#}", "--params", "grid.csv")
    c.eq(f"csv sweep: exit ({r.stderr[-400:]})", r.returncode, 0)
    out = os.path.join(wd, "grid.h5")
    cols, a, _ = harness.read_tasks(out)
    c.eq("csv sweep: each value arrived as one word, unchanged", list(cols["stdout"]),
         [f"{0.5 * i}|{i + 1}|{v}|{i}\n" for i, v in enumerate(evil)])
    c.eq("csv sweep: nothing a value held was run", sorted(p for p in os.listdir(wd) if "PWNED" in p), [])
    vals, kinds, order = params_of(out)
    c.eq("/params: columns in the table's order", order, ["alpha", "seed", "label"])
    c.eq("/params: types", kinds, {"alpha": "f", "seed": "i", "label": "O"})
    c.eq("/params: values in task order", (vals["alpha"], vals["seed"], vals["label"]),
         ([0.5 * i for i in range(8)], list(range(1, 9)), evil))
    c.eq("attributes", (a["template"], a["params_file"]),
         ("printf '%s|%s|%s|%s\\n' {alpha} {seed} {label} {#}", "grid.csv"))
    with open(os.path.join(wd, "grid.h5.tasks")) as f:
        lines = f.read().splitlines()
    c.eq("grid.h5.tasks: one command per row, as stored", lines, list(cols["command"]))

    # --grid: cartesian product, the last axis fastest; ranges; extra NAME=VALUES words.
    r = tf("--template", "echo {a}-{b}-{#}", "--grid", "a=x,y", "b=3..1", "-o", "g.h5", np_=0)
    c.eq(f"grid: exit ({r.stderr[-300:]})", r.returncode, 0)
    cols, a, _ = harness.read_tasks(os.path.join(wd, "g.h5"))
    want = [f"{x}-{b}-{i}" for i, (x, b) in enumerate((x, b) for x in "xy" for b in (3, 2, 1))]
    c.eq("grid: tasks", [s.strip() for s in cols["stdout"]], want)
    vals, kinds, _ = params_of(os.path.join(wd, "g.h5"))
    c.eq("grid: /params", (vals["a"], vals["b"], kinds["b"]), (list("xxxyyy"), [3, 2, 1] * 2, "i"))
    c.eq("grid: recorded", a["grid"], "a=x,y b=3..1")

    # Resume: the same sweep goes on; a changed table is refused.
    r = tf("--template", "test {n} -ne 2", "--grid", "n=1..4", "-o", "r.h5", np_=2)
    c.eq("resume: first run exit (task n=2 fails)", r.returncode, 1)
    r = tf("--template", "test {n} -ne 2", "--grid", "n=1..4", "-o", "r.h5", "--resume",
           "--retry-failed", np_=2)
    cols, _, _ = harness.read_tasks(os.path.join(wd, "r.h5"))
    c.eq("resume: only the failed task ran again", cols["attempts"].tolist(), [1, 2, 1, 1])
    r = tf("--template", "test {n} -ne 2", "--grid", "n=1..5", "-o", "r.h5", "--resume", np_=2)
    c.eq(f"resume with another grid: refused ({r.stderr[-300:]})", r.returncode, 2)
    # A slice of a sweep: its rows of /params.
    r = tf("--template", "echo {n}", "--grid", "n=10..19", "--slice", "1/2", "-o", "s.h5", np_=2)
    vals, _, _ = params_of(os.path.join(wd, "s.h5"))
    c.eq("slice: its parameters", vals["n"], list(range(15, 20)))

    # --collect: the last line each task prints gives /results, typed, in task order.
    r = tf("--template", 'echo "working"; test {a} -ne 3 && echo "sq=$(({a} * {a})) half={a}.5 tag=t{a}"',
           "--grid", "a=1..5", "--collect", "-o", "c.h5", np_=3)
    c.eq(f"collect: exit (task a=3 printed nothing and failed) ({r.stderr[-300:]})", r.returncode, 1)
    with h5py.File(os.path.join(wd, "c.h5"), "r") as f:
        res = {k: f["results"][k][()] for k in f["results"]}
        kinds = {k: f["results"][k].dtype.kind for k in f["results"]}
        a_col = f["params/a"][()].tolist()
    c.eq("collect: columns and types", kinds, {"sq": "f", "half": "f", "tag": "O"})
    c.eq("collect: values, NaN where the task gave none",
         [None if v != v else v for v in res["sq"].tolist()], [1.0, 4.0, None, 16.0, 25.0])
    c.eq("collect: strings, empty where missing", [t.decode() for t in res["tag"]],
         ["t1", "t2", "", "t4", "t5"])
    c.eq("collect: beside /params row by row", a_col, [1, 2, 3, 4, 5])
    r = tf("--template", 'echo "sq=$(({a} * {a})) half={a}.5 tag=t{a}"', "--grid", "a=1..5",
           "--collect", "-o", "c.h5", "--resume", "--retry-failed", "--allow-changed-taskfile", np_=2)
    with h5py.File(os.path.join(wd, "c.h5"), "r") as f:
        sq = f["results/sq"]
        c.eq("collect after a resume: every row, now complete, integers", (sq.dtype.kind, sq[()].tolist()),
             ("i", [1, 4, 9, 16, 25]))

    # Usage and input errors: one line, exit 2, no result file, no .tasks file.
    with open(os.path.join(wd, "bad.csv"), "w") as f:
        f.write("a,b\n1,2\n3\n")
    with open(os.path.join(wd, "nl.csv"), "w") as f:
        f.write('a\n"one\ntwo"\n')
    for name, argv, word in (
            ("unknown column", ["--template", "echo {c}", "--params", "grid.csv"], "{c}, which is not a parameter"),
            ("bad row", ["--template", "echo {a}", "--params", "bad.csv"], "row 3 has 1 field"),
            ("line break", ["--template", "echo {a}", "--params", "nl.csv"], "line break"),
            ("no table", ["--template", "echo"], "--template needs one of"),
            ("both", ["--template", "echo {a}", "--params", "bad.csv", "--grid", "a=1"], "--template needs one of"),
            ("no template", ["--grid", "a=1"], "need --template"),
            ("task file too", ["--template", "echo {a}", "--grid", "a=1", "x.tasks"], "'x.tasks'"),
            ("bad grid", ["--template", "echo {a}", "--grid", "a=1,,2"], "an empty value"),
            ("missing csv", ["--template", "echo {a}", "--params", "nope.csv"], "nope.csv")):
        dest = os.path.join(wd, f"refused-{name.replace(' ', '_')}.h5")
        r = tf(*argv, "-o", dest)
        lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
        c.eq(f"{name}: exit", r.returncode, 2)
        c.true(f"{name}: one line naming it ({r.stderr!r})", len(lines) == 1 and word in lines[0])
        c.true(f"{name}: nothing written", not os.path.exists(dest) and not os.path.exists(dest + ".tasks"))
    c.finish()


if __name__ == "__main__":
    main()
