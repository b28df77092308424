#!/bin/bash
# bench.sh - taskfarm beside the tools a user would pick instead, on the same workloads, in
# one run. Not a test: run on demand (`cmake --build build --target bench`, or directly).
#
#   tests/bench/bench.sh [--peers DIR] [--reps N] [--only 1,2,...,13] [--taskfarm PATH]
#
# 1-6: one rank per slot under mpirun (as before slots); 7-13: one process running many
# tasks at once (no launcher, -j), two processes of 8 slots, and maps on 2 threads.
#
# DIR holds the peer harness (peers.sh, gen.py, fork_floor.c, fn_serial.c, fnpeers.py; default
# ../shared/bench beside
# the repository). Peers need Debian's parallel, python3-mpi4py, bc. Prints medians of N runs
# (default 3) and ratios; see RESULTS.md for figures and what limits them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
peers=$top/../shared/bench
reps=3
only=1,2,3,4,5,6,7,8,9,10,11,12,13
taskfarm=$top/build/taskfarm
while [ $# -gt 0 ]; do
    case $1 in
    --peers) peers=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --taskfarm) taskfarm=$2; shift 2 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$taskfarm" ] || { echo "bench.sh: build taskfarm first ($taskfarm)" >&2; exit 2; }
[ -f "$peers/peers.sh" ] || { echo "bench.sh: no peer harness in $peers (--peers DIR)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
py=/usr/bin/python3
stats="$py $here/stats.py"

med() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# taskfarm TASKS P WHAT [OPTIONS] -> prints one figure of one run (see stats.py for WHAT)
tf_once() {
    local tasks=$1 p=$2 what=$3 t0 t1
    shift 3
    rm -f out.h5
    t0=$(date +%s.%N)
    # one rank per slot: every rank runs tasks, rank 0 too (P slots, as P workers before)
    mpirun --oversubscribe -n "$p" "$taskfarm" run "$tasks" -o out.h5 -q "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    $stats out.h5 "$what" "$(echo "$t1 - $t0" | bc)"
}
tf_med() { for _ in $(seq "$reps"); do tf_once "$@"; done | med; }
# taskfarm alone, no launcher: TASKS WHAT [OPTIONS] -> one figure of one run
tf_solo_once() {
    local tasks=$1 what=$2 t0 t1
    shift 2
    rm -f out.h5
    t0=$(date +%s.%N)
    "$taskfarm" run "$tasks" -o out.h5 -q "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    $stats out.h5 "$what" "$(echo "$t1 - $t0" | bc)"
}
tf_solo_med() { for _ in $(seq "$reps"); do tf_solo_once "$@"; done | med; }
# taskfarm under mpirun with NP ranks: TASKS NP WHAT [OPTIONS]
tf_np_once() {
    local tasks=$1 np=$2 what=$3 t0 t1
    shift 3
    rm -f out.h5
    t0=$(date +%s.%N)
    mpirun --oversubscribe -n "$np" "$taskfarm" run "$tasks" -o out.h5 -q "$@" >/dev/null 2>&1 || true
    t1=$(date +%s.%N)
    $stats out.h5 "$what" "$(echo "$t1 - $t0" | bc)"
}
peer_med() { for _ in $(seq "$reps"); do "$peers/peers.sh" "$1" "$2" "$3"; done | med; }
ratio() { echo "scale=2; $1 / $2" | bc; }
wants() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
best_of() { printf '%s\n' "$@" | sort -g | head -1; }

echo "taskfarm benchmark: $(nproc) cores, $(date -u '+%F %H:%M') UTC, medians of $reps runs"
gcc -O2 -o fork_floor "$peers/fork_floor.c"

if wants 1; then
    "$peers/gen.py" empty 20000 >empty.tasks
    floor1=$(./fork_floor 4000 true | awk '{print $(NF-4)}')
    floor2=$( (./fork_floor 4000 true & ./fork_floor 4000 true; wait) | awk '{s += $(NF-4)} END {print s}')
    echo
    echo "1. 20,000 x true on 2 ranks of one slot (whole command, seconds; tasks/s)"
    echo "   fork+exec floor of sh -c true: $floor1/s on one core, $floor2/s with two at once"
    tf=$(tf_med empty.tasks 2 wall)
    tfin=$(tf_med empty.tasks 2 rate)
    declare -A p1
    for tool in xargs parallel mpi4py multiprocessing; do p1[$tool]=$(peer_med $tool empty.tasks 2); done
    best=$(best_of "${p1[@]}")
    printf '   %-16s %8.2f s %8.0f/s\n' taskfarm "$tf" "$(echo "20000 / $tf" | bc -l)"
    for tool in xargs parallel mpi4py multiprocessing; do
        printf '   %-16s %8.2f s %8.0f/s\n' "$tool" "${p1[$tool]}" "$(echo "20000 / ${p1[$tool]}" | bc -l)"
    done
    echo "   taskfarm / best peer (time): $(ratio "$tf" "$best")"
    echo "   taskfarm once mpirun has started: $tfin tasks/s = $(ratio "$tfin" "$floor2") of the two-core floor"
fi

if wants 2; then
    "$peers/gen.py" skew 400 160 42 16 >skew.tasks 2>skew.ideal
    ideal=$(sed 's/.*greedy_ideal=//' skew.ideal)
    lower=$(sed 's/lower_bound=\([0-9.]*\).*/\1/' skew.ideal)
    echo
    echo "2. 400 heavy-tailed sleeps (sum 160 s) on 16 ranks of one slot; greedy ideal $ideal s, lower bound $lower s"
    mk=$(tf_med skew.tasks 16 makespan)
    wall=$(tf_med skew.tasks 16 wall)
    printf '   %-16s makespan %6.2f s  efficiency %.3f  (whole command %.2f s)\n' taskfarm "$mk" \
        "$(echo "$ideal / $mk" | bc -l)" "$wall"
    for tool in xargs parallel mpi4py multiprocessing; do
        t=$(peer_med $tool skew.tasks 16)
        printf '   %-16s whole command %6.2f s  efficiency <= %.3f\n' "$tool" "$t" "$(echo "$ideal / $t" | bc -l)"
    done
    mpirun --oversubscribe -n 16 "$taskfarm" run skew.tasks -o previous.h5 -q >/dev/null 2>&1 || true
    mk2=$(tf_med skew.tasks 16 makespan --durations-from previous.h5)
    printf '   %-16s makespan %6.2f s  efficiency %.3f  closes %.0f%% of the gap from greedy to the lower bound\n' \
        "taskfarm --durations-from" "$mk2" "$(echo "$ideal / $mk2" | bc -l)" \
        "$(echo "100 * ($ideal - $mk2) / ($ideal - $lower)" | bc -l)"
    mk3=$(tf_med skew.tasks 16 makespan --no-steal)
    printf '   %-16s makespan %6.2f s  efficiency %.3f\n' "taskfarm --no-steal" "$mk3" "$(echo "$ideal / $mk3" | bc -l)"
    mk4=$(tf_med skew.tasks 16 makespan --mode process)
    mk5=$(tf_med skew.tasks 16 makespan --mode process --no-steal)
    printf '   %-16s makespan %6.2f s with stealing, %6.2f s without\n' "taskfarm --mode process" "$mk4" "$mk5"
fi

if wants 3; then
    "$peers/gen.py" fewlong 16 3 >fewlong.tasks
    echo
    echo "3. 16 x sleep 3 on 16 ranks of one slot"
    over=$(tf_med fewlong.tasks 16 overhead3)
    wall=$(tf_med fewlong.tasks 16 wall)
    printf '   %-16s makespan - 3 s = %.3f s  (whole command %.2f s)\n' taskfarm "$over" "$wall"
    for tool in xargs parallel mpi4py multiprocessing; do
        printf '   %-16s whole command %6.2f s\n' "$tool" "$(peer_med $tool fewlong.tasks 16)"
    done
fi

if wants 4; then
    "$peers/gen.py" uniform 5000 0.05 >uniform.tasks
    echo
    echo "4. 5,000 x sleep 0.05 on 128 ranks of one slot ($(nproc) cores); ideal 1.95 s"
    mk=$(tf_med uniform.tasks 128 makespan)
    cpu=$(tf_med uniform.tasks 128 taskcpu)
    wall=$(tf_med uniform.tasks 128 wall)
    printf '   %-16s makespan %6.2f s  efficiency %.3f  (whole command %.2f s)\n' taskfarm "$mk" \
        "$(echo "2.0 / $mk" | bc -l)" "$wall"
    echo "   mean task wall time $cpu s (0.05 s asleep; the rest is starting it on a busy machine)"
    for tool in xargs parallel multiprocessing; do
        t=$(peer_med $tool uniform.tasks 128)
        printf '   %-16s whole command %6.2f s  efficiency <= %.3f\n' "$tool" "$t" "$(echo "2.0 / $t" | bc -l)"
    done
fi

if wants 5; then
    "$peers/gen.py" empty 20000 >empty.tasks
    for i in $(seq 20000); do echo "printf '%01023d\\n' $i"; done >kib.tasks
    echo
    echo "5. What crash safety costs: 20,000 tasks on 2 ranks, with the journal (default) and"
    echo "   with --no-journal (whole command, seconds; tasks/s once running)"
    for t in empty kib; do
        on=$(tf_med $t.tasks 2 wall)
        off=$(tf_med $t.tasks 2 wall --no-journal)
        ron=$(tf_med $t.tasks 2 rate)
        roff=$(tf_med $t.tasks 2 rate --no-journal)
        label=$([ $t = empty ] && echo "true" || echo "1 KiB stdout each")
        printf '   %-18s journal %6.2f s %6.0f/s   no journal %6.2f s %6.0f/s   cost %+.1f%%\n' \
            "$label" "$on" "$ron" "$off" "$roff" "$(echo "100 * ($on - $off) / $off" | bc -l)"
    done
fi

# 6: in-process map. Rates are measured inside each program (taskfarm: its summary line, the
# time of taskfarm_map_run, file creation and closing included; the peers: fnpeers.py's own
# timer), as fnpeers.py does; the whole mpirun command is shown beside them.
map_once() { # N [OPTIONS] -> "items/s wall_seconds master_cpu master_rss_mib"
    local n=$1 t0 t1 line
    shift
    rm -f map.h5 map.h5.journal
    t0=$(date +%s.%N)
    line=$(mpirun --oversubscribe -n 2 -x TASKFARM_DIRECT_WRITES="${direct:-1}" "$taskfarm" run \
        --plugin "$plugins/libmix.so:mix" --items "$n" -o map.h5 "$@" 2>/dev/null | grep '^taskfarm:')
    t1=$(date +%s.%N)
    $py -c "import h5py,sys; a=h5py.File('map.h5','r').attrs; \
print(sys.argv[1], a['master_busy_seconds'], a['master_peak_rss_mib'])" \
        "$(echo "$line" | sed 's/.* in \([0-9.]*\) s .*/\1/')" | awk -v n="$n" -v w="$(echo "$t1 - $t0" | bc)" \
        '{printf "%.0f %.2f %.2f %.1f\n", n / $1, w, $2, $3}'
}
col_med() { awk -v c="$1" '{print $c}' | med; }
if wants 6; then
    plugins=$(dirname "$taskfarm")/plugins
    [ -f "$plugins/libmix.so" ] || { echo "bench.sh: no $plugins/libmix.so (build first)" >&2; exit 2; }
    gcc -O2 -o fn_serial "$peers/fn_serial.c"
    one=$(for _ in $(seq "$reps"); do ./fn_serial 20000000; done | awk '{print $(NF-3)}' | med)
    two=$(for _ in $(seq "$reps"); do (./fn_serial 20000000 & ./fn_serial 20000000; wait) |
        awk '{s += $(NF-3)} END {print s}'; done | med)
    echo
    echo "6. In-process map of f(i) (fn_serial.c, ~150 ns) on 2 ranks of one thread (mpirun -n 2), results"
    echo "   written to HDF5 (8 bytes per item). Serial C loop: $one items/s on one core; two"
    echo "   loops at once: $two items/s. Target: 0.85 x 2 x serial = $(echo "1.7 * $one" | bc | cut -d. -f1) items/s"
    for n in 1000000 100000000; do
        for _ in $(seq "$reps"); do map_once $n; done >runs.txt
        rate=$(col_med 1 <runs.txt)
        for _ in $(seq "$reps"); do map_once $n --no-journal; done >runs-nj.txt
        printf '   %-12s %10.0f items/s = %.2f of 2 x serial, %.2f of two loops at once; %5.0f MB/s into
' \
            "taskfarm n=$n" "$rate" "$(echo "$rate / (2 * $one)" | bc -l)" "$(echo "$rate / $two" | bc -l)" \
            "$(echo "$rate * 8 / 1000000" | bc -l)"
        printf '   %-12s HDF5; whole command %.2f s; master busy %.2f s, peak RSS %.0f MiB; --no-journal %.0f items/s\n' \
            "" "$(col_med 2 <runs.txt)" "$(col_med 3 <runs.txt)" "$(col_med 4 <runs.txt)" "$(col_med 1 <runs-nj.txt)"
        for _ in $(seq "$reps"); do direct=0 map_once $n; done >runs-vm.txt
        printf '   %-12s every result through the master (TASKFARM_DIRECT_WRITES=0): %.0f items/s, master busy %.2f s\n' \
            "" "$(col_med 1 <runs-vm.txt)" "$(col_med 3 <runs-vm.txt)"
    done
    # The master's memory does not grow with the number of items (results are not held).
    for n in 1000000 10000000 100000000; do
        printf '   master peak RSS at n=%-10s %s MiB\n' "$n" "$(map_once $n | awk '{print $4}')"
    done
    # Python peers: ~0.1 M items/s, so 10^6 items (10 s); their rate does not depend on n.
    for chunk in 1000 10000; do
        mp=$(for _ in $(seq "$reps"); do $py "$peers/fnpeers.py" multiprocessing 1000000 2 $chunk; done |
            sed 's/.*= \([0-9,]*\) items.*/\1/' | tr -d , | med)
        m4=$(for _ in $(seq "$reps"); do mpirun --oversubscribe -n 3 $py -m mpi4py.futures \
            "$peers/fnpeers.py" mpi4py 1000000 $chunk 2>/dev/null; done |
            sed 's/.*= \([0-9,]*\) items.*/\1/' | tr -d , | med)
        printf '   %-12s multiprocessing.Pool(2) %8.0f items/s, mpi4py.futures (2 workers) %8.0f items/s\n' \
            "chunk $chunk" "$mp" "$m4"
    done
fi

# ---- 7-13: one process runs many tasks at once ----------------------------------------------
# Every run gives every figure: wall rate makespan atonce ranks rss master (columns 1-7).
FIGS=wall,rate,makespan,atonce,ranks,rss,master
solo_runs() { for _ in $(seq "$reps"); do tf_solo_once "$1" $FIGS "${@:2}"; done; }
np_runs() { for _ in $(seq "$reps"); do tf_np_once "$1" "$2" $FIGS "${@:3}"; done; }
if wants 7; then
    "$peers/gen.py" uniform 400 0.05 >u400.tasks
    echo
    echo "7. No launcher, -j 16, 400 x sleep 0.05 (ideal 1.25 s): whole command, seconds"
    solo_runs u400.tasks -j 16 >r7.txt
    xa=$(peer_med xargs u400.tasks 16)
    pa=$(peer_med parallel u400.tasks 16)
    tf=$(col_med 1 <r7.txt)
    printf '   taskfarm -j 16   %6.2f s (makespan %.2f s, %s at once)\n   xargs -P16       %6.2f s\n   parallel -j16    %6.2f s\n' \
        "$tf" "$(col_med 3 <r7.txt)" "$(col_med 4 <r7.txt)" "$xa" "$pa"
    echo "   taskfarm / xargs: $(ratio "$tf" "$xa") (target <= 1)"
fi
if wants 8; then
    "$peers/gen.py" uniform 200 0.05 >u200.tasks
    echo
    echo "8. No launcher, default slots ($(nproc) cores), 200 x sleep 0.05: whole command, seconds"
    solo_runs u200.tasks >r8.txt
    xa=$(peer_med xargs u200.tasks "$(nproc)")
    tf=$(col_med 1 <r8.txt)
    printf '   taskfarm         %6.2f s, %s tasks at once\n   xargs -P%s        %6.2f s\n' \
        "$tf" "$(col_med 4 <r8.txt)" "$(nproc)" "$xa"
    echo "   taskfarm / xargs: $(ratio "$tf" "$xa") (target <= 1)"
fi
if wants 9; then
    "$peers/gen.py" empty 20000 >empty.tasks
    floor2=$( (./fork_floor 4000 true & ./fork_floor 4000 true; wait) | awk '{s += $(NF-4)} END {print s}')
    echo
    echo "9. No launcher, default slots, 20,000 x true: whole command, seconds; tasks/s running"
    echo "   fork+exec floor of sh -c true, two loops at once: $floor2/s"
    solo_runs empty.tasks >r9.txt
    xa=$(peer_med xargs empty.tasks 2)
    tf=$(col_med 1 <r9.txt)
    rate=$(col_med 2 <r9.txt)
    floor2b=$( (./fork_floor 4000 true & ./fork_floor 4000 true; wait) | awk '{s += $(NF-4)} END {print s}')
    printf '   taskfarm         %6.2f s  (%s tasks/s once running = %s of the floor; master %s us/task)\n' \
        "$tf" "$rate" "$(ratio "$rate" "$(echo "($floor2 + $floor2b) / 2" | bc -l)")" "$(col_med 7 <r9.txt)"
    printf '   xargs -P2        %6.2f s = %.0f tasks/s\n' "$xa" "$(echo "20000 / $xa" | bc -l)"
    echo "   floor measured again after: $floor2b/s"
    echo "   taskfarm / xargs: $(ratio "$tf" "$xa") (target <= 1; floor share target >= 0.9)"
fi
if wants 10; then
    "$peers/gen.py" uniform 5000 0.05 >u5000.tasks
    echo
    echo "10. No launcher, -j 128, 5,000 x sleep 0.05 (ideal 1.95 s): whole command, seconds"
    solo_runs u5000.tasks -j 128 >r10.txt
    xa=$(peer_med xargs u5000.tasks 128)
    tf=$(col_med 1 <r10.txt)
    printf '   taskfarm -j 128  %6.2f s (makespan %.2f s, %s at once), peak RSS %s MiB\n   xargs -P128      %6.2f s\n' \
        "$tf" "$(col_med 3 <r10.txt)" "$(col_med 4 <r10.txt)" "$(col_med 6 <r10.txt)" "$xa"
    echo "   taskfarm / xargs: $(ratio "$tf" "$xa") (target <= 0.8; memory target < 100 MiB)"
fi
if wants 11; then
    "$peers/gen.py" uniform 400 0.05 >u400.tasks
    echo
    echo "11. mpirun -n 2 -j 8 (two processes for two nodes), 400 x sleep 0.05; ideal 1.25 s"
    np_runs u400.tasks 2 -j 8 >r11.txt
    mk=$(col_med 3 <r11.txt)
    printf '   makespan %.2f s = %.3f of the ideal (target <= 1.10), tasks on %s ranks; whole command %.2f s\n' \
        "$mk" "$(echo "$mk / 1.25" | bc -l)" "$(col_med 5 <r11.txt)" "$(col_med 1 <r11.txt)"
fi
if wants 12; then
    "$peers/gen.py" fewlong 16 3 >fewlong.tasks
    echo
    echo "12. No launcher, -j 16, 16 x sleep 3: whole command (target within 0.1 s of 3 s)"
    solo_runs fewlong.tasks -j 16 >r12.txt
    xa=$(peer_med xargs fewlong.tasks 16)
    printf '   taskfarm -j 16   %6.3f s (makespan - 3 s = %.3f s)\n   xargs -P16       %6.3f s\n' \
        "$(col_med 1 <r12.txt)" "$(echo "$(col_med 3 <r12.txt) - 3" | bc -l)" "$xa"
fi
map_solo_once() { # N THREADS -> "items/s_in_program wall_seconds"
    local n=$1 j=$2 t0 t1 line
    rm -f map.h5 map.h5.journal
    t0=$(date +%s.%N)
    line=$("$taskfarm" run --plugin "$plugins/libmix.so:mix" --items "$n" -o map.h5 -j "$j" 2>/dev/null | grep '^taskfarm:')
    t1=$(date +%s.%N)
    echo "$line" | sed 's/.* (\([0-9.e+]*\) items\/s).*/\1/' | awk -v w="$(echo "$t1 - $t0" | bc)" '{printf "%.0f %.3f\n", $1, w}'
}
if wants 13; then
    plugins=$(dirname "$taskfarm")/plugins
    gcc -O2 -o fn_serial "$peers/fn_serial.c"
    one=$(for _ in $(seq "$reps"); do ./fn_serial 20000000; done | awk '{print $(NF-3)}' | med)
    echo
    echo "13. In-process map of f(i) (mix.c), no launcher, 2 threads: whole command against twice"
    echo "    the serial C loop ($one items/s on one core; target >= 0.85)"
    for n in 1000000 100000000; do
        for _ in $(seq "$reps"); do map_solo_once $n 2; done >m2.txt
        wall=$(col_med 2 <m2.txt)
        inprog=$(col_med 1 <m2.txt)
        rate=$(echo "$n / $wall" | bc -l)
        printf '   n=%-10s whole command %7.3f s = %10.0f items/s = %.2f of 2 x serial (in-program %.0f items/s = %.2f)\n' \
            "$n" "$wall" "$rate" "$(echo "$rate / (2 * $one)" | bc -l)" "$inprog" "$(echo "$inprog / (2 * $one)" | bc -l)"
    done
fi
