#!/bin/sh
# An installed taskfarm is usable from outside the tree: `cmake --install`, then an
# out-of-tree project (jobs/library) that does find_package(taskfarm) and links
# taskfarm::taskfarm, the same program built with pkg-config's flags alone, and the installed
# executable found through its RPATH. Each program's output is checked against f(i).
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
work=$(mktemp -d /tmp/tf-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/taskfarm.h"
# The one public header must compile alone, without MPI or HDF5 on the include path.
printf '#include <taskfarm.h>\nint main(void){return taskfarm_type_size(TASKFARM_INT32)!=4;}\n' \
    > "$work/alone.c"
cc -std=c99 -Wall -Werror -I"$prefix/include" "$work/alone.c" -L"$prefix/lib" -ltaskfarm \
    -Wl,-rpath,"$prefix/lib" -o "$work/alone"
"$work/alone"

cmake -S "$src/jobs/library" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/build" >/dev/null
# The expected xor of f(0..9999), computed independently of taskfarm.
want=$(/usr/bin/python3 -c '
x = 0
for i in range(10000):
    v = i
    for _ in range(96):
        v = (v * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        v ^= v >> 29
    x ^= v
print(hex(x))')
cd "$work"
out=$("$work/build/map_range" 10000 lib.h5)
echo "$out"
case $out in *"10000 items"*"xor $want -> lib.h5"*) ;; *) echo "FAIL: find_package build: $out (want xor $want)"; exit 1 ;; esac

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -O2 $(pkg-config --cflags taskfarm) "$src/jobs/library/map_range.c" \
    $(pkg-config --libs taskfarm) -Wl,-rpath,"$prefix/lib" -o "$work/map_range_pc"
out=$(mpirun -n 3 "$work/map_range_pc" 10000 pc.h5)
echo "$out"
case $out in *"10000 items"*"of 3 processes, xor $want"*) ;; *) echo "FAIL: pkg-config build under mpirun: $out"; exit 1 ;; esac

"$prefix/bin/taskfarm" --version
echo ok
