"""The bench's report: the Markdown table and the chart (tools/bench.py)."""
import os, statistics, subprocess

def report(results, units, failures):
    """The Markdown table (median (min-max) per target, rbdfs' ratios, the
    winner of each row) and the medians the chart draws."""
    def med(v):
        return statistics.median(v) if v else float("nan")
    cols = ("rbdfs", "librbd", "qsd-fuse", "rbd-fuse")
    lines = ["| test | unit | rbdfs | librbd | qsd-fuse | rbd-fuse | rbdfs/librbd | rbdfs/qsd-fuse "
             "| rbdfs/rbd-fuse | best |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    chart = []
    for row, per in results.items():
        unit = units[row]
        cells = []
        for t in cols:
            v = per.get(t, [])
            if not v:
                cells.append("-")
            else:
                fmt = "%.2f" if unit == "s" else "%.0f"
                cells.append((fmt % med(v)) + " (" + (fmt % min(v)) + "-" + (fmt % max(v)) + ")")
                if t in failures.get(row, {}):
                    cells[-1] += ", " + failures[row][t]
        def ratio(a, b):
            if b in failures.get(row, {}):
                return b + " fails"
            if not per.get(a) or not per.get(b) or med(per[b]) == 0:
                return "-"
            r = med(per[a]) / med(per[b])
            if unit == "s":
                r = 1 / r  # time: lower is better
            return "%.2f" % r
        measured = {t: med(per[t]) for t in cols if per.get(t) and t not in failures.get(row, {})}
        best = "-"
        if measured:
            best = (min if unit == "s" else max)(measured, key=measured.get)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row, unit, cells[0], cells[1], cells[2], cells[3], ratio("rbdfs", "librbd"),
            ratio("rbdfs", "qsd-fuse"), ratio("rbdfs", "rbd-fuse"), best))
        chart.append((row, {t: med(per[t]) for t in per}))
    return "\n".join(lines), chart


def plot(chart, units, path):
    """Bars of each target relative to librbd (or rbdfs where librbd is absent)."""
    data = os.path.join(os.path.dirname(path), "chart.dat")
    with open(data, "w") as f:
        for row, per in chart:
            if units[row] == "s":
                continue  # times (ls -l) are in the table; rbd-fuse fails that one
            base = per.get("librbd") or per.get("rbdfs") or 1
            vals = []
            for t in ("rbdfs", "librbd", "qsd-fuse", "rbd-fuse"):
                v = per.get(t)
                if v is None or base == 0:
                    vals.append("0")
                elif units[row] == "s":
                    vals.append("%.3f" % ((per.get("rbdfs") or v) / v if t != "rbdfs" else 1.0))
                else:
                    vals.append("%.3f" % (v / base))
            f.write('"%s" %s\n' % (row, " ".join(vals)))
    script = """set terminal pngcairo size 1400,700 font ",10"
set output '%s'
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set ylabel 'throughput relative to librbd (higher is better)'
set xtics rotate by 35 right
set bmargin 18
set key top right
set yrange [0:1.6]
set grid ytics
plot '%s' using 2:xtic(1) title 'rbdfs', '' using 3 title 'librbd', '' using 4 title 'qsd-fuse', '' using 5 title 'rbd-fuse'
""" % (path, data)
    subprocess.run(["gnuplot"], input=script, text=True, check=False)
