"""One SVG per scenario from bench/results.json (matplotlib, see bench/requirements.txt):
latency percentile curves of every gateway, or memory for the churn scenario."""

import os

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"switchyard": "#1f77b4", "tailcall": "#ff7f0e", "hive": "#2ca02c"}
ORDER = ["p10", "p25", "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99"]


def percentile_plot(path, title, curves, bound=None):
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, pct in curves.items():
        keys = [k for k in ORDER if pct.get(k) is not None]
        if keys:
            ax.plot(keys, [pct[k] for k in keys], marker="o", label=name,
                    color=COLORS.get(name))
    if bound is not None:
        ax.axhline(bound, linestyle="--", color="grey", label=f"critical-path bound {bound} ms")
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw(results, folder):
    os.makedirs(folder, exist_ok=True)
    s = results["scenarios"]
    files = {}
    if "cold" in s:
        files["cold"] = "cold.svg"
        percentile_plot(os.path.join(folder, "cold.svg"), "Cold storefront, caches off, 1 connection",
                        {n: g["percentiles_ms"] for n, g in s["cold"]["gateways"].items()},
                        s["cold"]["bound_ms"])
    if "warm" in s:
        files["warm"] = "warm.svg"
        percentile_plot(os.path.join(folder, "warm.svg"), "Warm storefront, caches on, 64 connections",
                        {n: g["c64"]["percentiles_ms"] for n, g in s["warm"]["gateways"].items()})
    if "herd" in s:
        files["herd"] = "herd.svg"
        percentile_plot(os.path.join(folder, "herd.svg"), "100 identical cold queries at once",
                        {n: g["percentiles_ms"] for n, g in s["herd"]["gateways"].items()})
    if "degraded" in s:
        files["degraded"] = "degraded.svg"
        percentile_plot(os.path.join(folder, "degraded.svg"),
                        "Reviews 30 % errors and 500 ms, 32 connections",
                        {n: g["percentiles_ms"] for n, g in s["degraded"]["gateways"].items()})
    if "churn" in s:
        files["churn"] = "churn.svg"
        g = s["churn"]["gateways"]
        fig, ax = plt.subplots(figsize=(7, 4))
        names = list(g)
        x = range(len(names))
        ax.bar([i - 0.2 for i in x], [g[n]["rss_start_mib"] for n in names], 0.4, label="before")
        ax.bar([i + 0.2 for i in x], [g[n]["rss_end_mib"] for n in names], 0.4,
               label="after the churn")
        ax.set_xticks(list(x), names)
        ax.set_ylabel("resident memory, MiB")
        ax.set_title("Memory under churn, caches on")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(folder, "churn.svg"))
        plt.close(fig)
    return files
