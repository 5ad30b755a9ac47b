#!/usr/bin/env python3
"""Runs the benchmark scenarios against Switchyard and its peers on one set of simulated
upstreams, and writes bench/results.json, bench/RESULTS.md and bench/plots/*.svg.

Started by bench/run, which builds and installs what this needs. The upstreams are
`switchyard sandbox` (real HTTP servers in each provider's wire format) with fixed latencies
and their quotas off; every gateway is started afresh for each scenario, on its own port.
The load generator is oha; upstream calls are read from the sandboxes' counters.
"""

import argparse
import datetime
import json
import os
import platform
import random
import signal
import socket
import statistics
import string
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BINARY = os.environ.get("SWITCHYARD_BIN", os.path.join(ROOT, "target", "release", "switchyard"))
PROVIDERS = ["catalog", "frankfurter", "erapi", "inventory", "reviews"]
# Distinct upstream keys one storefront page asks for, by provider.
PAGE_KEYS = {"catalog": 1, "frankfurter": 1, "inventory": 20, "reviews": 20}
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Every load-generator command run, as written into results.json.
COMMANDS = set()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, headers=None, timeout=60):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def proc_stats(pid):
    """Resident and peak resident memory (KiB) and CPU seconds of a process and its children
    that have exited (a gateway is one process: its threads count, not its parent's)."""
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return {
        "rss_kib": int(status["VmRSS"].split()[0]),
        "hwm_kib": int(status["VmHWM"].split()[0]),
        "cpu_s": cpu,
    }


class Sandbox:
    """`switchyard sandbox` on ports of its own, with fixed latencies and no quotas."""

    def __init__(self, latencies):
        self.ports = {p: free_port() for p in PROVIDERS}
        env = dict(os.environ, RUST_LOG="warn")
        for p, port in self.ports.items():
            env[f"SWITCHYARD__SANDBOX__PORTS__{p.upper()}"] = str(port)
        self.proc = subprocess.Popen([BINARY, "sandbox"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd="/")
        self.latencies = latencies
        wait_until(lambda: self.admin("catalog", "GET", "/__sandbox/counters") is not None,
                   "the sandbox")
        self.calm()

    def url(self, provider):
        return f"http://127.0.0.1:{self.ports[provider]}"

    def admin(self, provider, method, path, body=None):
        try:
            status, data = request(method, self.url(provider) + path,
                                   json.dumps(body) if body is not None else None,
                                   {"content-type": "application/json"}, timeout=5)
        except OSError:
            return None
        return json.loads(data) if data else {}

    def faults(self, provider, **plan):
        self.admin(provider, "PUT", "/__sandbox/faults",
                   {"quota_off": True, "latency_ms": self.latencies[provider], **plan})

    def calm(self):
        """Every provider at its fixed latency, quotas off, no other fault."""
        for p in PROVIDERS:
            self.faults(p)

    def reset(self):
        for p in PROVIDERS:
            self.admin(p, "POST", "/__sandbox/reset")

    def calls(self):
        """Data calls per provider since the last reset (the OAuth2 token endpoint aside: the
        peers are handed a token, Switchyard fetches its own once)."""
        out = {}
        for p in PROVIDERS:
            endpoints = self.admin(p, "GET", "/__sandbox/counters")["endpoints"]
            out[p] = sum(n for e, n in endpoints.items() if e != "POST /oauth/token")
        return out

    def token(self):
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": "switchyard-sandbox",
            "client_secret": "sandbox-secret-not-for-production",
        })
        _, data = request("POST", self.url("inventory") + "/oauth/token", form,
                          {"content-type": "application/x-www-form-urlencoded"})
        return json.loads(data)["access_token"]

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def machine():
    """The machine a benchmark ran on, as its results record it."""
    return {"arch": platform.machine(), "cores": os.cpu_count(), "platform": platform.platform(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}


def oha_version():
    return subprocess.run(["oha", "--version"], capture_output=True, text=True).stdout.strip()


def write_section(path, text, begin, end):
    """Puts `text` (which starts with `begin` and ends with `end`) in place of the section
    between those markers in the file at `path`, or at its end when it has none."""
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        tail = rest.split(end, 1)[1]
        new = head + text + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(path, "w") as f:
        f.write(new)


def wait_until(ready, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{what} did not come up within {seconds} s")


class Gateway:
    """One gateway under test: started afresh per scenario, with or without its caches."""

    name = ""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/graphql"

    def body(self, operation, variables=None):
        return json.dumps({"query": self.operation(operation), "variables": variables or {}})

    def query(self, operation, variables=None):
        status, data = request("POST", self.url, self.body(operation, variables),
                               {"content-type": "application/json", "accept": "application/json"})
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"raw": data.decode(errors="replace")}

    def start(self, cache):
        self.port = free_port()
        command, env = self.command(cache)
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=ROOT,
                                     start_new_session=True)

        def answers():
            if self.proc.poll() is not None:
                sys.exit(f"{self.name} exited with {self.proc.returncode}")
            status, _ = request("POST", self.url, json.dumps({"query": "{ __typename }"}),
                                {"content-type": "application/json"}, timeout=2)
            return status == 200

        wait_until(answers, self.name, 120)

    def stats(self):
        return proc_stats(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class Switchyard(Gateway):
    name = "switchyard"

    def operation(self, name):
        path = {"storefront": "schema/operations/storefront.graphql",
                "search": "bench/search.graphql"}[name]
        return open(os.path.join(ROOT, path)).read()

    def version(self):
        out = subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout
        return out.strip()

    def command(self, cache):
        env = dict(os.environ, RUST_LOG="warn")
        env["SWITCHYARD__SERVER__LISTEN"] = f"127.0.0.1:{self.port}"
        env["SWITCHYARD__CACHE__MAX_BYTES"] = str(8 * 1024 * 1024)
        for p in PROVIDERS:
            up = p.upper()
            env[f"SWITCHYARD__PROVIDERS__{up}__BASE_URL"] = self.sandbox.url(p)
            env[f"SWITCHYARD__PROVIDERS__{up}__CACHE__ENABLED"] = "true" if cache else "false"
        # The sandboxes' quotas are off, so are the gateway's mirrors of them; and the reviews
        # vendor's 8-in-flight cap (which the bulkhead mirrors) is off too: the peers have
        # neither, and a page's 20 review calls should run at once here as they do there.
        for p in ("catalog", "inventory", "reviews"):
            env[f"SWITCHYARD__PROVIDERS__{p.upper()}__QUOTA__LIMIT"] = "100000000"
        env["SWITCHYARD__PROVIDERS__REVIEWS__MAX_IN_FLIGHT"] = "64"
        # One load generator is one client: its per-client budget would be the benchmark's
        # subject, not the gateway's speed (the peers have no such limit).
        env["SWITCHYARD__RATE_LIMITS__REQUESTS_PER_MINUTE"] = "0"
        env["SWITCHYARD__RATE_LIMITS__COST_PER_MINUTE"] = "0"
        env["INVENTORY_CLIENT_ID"] = "switchyard-sandbox"
        env["INVENTORY_CLIENT_SECRET"] = "sandbox-secret-not-for-production"
        env["REVIEWS_API_KEY"] = "sandbox-reviews-key"
        return [BINARY, "serve"], env


class Peer(Gateway):
    """A peer configured by bench/peers/<name>/ (see the README there)."""

    def __init__(self, sandbox, name):
        super().__init__(sandbox)
        self.name = name
        self.folder = os.path.join(BENCH, "peers", name)

    def operation(self, name):
        return open(os.path.join(self.folder, f"{name}.graphql")).read()

    def version(self):
        """The pinned npm packages (and, for Tailcall, the C library it runs on)."""
        pins = json.load(open(os.path.join(self.folder, "package.json")))["dependencies"]
        return ", ".join(f"{p}@{v}" for p, v in pins.items())

    def command(self, cache):
        env = dict(os.environ)
        env.update({
            "PORT": str(self.port),
            "CATALOG_URL": self.sandbox.url("catalog"),
            "FX_URL": self.sandbox.url("frankfurter"),
            "INVENTORY_URL": self.sandbox.url("inventory"),
            "REVIEWS_URL": self.sandbox.url("reviews"),
            "INVENTORY_TOKEN": self.sandbox.token(),
            "REVIEWS_API_KEY": "sandbox-reviews-key",
            "CACHE": "on" if cache else "off",
        })
        return [os.path.join(self.folder, "start.sh")], env


def oha(gateway, operation, connections, requests=None, duration=None, variables=None):
    """Runs oha against `gateway` and returns its JSON summary."""
    body = os.path.join(BENCH, ".work", f"{gateway.name}-{operation}.json")
    os.makedirs(os.path.dirname(body), exist_ok=True)
    with open(body, "w") as f:
        f.write(gateway.body(operation, variables))
    command = ["oha", "--no-tui", "--output-format", "json", "-c", str(connections),
               "-m", "POST", "-T", "application/json", "-D", body]
    command += ["-n", str(requests)] if requests else ["-z", f"{duration}s"]
    command.append(gateway.url)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    record(command)
    return json.loads(out), command


def record(command):
    """Notes a command for results.json, with the run's own paths and ports made generic."""
    words = [os.path.relpath(w, ROOT) if w.startswith(ROOT) else w for w in command]
    words[-1] = "http://127.0.0.1:<gateway port>/graphql"
    COMMANDS.add(" ".join(words))


def summary(result):
    """Requests per second, p50/p99 in ms, success rate and the percentile curve."""
    s = result["summary"]
    pct = result.get("latencyPercentiles", {})
    ms = lambda v: None if v is None else v * 1000  # noqa: E731
    codes = result.get("statusCodeDistribution", {})
    return {
        "rps": s.get("requestsPerSec"),
        "p50_ms": ms(pct.get("p50")),
        "p99_ms": ms(pct.get("p99")),
        "success": s.get("successRate"),
        "statuses": codes,
        "requests": sum(codes.values()),
        "percentiles_ms": {k: ms(v) for k, v in pct.items()},
    }


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": len(values)}


def calls_per_query(gateway, operation, count):
    before = gateway.sandbox.calls()
    for _ in range(count):
        status, answer = gateway.query(operation)
        assert status == 200, (gateway.name, status, answer)
    after = gateway.sandbox.calls()
    return {p: (after[p] - before[p]) / count for p in PROVIDERS if after[p] - before[p]}


# ---------------------------------------------------------------- scenarios


def cold(gateways, opts):
    """Caches off: upstream calls per query, and latency next to the critical-path bound."""
    lat = opts.latencies
    bound = lat["catalog"] + max(lat["inventory"], lat["frankfurter"], lat["reviews"])
    out = {"bound_ms": bound, "gateways": {}}
    for gw in gateways:
        gw.start(cache=False)
        try:
            gw.query("storefront")  # connections, the inventory token
            calls = calls_per_query(gw, "storefront", 5)
            runs = [summary(oha(gw, "storefront", 1, requests=opts.cold_requests)[0])
                    for _ in range(opts.runs)]
        finally:
            gw.stop()
        p50 = spread([r["p50_ms"] for r in runs])
        out["gateways"][gw.name] = {
            "calls_per_query": calls,
            "p50_ms": p50,
            "p99_ms": spread([r["p99_ms"] for r in runs]),
            "overhead_ms": (p50["median"] - bound) if p50["median"] is not None else None,
            "percentiles_ms": runs[-1]["percentiles_ms"],
        }
    return out


def warm(gateways, opts):
    """Caches on: throughput and latency at 32 and 64 connections, peak RSS, CPU per 1000."""
    out = {"gateways": {}}
    for gw in gateways:
        gw.start(cache=True)
        result = {}
        try:
            for _ in range(3):
                gw.query("storefront")
            calls = calls_per_query(gw, "storefront", 5)
            for connections in (32, 64):
                runs = []
                for _ in range(opts.runs):
                    before = gw.stats()
                    r = summary(oha(gw, "storefront", connections, duration=opts.duration)[0])
                    after = gw.stats()
                    r["cpu_s_per_1000"] = ((after["cpu_s"] - before["cpu_s"]) * 1000
                                           / max(r["requests"], 1))
                    runs.append(r)
                result[f"c{connections}"] = {
                    "rps": spread([r["rps"] for r in runs]),
                    "p50_ms": spread([r["p50_ms"] for r in runs]),
                    "p99_ms": spread([r["p99_ms"] for r in runs]),
                    "cpu_s_per_1000": spread([r["cpu_s_per_1000"] for r in runs]),
                    "success": min(r["success"] or 0 for r in runs),
                    "percentiles_ms": runs[-1]["percentiles_ms"],
                }
            result["peak_rss_mib"] = gw.stats()["hwm_kib"] / 1024
            result["calls_per_query"] = calls
        finally:
            gw.stop()
        out["gateways"][gw.name] = result
    return out


def herd(gateways, opts):
    """100 identical queries at once on a cold gateway (caches on): upstream calls per key.
    Each run starts the gateway afresh; the calls shown are the most any run made."""
    out = {"page_keys": PAGE_KEYS, "gateways": {}}
    for gw in gateways:
        runs, most = [], {p: 0 for p in PROVIDERS}
        for _ in range(opts.runs):
            gw.start(cache=True)
            try:
                gw.sandbox.reset()
                runs.append(summary(oha(gw, "storefront", 100, requests=100)[0]))
                calls = gw.sandbox.calls()
            finally:
                gw.stop()
            most = {p: max(most[p], calls[p]) for p in PROVIDERS}
        out["gateways"][gw.name] = {
            "calls": {p: n for p, n in most.items() if n},
            "calls_per_key": {p: most[p] / k for p, k in PAGE_KEYS.items()},
            "p50_ms": spread([r["p50_ms"] for r in runs]),
            "p99_ms": spread([r["p99_ms"] for r in runs]),
            "success": min(r["success"] or 0 for r in runs),
            "percentiles_ms": runs[-1]["percentiles_ms"],
        }
    return out


def complete_except_reviews(answer):
    """Whether an answer holds the page's data in full, reviews aside: 20 products and no
    null anywhere outside a field whose name mentions reviews."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict):
        return False
    lists = []

    def walk(value, path):
        if isinstance(value, dict):
            for k, v in value.items():
                if "review" in k.lower():
                    continue
                if not walk(v, path + [k]):
                    return False
            return True
        if isinstance(value, list):
            lists.append(len(value))
            return all(walk(v, path) for v in value)
        return value is not None

    return walk(data, []) and 20 in lists


def degraded(gateways, opts):
    """Reviews failing 30 % of the time and 500 ms slow: throughput, p99, complete answers."""
    out = {"gateways": {}}
    for gw in gateways:
        gw.sandbox.faults("reviews", error_rate=0.3, latency_ms=500)
        runs = []
        try:
            for run in range(opts.runs):
                gw.start(cache=False)  # afresh: breakers and retry budgets start closed and full
                try:
                    gw.query("storefront")
                    runs.append(summary(oha(gw, "storefront", 32, duration=opts.duration)[0]))
                    if run == opts.runs - 1:
                        with ThreadPoolExecutor(16) as pool:
                            answers = list(pool.map(lambda _: gw.query("storefront")[1],
                                                    range(opts.samples)))
                finally:
                    gw.stop()
        finally:
            gw.sandbox.calm()
        complete = sum(complete_except_reviews(a) for a in answers)
        out["gateways"][gw.name] = {
            "rps": spread([r["rps"] for r in runs]),
            "p50_ms": spread([r["p50_ms"] for r in runs]),
            "p99_ms": spread([r["p99_ms"] for r in runs]),
            "http_success": min(r["success"] or 0 for r in runs),
            "complete_share": complete / len(answers),
            "sampled": len(answers),
            "percentiles_ms": runs[-1]["percentiles_ms"],
        }
    return out


def churn(gateways, opts):
    """Distinct catalog searches (each a new cache key) through caches on: resident memory.
    oha picks one of the bodies at random for each request, so N requests over N bodies reach
    about 63 % of them: the distinct keys are counted where they land, at the catalog. The
    catalog answers at once here: memory, not latency, is measured."""
    out = {"switchyard_cache_bound_mib": 8 * 5, "gateways": {}}
    rng = random.Random(7)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(12))
             for _ in range(opts.churn)]
    for gw in gateways:
        # One request body a line; oha picks one for each request.
        count = opts.churn if gw.name == "switchyard" else opts.churn_peers
        words = words[:count]
        lines = os.path.join(BENCH, ".work", f"{gw.name}-churn.jsonl")
        os.makedirs(os.path.dirname(lines), exist_ok=True)
        with open(lines, "w") as f:
            for w in words:
                f.write(gw.body("search", {"q": w}) + "\n")
        gw.sandbox.faults("catalog", latency_ms=0)
        gw.start(cache=True)
        try:
            gw.query("search", {"q": "phone"})
            gw.sandbox.reset()
            start = gw.stats()
            began = time.perf_counter()
            command = ["oha", "--no-tui", "--output-format", "json", "-c", "32", "-n",
                       str(len(words)), "-m", "POST", "-T", "application/json", "-Z", lines, gw.url]
            r = summary(json.loads(subprocess.run(command, capture_output=True, text=True,
                                                  check=True).stdout))
            record(command)
            seconds = time.perf_counter() - began
            end = gw.stats()
            catalog = gw.sandbox.calls()["catalog"]
        finally:
            gw.stop()
            gw.sandbox.calm()
        out["gateways"][gw.name] = {
            "requests": count,
            "rss_start_mib": start["rss_kib"] / 1024,
            "rss_end_mib": end["rss_kib"] / 1024,
            "peak_rss_mib": end["hwm_kib"] / 1024,
            "ok_share": r["success"],
            "distinct_keys": catalog,
            "seconds": seconds,
        }
    return out


SCENARIOS = {"cold": cold, "warm": warm, "herd": herd, "degraded": degraded, "churn": churn}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one short run of each scenario")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--peers", default="tailcall,hive",
                        help="peers (bench/peers/<name>), comma-separated; empty for none")
    parser.add_argument("--latency", default="catalog=20,inventory=10,fx=5,reviews=40",
                        help="fixed upstream latencies in ms")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--cold-requests", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--churn", type=int, default=160_000,
                        help="requests (and bodies) of the churn scenario: ~63 %% distinct")
    parser.add_argument("--churn-peers", type=int, default=160_000,
                        help="the same for the peers (Hive needs ~7 min per 100k)")
    parser.add_argument("--out", default=BENCH)
    opts = parser.parse_args()
    if opts.quick:
        opts.runs, opts.duration, opts.cold_requests, opts.samples = 1, 3, 20, 50
        opts.churn = opts.churn_peers = 3000
    latencies = {"erapi": 5}
    for item in opts.latency.split(","):
        name, _, ms = item.partition("=")
        for p in ({"fx": ["frankfurter", "erapi"]}.get(name, [name])):
            latencies[p] = int(ms)
    opts.latencies = latencies

    sandbox = Sandbox(latencies)
    gateways = [Switchyard(sandbox)] + [Peer(sandbox, p) for p in opts.peers.split(",") if p]
    results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": "bench/run" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "load_generator": oha_version(),
        "versions": {gw.name: gw.version() for gw in gateways},
        "latencies_ms": latencies,
        "settings": {"runs": opts.runs, "duration_s": opts.duration,
                     "cold_requests": opts.cold_requests, "samples": opts.samples,
                     "churn_requests": opts.churn, "churn_requests_peers": opts.churn_peers},
        "scenarios": {},
    }
    try:
        for name in opts.only.split(","):
            print(f"== {name}", file=sys.stderr)
            results["scenarios"][name] = SCENARIOS[name](gateways, opts)
    finally:
        for gw in gateways:
            gw.stop()
        sandbox.close()
    os.makedirs(opts.out, exist_ok=True)
    results["commands"] = sorted(COMMANDS)
    with open(os.path.join(opts.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    import report  # noqa: E402  (bench/report.py, beside this file)
    report.write(results, opts.out)
    print(f"wrote {os.path.relpath(opts.out, ROOT)}/RESULTS.md, results.json and plots/",
          file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, BENCH)
    main()
