"""A full run, an interrupted and resumed run, a run killed with kill -9 and resumed (the
rebuild from the journal), and a --retry-failed resume, each under Valgrind's memcheck
(normal builds: with MPI, only Open MPI's own allocations suppressed, tests/memcheck/) or
AddressSanitizer (sanitizer builds: invalid accesses with MPI; leaks too without a
launcher, since LeakSanitizer cannot tell Open MPI's unloaded plugins from our code)."""
import os
import signal
import subprocess
import time

from harness import Checker, parse_args, read_tasks, workdir
from journal import wait_for_finished

args = parse_args({"--sanitized": {"default": "OFF"}})
ck = Checker()
d = workdir()
supp = os.path.join(args.source, "tests", "memcheck")
asan = args.sanitized.upper() in ("ON", "1", "TRUE", "YES")
env = dict(os.environ)
if asan:
    tool = []
else:
    tool = ["valgrind", "-q", f"--suppressions={supp}/valgrind.supp", "--leak-check=full",
            "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--track-fds=no"]


def cmd(np_, *run_args):
    base = tool + [args.taskfarm, "run", *run_args]
    if np_ == 0:
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        return base
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    return [args.mpiexec, "--oversubscribe", "-n", str(np_), *base]


def clean(what, rc, err, want_rc):
    bad = [l for l in err.splitlines() if "ERROR: AddressSanitizer" in l or
           "ERROR: LeakSanitizer" in l or "runtime error:" in l or
           ("==" in l and ("definitely lost" in l or "Invalid" in l or "uninitialised" in l))]
    ck.true(f"{what}: memory errors:\n" + "\n".join(bad[:20]), not bad)
    ck.eq(f"{what}: exit code", rc, want_rc)


def run(what, np_, *run_args, want_rc):
    r = subprocess.run(cmd(np_, *run_args), capture_output=True, text=True, env=env,
                       timeout=600)
    clean(what, r.returncode, r.stderr, want_rc)
    return r


tasks = os.path.join(d, "t.tasks")
with open(tasks, "w") as f:
    for i in range(40):
        f.write(f"echo task {i}; echo note >&2\n")
    f.write("exit 3\nsleep 20\nhead -c 300000 /dev/zero\n")
    for i in range(10):
        f.write("sleep 0.3\n")
tool_name = "ASan" if asan else "valgrind"

# 1. a full run: failures, a retry, a timeout, a capped output
# 2. interrupted by a signal, then resumed
for np_ in ((3,) if not asan else (0, 3)):
    out = os.path.join(d, f"full{np_}.h5")
    run(f"{tool_name} full run, np {np_}", np_, tasks, "-o", out, "--timeout", "2", "--retries",
        "1", "--capture", "100K", want_rc=1)
    c, a, _ = read_tasks(out)
    ck.eq("full run: counts", (a["tasks_succeeded"], a["tasks_failed"], a["tasks_timed_out"]),
          (51, 1, 1))
    out = os.path.join(d, f"sig{np_}.h5")
    p = subprocess.Popen(cmd(np_, tasks, "-o", out, "--drain", "1"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    # under way: some tasks recorded (valgrind may take seconds to start 3 ranks)
    wait_for_finished(out, 20, 120, p)
    p.send_signal(signal.SIGUSR1 if np_ else signal.SIGTERM)
    so, se = p.communicate(timeout=120)
    clean(f"{tool_name} interrupted run, np {np_}", p.returncode, se, 4)
    run(f"{tool_name} resumed run, np {np_}", np_, tasks, "-o", out, "--resume", "--timeout", "2",
        want_rc=1)
    ck.eq("resumed: nothing left", int(read_tasks(out)[1]["tasks_not_run"]), 0)

# 3. kill -9 (no tool needed for the victim), then a resume that rebuilds from the journal
out = os.path.join(d, "killed.h5")
p = subprocess.Popen([args.taskfarm, "run", tasks, "-o", out], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)
time.sleep(1.0)
os.killpg(p.pid, signal.SIGKILL)
p.wait()
r = run(f"{tool_name} resume after kill -9", 0, tasks, "-o", out, "--resume", "--timeout", "2",
        want_rc=1)
ck.true("resume after kill -9 rebuilt the file", "rebuilding" in r.stderr)
c, a, _ = read_tasks(out)
ck.eq("resume after kill -9: nothing left", int(a["tasks_not_run"]), 0)

# 4. --retry-failed on a closed file without a journal (the journal is seeded from it)
run(f"{tool_name} retry-failed", 0, tasks, "-o", out, "--retry-failed", "--timeout", "1",
    want_rc=1)
ck.finish()
