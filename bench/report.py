"""Turns bench/results.json into the side-by-side section of bench/RESULTS.md and the plots.

The section sits between two markers in RESULTS.md; everything else in the file (the cache and
micro-benchmark sections) is left as it is. Ratios are Switchyard / peer: above 1 for
throughput means Switchyard is ahead, above 1 for latency, memory or CPU means the peer is.
"""

import json
import os

import plot

BEGIN = "<!-- bench/run: begin (generated from results.json; edit bench/report.py, not this) -->"
END = "<!-- bench/run: end -->"


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def cell(spread, digits=1):
    """median (min–max) of several runs."""
    if not isinstance(spread, dict):
        return fmt(spread, digits)
    if spread.get("runs", 0) > 1:
        return f"{fmt(spread['median'], digits)} ({fmt(spread['min'], digits)}–{fmt(spread['max'], digits)})"
    return fmt(spread.get("median"), digits)


def median(v):
    return v.get("median") if isinstance(v, dict) else v


def ratio(ours, theirs):
    a, b = median(ours), median(theirs)
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def table(names, rows):
    """rows: (label, {gateway: value}, formatter, compare) -> Markdown with ratio columns."""
    peers = [n for n in names if n != "switchyard"]
    head = ["figure"] + names + [f"switchyard / {p}" for p in peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, values, show, compare in rows:
        line = [label] + [show(values.get(n)) for n in names]
        line += [ratio(values.get("switchyard"), values.get(p)) if compare else "–" for p in peers]
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines)


def calls_text(calls):
    if calls is None:
        return "–"
    if not calls:
        return "0"
    return ", ".join(f"{p} {fmt(float(n), 1).rstrip('0').rstrip('.')}" for p, n in calls.items())


def section(results, plots):
    s = results["scenarios"]
    names = list(results["versions"])
    out = [BEGIN, "", "## Switchyard next to Tailcall and Hive Gateway (`bench/run`)", ""]
    m = results["machine"]
    lat = results["latencies_ms"]
    out += [
        f"- Machine: {m['arch']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}",
        f"- Date: {results['date']}; command: `{results['command']}`; load generator: {results['load_generator']}",
        "- Versions: " + "; ".join(f"{n} {v}" for n, v in results["versions"].items()),
        "- Upstreams: `switchyard sandbox`, quotas off, fixed latencies: "
        + ", ".join(f"{p} {ms} ms" for p, ms in lat.items()),
        f"- Settings: {json.dumps(results['settings'])}; each cell is the median of the runs "
        "with (min–max) when there were several. Every gateway starts afresh for each scenario.",
        "- Raw figures and every load-generator command: [results.json](results.json). "
        "Ratios are Switchyard / peer. The churn is one run per gateway (memory, not timing); "
        "the degraded run's complete-answer share is checked on a sample of the last run.",
        "",
    ]
    if "cold" in s:
        c = s["cold"]
        g = c["gateways"]
        out += [f"### 1. Cold storefront (caches off)", "",
                f"Critical-path bound: catalog, then the slowest of inventory, fx and reviews = "
                f"**{c['bound_ms']} ms**. Sequential requests, one connection.", "",
                table(names, [
                    ("upstream calls per query", {n: g[n]["calls_per_query"] for n in g}, calls_text, False),
                    ("p50 latency, ms", {n: g[n]["p50_ms"] for n in g}, cell, True),
                    ("p99 latency, ms", {n: g[n]["p99_ms"] for n in g}, cell, True),
                    ("overhead over the bound (p50), ms", {n: g[n]["overhead_ms"] for n in g}, fmt, True),
                ]), "", f"![cold latency](plots/{plots['cold']})", ""]
    if "warm" in s:
        g = s["warm"]["gateways"]
        rows = [("upstream calls per query", {n: g[n].get("calls_per_query") for n in g}, calls_text, False)]
        for c in ("c32", "c64"):
            k = c[1:]
            rows += [
                (f"requests/s at {k} connections", {n: g[n][c]["rps"] for n in g}, lambda v: cell(v, 0), True),
                (f"p50 at {k}, ms", {n: g[n][c]["p50_ms"] for n in g}, cell, True),
                (f"p99 at {k}, ms", {n: g[n][c]["p99_ms"] for n in g}, cell, True),
                (f"CPU seconds per 1000 requests at {k}", {n: g[n][c]["cpu_s_per_1000"] for n in g},
                 lambda v: cell(v, 3), True),
                (f"success at {k}", {n: g[n][c]["success"] for n in g}, lambda v: fmt(v, 3), False),
            ]
        rows.append(("peak RSS, MiB", {n: g[n]["peak_rss_mib"] for n in g}, fmt, True))
        out += ["### 2. Warm storefront (caches on)", "", table(names, rows), "",
                f"![warm latency](plots/{plots['warm']})", ""]
    if "herd" in s:
        h = s["herd"]
        g = h["gateways"]
        per_key = lambda v: ", ".join(f"{p} {fmt(x, 2)}" for p, x in v.items()) if v else "–"  # noqa: E731
        out += ["### 3. Thundering herd (100 identical cold queries at once, caches on)", "",
                "Upstream calls per distinct key the page needs (" +
                ", ".join(f"{p} {k}" for p, k in h["page_keys"].items()) +
                "): 1.00 means every key was fetched once for all 100 queries.", "",
                table(names, [
                    ("upstream calls", {n: g[n]["calls"] for n in g}, calls_text, False),
                    ("calls per key", {n: g[n]["calls_per_key"] for n in g}, per_key, False),
                    ("p50, ms", {n: g[n]["p50_ms"] for n in g}, cell, True),
                    ("p99, ms", {n: g[n]["p99_ms"] for n in g}, cell, True),
                    ("success", {n: g[n]["success"] for n in g}, lambda v: fmt(v, 3), False),
                ]), "", f"![herd latency](plots/{plots['herd']})", ""]
    if "degraded" in s:
        g = s["degraded"]["gateways"]
        out += ["### 4. Degraded provider (reviews: 30 % errors, 500 ms; caches off; 32 connections)", "",
                table(names, [
                    ("requests/s", {n: g[n]["rps"] for n in g}, lambda v: cell(v, 0), True),
                    ("p50, ms", {n: g[n]["p50_ms"] for n in g}, cell, True),
                    ("p99, ms", {n: g[n]["p99_ms"] for n in g}, cell, True),
                    ("HTTP success", {n: g[n]["http_success"] for n in g}, lambda v: fmt(v, 3), False),
                    ("answers complete but for reviews", {n: g[n]["complete_share"] for n in g},
                     lambda v: "–" if v is None else f"{100 * v:.0f} %", True),
                ]), "", f"![degraded latency](plots/{plots['degraded']})", ""]
    if "churn" in s:
        ch = s["churn"]
        g = ch["gateways"]
        out += ["### 5. Memory under churn (distinct catalog searches, caches on)", "",
                "Each request is one of N search bodies, picked at random by oha, so N requests "
                "reach about 63 % of them (the catalog answers at once here). A cache that keeps "
                "every entry calls the catalog once per distinct key; a bounded one calls again "
                "for keys it evicted.", "",
                "Switchyard's bound for this workload: the product-page entity cache (8 MiB) and "
                "the response cache (16 MiB), plus the process's own memory; the peers' caches are "
                "as their docs configure them (Tailcall's holds up to 100,000 entries, unbounded "
                "in bytes).", "",
                table(names, [
                    ("requests", {n: g[n]["requests"] for n in g}, fmt, False),
                    ("RSS before, MiB", {n: g[n]["rss_start_mib"] for n in g}, fmt, True),
                    ("RSS after, MiB", {n: g[n]["rss_end_mib"] for n in g}, fmt, True),
                    ("peak RSS, MiB", {n: g[n]["peak_rss_mib"] for n in g}, fmt, True),
                    ("catalog calls", {n: g[n]["distinct_keys"] for n in g}, fmt, False),
                    ("answered 200", {n: g[n]["ok_share"] for n in g}, lambda v: fmt(v, 3), False),
                    ("seconds for all keys", {n: g[n]["seconds"] for n in g}, fmt, True),
                ]), "", f"![churn memory](plots/{plots['churn']})", ""]
    out.append(END)
    return "\n".join(out)


def write(results, folder):
    plots = plot.draw(results, os.path.join(folder, "plots"))
    text = section(results, plots)
    path = os.path.join(folder, "RESULTS.md")
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + text + tail
    else:
        title, _, body = old.partition("\n")
        new = title + "\n\n" + text + "\n" + body
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    # Rewrites the section and the plots from an existing results.json.
    here = os.path.dirname(os.path.abspath(__file__))
    write(json.load(open(os.path.join(here, "results.json"))), here)
