#!/usr/bin/env python3
"""What observability costs: the warm storefront of bench/run.py (caches on, upstreams at fixed
latencies, quotas and per-client limits off, 32 connections) against gateway variants that
differ only in what they observe.

    cargo build --release && python3 bench/observability.py     # about 8 minutes on 2 cores

Kinds of gateway: the gateway as of BEFORE_COMMIT (before metrics, spend, the window per
provider, request ids and spans; built once from a git worktree with its own target
directory, see build_before), the current release binary as bench/run.py runs it
(RUST_LOG=warn: the request, batch and attempt spans are off), at the default RUST_LOG=info
(they are built, for the log lines) and at RUST_LOG=off, and exporting traces over OTLP to a
local sink with every request sampled, or none.

Groups: `warm` is bench/run.py's scenario. There most requests are answered from the response
cache, but every 5 s the stock entries go stale and the requests that arrive while the page is
refreshed execute the query: how many do varies from run to run and weighs on every figure.
So the same kinds also run with every entity fresh for an hour (`cached`: only the response
cache answers) and with the response cache off (`executed`: every request runs the query from
the entity caches, with its operation and resolver spans when it is sampled).

All gateways run at once, idle but for their turn, and the runs go round-robin (run 1 of
every variant, then run 2 ...), so that whatever else the machine does falls on all of them.
Per run: oha's requests/s and p50/p99, the gateway's CPU per answered request, and the share
of requests that executed the query (from its /metrics). A run's spans still queued when it
ends (at most one export batch of 512) leave soon after; they, and the CPU their export takes,
are counted with the gateway's next run (CPU is counted from the end of its previous run), or,
after the last run, once the exporter has been quiet longer than its 5 s schedule.
Afterwards: RSS, and timed `/metrics` scrapes. The OTLP sink is an http.server thread in
this process answering 200 to `POST /v1/traces`; it counts requests, bytes and spans.

Writes bench/observability.json and its section of bench/RESULTS.md (between its markers).
"""

import argparse
import datetime
import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing run.py
import run  # noqa: E402  bench/run.py: the sandbox, the gateway, oha and its summaries
from run import spread, summary, wait_until, write_section  # noqa: E402

ROOT = run.ROOT
BENCH = run.BENCH
BINARY = os.path.abspath(run.BINARY)
TOOLS = os.environ.get("SWITCHYARD_BENCH_TOOLS", os.path.expanduser("~/.cache/switchyard/tools"))
BEFORE_COMMIT = "3904786"
BEFORE_BINARY = os.path.expanduser(f"~/.cache/switchyard/bench/switchyard-{BEFORE_COMMIT}")
CONNECTIONS = 32
# The batch span processor's default schedule (OTEL_BSP_SCHEDULE_DELAY), and a margin.
EXPORT_QUIET_S = 5.0 + 1.0
OPERATIONS_EXECUTED = 'switchyard_graphql_requests_total{operation="Storefront"}'
BEGIN = "<!-- bench/observability.py: begin (generated from observability.json; edit bench/observability.py, not this) -->"
END = "<!-- bench/observability.py: end -->"


class Variant:
    """One gateway configuration of a group; `baseline` is the kind its costs are measured from."""

    def __init__(self, group, kind, label, baseline, binary="now", env=None, sink=False, sampled=False):
        self.group, self.kind, self.label = group, kind, label
        self.key, self.baseline = f"{group}/{kind}", f"{group}/{baseline}"
        self.binary, self.env, self.sink, self.sampled = binary, env or {}, sink, sampled


# What each group changes, and its variants (kind, label, baseline, Variant's arguments).
GROUPS = {
    "warm": {},
    "cached": {f"SWITCHYARD__PROVIDERS__{p.upper()}__CACHE__{k}": v for p in run.PROVIDERS
               for k, v in (("TTL_S", "3600"), ("MAX_STALE_S", "604800"))},
    "executed": {"SWITCHYARD__CACHE__RESPONSE_MAX_BYTES": "0"},
}
KINDS = [
    ("before", f"before ({BEFORE_COMMIT})", "before", {"binary": "before"}),
    ("now", "now", "before", {}),
    ("info", "now, RUST_LOG=info (the default)", "now", {"env": {"RUST_LOG": "info"}}),
    ("off", "now, RUST_LOG=off", "now", {"env": {"RUST_LOG": "off"}}),
    ("traced", "now, traces exported, every request sampled", "now", {"sink": True, "sampled": True}),
    ("traced_none", "now, traces exported, none sampled", "now",
     {"sink": True, "env": {"OTEL_TRACES_SAMPLER": "always_off"}}),
]
# RUST_LOG=off is measured once: at warn (bench/run.py's level) the spans are already off.
SKIP = {("cached", "off"), ("executed", "off")}


def variants():
    out = []
    for group, group_env in GROUPS.items():
        for kind, label, baseline, args in KINDS:
            if (group, kind) in SKIP:
                continue
            args = dict(args, env={**group_env, **args.get("env", {})})
            out.append(Variant(group, kind, label, baseline, **args))
    return out


# ---------------------------------------------------------------- the OTLP sink


def varint(buf, i):
    value, shift = 0, 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """(number, value) of each field of one protobuf message; length-delimited values as
    memoryviews. Hand-written rather than the protobuf runtime and OTLP's generated classes
    (bench/ runs on the standard library): the sink only walks three nested repeated fields."""
    i, end = 0, len(buf)
    while i < end:
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            length, i = varint(buf, i)
            value, i = buf[i:i + length], i + length
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"protobuf wire type {wire}")
        yield number, value


def spans_of(body):
    """(trace id, is a root, name) of each span of an ExportTraceServiceRequest:
    resource_spans (1) > scope_spans (2) > spans (2) > trace_id (1), parent_span_id (4), name (5)."""
    for n, resource_spans in fields(memoryview(body)):
        if n != 1:
            continue
        for n, scope_spans in fields(resource_spans):
            if n != 2:
                continue
            for n, span in fields(scope_spans):
                if n != 2:
                    continue
                trace, parent, name = b"", b"", ""
                for number, value in fields(span):
                    if number == 1:
                        trace = bytes(value)
                    elif number == 4:
                        parent = bytes(value)
                    elif number == 5:
                        name = bytes(value).decode(errors="replace")
                    elif number > 5:
                        break  # encoders write fields in number order: the rest is not needed
                yield trace, not parent, name


class Sink:
    """An OTLP/HTTP endpoint on a loopback port: 200 with an empty ExportTraceServiceResponse to
    every `POST /v1/traces`. Bodies are kept and decoded between runs, not while they arrive."""

    def __init__(self):
        self.lock = threading.Lock()
        self.bodies, self.other_paths, self.last_post = [], 0, 0.0
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                ours = self.path == "/v1/traces"
                with sink.lock:
                    if ours:
                        sink.bodies.append(body)
                    else:
                        sink.other_paths += 1
                    sink.last_post = time.monotonic()
                self.send_response(200 if ours else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self):
        with self.lock:
            bodies, self.bodies = self.bodies, []
        return bodies

    def wait_quiet(self, since):
        """Until nothing has arrived for EXPORT_QUIET_S, counted from `since` at the earliest."""
        def quiet():
            with self.lock:
                last = max(self.last_post, since)
            return time.monotonic() - last > EXPORT_QUIET_S
        wait_until(quiet, "the span export to finish", 120)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def decode(bodies):
    """Requests, bytes, spans, root spans, spans of the largest trace, spans by name."""
    spans, roots, by_trace, by_name = 0, 0, {}, {}
    for body in bodies:
        for trace, root, name in spans_of(body):
            spans += 1
            roots += root
            by_trace[trace] = by_trace.get(trace, 0) + 1
            by_name[name] = by_name.get(name, 0) + 1
    return {"posts": len(bodies), "bytes": sum(len(b) for b in bodies), "spans": spans, "roots": roots,
            "largest_trace": max(by_trace.values(), default=0), "by_name": by_name}


# ---------------------------------------------------------------- gateways


class Gateway(run.Switchyard):
    """bench/run.py's Switchyard (its env: quotas, per-client limits off) with this variant's
    binary and variables."""

    def __init__(self, sandbox, variant, binary, config, sink):
        super().__init__(sandbox)
        self.variant, self.binary, self.config, self.sink = variant, binary, config, sink
        self.name = f"switchyard-{variant.key.replace('/', '-')}"

    def command(self, cache):
        _, env = super().command(cache)
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
        env.update(self.variant.env)
        if self.sink:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.sink.endpoint
        # Its stderr to a file (run.py's start discards it): the exporter's warnings, such as
        # spans dropped from a full queue, are read from it. `exec` keeps the gateway's pid.
        env["SWITCHYARD_BENCH_STDERR"] = self.stderr
        command = [self.binary] + (["--config", self.config] if self.config else []) + ["serve"]
        return ["sh", "-c", 'exec "$0" "$@" 2>"$SWITCHYARD_BENCH_STDERR"'] + command, env

    @property
    def stderr(self):
        return os.path.join(BENCH, ".work", f"{self.name}.stderr")

    def warnings(self):
        """The lines of its stderr at WARN or above (the gateway has been stopped)."""
        try:
            with open(self.stderr, errors="replace") as f:
                return [line.rstrip() for line in f if " WARN " in line or " ERROR " in line]
        except OSError:
            return []

    def executed(self):
        """Storefront operations executed so far (answers from the response cache are not), from
        `/metrics`; None for a gateway that does not count them."""
        _, body = run.request("GET", f"http://127.0.0.1:{self.port}/metrics", timeout=10)
        for line in body.decode().splitlines():
            if line.startswith(OPERATIONS_EXECUTED):
                return float(line.rsplit(" ", 1)[1])
        return None

    def scrape(self, times):
        """`GET /metrics` `times` over one keep-alive connection: size, series, ms each."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        took, body = [], b""
        try:
            for _ in range(times):
                began = time.perf_counter()
                conn.request("GET", "/metrics")
                response = conn.getresponse()
                body = response.read()
                took.append((time.perf_counter() - began) * 1000)
                if response.status != 200:
                    sys.exit(f"{self.name}: /metrics answered {response.status}")
        finally:
            conn.close()
        series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
        return {"bytes": len(body), "series": series, "ms": spread(took)}


def build_before(commit, dest):
    """Builds the gateway as of `commit` from a git worktree with its own target directory (so
    target/release is left alone), copies the binary to `dest`, and removes both."""
    if shutil.disk_usage("/").free < 6 << 30:
        sys.exit("building the earlier gateway needs about 6 GB free on /")
    worktree, target = "/tmp/sy-before", "/tmp/sy-before-target"
    subprocess.run(["git", "worktree", "add", "--detach", worktree, commit], cwd=ROOT, check=True)
    try:
        subprocess.run(["cargo", "build", "--release", "--locked"], cwd=worktree, check=True,
                       env=dict(os.environ, CARGO_TARGET_DIR=target))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(target, "release", "switchyard"), dest)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", worktree], cwd=ROOT, check=False)
        shutil.rmtree(target, ignore_errors=True)


def before_config(commit):
    """The switchyard.toml of `commit`, written to bench/.work/."""
    path = os.path.join(BENCH, ".work", f"switchyard-{commit}.toml")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    text = subprocess.run(["git", "show", f"{commit}:switchyard.toml"], cwd=ROOT, capture_output=True,
                          check=True).stdout
    with open(path, "wb") as f:
        f.write(text)
    return path


# ---------------------------------------------------------------- one run


def one_run(gateway, opts, since):
    """One oha run; its results and the gateway's stats at its end. CPU is counted from `since`,
    the end of the gateway's previous run (if any), so that the export of that run's last spans,
    queued when it ended, is counted; they are counted with this run's spans too."""
    sink = gateway.sink
    executed = gateway.executed()
    before, ours = since or gateway.stats(), os.times()
    result = summary(run.oha(gateway, "storefront", CONNECTIONS, duration=opts.duration)[0])
    after = gateway.stats()
    answered = max(result["requests"], 1)
    if executed is not None:
        result["executed_share"] = (gateway.executed() - executed) / answered
    result["cpu_us_per_request"] = (after["cpu_s"] - before["cpu_s"]) * 1e6 / answered
    if sink:
        # This process's own CPU in the window: the sink's threads (oha is a child, not counted).
        now = os.times()
        result["export"] = decode(sink.take())
        result["export"]["sink_cpu_us_per_request"] = ((now.user + now.system) - (ours.user + ours.system)) \
            * 1e6 / answered
    return result, after


def add(export, more):
    """Adds what `decode` found in `more` to `export`."""
    for k in ("posts", "bytes", "spans", "roots"):
        export[k] += more[k]
    export["largest_trace"] = max(export["largest_trace"], more["largest_trace"])
    for name, n in more["by_name"].items():
        export["by_name"][name] = export["by_name"].get(name, 0) + n


def aggregate(variant, runs, gateway, start_stats, scrape):
    out = {
        "label": variant.label, "group": variant.group, "baseline": variant.baseline,
        "binary": (os.path.relpath(gateway.binary, ROOT) if gateway.binary.startswith(ROOT)
                   else gateway.binary.replace(os.path.expanduser("~"), "~")),
        "env": variant.env,
        "rps": spread([r["rps"] for r in runs]),
        "p50_ms": spread([r["p50_ms"] for r in runs]),
        "p99_ms": spread([r["p99_ms"] for r in runs]),
        "cpu_us_per_request": spread([r["cpu_us_per_request"] for r in runs]),
        "success": min(r["success"] or 0 for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "executed_share": spread([r.get("executed_share") for r in runs]),
        "rss_start_mib": start_stats["rss_kib"] / 1024,
        "rss_end_mib": gateway.stats()["rss_kib"] / 1024,
        "peak_rss_mib": gateway.stats()["hwm_kib"] / 1024,
        "metrics_scrape": scrape,
        "runs": [{k: r.get(k) for k in ("rps", "p50_ms", "p99_ms", "requests", "cpu_us_per_request",
                                          "executed_share")}
                 | ({k: r["export"][k] for k in ("posts", "bytes", "spans", "roots")} if "export" in r else {})
                 for r in runs],
    }
    if variant.sink:
        requests = max(out["requests"], 1)
        exports = [r["export"] for r in runs]
        names = {}
        for e in exports:
            for name, n in e["by_name"].items():
                names[name] = names.get(name, 0) + n
        out["export"] = {
            "posts": sum(e["posts"] for e in exports),
            "bytes": sum(e["bytes"] for e in exports),
            "spans": sum(e["spans"] for e in exports),
            "spans_per_request": sum(e["spans"] for e in exports) / requests,
            "roots_per_request": sum(e["roots"] for e in exports) / requests,
            "bytes_per_request": sum(e["bytes"] for e in exports) / requests,
            "bytes_per_span": sum(e["bytes"] for e in exports) / max(sum(e["spans"] for e in exports), 1),
            "largest_trace_spans": max(e["largest_trace"] for e in exports),
            "sink_cpu_us_per_request": spread([e["sink_cpu_us_per_request"] for e in exports]),
            "spans_per_request_by_name": dict(sorted(((k, v / requests) for k, v in names.items()),
                                                     key=lambda kv: -kv[1])[:12]),
        }
    return out


def costs(results):
    """Each variant against its baseline, run by run (run i of both fell in the same round, a
    few seconds apart): the median and range of the differences in CPU per request (µs and %)
    and in requests/s (%)."""
    out = {}
    for key, r in results.items():
        if key == r["baseline"] or r["baseline"] not in results:
            continue
        pairs = list(zip(r["runs"], results[r["baseline"]]["runs"]))
        cpu = [(a["cpu_us_per_request"], b["cpu_us_per_request"]) for a, b in pairs]
        out[key] = {
            "against": r["baseline"],
            "cpu_us": spread([a - b for a, b in cpu]),
            "cpu_pct": spread([100 * (a / b - 1) for a, b in cpu]),
            "rps_pct": spread([100 * (a["rps"] / b["rps"] - 1) for a, b in pairs]),
        }
    return out


# ---------------------------------------------------------------- report


def fmt(value, digits=1):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def cell(s, digits=1):
    if s["runs"] > 1:
        return f"{fmt(s['median'], digits)} ({fmt(s['min'], digits)}–{fmt(s['max'], digits)})"
    return fmt(s["median"], digits)


def share(s):
    """A share of requests as a percentage, median (min–max)."""
    if s["median"] is None:
        return "–"
    pct = {k: 100 * s[k] for k in ("median", "min", "max")}
    return cell(dict(s, **pct), 2 if pct["median"] < 10 else 0) + " %"


def signed(value, digits=1, unit=""):
    return f"{value:+,.{digits}f}{unit}".replace("-", "−")


TITLES = {
    "warm": "Warm storefront, as `bench/run` measures it (answered from the response cache but "
            "for the requests that arrive while a stale page is refreshed)",
    "cached": "The same page, every entity fresh for an hour: every request is answered from the "
              "response cache",
    "executed": "The same page with the response cache off: every request executes the query "
                "from the entity caches",
}


def section(results):
    m = results["machine"]
    s = results["settings"]
    v = results["variants"]
    lines = [BEGIN, "", "## What observability costs (`bench/observability.py`)", "",
             f"- Machine: {m['arch']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}",
             f"- Date: {results['date']}; command: `{results['command']}`; load generator: "
             f"{results['load_generator']}; now: {results['now']}; before: {results['before']}",
             f"- bench/run.py's warm storefront: `switchyard sandbox` at fixed latencies "
             f"({', '.join(f'{p} {ms} ms' for p, ms in results['latencies_ms'].items())}), quotas "
             f"and per-client limits off, caches on, oha at {s['connections']} connections for "
             f"{s['duration_s']} s per run, {s['runs']} run{'s' if s['runs'] != 1 else ''} per "
             "variant taken round-robin over variants that all run at once. Each cell is the "
             "median with (min–max). CPU is the gateway process's per answered request, counted "
             "from the end of its previous run (so that the export of that run's last spans is in "
             "it). *CPU against* compares each run with its baseline's run of the same round: the "
             "median difference, and the range of the differences in %. The OTLP sink is a Python "
             f"thread on the same {m['cores']} cores.",
             "- *executed*: the share of requests that ran the query, the others being answered "
             "from the response cache (the gateway's `switchyard_graphql_requests_total`, read "
             "around each run; the earlier gateway does not count it).",
             "- Raw figures, spans by name and every oha command: "
             "[observability.json](observability.json).", ""]
    for group, title in TITLES.items():
        lines += [f"### {title}", "",
                  "| variant | requests/s | p50 ms | p99 ms | executed | CPU µs per request | CPU against | "
                  "RSS after, MiB (peak) |", "|---|---|---|---|---|---|---|---|"]
        for key, r in v.items():
            if r["group"] != group:
                continue
            c = results["costs"].get(key)
            against = (f"{signed(c['cpu_us']['median'])} µs ({signed(c['cpu_pct']['median'], 0, ' %')}; "
                       f"{signed(c['cpu_pct']['min'], 0)} to {signed(c['cpu_pct']['max'], 0, ' %')}) vs "
                       f"{v[c['against']]['label'].split(' (')[0]}" if c else "–")
            lines.append(f"| {r['label']} | {cell(r['rps'], 0)} | {cell(r['p50_ms'], 2)} | "
                         f"{cell(r['p99_ms'], 1)} | {share(r['executed_share'])} | "
                         f"{cell(r['cpu_us_per_request'], 1)} | {against} | "
                         f"{fmt(r['rss_end_mib'])} ({fmt(r['peak_rss_mib'])}) |")
        lines.append("")
    lines += ["Spans received by the OTLP sink, per answered request (a root is a request's own "
              "span, the benchmark's reads of `/metrics` included, or a background refresh's); the "
              "sink's own CPU; the spans the gateway reported dropped from its full export queue:", "",
              "| variant | spans | roots | bytes | bytes per span | largest trace, spans | exports | "
              "sink CPU µs per request | dropped |", "|---|---|---|---|---|---|---|---|---|"]
    for key, r in v.items():
        e = r.get("export")
        if not e:
            continue
        lines.append(f"| {r['group']}: {r['label'].removeprefix('now, traces exported, ')} | "
                     f"{fmt(e['spans_per_request'], 2)} | {fmt(e['roots_per_request'], 3)} | "
                     f"{fmt(e['bytes_per_request'], 0)} | {fmt(e['bytes_per_span'], 0)} | "
                     f"{e['largest_trace_spans']} | {e['posts']:,} | "
                     f"{fmt(e['sink_cpu_us_per_request']['median'])} | {e.get('dropped_spans', 0):,} |")
    lines += ["", f"`GET /metrics` after the runs, {s['scrapes']} scrapes over one connection:", "",
              "| variant | bytes | series | ms (min–max) |", "|---|---|---|---|"]
    for key, r in v.items():
        if r["group"] != "warm" or not r.get("metrics_scrape"):
            continue
        sc = r["metrics_scrape"]
        lines.append(f"| {r['label']} | {sc['bytes']:,} | {sc['series']:,} | {cell(sc['ms'], 2)} |")
    lines += ["", END]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def source_state():
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    changed = subprocess.run(["git", "status", "--porcelain", "--", "src", "providers", "Cargo.toml",
                              "Cargo.lock"], cwd=ROOT, capture_output=True, text=True).stdout.splitlines()
    return head + (f" with {len(changed)} files changed" if changed else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per oha run")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--only", default="",
                        help="groups, kinds or group/kind, comma-separated (default: all)")
    parser.add_argument("--before", default=BEFORE_BINARY,
                        help=f"the gateway as of {BEFORE_COMMIT}; built there when missing")
    parser.add_argument("--quick", action="store_true", help="one short run of each variant")
    parser.add_argument("--out", default=BENCH)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the RESULTS.md section from observability.json")
    opts = parser.parse_args()
    if opts.report_only:
        path = os.path.join(opts.out, "observability.json")
        results = json.load(open(path))
        results["costs"] = costs(results["variants"])
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        write_section(os.path.join(opts.out, "RESULTS.md"), section(results), BEGIN, END)
        return
    if opts.quick:
        opts.runs, opts.duration, opts.scrapes = 1, 3, 5
    os.environ["PATH"] = os.path.join(TOOLS, "bin") + os.pathsep + os.environ["PATH"]
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: cargo build --release")
    only = set(opts.only.split(",")) - {""}
    chosen = [x for x in variants() if not only or only & {x.key, x.group, x.kind}]
    if any(x.binary == "before" for x in chosen) and not os.path.exists(opts.before):
        build_before(BEFORE_COMMIT, opts.before)
    binaries = {"now": BINARY, "before": os.path.abspath(opts.before)}
    # Each binary reads its own commit's switchyard.toml (later keys are unknown to earlier ones).
    configs = {"now": None, "before": before_config(BEFORE_COMMIT)}
    latencies = {"catalog": 20, "inventory": 10, "frankfurter": 5, "erapi": 5, "reviews": 40}

    sandbox = run.Sandbox(latencies)
    gateways, sinks = {}, []
    began = time.monotonic()
    try:
        for x in chosen:
            sink = Sink() if x.sink else None
            if sink:
                sinks.append(sink)
            gw = Gateway(sandbox, x, binaries[x.binary], configs[x.binary], sink)
            gw.start(cache=True)
            gateways[x.key] = gw
        for gw in gateways.values():
            for _ in range(3):
                status, answer = gw.query("storefront")
                if status != 200 or answer.get("errors"):
                    sys.exit(f"{gw.name}: the storefront answered {status} {answer}")
        # The warm-up's spans are not the runs'.
        for x in chosen:
            if x.sampled:
                gateways[x.key].sink.wait_quiet(time.monotonic())
        for sink in sinks:
            sink.take()
        start_stats = {k: gw.stats() for k, gw in gateways.items()}
        runs = {k: [] for k in gateways}
        ended, last = {}, {}
        for i in range(opts.runs):
            for key, gw in gateways.items():
                r, last[key] = one_run(gw, opts, last.get(key))
                ended[key] = time.monotonic()
                runs[key].append(r)
                extra = (f", {r['export']['spans'] / max(r['requests'], 1):.2f} spans/request"
                         if "export" in r else "")
                print(f"run {i + 1}/{opts.runs} {key}: {r['rps']:,.0f}/s, p99 {r['p99_ms']:.1f} ms, "
                      f"{r['cpu_us_per_request']:.1f} µs CPU/request{extra}", file=sys.stderr)
        # The last run's spans still queued when it ended (at most one export batch), once its
        # exporter has been quiet for longer than its schedule.
        for x in chosen:
            if x.sampled:
                gateways[x.key].sink.wait_quiet(ended[x.key])
                add(runs[x.key][-1]["export"], decode(gateways[x.key].sink.take()))
        results_variants = {}
        for x in chosen:
            gw = gateways[x.key]
            scrape = gw.scrape(opts.scrapes)
            results_variants[x.key] = aggregate(x, runs[x.key], gw, start_stats[x.key], scrape)
        upstream_calls = sandbox.calls()
    finally:
        for gw in gateways.values():
            gw.stop()
        for sink in sinks:
            sink.close()
        sandbox.close()
    for key, gw in gateways.items():
        r = results_variants[key]
        r["stderr_warnings"] = gw.warnings()
        if "export" in r:
            # The batch processor logs how many spans its full queue dropped when it shuts down.
            counts = [int(n) for line in r["stderr_warnings"]
                      for n in re.findall(r"dropped_span_count=(\d+)", line)]
            r["export"]["dropped_spans"] = max(counts, default=0)

    results = {
        "date": datetime.date.today().isoformat(),
        "machine": run.machine(),
        "command": "python3 bench/observability.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "load_generator": run.oha_version(),
        "now": f"{source_state()} (`{os.path.relpath(BINARY, ROOT)}`)",
        "before": f"{BEFORE_COMMIT}, built from a worktree",
        "latencies_ms": latencies,
        "settings": {"runs": opts.runs, "duration_s": opts.duration, "connections": CONNECTIONS,
                     "scrapes": opts.scrapes},
        "wall_s": round(time.monotonic() - began),
        "upstream_calls_total": upstream_calls,
        "variants": results_variants,
        "costs": costs(results_variants),
        "commands": sorted(run.COMMANDS),
    }
    os.makedirs(opts.out, exist_ok=True)
    with open(os.path.join(opts.out, "observability.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_section(os.path.join(opts.out, "RESULTS.md"), section(results), BEGIN, END)
    print(f"wrote observability.json and RESULTS.md in {results['wall_s']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
