#!/bin/sh
# modes.sh - the Process and Pool models side by side on the same task files.
#   sh jobs/examples/modes.sh [RANKS]      (default 7 ranks: 1 master + 6 workers)
# Prints the wall time of each run, read back from the result files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
taskfarm=${TASKFARM:-$top/build/taskfarm}
ranks=${1:-7}
out=$(mktemp -d)
for tasks in few-long many-short; do
    for mode in process pool; do
        mpirun --oversubscribe -n "$ranks" "$taskfarm" run "$here/$tasks.tasks" \
            -o "$out/$tasks-$mode.h5" --mode "$mode" -q
        /usr/bin/python3 - "$out/$tasks-$mode.h5" "$tasks" "$mode" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    a = f.attrs
    print(f"{sys.argv[2]:>11} --mode {sys.argv[3]:<8} {a['end_time'] - a['start_time']:6.2f} s "
          f"({a['tasks_succeeded']} of {a['ntasks']} tasks succeeded)")
PY
    done
done
rm -rf "$out"
