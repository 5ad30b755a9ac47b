//! The HTTP server's connection limits as a client meets them: slow request heads and bodies,
//! idle keep-alive connections, oversized heads, the connection cap, the peer address handed
//! to handlers, and graceful shutdown (in process, and of the binary on SIGTERM).

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use providers::sandbox::FaultPlan;
use serde_json::{Value, json};
use support::{TestGateway, poll_until};
use switchyard::config::Config;
use switchyard::http::server::{self, ServerLimits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A bound for things that must happen, far above what they take.
const WITHIN: Duration = Duration::from_secs(10);

/// The default config with `edit` applied to its `[server]` table.
fn config(edit: impl FnOnce(&mut switchyard::config::ServerConfig)) -> Config {
    let mut config = Config::default();
    edit(&mut config.server);
    config
}

/// An HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one response: its head, then a `Content-Length` body (or up to EOF without one).
/// `None` when the connection closes before a whole head arrived.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    let mut body = buf[head_end..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body.extend_from_slice(&chunk[..n]),
                }
            }
        }
        None => {
            let _ = stream.read_to_end(&mut body).await;
        }
    }
    Some(RawResponse { status, head, body })
}

/// Whether the server has closed `stream`: reads until EOF or a reset, failing the test if
/// that takes longer than `within` or if the server sends anything.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(n)) => panic!(
            "the server answered instead of closing: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => panic!("the connection is still open after {within:?}"),
    }
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: gateway\r\n\r\n";

/// Sends `GET /healthz` on `stream` and reads the answer.
async fn healthz(stream: &mut TcpStream) -> RawResponse {
    stream.write_all(HEALTHZ).await.expect("request sent");
    read_response(stream).await.expect("an answer")
}

#[tokio::test]
async fn a_request_head_sent_slowly_is_cut_off_and_holds_nothing() {
    let gw = TestGateway::start_with(config(|s| s.header_read_timeout_ms = 300)).await;
    let addr = gw.gateway.addr;

    // A byte every 50 ms: the whole head would take about 2 s.
    let stream = TcpStream::connect(addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        for byte in HEALTHZ {
            ticks.tick().await;
            if writer.write_all(&[*byte]).await.is_err() {
                return false;
            }
        }
        true
    });
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(WITHIN, reader.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "no answer to an incomplete head: {read:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "closed after {waited:?}, expected about 300 ms"
    );
    assert!(
        !trickle.await.expect("trickle task"),
        "the head never got through"
    );

    // A connection that sends nothing at all is closed in the same time.
    let mut silent = TcpStream::connect(addr).await.expect("connects");
    let started = Instant::now();
    closed_by_server(&mut silent, WITHIN).await;
    assert!(started.elapsed() >= Duration::from_millis(250));

    // The server is not held up by either.
    let mut fresh = TcpStream::connect(addr).await.expect("connects");
    assert_eq!(healthz(&mut fresh).await.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    // hyper times the wait for the next head from the moment the connection goes idle, so the
    // much longer idle timeout never comes into play for HTTP/1.1.
    let gw = TestGateway::start_with(config(|s| {
        s.header_read_timeout_ms = 300;
        s.idle_timeout_ms = 60_000;
    }))
    .await;
    let mut stream = TcpStream::connect(gw.gateway.addr).await.expect("connects");
    for _ in 0..2 {
        let answer = healthz(&mut stream).await;
        assert_eq!(answer.status, 200, "{}", answer.head);
        assert_eq!(answer.body, b"ok");
    }
    let idle_since = Instant::now();
    closed_by_server(&mut stream, WITHIN).await;
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(250) && idle < Duration::from_secs(5),
        "closed after {idle:?} idle, expected about 300 ms (not the 60 s idle timeout)"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_idle_timeout() {
    let gw = TestGateway::start_with(config(|s| {
        s.header_read_timeout_ms = 5_000;
        s.idle_timeout_ms = 300;
    }))
    .await;
    let stream = TcpStream::connect(gw.gateway.addr).await.expect("connects");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2c with prior knowledge");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/healthz", gw.gateway.addr))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let idle_since = Instant::now();
    tokio::time::timeout(WITHIN, connection)
        .await
        .expect("the server closes the idle connection")
        .expect("connection task")
        .expect("closed cleanly (GOAWAY), not reset");
    let idle = idle_since.elapsed();
    assert!(
        idle >= Duration::from_millis(250),
        "closed after {idle:?} idle, expected about 300 ms"
    );
}

#[tokio::test]
async fn a_request_body_that_trickles_in_is_answered_408_in_the_error_contract() {
    let gw = TestGateway::start_with(config(|s| s.body_read_timeout_ms = 300)).await;
    let stream = TcpStream::connect(gw.gateway.addr).await.expect("connects");
    let (mut reader, mut writer) = stream.into_split();
    let body = json!({ "query": "{ categories { slug } }", "padding": "x".repeat(40) }).to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.expect("head sent");
    // A byte every 50 ms: the whole body would take about 4 s.
    let trickle = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        for byte in body.into_bytes() {
            ticks.tick().await;
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let answer = tokio::time::timeout(WITHIN, read_response(&mut reader))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let waited = started.elapsed();
    trickle.abort();
    assert_eq!(answer.status, 408, "{}", answer.head);
    let body = answer.json();
    assert_eq!(body["errors"][0]["extensions"]["code"], "REQUEST_TIMEOUT");
    assert!(body["errors"][0]["message"].is_string());
    assert!(
        body.get("data").is_none(),
        "rejected before execution: {body}"
    );
    assert!(
        waited < Duration::from_millis(2000),
        "answered after {waited:?}, expected about 300 ms"
    );
    assert_eq!(gw.sandbox("catalog").total(), 0, "no provider was called");

    // A body sent at once is unaffected.
    let ok = gw
        .query("{ product(id: \"1\") { title } }", json!({}))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );
}

/// `GET /healthz` with `extra` header lines, on a fresh connection; the status the client
/// reads, or `None` when the connection fails before an answer arrives.
async fn healthz_with_headers(addr: SocketAddr, extra: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!("GET /healthz HTTP/1.1\r\nhost: gateway\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let answer = tokio::time::timeout(WITHIN, read_response(&mut stream))
        .await
        .expect("an answer or a close in time")?;
    Some(answer.status)
}

#[tokio::test]
async fn request_heads_over_the_header_limits_are_answered_431() {
    let gw = TestGateway::start_with(config(|s| {
        s.max_headers = 20;
        s.max_header_bytes = 8192;
    }))
    .await;
    let addr = gw.gateway.addr;
    let headers = |n: usize| -> String { (0..n).map(|i| format!("x-h{i}: v\r\n")).collect() };

    // `host` and 19 more: at the limit.
    assert_eq!(healthz_with_headers(addr, &headers(19)).await, Some(200));
    assert_eq!(healthz_with_headers(addr, &headers(20)).await, Some(431));

    // Just under 8 KiB of head is served; over it, 431.
    let filler = |n: usize| format!("x-filler: {}\r\n", "a".repeat(n));
    assert_eq!(healthz_with_headers(addr, &filler(7900)).await, Some(200));
    assert_eq!(healthz_with_headers(addr, &filler(8200)).await, Some(431));

    // A real client sees the same 431 (reqwest sends the head and reads the answer).
    let response = gw
        .client
        .get(format!("{}/healthz", gw.base_url))
        .header("x-filler", "a".repeat(10_000))
        .send()
        .await
        .expect("an answer, not a reset");
    assert_eq!(response.status(), 431);
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let gw = TestGateway::start_with(config(|s| s.max_connections = 2)).await;
    let addr = gw.gateway.addr;
    let mut first = TcpStream::connect(addr).await.expect("connects");
    let mut second = TcpStream::connect(addr).await.expect("connects");
    assert_eq!(healthz(&mut first).await.status, 200);
    assert_eq!(healthz(&mut second).await.status, 200);

    // The kernel completes the handshake (listen backlog), but the gateway does not take the
    // connection: its request goes unanswered while both others are open.
    let mut third = TcpStream::connect(addr)
        .await
        .expect("queued in the backlog");
    third.write_all(HEALTHZ).await.expect("request queued");
    let early = tokio::time::timeout(Duration::from_millis(300), read_response(&mut third)).await;
    assert!(early.is_err(), "served past the cap: {early:?}");

    // Both held connections still work; closing one lets the third in.
    assert_eq!(healthz(&mut second).await.status, 200);
    drop(first);
    let answer = tokio::time::timeout(WITHIN, read_response(&mut third))
        .await
        .expect("served once a slot is free")
        .expect("an answer");
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn every_request_carries_the_peer_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listens");
    let addr = listener.local_addr().expect("address");
    let router = Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    );
    let limits = ServerLimits::from(&Config::default().server);
    let serving = tokio::spawn(server::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let local = stream.local_addr().expect("local address");
    stream
        .write_all(b"GET /peer HTTP/1.1\r\nhost: gateway\r\n\r\n")
        .await
        .expect("request sent");
    let answer = read_response(&mut stream).await.expect("an answer");
    assert_eq!(answer.status, 200, "{}", answer.head);
    assert_eq!(String::from_utf8_lossy(&answer.body), local.to_string());
    serving.abort();
}

/// Starts `{ product(id: "1") { title } }` in the background, with the catalog answering in
/// `latency_ms`, and returns once the catalog has the call.
async fn slow_request_in_flight(
    gw: &TestGateway,
    latency_ms: u64,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    gw.set_faults(
        "catalog",
        FaultPlan {
            latency_ms,
            ..FaultPlan::default()
        },
    );
    let request = gw
        .client
        .post(format!("{}/graphql", gw.base_url))
        .json(&json!({ "query": "{ product(id: \"1\") { title } }" }))
        .send();
    let in_flight = tokio::spawn(request);
    let catalog = gw.sandbox("catalog").clone();
    poll_until("the catalog has the call", WITHIN, || {
        let total = catalog.total();
        async move { (total >= 1).then_some(()) }
    })
    .await;
    in_flight
}

/// Polls until a new connection to `addr` is refused.
async fn until_refused(addr: SocketAddr) {
    poll_until("new connections are refused", WITHIN, || async move {
        TcpStream::connect(addr).await.is_err().then_some(())
    })
    .await;
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish_and_refuses_new_connections() {
    let gw = TestGateway::start_with(Config::default()).await;
    let addr = gw.gateway.addr;
    let in_flight = slow_request_in_flight(&gw, 1_000).await;

    let TestGateway { gateway, .. } = gw;
    let stopping = tokio::spawn(gateway.shutdown());
    until_refused(addr).await;
    assert!(
        !in_flight.is_finished(),
        "the slow request is still in flight when new connections are refused"
    );

    let response = in_flight
        .await
        .expect("request task")
        .expect("the request in flight is answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );
    tokio::time::timeout(WITHIN, stopping)
        .await
        .expect("the gateway stops once drained")
        .expect("shutdown task");
}

#[tokio::test]
async fn shutdown_gives_up_on_requests_still_running_after_the_grace() {
    let gw = TestGateway::start_with(config(|s| s.shutdown_grace_ms = 300)).await;
    let in_flight = slow_request_in_flight(&gw, 8_000).await;
    let TestGateway { gateway, .. } = gw;
    let started = Instant::now();
    tokio::time::timeout(WITHIN, gateway.shutdown())
        .await
        .expect("the gateway stops after the grace");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(3000),
        "stopped after {took:?}, expected about 300 ms"
    );
    let outcome = in_flight.await.expect("request task");
    assert!(
        outcome.is_err(),
        "the connection was closed under the request: {outcome:?}"
    );
}

/// The gateway binary, killed when the test ends, pass or fail.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_drains_in_flight_requests_on_sigterm_then_exits() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The catalog in this process, so that the test can slow it down.
    let catalog = switchyard::sandbox::Sandboxes::start([127, 0, 0, 1].into(), None, &["catalog"])
        .await
        .expect("catalog sandbox");
    let catalog = catalog.get("catalog").expect("catalog");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut gateway = Process(
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("SWITCHYARD__SERVER__LISTEN", addr.to_string())
            .env(
                "SWITCHYARD__PROVIDERS__CATALOG__BASE_URL",
                catalog.base_url(),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the gateway starts"),
    );
    let client = reqwest::Client::new();
    poll_until("the gateway is up", Duration::from_secs(30), || {
        let up = client.get(format!("http://{addr}/healthz")).send();
        async move { up.await.ok().filter(|r| r.status().is_success()).map(drop) }
    })
    .await;

    catalog.handle.set_faults(FaultPlan {
        latency_ms: 1_000,
        ..FaultPlan::default()
    });
    let in_flight = tokio::spawn(
        client
            .post(format!("http://{addr}/graphql"))
            .json(&json!({ "query": "{ product(id: \"1\") { title } }" }))
            .send(),
    );
    poll_until("the catalog has the call", WITHIN, || {
        let total = catalog.handle.total();
        async move { (total >= 1).then_some(()) }
    })
    .await;

    let kill = Command::new("kill")
        .args(["-TERM", &gateway.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    until_refused(addr).await;
    assert!(!in_flight.is_finished(), "still in flight when refusing");

    let response = in_flight
        .await
        .expect("request task")
        .expect("the request in flight is answered");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );

    let status = poll_until("the gateway exits", WITHIN, || {
        let exited = gateway.0.try_wait().ok().flatten();
        async move { exited }
    })
    .await;
    assert!(status.success(), "exit status {status}");
}

#[test]
fn server_limits_must_be_positive_and_are_named() {
    for key in [
        "header_read_timeout_ms",
        "body_read_timeout_ms",
        "idle_timeout_ms",
        "max_headers",
        "max_header_bytes",
        "max_connections",
        "shutdown_grace_ms",
    ] {
        let err = Config::from_toml_str(&format!("[server]\n{key} = 0\n"))
            .expect_err("0 is refused")
            .to_string();
        assert!(err.contains(&format!("server.{key}")), "{key}: {err}");
    }
    let err = Config::from_toml_str("[server]\nmax_header_bytes = 4096\n")
        .expect_err("below hyper's smallest read buffer")
        .to_string();
    assert!(err.contains("server.max_header_bytes"), "{err}");
}
