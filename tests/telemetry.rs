//! Traces and logs, through the `switchyard` binary as an operator runs it: its spans
//! exported over OTLP to a receiver in this test, the W3C trace context taken from the client
//! and passed on to the providers, a request id on every log line written while serving a
//! request, and no secret anywhere in what the gateway writes, exports or answers.
//!
//! The providers are the sandbox simulators, started here behind a gate that notes the
//! `traceparent` and `Authorization` each request carried, and that swaps this test's own
//! provider credentials for the sandbox's (so that the secrets are the test's, known only to
//! it) unless told to refuse them.

#[path = "support/otlp.rs"]
mod otlp;
mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use otlp::{OtlpReceiver, ReceivedSpan};
use providers::sandbox::{FaultPlan, SandboxHandle};
use serde_json::{Value, json};
use sha2::Digest as _;
use support::{jwt, poll_until};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const STOREFRONT: &str = include_str!("../schema/operations/storefront.graphql");
const PROVIDERS: [&str; 5] = ["catalog", "frankfurter", "erapi", "inventory", "reviews"];
/// `SpanKind` numbers in OTLP.
const SERVER: i32 = 2;
const CLIENT: i32 = 3;

/// A random hex string, so that each secret is this run's own.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}

/// The provider credentials the gateway is given: the test's, never the sandbox's.
struct ProviderSecrets {
    inventory_client_id: String,
    inventory_client_secret: String,
    reviews_api_key: String,
}

impl ProviderSecrets {
    /// Fresh random ones.
    fn new() -> Arc<Self> {
        Arc::new(ProviderSecrets {
            inventory_client_id: unique("inv-id"),
            inventory_client_secret: unique("inv-secret"),
            reviews_api_key: unique("reviews-key"),
        })
    }
}

/// What one sandbox saw.
#[derive(Default)]
struct Seen {
    traceparents: Mutex<Vec<String>>,
    authorizations: Mutex<Vec<String>>,
    /// Requests that carried the test's credential.
    credentialed: AtomicUsize,
    /// Pass the test's credential on as it is, so that the sandbox refuses it (401).
    refuse: AtomicBool,
}

impl Seen {
    fn traceparents(&self) -> Vec<String> {
        self.traceparents.lock().unwrap().clone()
    }
}

struct Upstream {
    provider: &'static str,
    base_url: String,
    handle: SandboxHandle,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Gate {
    provider: &'static str,
    seen: Arc<Seen>,
    secrets: Arc<ProviderSecrets>,
}

/// Notes what the request carried; swaps the test's credential for the sandbox's.
async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let header = |request: &Request, name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(traceparent) = header(&request, "traceparent") {
        gate.seen.traceparents.lock().unwrap().push(traceparent);
    }
    if let Some(authorization) = header(&request, "authorization") {
        gate.seen.authorizations.lock().unwrap().push(authorization);
    }
    let refuse = gate.seen.refuse.load(Ordering::SeqCst);
    let api_key = header(&request, "x-api-key");
    if gate.provider == "reviews"
        && api_key.as_deref() == Some(gate.secrets.reviews_api_key.as_str())
    {
        gate.seen.credentialed.fetch_add(1, Ordering::SeqCst);
        if !refuse {
            request.headers_mut().insert(
                "x-api-key",
                HeaderValue::from_static(providers::reviews::SANDBOX_API_KEY),
            );
        }
    }
    if gate.provider == "inventory" && request.uri().path() == "/oauth/token" {
        let (mut parts, body) = request.into_parts();
        let bytes = to_bytes(body, 1 << 16).await.unwrap_or_default();
        let mut form: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let field = |form: &[(String, String)], name: &str| {
            form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        };
        let ours = field(&form, "client_id").as_deref()
            == Some(gate.secrets.inventory_client_id.as_str())
            && field(&form, "client_secret").as_deref()
                == Some(gate.secrets.inventory_client_secret.as_str());
        let mut body = bytes.to_vec();
        if ours {
            gate.seen.credentialed.fetch_add(1, Ordering::SeqCst);
            if !refuse {
                for (key, value) in &mut form {
                    match key.as_str() {
                        "client_id" => *value = providers::inventory::SANDBOX_CLIENT_ID.into(),
                        "client_secret" => {
                            *value = providers::inventory::SANDBOX_CLIENT_SECRET.into()
                        }
                        _ => {}
                    }
                }
                body = serde_urlencoded::to_string(&form).unwrap().into_bytes();
            }
        }
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        request = Request::from_parts(parts, Body::from(body));
    }
    next.run(request).await
}

async fn start_upstreams(secrets: &Arc<ProviderSecrets>) -> Vec<Upstream> {
    let mut upstreams = Vec::new();
    for provider in PROVIDERS {
        let sandbox = match provider {
            "catalog" => providers::catalog::sandbox(),
            "frankfurter" => providers::fx::frankfurter::sandbox(),
            "erapi" => providers::fx::erapi::sandbox(),
            "inventory" => providers::inventory::sandbox(),
            _ => providers::reviews::sandbox(),
        };
        let seen = Arc::new(Seen::default());
        let router = sandbox.router.layer(axum::middleware::from_fn_with_state(
            Gate {
                provider,
                seen: seen.clone(),
                secrets: secrets.clone(),
            },
            gate,
        ));
        let (addr, task) = providers::sandbox::serve(router, SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("sandbox serves");
        upstreams.push(Upstream {
            provider,
            base_url: format!("http://{addr}"),
            handle: sandbox.handle,
            seen,
            task,
        });
    }
    upstreams
}

fn upstream<'a>(upstreams: &'a [Upstream], provider: &str) -> &'a Upstream {
    upstreams.iter().find(|u| u.provider == provider).unwrap()
}

/// The `switchyard serve` process, its stderr collected line by line.
struct Gateway {
    child: Child,
    config: PathBuf,
    base_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

impl Gateway {
    /// Starts the gateway with `config` (TOML, over the built-in defaults) and exactly the
    /// environment `env` (nothing inherited), on an ephemeral port, and waits for it.
    async fn start(name: &str, config: &str, env: &[(&str, String)]) -> Gateway {
        let path = std::env::temp_dir().join(format!(
            "switchyard-telemetry-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, config).expect("write config");
        let mut command = Command::new(BIN);
        command
            .args(["--config", path.to_str().unwrap(), "serve"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_clear()
            .env("SWITCHYARD__SERVER__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("switchyard starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = std::thread::spawn({
            let lines = lines.clone();
            move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }
        });
        let mut gateway = Gateway {
            child,
            config: path,
            base_url: String::new(),
            lines,
            reader: Some(reader),
        };
        gateway.base_url = poll_until(
            "the gateway says where it listens",
            Duration::from_secs(60),
            || {
                let found = gateway.lines.lock().unwrap().iter().find_map(|line| {
                    let at = line.find("GraphQL at http://")? + "GraphQL at ".len();
                    let rest = &line[at..];
                    Some(rest[..rest.find("/graphql")?].to_owned())
                });
                let exited = found.is_none() && !matches!(gateway.child.try_wait(), Ok(None));
                assert!(!exited, "the gateway exited: {}", gateway.stderr());
                async move { found }
            },
        )
        .await;
        gateway
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// SIGTERM, as an orchestrator stops it, and waits for it to exit and its stderr to end.
    async fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = poll_until(
            "the gateway exits on SIGTERM",
            Duration::from_secs(30),
            || {
                let exited = self.child.try_wait().ok().flatten();
                async move { exited }
            },
        )
        .await;
        assert!(exit.success(), "exit status {exit}: {}", self.stderr());
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
    }
}

/// One HTTP exchange as the client saw it: status, headers and body, all as text.
struct Exchange {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Exchange {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        format!("{}\n{}\n\n{}", self.status, headers.join("\n"), self.body)
    }
}

async fn exchange(request: reqwest::RequestBuilder) -> Exchange {
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text().await.unwrap_or_default();
    Exchange {
        status,
        headers,
        body,
    }
}

/// Every exchange of a test, kept to be searched.
#[derive(Default)]
struct Exchanges {
    all: Vec<Exchange>,
}

impl Exchanges {
    async fn send(&mut self, request: reqwest::RequestBuilder) -> &Exchange {
        self.all.push(exchange(request).await);
        self.all.last().unwrap()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Every provider at its sandbox here, with no cache anywhere: each query reaches them.
fn provider_config(upstreams: &[Upstream]) -> String {
    let mut config = String::from("[cache]\nresponse_max_bytes = 0\n");
    for u in upstreams {
        config += &format!(
            "[providers.{0}]\nbase_url = \"{1}\"\n[providers.{0}.cache]\nenabled = false\n",
            u.provider, u.base_url
        );
    }
    config
}

fn provider_env(secrets: &ProviderSecrets) -> Vec<(&'static str, String)> {
    vec![
        ("INVENTORY_CLIENT_ID", secrets.inventory_client_id.clone()),
        (
            "INVENTORY_CLIENT_SECRET",
            secrets.inventory_client_secret.clone(),
        ),
        ("REVIEWS_API_KEY", secrets.reviews_api_key.clone()),
    ]
}

/// Spans by id, and a span's ancestors (parent first) within the same trace.
struct Tree<'a> {
    by_id: HashMap<&'a str, &'a ReceivedSpan>,
}

impl<'a> Tree<'a> {
    fn of(spans: &'a [ReceivedSpan], trace_id: &str) -> Tree<'a> {
        Tree {
            by_id: spans
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .map(|s| (s.span_id.as_str(), s))
                .collect(),
        }
    }

    fn spans(&self) -> impl Iterator<Item = &'a ReceivedSpan> + '_ {
        self.by_id.values().copied()
    }

    fn named(&self, name: &str) -> Vec<&'a ReceivedSpan> {
        self.spans().filter(|s| s.name == name).collect()
    }

    fn ancestors(&self, span: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
        let mut out = Vec::new();
        let mut parent = span.parent_span_id.as_str();
        while let Some(next) = self.by_id.get(parent) {
            out.push(*next);
            parent = next.parent_span_id.as_str();
        }
        out
    }

    fn is_under(&self, span: &ReceivedSpan, ancestor: &ReceivedSpan) -> bool {
        self.ancestors(span)
            .iter()
            .any(|a| a.span_id == ancestor.span_id)
    }
}

/// The trace and parent ids of a `traceparent` value.
fn trace_and_parent(traceparent: &str) -> Option<(&str, &str)> {
    let mut parts = traceparent.split('-');
    let (_version, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
    Some((trace, parent))
}

#[tokio::test]
async fn spans_form_one_tree_per_request_and_the_trace_reaches_the_providers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secrets = ProviderSecrets::new();
    let upstreams = start_upstreams(&secrets).await;
    let receiver = OtlpReceiver::start().await;
    let mut env = provider_env(&secrets);
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        ("OTEL_SERVICE_NAME", "storefront-gateway".into()),
        // Nothing is exported before shutdown: what arrives is what the flush on exit sent.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000".into()),
        ("SWITCHYARD_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "debug".into()),
    ]);
    let mut gateway = Gateway::start("traces", &provider_config(&upstreams), &env).await;
    let client = client();

    // A: the storefront page, continuing the client's sampled trace, with its request id.
    let (trace_a, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let a = exchange(
        client
            .post(format!("{}/graphql", gateway.base_url))
            .header("traceparent", format!("00-{trace_a}-{client_span}-01"))
            .header("x-request-id", "storefront-a.1")
            .json(&json!({ "query": STOREFRONT })),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json().get("errors").is_none(), "{}", a.body);
    assert_eq!(a.header("x-request-id"), Some("storefront-a.1"));

    // B: no trace context, a request id that is not taken, and a provider that is down.
    upstream(&upstreams, "reviews")
        .handle
        .set_faults(FaultPlan {
            outage: true,
            ..FaultPlan::default()
        });
    let b = exchange(
        client
            .post(format!("{}/graphql", gateway.base_url))
            .header("x-request-id", "not a safe id")
            .json(&json!({ "query": "{ product(id: 1) { title reviews(first: 1) { totalCount } } }" })),
    )
    .await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(
        b.json()["errors"][0]["extensions"]["code"],
        "UPSTREAM_UNAVAILABLE"
    );
    let id_b = b.header("x-request-id").expect("a request id").to_owned();
    assert!(
        id_b.len() == 32 && id_b.bytes().all(|c| c.is_ascii_hexdigit()),
        "{id_b}"
    );

    // A scrape and a probe: polled by machines, not traced.
    for path in ["/metrics", "/healthz"] {
        let polled = exchange(client.get(format!("{}{path}", gateway.base_url))).await;
        assert_eq!(polled.status, 200, "{path}");
    }

    gateway.stop().await;
    let spans = receiver.spans();

    // One trace per request, rooted in the client's span when it sent one; none for the
    // scrape and the probe.
    let roots: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.kind == SERVER).collect();
    assert_eq!(roots.len(), 2, "{roots:#?}");
    assert!(spans.iter().all(|s| s.service == "storefront-gateway"));
    let root_a = roots
        .iter()
        .find(|s| s.attr("request_id") == Some("storefront-a.1"))
        .expect("request A's span");
    assert_eq!(root_a.trace_id, trace_a);
    assert_eq!(root_a.parent_span_id, client_span);
    assert_eq!(root_a.name, "POST /graphql");
    assert_eq!(root_a.attr("http.response.status_code"), Some("200"));
    let tree = Tree::of(&spans, trace_a);

    // The operation under the request; resolver spans (sampled) under the operation.
    let operation = tree.named("query Storefront");
    assert_eq!(operation.len(), 1, "{operation:#?}");
    let operation = operation[0];
    assert_eq!(operation.parent_span_id, root_a.span_id);
    assert_eq!(operation.attr("graphql.operation.name"), Some("Storefront"));
    assert_eq!(operation.attr("graphql.operation.type"), Some("query"));
    assert_eq!(tree.named("Query.products").len(), 1);
    for field in ["Product.price", "Product.stock", "Product.reviews"] {
        let resolvers = tree.named(field);
        assert_eq!(resolvers.len(), 20, "{field}");
        assert!(resolvers.iter().all(|r| tree.is_under(r, operation)));
    }
    assert!(
        tree.named("Product.title").is_empty(),
        "no span for a plain field"
    );

    // A span per DataLoader batch, with what the cache answered (nothing: it is off).
    let batches = tree.named("dataloader.batch");
    let loaders: BTreeSet<&str> = batches.iter().filter_map(|b| b.attr("loader")).collect();
    for loader in ["PageLoader", "RatesLoader", "StockLoader", "ReviewsLoader"] {
        assert!(loaders.contains(loader), "{loaders:?}");
    }
    for batch in &batches {
        assert!(tree.is_under(batch, operation), "{batch:#?}");
        assert_eq!(batch.attr("cache.hit"), Some("0"), "{batch:#?}");
        assert!(
            batch.attr("cache.miss").is_some_and(|m| m != "0"),
            "{batch:#?}"
        );
    }

    // Every upstream attempt under a batch, with provider, endpoint, attempt and status.
    let attempts: Vec<&ReceivedSpan> = tree.spans().filter(|s| s.kind == CLIENT).collect();
    let mut providers_called = BTreeSet::new();
    for attempt in &attempts {
        let ancestors = tree.ancestors(attempt);
        assert!(
            ancestors.iter().any(|s| s.name == "dataloader.batch"),
            "{attempt:#?}"
        );
        assert_eq!(ancestors.last().map(|r| &r.span_id), Some(&root_a.span_id));
        assert_eq!(attempt.attr("attempt"), Some("1"), "{attempt:#?}");
        assert_eq!(attempt.attr("http.response.status_code"), Some("200"));
        let endpoint = attempt.attr("endpoint").expect("endpoint");
        assert_eq!(attempt.name, endpoint);
        assert!(!endpoint.contains('?'), "a template, not a URL: {endpoint}");
        providers_called.insert(attempt.attr("provider").expect("provider"));
    }
    assert_eq!(
        providers_called,
        BTreeSet::from(["catalog", "frankfurter", "inventory", "reviews"])
    );
    let endpoints: BTreeSet<&str> = attempts.iter().filter_map(|a| a.attr("endpoint")).collect();
    assert!(endpoints.contains("POST /oauth/token"), "{endpoints:?}");

    // Each provider got the trace: a traceparent naming the attempt's span as parent.
    for provider in ["catalog", "frankfurter", "inventory", "reviews"] {
        let sent = upstream(&upstreams, provider).seen.traceparents();
        let of_a: Vec<(&str, &str)> = sent
            .iter()
            .filter_map(|t| trace_and_parent(t))
            .filter(|(trace, _)| *trace == trace_a)
            .collect();
        assert!(
            !of_a.is_empty(),
            "{provider} got no traceparent of A: {sent:?}"
        );
        for (_, parent) in of_a {
            let span = tree
                .by_id
                .get(parent)
                .expect("the parent is an exported span");
            assert_eq!(span.kind, CLIENT);
            assert_eq!(span.attr("provider"), Some(provider));
        }
    }

    // B: a trace of its own, rooted at the gateway, whose failed attempt was retried.
    let root_b = roots
        .iter()
        .find(|s| s.attr("request_id") == Some(id_b.as_str()))
        .expect("request B's span");
    assert_ne!(root_b.trace_id, trace_a);
    assert_eq!(root_b.parent_span_id, "");
    let tree_b = Tree::of(&spans, &root_b.trace_id);
    let reviews: Vec<&ReceivedSpan> = tree_b
        .spans()
        .filter(|s| s.kind == CLIENT && s.attr("provider") == Some("reviews"))
        .collect();
    assert_eq!(reviews.len(), 2, "{reviews:#?}");
    let numbers: BTreeSet<&str> = reviews.iter().filter_map(|s| s.attr("attempt")).collect();
    assert_eq!(numbers, BTreeSet::from(["1", "2"]));
    for attempt in &reviews {
        assert_eq!(attempt.attr("http.response.status_code"), Some("503"));
        assert_eq!(attempt.attr("error.type"), Some("503"));
    }
    let sent_b = upstream(&upstreams, "reviews").seen.traceparents();
    assert_eq!(
        sent_b
            .iter()
            .filter_map(|t| trace_and_parent(t))
            .filter(|(trace, _)| *trace == root_b.trace_id)
            .count(),
        2,
        "{sent_b:?}"
    );

    // Logs: JSON lines; each one written while serving a request is in that request's span.
    let stderr = gateway.stderr();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let request_ids = |line: &Value| -> Vec<String> {
        line["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["name"] == "request")
            .map(|s| s["request_id"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    for line in &lines {
        let target = line["target"].as_str().unwrap_or("");
        let ids = request_ids(line);
        assert!(
            ids.len() <= 1 && ids.iter().all(|id| !id.is_empty()),
            "{line}"
        );
        // What the gateway logs on a request's path (the outbound stack, GraphQL, the
        // request span itself) is in that request's span.
        let request_path = [
            "switchyard::upstream::retry",
            "switchyard::upstream::client",
            "switchyard::graphql",
            "switchyard::http::trace",
        ]
        .iter()
        .any(|t| target.starts_with(t));
        assert!(
            !request_path || ids.len() == 1,
            "a line without its request: {line}"
        );
    }
    let of = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| request_ids(l) == [id.to_owned()])
            .collect()
    };
    let served = |id: &str| {
        of(id)
            .iter()
            .any(|l| l["fields"]["message"] == "request served")
    };
    assert!(served("storefront-a.1") && served(&id_b));
    // The retry happened in the single-flight fetch's own task, and still names request B.
    assert!(
        of(&id_b)
            .iter()
            .any(|l| l["fields"]["message"] == "retrying upstream call"),
        "{stderr}"
    );
}

/// A config with an API key, JWTs from the test's JWKS file, and every provider here.
fn auth_config(upstreams: &[Upstream], api_key: &str) -> String {
    let sha256: String = sha2::Sha256::digest(api_key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let jwks: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests/fixtures/jwt/jwks.json"]
        .iter()
        .collect();
    format!(
        "{}\n[auth]\nanonymous = true\n[[auth.api_keys]]\nname = \"storefront-web\"\n\
         sha256 = \"{sha256}\"\nscopes = [\"inventory:read\"]\n[auth.jwt]\n\
         jwks_file = \"{}\"\nissuer = \"{}\"\naudience = \"{}\"\n\
         [auth.field_scopes]\n\"Product.stock\" = \"inventory:read\"\n",
        provider_config(upstreams),
        jwks.display(),
        jwt::ISSUER,
        jwt::AUDIENCE
    )
}

fn signed_jwt(expires_in: i64) -> String {
    let mut claims = jwt::claims("inventory:read");
    claims["exp"] = json!(jwt::now() as i64 + expires_in);
    jwt::sign(jsonwebtoken::Algorithm::RS256, "rsa-1", &claims)
}

#[tokio::test]
async fn no_secret_reaches_logs_spans_metrics_or_responses() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let secrets = ProviderSecrets::new();
    let upstreams = start_upstreams(&secrets).await;
    let receiver = OtlpReceiver::start().await;
    let api_key = unique("client-key");
    let wrong_api_key = unique("wrong-client-key");
    let admin_token = unique("admin-token");
    let wrong_admin_token = unique("wrong-admin-token");
    let (token, expired_token) = (signed_jwt(600), signed_jwt(-3600));
    let garbage_token = unique("garbage.bearer");
    let mut env = provider_env(&secrets);
    env.extend([
        ("SWITCHYARD_ADMIN_TOKEN", admin_token.clone()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("RUST_LOG", "debug".into()),
    ]);
    let mut gateway = Gateway::start("secrets", &auth_config(&upstreams, &api_key), &env).await;
    let client = client();
    let base = gateway.base_url.clone();
    let graphql = format!("{base}/graphql");
    let storefront = json!({ "query": STOREFRONT });
    let mut seen = Exchanges::default();

    // Clients with each kind of credential, good and bad.
    let as_key = client.post(&graphql).header("x-api-key", &api_key);
    assert_eq!(seen.send(as_key.json(&storefront)).await.status, 200);
    let as_key = client
        .post(&graphql)
        .header("authorization", format!("ApiKey {api_key}"));
    assert_eq!(seen.send(as_key.json(&storefront)).await.status, 200);
    let as_user = client.post(&graphql).bearer_auth(&token);
    assert_eq!(seen.send(as_user.json(&storefront)).await.status, 200);
    for bad in [
        client.post(&graphql).header("x-api-key", &wrong_api_key),
        client.post(&graphql).bearer_auth(&expired_token),
        client.post(&graphql).bearer_auth(&garbage_token),
    ] {
        assert_eq!(seen.send(bad.json(&storefront)).await.status, 401);
    }
    // A key where it does not belong, in the URL: refused, and the URL is never logged.
    let in_url = client
        .get(format!(
            "{graphql}?query=%7B__typename%7D&api_key={wrong_api_key}"
        ))
        .header("x-api-key", &wrong_api_key);
    assert_eq!(seen.send(in_url).await.status, 401);

    // Providers failing: refusing the gateway's credentials, down, limited, answering junk.
    for provider in ["inventory", "reviews"] {
        upstream(&upstreams, provider)
            .seen
            .refuse
            .store(true, Ordering::SeqCst);
    }
    let as_key = client.post(&graphql).header("x-api-key", &api_key);
    let refused = seen.send(as_key.json(&storefront)).await;
    assert_eq!(refused.status, 200);
    let answered = refused.json();
    let codes: BTreeSet<&str> = answered["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["extensions"]["code"].as_str())
        .collect();
    assert!(codes.contains("UPSTREAM_AUTH"), "{answered}");
    for (provider, faults) in [
        (
            "inventory",
            FaultPlan {
                outage: true,
                ..FaultPlan::default()
            },
        ),
        (
            "reviews",
            FaultPlan {
                rate_limited_retry_after_s: Some(1),
                ..FaultPlan::default()
            },
        ),
        (
            "catalog",
            FaultPlan {
                malformed_body: true,
                ..FaultPlan::default()
            },
        ),
    ] {
        let upstream = upstream(&upstreams, provider);
        upstream.seen.refuse.store(false, Ordering::SeqCst);
        upstream.handle.set_faults(faults);
    }
    let as_user = client.post(&graphql).bearer_auth(&token);
    let failing = seen.send(as_user.json(&storefront)).await;
    assert_eq!(
        failing.json()["errors"][0]["extensions"]["code"],
        "UPSTREAM_BAD_RESPONSE"
    );

    // The admin API, with the wrong token and the right one.
    let invalidate = format!("{base}/admin/cache/invalidate");
    let everything = json!({ "provider": "catalog" });
    let wrong = client.post(&invalidate).bearer_auth(&wrong_admin_token);
    assert_eq!(seen.send(wrong.json(&everything)).await.status, 401);
    let right = client.post(&invalidate).bearer_auth(&admin_token);
    assert_eq!(seen.send(right.json(&everything)).await.status, 200);
    for path in ["/metrics", "/readyz", "/healthz"] {
        seen.send(
            client
                .get(format!("{base}{path}"))
                .header("x-api-key", &api_key),
        )
        .await;
    }
    gateway.stop().await;

    // The secrets were in play: the providers got the test's credentials, the clients' were
    // taken, and the inventory's tokens reached it.
    for provider in ["inventory", "reviews"] {
        let seen = &upstream(&upstreams, provider).seen;
        assert!(seen.credentialed.load(Ordering::SeqCst) > 0, "{provider}");
    }
    let issued: BTreeSet<String> = upstream(&upstreams, "inventory")
        .seen
        .authorizations
        .lock()
        .unwrap()
        .iter()
        .filter_map(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .collect();
    assert!(!issued.is_empty(), "the inventory got a bearer token");

    let mut secret_values = vec![
        secrets.inventory_client_id.clone(),
        secrets.inventory_client_secret.clone(),
        secrets.reviews_api_key.clone(),
        api_key,
        wrong_api_key,
        admin_token,
        wrong_admin_token,
        garbage_token,
    ];
    // A JWT's header and claims are base64 of public facts; its signature is the secret part.
    for jwt in [&token, &expired_token] {
        secret_values.push(jwt.clone());
        secret_values.push(jwt.rsplit('.').next().unwrap().to_owned());
    }
    secret_values.extend(issued);

    let metrics = seen
        .all
        .iter()
        .find(|e| e.body.contains("switchyard_"))
        .expect("/metrics answered");
    assert!(metrics.status == 200);
    let stderr = gateway.stderr();
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|s| s.kind == CLIENT),
        "spans were exported"
    );
    assert!(stderr.contains("request_id="), "request ids are logged");
    let mut haystacks: Vec<(String, String)> = vec![("stderr".into(), stderr)];
    for (n, body) in receiver.bodies().iter().enumerate() {
        haystacks.push((
            format!("OTLP export {n}"),
            String::from_utf8_lossy(body).into_owned(),
        ));
    }
    haystacks.push(("OTLP spans".into(), format!("{spans:?}")));
    for (n, exchange) in seen.all.iter().enumerate() {
        haystacks.push((format!("response {n}"), exchange.text()));
    }
    for secret in &secret_values {
        for (what, text) in &haystacks {
            assert!(
                !text.contains(secret.as_str()),
                "{what} holds the secret {secret}"
            );
        }
    }
}
