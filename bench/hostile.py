#!/usr/bin/env python3
"""What refusing a hostile request costs: the requests of tests/hostile.rs, each sent by oha
for a few seconds against the release gateway, with the latency and throughput of the
refusal, the gateway's CPU per request, and its resident memory before and after the run.

    cargo build --release && python3 bench/hostile.py [--duration 3] [--connections 8]

Three gateways run, as in the test (configs in bench/hostile/*.toml): the production profile
with API keys, JWTs and a scoped field; batching on; trusted documents. One `switchyard
sandbox` process answers their providers; its counters show that no refusal reached a
provider. Small request bodies are files in bench/hostile/; large ones are generated into
bench/hostile/generated/ at run time. Before its load run, each case is sent once and its
answer checked (status and `extensions.code`); oha's status counts are recorded too. Writes
bench/hostile.json and the hostile section of bench/RESULTS.md (between its markers).
"""

import argparse
import base64
import datetime
import gzip
import http.client
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import run  # bench/run.py: the sandbox and the same helpers
from run import free_port, machine, oha_version, proc_stats, wait_until, write_section

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTILE = os.path.join(ROOT, "bench", "hostile")
GENERATED = os.path.join(HOSTILE, "generated")
BINARY = os.path.abspath(os.environ.get("SWITCHYARD_BIN", os.path.join(ROOT, "target", "release", "switchyard")))
TOOLS = os.environ.get("SWITCHYARD_BENCH_TOOLS", os.path.expanduser("~/.cache/switchyard/tools"))
PROVIDERS = ["catalog", "frankfurter", "erapi", "inventory", "reviews"]
GQL = "application/graphql-response+json"
JSON = "application/json"
BEGIN = "<!-- bench/hostile.py: begin (generated from hostile.json; edit bench/hostile.py, not this) -->"
END = "<!-- bench/hostile.py: end -->"

WEB_KEY = "sk_test_web_4f1c2a"
BASIC_KEY = "sk_test_basic_77d0e1"
TINY_KEY = "sk_test_tiny_0b9e55"
RSA_PEM = os.path.join(ROOT, "tests", "fixtures", "jwt", "rsa-1.pem")
RSA_PUBLIC_PEM = os.path.join(ROOT, "tests", "fixtures", "jwt", "rsa-1.pub.pem")


# ---------------------------------------------------------------- request bodies


def file(name):
    """A body committed in bench/hostile/."""
    return lambda: os.path.join(HOSTILE, name)


def generated(name, make):
    """A body too large to commit: written to bench/hostile/generated/ when first used."""
    def path():
        out = os.path.join(GENERATED, name)
        if not os.path.exists(out):
            os.makedirs(GENERATED, exist_ok=True)
            with open(out, "wb") as f:
                f.write(make())
        return out
    return path


def query(text, **extra):
    return json.dumps({"query": text, **extra}).encode()


def nested(levels):
    return "{ a " * levels + "}" * levels


def aliases(n):
    return "".join(f"a{i}: __typename " for i in range(n))


def deep_variables(value):
    return ('{"query":"query($v: [Int]) { __typename }","variables":{"v":' + value + "}}").encode()


def padded(size):
    return json.dumps({"query": "{ __typename }", "padding": "x" * size}).encode()


def gzip_bomb():
    return gzip.compress(padded(10 << 20), 9)


def storefront_with_a_field_added():
    text = open(os.path.join(ROOT, "schema", "operations", "storefront.graphql")).read()
    return query(text.replace("totalCount", "totalCount categories { slug }", 1))


# ---------------------------------------------------------------- tokens


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**change):
    now = int(time.time())
    out = {"iss": "https://idp.test/", "aud": "switchyard", "sub": "user-42", "exp": now + 3600,
           "iat": now, "scope": "inventory:read"}
    out.update(change)
    return out


def signing_input(header, payload):
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"


def rs256(kid, payload):
    data = signing_input({"alg": "RS256", "typ": "JWT", "kid": kid}, payload)
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", RSA_PEM], input=data.encode(),
                               capture_output=True, check=True).stdout
    return f"{data}.{b64(signature)}"


def alg_none():
    return signing_input({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims()) + "."


def hs256_with_public_key():
    data = signing_input({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims())
    secret = open(RSA_PUBLIC_PEM, "rb").read()
    return f"{data}.{b64(hmac.new(secret, data.encode(), hashlib.sha256).digest())}"


# ---------------------------------------------------------------- the cases


class Case:
    """One request of tests/hostile.rs's table (same name), as oha can send it."""

    def __init__(self, name, gateway, status, code, body=None, method="POST", target="/graphql",
                 content_type=JSON, accept=GQL, headers=None, params=None, spend=0):
        self.name, self.gateway, self.status, self.code = name, gateway, status, code
        # Requests sent before the check, to use up a budget.
        self.spend = spend
        self.body, self.method, self.content_type, self.accept = body, method, content_type, accept
        self.headers = headers or (lambda: [])
        self.target = target + ("?" + urllib.parse.urlencode(params) if params else "")


def post(name, gateway, status, code, body, **kw):
    return Case(name, gateway, status, code, body=body, **kw)


def get(name, gateway, status, code, params, **kw):
    return Case(name, gateway, status, code, method="GET", content_type=None, params=params, **kw)


def bearer(token):
    return lambda: [("authorization", f"Bearer {token()}")]


def api_key(key):
    return lambda: [("x-api-key", key)]


CATALOG = file("catalog-query.json")
STOCK = file("stock-query.json")

CASES = [
    post("nesting 10,000 levels deep", "main", 400, "MAX_DEPTH_LIMIT",
         generated("nesting-10000.json", lambda: query(nested(10_000)))),
    post("20,000 tokens", "main", 400, "MAX_TOKENS_LIMIT",
         generated("tokens-20000.json", lambda: query("{ " + "__typename " * 20_000 + "}"))),
    post("5,000 aliases written out (15,002 tokens)", "main", 400, "MAX_TOKENS_LIMIT",
         generated("aliases-5000.json", lambda: query("{ " + aliases(5_000) + "}"))),
    post("a list literal nested 10,000 deep", "main", 400, "MAX_DEPTH_LIMIT",
         generated("list-10000.json", lambda: query(
             "{ exchangeRates(symbols: " + "[" * 10_000 + "]" * 10_000 + ") { base } }"))),
    post("nesting 13 levels, one over max_depth", "main", 400, "MAX_DEPTH_LIMIT", file("nesting-13.json")),
    post("nesting 13 levels, application/json", "main", 200, "MAX_DEPTH_LIMIT", file("nesting-13.json"),
         accept=JSON),
    get("nesting 13 levels over GET", "main", 400, "MAX_DEPTH_LIMIT", {"query": nested(13)}),
    post("31 aliases", "main", 400, "MAX_ALIASES_LIMIT", file("aliases-31.json")),
    post("31 aliases, application/json", "main", 200, "MAX_ALIASES_LIMIT", file("aliases-31.json"), accept=JSON),
    post("5,000 aliases: 50 in a fragment spread 100 times", "main", 400, "MAX_ALIASES_LIMIT",
         file("aliases-5000-fragment.json")),
    post("21 root fields", "main", 400, "MAX_ROOT_FIELDS_LIMIT", file("root-fields-21.json")),
    post("7,000 copies of one field", "main", 400, "MAX_COMPLEXITY_LIMIT",
         generated("field-7000.json", lambda: query('{ product(id: "1") { ' + "title " * 7_000 + "} }"))),
    post("1,000 directives on one field", "main", 400, "MAX_DIRECTIVES_LIMIT",
         generated("directives-1000.json", lambda: query("{ __typename " + "@skip(if: false) " * 1_000 + "}"))),
    post("60 directives in the document, one per field", "main", 400, "MAX_DIRECTIVES_LIMIT",
         file("directives-60.json")),
    post("fragment spreading itself", "main", 400, "GRAPHQL_VALIDATION_FAILED", file("fragment-self.json")),
    post("fragment cycle through three fragments", "main", 400, "GRAPHQL_VALIDATION_FAILED",
         file("fragment-cycle-3.json")),
    post("inline fragments nested 40 deep", "main", 400, "MAX_DEPTH_LIMIT", file("inline-fragments-40.json")),
    post("fragment chain 40 long", "main", 400, "MAX_DEPTH_LIMIT", file("fragment-chain-40.json")),
    post("fragment chain doubling 30 times (2^30 fields)", "main", 400, "MAX_COMPLEXITY_LIMIT",
         file("fragment-doubling-30.json")),
    post("cost: the storefront selection of 100 products, 3 aliases", "main", 400, "MAX_COMPLEXITY_LIMIT",
         file("cost-storefront-x3.json"), headers=api_key(WEB_KEY)),
    post("first: 2^70, not an Int", "main", 400, "GRAPHQL_VALIDATION_FAILED", file("first-2-pow-70.json")),
    post("900 KB string literal", "main", 413, "PAYLOAD_TOO_LARGE",
         generated("string-900k.json", lambda: query('{ product(id: "' + "x" * (900 * 1024) + '") { title } }'))),
    post("100,000 \\u0041 escapes", "main", 413, "PAYLOAD_TOO_LARGE",
         generated("escapes-100000.json", lambda: query('{ product(id: "' + "\\u0041" * 100_000 + '") { title } }'))),
    post("invalid escapes", "main", 400, "GRAPHQL_PARSE_FAILED", file("invalid-escapes.json")),
    post("unterminated string", "main", 400, "GRAPHQL_PARSE_FAILED", file("unterminated-string.json")),
    post("unterminated string, application/json", "main", 200, "GRAPHQL_PARSE_FAILED",
         file("unterminated-string.json"), accept=JSON),
    post("invalid UTF-8 in the body", "main", 400, "BAD_REQUEST", file("invalid-utf8.json")),
    post("invalid UTF-8, application/json", "main", 400, "BAD_REQUEST", file("invalid-utf8-2.json"), accept=JSON),
    post("variables: arrays nested 100,000 deep", "main", 400, "BAD_REQUEST",
         generated("variables-arrays.json", lambda: deep_variables("[" * 100_000 + "]" * 100_000))),
    post("variables: objects nested 100,000 deep", "main", 400, "BAD_REQUEST",
         generated("variables-objects.json", lambda: deep_variables('{"a":' * 100_000 + "1" + "}" * 100_000))),
    post("body is a JSON string", "main", 400, "BAD_REQUEST", file("json-string.json")),
    get("`query` twice in a GET", "main", 400, "BAD_REQUEST",
        [("query", "{ __typename }"), ("query", '{ product(id: "2") { title } }')]),
    post("APQ hash that is not the query's", "main", 400, "PERSISTED_QUERY_HASH_MISMATCH",
         file("apq-hash-mismatch.json")),
    post("`query` is a number", "main", 400, "BAD_REQUEST", file("query-number.json")),
    post("a bad deadline header", "main", 400, "BAD_REQUEST", CATALOG,
         headers=lambda: [("x-switchyard-deadline-ms", "-1")]),
    post("text/plain body", "main", 415, "BAD_REQUEST", CATALOG, content_type="text/plain"),
    post("form body", "main", 415, "BAD_REQUEST", file("form.txt"),
         content_type="application/x-www-form-urlencoded"),
    post("no content type", "main", 415, "BAD_REQUEST", CATALOG, content_type=None),
    post("multipart body", "main", 415, "BAD_REQUEST", file("multipart.txt"),
         content_type="multipart/form-data; boundary=x"),
    post("JSON in latin1", "main", 415, "BAD_REQUEST", CATALOG, content_type="application/json; charset=latin1"),
    post("2 MiB body with Content-Length", "main", 413, "PAYLOAD_TOO_LARGE",
         generated("padding-2mib.json", lambda: padded(2 << 20))),
    get("40 KB query string over GET", "main", 431, None, {"query": "{ __typename" + " " * 40_000 + " }"}),
    post("200 header fields", "main", 431, None, CATALOG,
         headers=lambda: [(f"x-h{i}", f"v{i}") for i in range(200)]),
    post("gzip bomb: 10 MiB of JSON in 10 KB", "main", 415, "BAD_REQUEST",
         generated("gzip-bomb.bin", gzip_bomb), headers=lambda: [("content-encoding", "gzip")]),
    post("plain JSON declared gzip", "main", 415, "BAD_REQUEST", CATALOG,
         headers=lambda: [("content-encoding", "gzip")]),
    get("mutation over GET", "main", 405, "BAD_REQUEST", {"query": "mutation { x }"}),
    post("unknown operationName", "main", 400, "GRAPHQL_VALIDATION_FAILED", file("unknown-operation-name.json")),
    post("two operations, no operationName", "main", 400, "GRAPHQL_VALIDATION_FAILED",
         file("two-operations.json")),
    post("introspection in production: __schema", "main", 400, "INTROSPECTION_DISABLED",
         file("introspection-schema.json")),
    post("introspection in production: __type", "main", 400, "INTROSPECTION_DISABLED",
         file("introspection-type.json")),
    post("introspection through a fragment named __schema", "main", 400, "INTROSPECTION_DISABLED",
         file("introspection-fragment-named-schema.json")),
    post("batch while batching is off", "main", 400, "BATCHING_NOT_ENABLED", file("batch-2.json")),
    post("batch of 5, limit 4", "batching", 400, "BATCH_LIMIT_EXCEEDED", file("batch-5.json")),
    post("batch of 10,000", "batching", 400, "BATCH_LIMIT_EXCEEDED",
         generated("batch-10000.json", lambda: json.dumps([{"query": "{ __typename }"}] * 10_000).encode())),
    post("empty batch", "batching", 400, "BATCH_LIMIT_EXCEEDED", file("batch-empty.json")),
    post("batch whose costs add up past max_cost", "batching", 400, "MAX_COMPLEXITY_LIMIT", file("batch-cost.json")),
    post("expired JWT", "main", 401, "UNAUTHENTICATED", CATALOG,
         headers=bearer(lambda: rs256("rsa-1", claims(exp=int(time.time()) - 3600)))),
    post("JWT for another audience", "main", 401, "UNAUTHENTICATED", CATALOG,
         headers=bearer(lambda: rs256("rsa-1", claims(aud="another-api")))),
    post("JWT with alg: none", "main", 401, "UNAUTHENTICATED", CATALOG, headers=bearer(alg_none)),
    post("JWT with an unknown kid", "main", 401, "UNAUTHENTICATED", CATALOG,
         headers=bearer(lambda: rs256("rsa-9", claims()))),
    post("garbage bearer token", "main", 401, "UNAUTHENTICATED", CATALOG, headers=bearer(lambda: "not.a-jwt.at-all")),
    post("HS256 JWT signed with the RSA public key", "main", 401, "UNAUTHENTICATED", CATALOG,
         headers=bearer(hs256_with_public_key)),
    post("unknown API key", "main", 401, "UNAUTHENTICATED", CATALOG, headers=api_key("sk_test_nobody_000000")),
    post("scoped field without credentials", "main", 401, "UNAUTHENTICATED", STOCK),
    post("scoped field with a key lacking the scope", "main", 403, "FORBIDDEN", STOCK, headers=api_key(BASIC_KEY)),
    post("over the client's request rate", "main", 429, "RATE_LIMITED", file("typename.json"),
         headers=api_key(TINY_KEY), spend=1),
    post("trusted mode: a document not in the list", "trusted", 400, "PERSISTED_QUERY_NOT_IN_LIST",
         file("typename.json")),
    post("trusted mode: a trusted document with a field added", "trusted", 400, "PERSISTED_QUERY_NOT_IN_LIST",
         generated("storefront-plus-a-field.json", storefront_with_a_field_added)),
    post("trusted mode: an unknown hash", "trusted", 400, "PERSISTED_QUERY_NOT_IN_LIST", file("unknown-hash.json")),
]

# Valid queries, for reference: one answered from the response cache, one executed.
REFERENCE = [
    post("valid query, from the response cache", "main", 200, None, file("health.json")),
    post("valid query, executed ({ __typename })", "main", 200, None, file("typename.json")),
]

# Rows of tests/hostile.rs that are not here, and why.
SKIPPED = {
    "body trickling in past body_read_timeout_ms": "oha sends a body at once; the refusal comes after the 500 ms timeout, by design",
    "2 MiB chunked body": "oha sends a Content-Length",
    "first: 1000000 is capped and runs": "it runs, capped at 100 items, and is then answered from the response cache",
    "batch of 2 within the limits": "a control that runs",
    "scoped field with a JWT holding the scope": "a control that runs",
    "trusted mode: the storefront document runs": "a control that runs",
}


# ---------------------------------------------------------------- processes


def request(method, url, body=None, headers=None, timeout=30):
    """One request; the answer even when the gateway answers (413) and closes before the whole
    body is sent, which urllib reports as a broken pipe instead."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        try:
            conn.request(method, path, body=body, headers=dict(headers or []))
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class Sandbox(run.Sandbox):
    """bench/run.py's `switchyard sandbox` (free ports, quotas off), at no added latency."""

    def __init__(self):
        super().__init__({p: 0 for p in PROVIDERS})

    def calls(self):
        """Every request each provider served, the OAuth2 token's included."""
        return {p: self.admin(p, "GET", "/__sandbox/counters")["total"] for p in PROVIDERS}

    def close(self):
        super().close()
        self.proc.wait()


class Gateway:
    """The release gateway with bench/hostile/<name>.toml, its providers on the sandbox."""

    def __init__(self, name, sandbox):
        self.name = name
        self.port = free_port()
        env = dict(os.environ, RUST_LOG="error")
        env["SWITCHYARD__SERVER__LISTEN"] = f"127.0.0.1:{self.port}"
        for p in PROVIDERS:
            env[f"SWITCHYARD__PROVIDERS__{p.upper()}__BASE_URL"] = sandbox.url(p)
        env["INVENTORY_CLIENT_ID"] = "switchyard-sandbox"
        env["INVENTORY_CLIENT_SECRET"] = "sandbox-secret-not-for-production"
        env["REVIEWS_API_KEY"] = "sandbox-reviews-key"
        self.config = os.path.join(HOSTILE, f"{name}.toml")
        self.proc = subprocess.Popen([BINARY, "--config", self.config, "serve"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                                     start_new_session=True)

        def answers():
            if self.proc.poll() is not None:
                sys.exit(f"the {name} gateway exited with {self.proc.returncode}")
            return request("GET", self.base + "/healthz", timeout=2)[0] == 200

        wait_until(answers, f"the {name} gateway")

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def stats(self):
        return proc_stats(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ---------------------------------------------------------------- running a case


def headers_of(case):
    out = [("accept", case.accept)]
    if case.content_type:
        out.append(("content-type", case.content_type))
    return out + case.headers()


def once(gateway, case, headers):
    """Sends the case once: its status and first `extensions.code` (None if there is none)."""
    body = open(case.body(), "rb").read() if case.body else None
    try:
        status, data = request(case.method, gateway.base + case.target, body, headers)
    except (ConnectionError, urllib.error.URLError) as e:
        return None, f"no answer: {e}"
    try:
        answer = json.loads(data)
        first = answer[0] if isinstance(answer, list) and answer else answer
        code = first.get("errors", [{}])[0].get("extensions", {}).get("code") if isinstance(first, dict) else None
    except (ValueError, AttributeError, IndexError):
        code = None
    return status, code


def oha(gateway, case, headers, opts):
    command = ["oha", "--no-tui", "--output-format", "json", "-z", f"{opts.duration}s",
               "-c", str(opts.connections), "-m", case.method]
    for name, value in headers:
        # oha's own flags for these two, so that it adds no defaults of its own.
        if name == "accept":
            command += ["-A", value]
        elif name == "content-type":
            command += ["-T", value]
        else:
            command += ["-H", f"{name}: {value}"]
    if case.body:
        command += ["-D", case.body()]
    command.append(gateway.base + case.target)
    before = gateway.stats()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    after = gateway.stats()
    result = json.loads(out)
    summary = result["summary"]
    pct = result.get("latencyPercentiles", {})
    statuses = {int(k): v for k, v in result.get("statusCodeDistribution", {}).items()}
    answered = sum(statuses.values())
    return {
        "rps": summary.get("requestsPerSec"),
        "p50_ms": None if pct.get("p50") is None else pct["p50"] * 1000,
        "p99_ms": None if pct.get("p99") is None else pct["p99"] * 1000,
        "statuses": statuses,
        "errors": result.get("errorDistribution", {}),
        "responses": answered,
        "cpu_ms_per_request": (after["cpu_s"] - before["cpu_s"]) * 1000 / max(answered, 1),
        "command": generic(command, gateway),
    }


def generic(command, gateway):
    """The command as results.json shows it: repository paths relative, tokens elided."""
    words = []
    for w in command:
        if w.startswith(ROOT):
            w = os.path.relpath(w, ROOT)
        if w.startswith("authorization: Bearer "):
            w = "authorization: Bearer <token>"
        words.append(w.replace(gateway.base, f"http://127.0.0.1:<{gateway.name} port>"))
    return " ".join(words)


def run_case(gateways, case, opts):
    gateway = gateways[case.gateway]
    headers = headers_of(case)  # one set of tokens for the check and the load
    for _ in range(case.spend):
        once(gateway, case, headers)
    status, code = once(gateway, case, headers)
    checked = status == case.status and (case.code is None or code == case.code)
    result = {"name": case.name, "gateway": case.gateway, "expected": {"status": case.status, "code": case.code},
              "answered": {"status": status, "code": code}, "as_expected": checked}
    result.update(oha(gateway, case, headers, opts))
    print(f"{'ok ' if checked else 'ODD'} {case.name}: {status} {code}, "
          f"{result['rps']:.0f}/s, p50 {fmt(result['p50_ms'], 2)} ms", file=sys.stderr)
    return result


# ---------------------------------------------------------------- report


def fmt(value, digits=1):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def section(results):
    m = results["machine"]
    lines = [BEGIN, "", "## Refusing hostile requests (`bench/hostile.py`)", "",
             f"- Machine: {m['arch']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}",
             f"- Date: {results['date']}; command: `{results['command']}`; load generator: "
             f"{results['load_generator']}; {results['version']} (`{results['binary']}`)",
             f"- Each case: oha for {results['settings']['duration_s']} s at "
             f"{results['settings']['connections']} connections against one gateway "
             "(configs in `bench/hostile/*.toml`; providers on one `switchyard sandbox` process). "
             "The requests are the rows of `tests/hostile.rs`; every case's answer was checked once "
             "before its load run. CPU is the gateway process's, per answered request.",
             f"- Upstream calls made by all the refusals together: **{results['upstream_calls_during_refusals']}**.",
             "- Raw figures and every oha command: [hostile.json](hostile.json).", "",
             "| request | answer | requests/s | p50 ms | p99 ms | CPU ms per request |",
             "|---|---|---|---|---|---|"]
    for r in results["reference"] + results["cases"]:
        answer = f"{r['answered']['status']} {r['answered']['code'] or ''}".strip()
        if not r["as_expected"]:
            answer += f" (expected {r['expected']['status']} {r['expected']['code'] or ''})".rstrip()
        lines.append(f"| {r['name']} | {answer} | {fmt(r['rps'], 0)} | {fmt(r['p50_ms'], 2)} | "
                     f"{fmt(r['p99_ms'], 2)} | {fmt(r['cpu_ms_per_request'], 3)} |")
    executed = results["reference"][-1]["cpu_ms_per_request"]
    costliest = sorted(results["cases"], key=lambda r: -r["cpu_ms_per_request"])[:4]
    lines += ["", "Costliest cases, in CPU per request next to the executed valid query's: " + ", ".join(
        f"{r['name']} {fmt(r['cpu_ms_per_request'] / executed, 0)}×" for r in costliest) + "."]
    lines += ["", "Resident memory of each gateway (VmRSS, and its peak VmHWM), MiB:", "",
              "| gateway | RSS before | RSS after | peak before | peak after |", "|---|---|---|---|---|"]
    for name, mem in results["memory"].items():
        b, a = mem["before"], mem["after"]
        lines.append(f"| {name} | {fmt(b['rss_kib'] / 1024)} | {fmt(a['rss_kib'] / 1024)} | "
                     f"{fmt(b['hwm_kib'] / 1024)} | {fmt(a['hwm_kib'] / 1024)} |")
    lines += ["", "Not sent by oha: " + "; ".join(f"{k} ({v})" for k, v in results["skipped"].items()) + ".",
              "", END]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=3, help="seconds of load per case")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the RESULTS.md section from hostile.json without running anything")
    opts = parser.parse_args()
    if opts.report_only:
        results = json.load(open(os.path.join(opts.out, "hostile.json")))
        write_section(os.path.join(opts.out, "RESULTS.md"), section(results), BEGIN, END)
        return
    os.environ["PATH"] = os.path.join(TOOLS, "bin") + os.pathsep + os.environ["PATH"]
    if not os.path.exists(BINARY):
        sys.exit(f"{BINARY} is missing: cargo build --release")
    cases = [c for c in CASES if opts.only in c.name]

    sandbox = Sandbox()
    gateways = {}
    try:
        for name in ("main", "batching", "trusted"):
            gateways[name] = Gateway(name, sandbox)
        # Warm the reference query into the response cache.
        once(gateways["main"], REFERENCE[0], headers_of(REFERENCE[0]))
        before = {name: gw.stats() for name, gw in gateways.items()}
        calls_before = sandbox.calls()
        results_cases = [run_case(gateways, c, opts) for c in cases]
        calls_after = sandbox.calls()
        reference = [run_case(gateways, c, opts) for c in REFERENCE]
        after = {name: gw.stats() for name, gw in gateways.items()}
    finally:
        for gw in gateways.values():
            gw.stop()
        sandbox.close()

    results = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "command": "python3 bench/hostile.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
        "load_generator": oha_version(),
        "version": subprocess.run([BINARY, "--version"], capture_output=True, text=True).stdout.strip(),
        "binary": os.path.relpath(BINARY, ROOT),
        "settings": {"duration_s": opts.duration, "connections": opts.connections},
        "upstream_calls_during_refusals": sum(calls_after.values()) - sum(calls_before.values()),
        "memory": {name: {"before": before[name], "after": after[name]} for name in gateways},
        "reference": reference,
        "cases": results_cases,
        "skipped": SKIPPED,
    }
    with open(os.path.join(opts.out, "hostile.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_section(os.path.join(opts.out, "RESULTS.md"), section(results), BEGIN, END)
    odd = [r["name"] for r in results_cases if not r["as_expected"]]
    print(f"wrote hostile.json and RESULTS.md; {len(results_cases)} cases"
          + (f", answered otherwise than expected: {odd}" if odd else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
