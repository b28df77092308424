"""taskfarm report: the HTML and SVG files for a run of 2 ranks of 3 slots each, with
failures and a timed-out task. The SVG text is checked (a lane per slot, grouped by rank and
named by its host; bars in the outcome colours; self-contained: no external reference),
then the HTML is rendered by headless Chromium (Debian's chromium) to a PNG whose pixels
are checked: not blank, six lane markers, red and orange bars present. Without chromium or
python3-pil: "skipped" and why (exit 77)."""
import os
import re
import shutil
import socket
import subprocess
import sys

import h5py

import harness

MARKER = (0x12, 0x34, 0x56)


LOST = "#795548"


def lost_report(args, c, wd, real):
    """LOST (format 4): a copy of the real file with two tasks that ran made LOST, as the
    master records a task whose workers died: drawn in their own colour, in the legend."""
    lost = os.path.join(wd, "lost.h5")
    shutil.copy(real, lost)
    with h5py.File(lost, "r+") as f:
        st = f["tasks/status"][()]
        ran = [i for i in range(len(st)) if st[i] == 1][:2]
        for i in ran:
            f["tasks/status"][i] = 5
    rep = os.path.join(wd, "lost.html")
    r = subprocess.run([args.taskfarm, "report", lost, "-o", rep], capture_output=True, text=True)
    c.eq(f"lost: report exit ({r.stderr})", r.returncode, 0)
    with open(rep) as f:
        html = f.read()
    c.eq("lost: two bars in LOST's colour, and its square in the legend",
         html.count(f'fill="{LOST}"/>'), 3)
    c.true("lost: its colour is no other status's",
           all(col != LOST for col in ("#bdbdbd", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00")))
    legend = re.findall(r'fill="(#[0-9a-f]{6})"/><text[^>]*>([A-Z_]+) (\d+)<', html)
    c.eq("lost: the legend, every status with its colour and count", legend,
         [("#2e7d32", "SUCCEEDED", "34"), ("#c62828", "FAILED", "3"), ("#6a1b9a", "KILLED", "0"),
          ("#ef6c00", "TIMED_OUT", "1"), (LOST, "LOST", "2"), ("#bdbdbd", "NOT_RUN", "0")])
    xs = [float(x) for x in re.findall(r'<rect x="([0-9.]+)"[^>]*width="12" height="12"', html)]
    c.true(f"lost: the legend fits the 1200 px width ({xs})", len(xs) == 6 and max(xs) + 140 < 1200)
    return rep


def main():
    args = harness.parse_args()
    wd = harness.workdir()
    c = harness.Checker()
    tasks = os.path.join(wd, "r.tasks")
    with open(tasks, "w") as f:
        for i in range(40):
            f.write("sleep 5\n" if i == 7 else f"sleep 0.0{i % 7}; exit {int(i % 13 == 5)}\n")
    out = os.path.join(wd, "r.h5")
    r = harness.run(args, 2, "run", tasks, "-o", out, "--timeout", "0.5", "-j", "3")
    c.eq(f"the run: some failed ({r.stderr[-300:]})", r.returncode, 1)
    rep = os.path.join(wd, "r.html")
    r = subprocess.run([args.taskfarm, "report", out], cwd=wd, capture_output=True, text=True)
    c.eq(f"report: exit ({r.stderr})", r.returncode, 0)
    with open(rep) as f:
        html = f.read()
    c.eq("report: a lane marker per slot", html.count('fill="#123456"'), 6)
    host = socket.gethostname()
    c.eq("report: each rank's first lane names it and its host",
         re.findall(r">rank (\d+) ([^<]*)<", html), [("0", host), ("1", host)])
    c.eq("report: its other lanes their slots", re.findall(r">slot (\d+)<", html),
         ["1", "2", "1", "2"])
    c.true("report: utilisation of the 6 slots", "Slots busy over time (of 6)" in html)
    c.true("report: failed bars in red, the timed-out one in orange",
           'fill="#c62828"/>' in html and 'fill="#ef6c00"/>' in html)
    c.true("report: legend counts", "FAILED 3<" in html and "TIMED_OUT 1<" in html and "SUCCEEDED 36<" in html)
    c.true("report: self-contained (no external reference)",
           re.search(r"(src|href)=|url\(|@import|<script", html) is None)
    c.true("report: the legend has LOST, at 0", ">LOST 0<" in html)
    lost_html = lost_report(args, c, wd, out)
    svg = os.path.join(wd, "r.svg")
    r = subprocess.run([args.taskfarm, "report", out, "-o", svg], capture_output=True, text=True)
    with open(svg) as f:
        c.true("report .svg: a bare SVG document", f.read().startswith("<svg xmlns="))
    r = subprocess.run([args.taskfarm, "report", out, "-o", svg], capture_output=True, text=True)
    c.eq(f"report over an existing file: refused ({r.stderr})", r.returncode, 2)
    r = subprocess.run([args.taskfarm, "report", tasks, "-o", os.path.join(wd, "x.html")],
                       capture_output=True, text=True)
    c.eq("report of a file that is not a result file: exit 2", r.returncode, 2)
    c.true("... and nothing written", not os.path.exists(os.path.join(wd, "x.html")))

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if not chromium or Image is None:
        c.finish()  # the text checks above must pass before the skip is reported
        print("skipped the rendering: chromium and python3-pil are needed (apt-get install "
              "chromium python3-pil)")
        sys.exit(77)
    png = os.path.join(wd, "r.png")
    r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1200,900", f"--screenshot={png}", "file://" + rep],
                       capture_output=True, text=True, timeout=120, cwd=wd)
    c.true(f"chromium rendered it ({r.stderr[-300:]})", os.path.exists(png))
    if os.path.exists(png):
        img = Image.open(png).convert("RGB")
        w, h = img.size
        colours = set(img.getdata())
        c.true(f"the picture is not blank ({len(colours)} colours)", len(colours) > 20)
        runs, inside = 0, False
        for y in range(h):  # lane markers: runs of the marker colour down the left edge
            px = img.getpixel((5, y))
            hit = all(abs(a - b) < 24 for a, b in zip(px, MARKER))
            runs += hit and not inside
            inside = hit
        c.eq("the picture has six lanes", runs, 6)
        red = sum(1 for p in img.getdata() if p[0] > 170 and p[1] < 70 and p[2] < 70)
        c.true(f"failed tasks show in red ({red} pixels)", red > 50)
    lost_png = os.path.join(wd, "lost.png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1200,900", f"--screenshot={lost_png}", "file://" + lost_html],
                   capture_output=True, text=True, timeout=120, cwd=wd)
    if os.path.exists(lost_png):
        img = Image.open(lost_png).convert("RGB")
        brown = sum(1 for p in img.getdata() if all(abs(a - b) < 20 for a, b in
                                                     zip(p, (0x79, 0x55, 0x48))))
        c.true(f"lost tasks show in brown ({brown} pixels)", brown > 20)
    else:
        c.true("chromium rendered the lost report", False)
    c.finish()


if __name__ == "__main__":
    main()
