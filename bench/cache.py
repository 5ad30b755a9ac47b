#!/usr/bin/env python3
"""Entity-cache benchmark: upstream calls per query, hit ratio and memory for a cold, a warm
and a churning workload, against the release gateway on its built-in sandbox.

    cargo build --release && python3 bench/cache.py [--churn N] [--max-bytes B]

Cold: the storefront page once on a fresh gateway. Warm: the same page N times. Churn: N
distinct product searches (each a new cache key) with the per-entity memory bound set to B;
the gateway's resident memory is read from /proc before and after. The simulated providers'
own quotas are switched off and the gateway's catalog quota raised, so that the figures
measure the cache and not the quota. Prints a Markdown table (paste it into bench/RESULTS.md).
"""

import argparse
import http.client
import json
import os
import platform
import random
import socket
import string
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "switchyard")
PROVIDERS = ["catalog", "frankfurter", "erapi", "inventory", "reviews"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Gateway:
    def __init__(self, max_bytes):
        self.ports = {p: free_port() for p in PROVIDERS}
        self.port = free_port()
        env = dict(os.environ)
        for p, port in self.ports.items():
            env[f"SWITCHYARD__SANDBOX__PORTS__{p.upper()}"] = str(port)
        self.sandbox = subprocess.Popen([BINARY, "sandbox"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd="/")
        env = dict(os.environ)
        for p, port in self.ports.items():
            env[f"SWITCHYARD__PROVIDERS__{p.upper()}__BASE_URL"] = f"http://127.0.0.1:{port}"
        env["SWITCHYARD__SERVER__LISTEN"] = f"127.0.0.1:{self.port}"
        env["SWITCHYARD__CACHE__MAX_BYTES"] = str(max_bytes)
        env["SWITCHYARD__PROVIDERS__CATALOG__QUOTA__LIMIT"] = "1000000"
        env["INVENTORY_CLIENT_ID"] = "switchyard-sandbox"
        env["INVENTORY_CLIENT_SECRET"] = "sandbox-secret-not-for-production"
        env["REVIEWS_API_KEY"] = "sandbox-reviews-key"
        self.wait_for(self.ports["catalog"], "/__sandbox/counters")
        for p in PROVIDERS:
            self.admin(p, "PUT", "/__sandbox/faults", {"quota_off": True})
        self.gateway = subprocess.Popen([BINARY, "serve"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd="/")
        self.wait_for(self.port, "/healthz")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port)

    def wait_for(self, port, path):
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", path)
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        sys.exit(f"nothing answered on port {port}")

    def admin(self, provider, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.ports[provider])
        c.request(method, path, json.dumps(body) if body is not None else None,
                  {"content-type": "application/json"})
        r = c.getresponse()
        data = r.read()
        return json.loads(data) if data else None

    def calls(self):
        return {p: self.admin(p, "GET", "/__sandbox/counters")["total"] for p in PROVIDERS}

    def query(self, text, variables=None):
        body = json.dumps({"query": text, "variables": variables or {}})
        self.conn.request("POST", "/graphql", body, {"content-type": "application/json"})
        r = self.conn.getresponse()
        return json.loads(r.read())

    def close(self):
        for p in (self.gateway, self.sandbox):
            p.terminate()
            p.wait()


def delta(before, after):
    return {p: after[p] - before[p] for p in PROVIDERS}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--churn", type=int, default=100_000)
    parser.add_argument("--max-bytes", type=int, default=8 * 1024 * 1024)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    storefront = open(os.path.join(ROOT, "schema", "operations", "storefront.graphql")).read()

    gw = Gateway(args.max_bytes)
    try:
        rows = []
        rss_start = rss_kib(gw.gateway.pid)
        before = gw.calls()
        t = time.perf_counter()
        answer = gw.query(storefront)
        cold_ms = (time.perf_counter() - t) * 1000
        assert "errors" not in answer, answer
        cold = delta(before, gw.calls())
        rows.append(("cold storefront (1 query)", sum(cold.values()), cold, f"{cold_ms:.1f} ms", "0 %"))

        before = gw.calls()
        t = time.perf_counter()
        for _ in range(args.warm):
            gw.query(storefront)
        warm_s = time.perf_counter() - t
        warm = delta(before, gw.calls())
        per_query = sum(warm.values()) / args.warm
        rows.append((f"warm storefront ({args.warm} queries)", f"{per_query:.3f}/query", warm,
                     f"{warm_s / args.warm * 1000:.2f} ms/query",
                     f"{100 * (1 - per_query / max(sum(cold.values()), 1)):.1f} %"))
        rss_warm = rss_kib(gw.gateway.pid)

        before = gw.calls()
        rng = random.Random(7)
        t = time.perf_counter()
        for _ in range(args.churn):
            word = "".join(rng.choice(string.ascii_lowercase) for _ in range(12))
            gw.query("query($q: String) { products(first: 5, search: $q) { totalCount } }",
                     {"q": word})
        churn_s = time.perf_counter() - t
        churn = delta(before, gw.calls())
        rss_churn = rss_kib(gw.gateway.pid)
        rows.append((f"churn ({args.churn} distinct keys)", f"{sum(churn.values()) / args.churn:.3f}/query",
                     churn, f"{churn_s / args.churn * 1000:.2f} ms/query", "0 % (all new keys)"))

        print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
        print(f"Command: python3 bench/cache.py --warm {args.warm} --churn {args.churn} --max-bytes {args.max_bytes}")
        print()
        print("| workload | upstream calls | by provider | latency | hit ratio |")
        print("|---|---|---|---|---|")
        for name, calls, by, latency, hits in rows:
            print(f"| {name} | {calls} | {json.dumps(by)} | {latency} | {hits} |")
        print()
        print(f"RSS: {rss_start / 1024:.1f} MiB at start, {rss_warm / 1024:.1f} MiB warm, "
              f"{rss_churn / 1024:.1f} MiB after churn (bound: {args.max_bytes / 1048576:.0f} MiB per entity cache)")
    finally:
        gw.close()


if __name__ == "__main__":
    main()
