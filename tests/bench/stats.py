#!/usr/bin/python3
"""stats.py RESULTS.h5 WHAT WALL - one figure of one benchmark run, read from the result file.

WHAT: wall (print WALL, the whole command's seconds), rate (tasks per second between the
master's start and end), makespan (last task end - first task start, from the tasks' own
times), overhead3 (makespan - 3), taskcpu (mean task wall time), atonce (the most tasks
running at one moment), ranks (ranks that ran tasks), rss (peak resident MiB of rank 0's
process), master (the master's own seconds per task, in microseconds)."""
import sys

import h5py


def main():
    path, what, wall = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if "," in what:  # several figures of one run, on one line
        import subprocess
        print(" ".join(subprocess.run([sys.executable, __file__, path, w, sys.argv[3]],
                                      capture_output=True, text=True).stdout.strip()
                       for w in what.split(",")))
        return
    if what == "wall":
        print(f"{wall:.3f}")
        return
    with h5py.File(path, "r") as f:
        t, a = f["tasks"], f.attrs
        start, end = t["start"][()], t["end"][()]
        if (t["status"][()] != 1).any():
            sys.exit("stats.py: some tasks did not succeed")
        if what == "rate":
            print(f"{len(start) / (a['end_time'] - a['start_time']):.1f}")
        elif what == "makespan":
            print(f"{end.max() - start.min():.3f}")
        elif what == "overhead3":
            print(f"{end.max() - start.min() - 3:.3f}")
        elif what == "taskcpu":
            print(f"{(end - start).mean():.3f}")
        elif what == "atonce":
            ev = sorted([(x, 1) for x in start] + [(x, -1) for x in end])
            now = most = 0
            for _, d in ev:
                now += d
                most = max(most, now)
            print(most)
        elif what == "ranks":
            print(len(set(t["rank"][()].tolist())))
        elif what == "rss":
            print(f"{a['master_peak_rss_mib']:.1f}")
        elif what == "master":
            print(f"{1e6 * a['master_busy_seconds'] / len(start):.2f}")
        else:
            sys.exit(f"stats.py: unknown figure {what}")


if __name__ == "__main__":
    main()
