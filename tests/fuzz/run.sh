#!/bin/sh
# Run every fuzz harness for a bounded time with its seed corpus.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS]   (or TF_FUZZ_SECONDS; default 60 each)
# New inputs go to a scratch copy of the corpus, so the seeds in the tree stay as they are.
# Exit status: 0 when no harness found a crash, else 1 (the crash files are in BUILD_DIR).
set -u
dir=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS]}" && pwd) || exit 2
secs=${2:-${TF_FUZZ_SECONDS:-60}}
here=$(cd "$(dirname "$0")" && pwd)
status=0
for name in taskfile params_csv grid collect durations wire journal; do
    bin=$dir/fuzz_$name
    [ -x "$bin" ] || { echo "run.sh: $bin not built (-DTF_FUZZ=ON with clang)"; exit 2; }
    work=$(mktemp -d)
    cp "$here/corpus/$name"/* "$work"/ 2>/dev/null
    echo "== fuzz_$name: $secs s"
    log=$work.log
    if ! (cd "$dir" && "$bin" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
            -print_final_stats=1 "$work" >"$log" 2>&1); then
        status=1
    fi
    tail -n 12 "$log"
    rm -f "$log"
    ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* >/dev/null 2>&1 && status=1
    rm -rf "$work"
done
exit $status
