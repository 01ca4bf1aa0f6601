#!/usr/bin/env python3
"""Turn bench/run.sh's results.jsonl into a table (stdout and table.md) and a
chart (chart.svg): throughput per workload beside the pgbench ceiling, and
p50/p99 latency at each connection count.

    report.py RESULTS_JSONL OUT_DIR
"""
import json
import math
import sys
from html import escape

WORKLOADS = ["list", "get", "create", "toggle", "mixed"]


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def errors(r):
    return r.get("non2xx", 0) + r.get("connect", 0) + r.get("read", 0) + r.get("write", 0)


def ceilings(rows):
    """The ceilings measured first, by workload, and those measured right
    before one API run (BESIDE=1), by (tokens, connections, workload)."""
    first, beside = {}, {}
    for r in rows:
        if r["tokens"] != "pgbench":
            continue
        if "beside" in r:
            kind, conns = r["beside"].split("/")
            beside[(kind, int(conns), r["workload"])] = r
        else:
            first.setdefault(r["workload"], r)
    return first, beside


def table(rows):
    first, beside = ceilings(rows)
    http = [r for r in rows if r["tokens"] != "pgbench"]
    by = {(r["backend"], r["tokens"], r["connections"], r["workload"]): r for r in http}
    mode = next((r.get("mode", "prepared") for r in first.values()), "prepared")
    out = [f"## PostgreSQL ceiling (pgbench -M {mode} -c 50 -j 2, the API's SQL)", "",
           "| workload | transactions/s | avg latency ms | errors "
           "| beside the API's runs: min | max |",
           "|---|---:|---:|---:|---:|---:|"]
    for w in WORKLOADS:
        r = first.get(w)
        near = [b["rps"] for k, b in beside.items() if k[2] == w]
        if r:
            lo, hi = (f"{min(near):,.0f}", f"{max(near):,.0f}") if near else ("", "")
            out.append(f"| {w} | {r['rps']:,.0f} | {r['avg_ms']:.2f} | {r['errors']} "
                       f"| {lo} | {hi} |")
    out += ["", "## The API (wrk -t2, release build)", "",
            "`/ ceiling`: against the ceiling measured right before the run (BESIDE=1), "
            "else the one measured first; `/ first`: against the one measured first.", "",
            "| backend | tokens | conns | workload | req/s | p50 ms | p99 ms | max ms "
            "| errors | timeouts | peak RSS MB | / ceiling | / first | EdDSA / HS256 |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(http, key=lambda r: (r["backend"] != "postgres", r["tokens"] != "hs256",
                                         r["connections"], WORKLOADS.index(r["workload"]))):
        ratio = vs_first = ""
        if r["backend"] == "postgres" and r["workload"] in first:
            vs_first = f"{r['rps'] / first[r['workload']]['rps']:.2f}"
            near = beside.get((r["tokens"], r["connections"], r["workload"]))
            ratio = f"{r['rps'] / near['rps']:.2f}" if near else vs_first
        vs_hs = ""
        if r["tokens"] == "eddsa":
            hs = by.get((r["backend"], "hs256", r["connections"], r["workload"]))
            if hs:
                vs_hs = f"{r['rps'] / hs['rps']:.2f}"
        out.append(
            f"| {r['backend']} | {r['tokens']} | {r['connections']} | {r['workload']} "
            f"| {r['rps']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} "
            f"| {errors(r)} | {r.get('timeout', 0)} | {r['peak_rss_mb']:.0f} | {ratio} "
            f"| {vs_first} | {vs_hs} |")
    lite = [r for r in http if r["backend"] == "sqlite"]
    if lite:
        out += ["", "## SQLite beside PostgreSQL (same tokens, connections and workload)", "",
                "| tokens | conns | workload | SQLite req/s | PostgreSQL req/s | SQLite / PostgreSQL |",
                "|---|---:|---|---:|---:|---:|"]
        for r in lite:
            pg = by.get(("postgres", r["tokens"], r["connections"], r["workload"]))
            if pg:
                out.append(f"| {r['tokens']} | {r['connections']} | {r['workload']} "
                           f"| {r['rps']:,.0f} | {pg['rps']:,.0f} | {r['rps'] / pg['rps']:.2f} |")
    return "\n".join(out) + "\n"


class Svg:
    def __init__(self, width, height):
        self.width, self.height, self.parts = width, height, []

    def add(self, element):
        self.parts.append(element)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", rotate=None):
        transform = f' transform="rotate({rotate} {x} {y})"' if rotate else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}"{transform}>{escape(s)}</text>')

    def rect(self, x, y, w, h, fill):
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                 f'fill="{fill}"/>')

    def line(self, x1, y1, x2, y2, stroke="#ccc"):
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>')

    def render(self):
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.height}" font-family="sans-serif">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")


def bars(svg, top, title, unit, groups, series, value, log=False):
    """A grouped bar chart: one group per workload, one bar per series."""
    left, width, height = 70, svg.width - 90, 220
    svg.text(left, top - 12, title, size=14, weight="bold")
    values = [value(g, s) for g in groups for s, _, _ in series]
    values = [v for v in values if v]
    if not values:
        return
    vmax = max(values)
    if log:
        lo, hi = 10 ** math.floor(math.log10(min(values))), 10 ** math.ceil(math.log10(vmax))
        scale = lambda v: (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        ticks = [10 ** e for e in range(int(math.log10(lo)), int(math.log10(hi)) + 1)]
    else:
        step = 10 ** math.floor(math.log10(vmax))
        hi = math.ceil(vmax / step) * step
        scale = lambda v: v / hi
        ticks = [hi * i / 5 for i in range(6)]
    base = top + height
    for t in ticks:
        y = base - scale(t) * height
        svg.line(left, y, left + width, y)
        svg.text(left - 6, y + 4, f"{t:,.0f}" if t >= 1 else f"{t:g}", size=10, anchor="end")
    svg.text(16, top + height / 2, unit, size=11, anchor="middle", rotate=-90)
    group_w = width / len(groups)
    bar_w = (group_w - 16) / len(series)
    for gi, g in enumerate(groups):
        x0 = left + gi * group_w + 8
        for si, (key, label, colour) in enumerate(series):
            v = value(g, key)
            if not v:
                continue
            h = scale(v) * height
            svg.rect(x0 + si * bar_w, base - h, bar_w - 2, h, colour)
        svg.text(left + gi * group_w + group_w / 2, base + 16, g, size=12, anchor="middle")
    lx = left
    for _, label, colour in series:
        svg.rect(lx, base + 28, 10, 10, colour)
        svg.text(lx + 14, base + 37, label, size=11)
        lx += 16 + 7 * len(label)


def chart(rows):
    http = {(r["backend"], r["tokens"], r["connections"], r["workload"]): r
            for r in rows if r["tokens"] != "pgbench"}
    ceiling = {w: r["rps"] for w, r in ceilings(rows)[0].items()}
    conns = sorted({r["connections"] for r in rows if r["tokens"] != "pgbench"})
    svg = Svg(900, 700)
    palette = ["#9e9e9e", "#1565c0", "#64b5f6", "#2e7d32", "#81c784", "#ef6c00", "#ffb74d"]
    series = [("ceiling", "pgbench ceiling (50 clients)", palette[0])]
    for i, (backend, name) in enumerate([("postgres", "PostgreSQL"), ("sqlite", "SQLite")]):
        for j, c in enumerate(conns[:2]):
            if any(k[0] == backend and k[2] == c for k in http):
                series.append(((backend, c), f"{name} HS256 c={c}", palette[1 + 2 * i + j]))

    def throughput(w, key):
        if key == "ceiling":
            return ceiling.get(w)
        r = http.get((key[0], "hs256", key[1], w))
        return r and r["rps"]

    bars(svg, 40, "Throughput per workload (requests/s; higher is better)", "requests/s",
         WORKLOADS, series, throughput)
    lat_series = []
    for j, c in enumerate(conns[:2]):
        lat_series.append(((c, "p50_ms"), f"p50 c={c}", palette[1 + j * 4]))
        lat_series.append(((c, "p99_ms"), f"p99 c={c}", palette[2 + j * 4]))

    def latency(w, key):
        r = http.get(("postgres", "hs256", key[0], w))
        return r and r[key[1]]

    bars(svg, 380, "Latency on PostgreSQL, HS256 tokens (ms, log scale; lower is better)", "ms",
         WORKLOADS, lat_series, latency, log=True)
    return svg.render()


def main():
    rows = load(sys.argv[1])
    out = sys.argv[2]
    text = table(rows)
    print(text)
    with open(f"{out}/table.md", "w") as f:
        f.write(text)
    with open(f"{out}/chart.svg", "w") as f:
        f.write(chart(rows))


if __name__ == "__main__":
    main()
