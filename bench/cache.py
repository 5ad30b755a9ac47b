#!/usr/bin/env python3
"""Entity-cache benchmark: upstream calls per query, hit ratio and memory for a cold, a warm
and a churning workload, against the release gateway on its built-in sandbox.

    cargo build --release && python3 bench/cache.py [--churn N] [--max-bytes B] [--replicas]

Cold: the storefront page once on a fresh gateway. Warm: the same page N times. Churn: N
distinct product searches (each a new cache key) with the per-entity memory bound set to B;
the gateway's resident memory is read from /proc before and after. Replicas (`--replicas`,
needs redis-server): two gateways, each with its own simulated providers, sharing one Redis;
the second replica's first storefront page after the first replica's, then product lookups
on new keys (searches: each a catalog call) while Redis is up, killed, and hung (SIGSTOP). The simulated providers'
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


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    if c.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        sys.exit("redis-server did not come up")

    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Gateway:
    def __init__(self, max_bytes, redis_url=None):
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
        if redis_url:
            env["SWITCHYARD__CACHE__REDIS_URL"] = redis_url
        env["SWITCHYARD__PROVIDERS__CATALOG__QUOTA__LIMIT"] = "1000000"
        # One load generator is one client: its per-client budget would be the benchmark's
        # subject, not the gateway's speed (the peers have no such limit).
        env["SWITCHYARD__RATE_LIMITS__REQUESTS_PER_MINUTE"] = "0"
        env["SWITCHYARD__RATE_LIMITS__COST_PER_MINUTE"] = "0"
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

    def redis_tier(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port)
        c.request("GET", "/readyz")
        return json.loads(c.getresponse().read())["cache"]["redis"]

    def close(self):
        for p in (self.gateway, self.sandbox):
            p.terminate()
            p.wait()


def delta(before, after):
    return {p: after[p] - before[p] for p in PROVIDERS}


def timed(gw, text, variables=None):
    t = time.perf_counter()
    answer = gw.query(text, variables)
    assert "errors" not in answer, answer
    return (time.perf_counter() - t) * 1000


def replicas(storefront, max_bytes, lookups):
    """Two replicas sharing one Redis; prints a Markdown table."""
    redis = Redis()
    a = Gateway(max_bytes, redis.url())
    b = Gateway(max_bytes, redis.url())
    search = "query($q: String) { products(first: 5, search: $q) { totalCount } }"
    rng = random.Random(11)
    try:
        rows = []
        before = a.calls()
        cold_ms = timed(a, storefront)
        cold = delta(before, a.calls())
        rows.append(("replica A, cold storefront", sum(cold.values()), f"{cold_ms:.1f} ms"))
        deadline = time.time() + 10
        while a.redis_tier()["pendingWrites"] and time.time() < deadline:
            time.sleep(0.01)
        before = b.calls()
        shared_ms = timed(b, storefront)
        shared = delta(before, b.calls())
        rows.append(("replica B, same page from Redis", sum(shared.values()), f"{shared_ms:.1f} ms"))

        for state in ("up", "killed", "hung"):
            if state == "killed":
                redis.proc.kill()
                redis.proc.wait()
                redis = Redis()  # a new, empty server on another port: B still points at the dead one
            if state == "hung":
                c = Gateway(max_bytes, redis.url())
                timed(c, search, {"q": "phone"})
                os.kill(redis.proc.pid, 19)  # SIGSTOP
                gw = c
            else:
                gw = b
            before = gw.calls()
            words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(12)) for _ in range(lookups)]
            latencies = sorted(timed(gw, search, {"q": w}) for w in words)
            calls = delta(before, gw.calls())
            rows.append((f"new keys, Redis {state} ({lookups} searches)", f"{sum(calls.values()) / lookups:.2f}/query",
                         f"p50 {latencies[len(latencies) // 2]:.2f} ms, p99 {latencies[int(len(latencies) * 0.99)]:.2f} ms, "
                         f"max {latencies[-1]:.1f} ms"))
            if state == "hung":
                rows[-1] = rows[-1] + (json.dumps({k: gw.redis_tier()[k] for k in ("state", "timeouts", "skipped")}),)
                os.kill(redis.proc.pid, 18)  # SIGCONT
                c.close()
        print("| workload | upstream calls | latency | tier |")
        print("|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(str(x) for x in row) + (" | |" if len(row) == 3 else " |"))
    finally:
        a.close()
        b.close()
        redis.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm", type=int, default=1000)
    parser.add_argument("--churn", type=int, default=100_000)
    parser.add_argument("--max-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--replicas", action="store_true", help="only the two-replica Redis workload")
    parser.add_argument("--lookups", type=int, default=500)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit("build first: cargo build --release")
    storefront = open(os.path.join(ROOT, "schema", "operations", "storefront.graphql")).read()
    if args.replicas:
        return replicas(storefront, args.max_bytes, args.lookups)

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
