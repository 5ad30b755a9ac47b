//! The HTTP server: an accept loop on hyper-util's auto (HTTP/1.1 and h2c) connection builder,
//! because `axum::serve` exposes none of hyper's connection settings. Its rules:
//!
//! 1. At most `max_connections` connections are served at once. At the cap the loop stops
//!    accepting: further connections wait in the kernel's listen backlog until one closes.
//! 2. A new connection must deliver its first request head within `header_read_timeout` or
//!    it is dropped (hyper does not time the bytes it reads to tell HTTP/1 from HTTP/2). hyper
//!    times every later HTTP/1 head itself, from the moment the connection goes idle: an
//!    HTTP/1.1 keep-alive connection waits at most `header_read_timeout` for its next request.
//! 3. A request head may have at most `max_headers` fields and `max_header_bytes` bytes
//!    (HTTP/2: a header list of that size); hyper answers larger ones `431` itself.
//! 4. A request body must be in within `body_read_timeout` of its head: reading it after that
//!    fails with [`BodyReadTimeout`], which `/graphql` answers `408 REQUEST_TIMEOUT`.
//! 5. A connection with no request in flight for `idle_timeout` is closed gracefully (HTTP/2:
//!    GOAWAY); if it still has not finished `idle_timeout` later, it is dropped.
//! 6. Every request carries the peer's address as `ConnectInfo<SocketAddr>`.
//! 7. On shutdown the listener is closed (new connections are refused), every connection is
//!    asked to finish gracefully, and those still open after `shutdown_grace` are dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::config::ServerConfig;

/// The smallest request-head limit hyper's HTTP/1 read buffer allows.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The connection-level limits (see the module's rules).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_headers: usize,
    pub max_header_bytes: usize,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

impl From<&ServerConfig> for ServerLimits {
    fn from(config: &ServerConfig) -> Self {
        let ms = Duration::from_millis;
        ServerLimits {
            header_read_timeout: ms(config.header_read_timeout_ms),
            body_read_timeout: ms(config.body_read_timeout_ms),
            idle_timeout: ms(config.idle_timeout_ms),
            max_headers: config.max_headers,
            max_header_bytes: config.max_header_bytes,
            max_connections: config.max_connections,
            shutdown_grace: ms(config.shutdown_grace_ms),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains the connections (at
/// most `limits.shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(connection_builder(&limits));
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop, _) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut slot: Option<OwnedSemaphorePermit> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = connections.join_next() => {
                if let Err(err) = done
                    && err.is_panic()
                {
                    tracing::error!(?err, "a connection's task panicked");
                }
            }
            permit = slots.clone().acquire_owned(), if slot.is_none() => slot = permit.ok(),
            accepted = listener.accept(), if slot.is_some() => match accepted {
                Ok((stream, peer)) => {
                    let Some(permit) = slot.take() else { continue };
                    connections.spawn(serve_connection(Connection {
                        builder: builder.clone(),
                        router: router.clone(),
                        limits: limits.clone(),
                        stop: stop.subscribe(),
                        stream,
                        peer,
                        _slot: permit,
                    }));
                }
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    // Out of file descriptors and the like: accepting again at once would
                    // spin on the same error.
                    tracing::error!(%err, "cannot accept connections; retrying in a second");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut shutdown => break,
                    }
                }
            },
        }
    }
    drop(listener);
    stop.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "shutdown grace is over; closing the connections still busy"
        );
    }
    connections.shutdown().await;
}

/// hyper's connection settings for both protocols.
fn connection_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        // hyper-util's auto builder has no `max_header_size`: the head must fit the read
        // buffer instead, which hyper answers 431 when full of an unfinished head.
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // HTTP/2's keep-alive: a peer that stops answering pings is gone, even with a stream
        // open; idle connections are closed by `idle_timeout` as for HTTP/1.
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// One accepted connection and what serving it needs.
struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    limits: Arc<ServerLimits>,
    stop: watch::Receiver<bool>,
    stream: TcpStream,
    peer: SocketAddr,
    /// Held until the connection closes: one of `max_connections`.
    _slot: OwnedSemaphorePermit,
}

async fn serve_connection(connection: Connection) {
    let Connection {
        builder,
        router,
        limits,
        mut stop,
        stream,
        peer,
        _slot,
    } = connection;
    // Request/response exchanges are small; waiting to coalesce them only adds latency.
    let _ = stream.set_nodelay(true);
    let (in_flight, mut requests) = watch::channel(0usize);
    let in_flight = Arc::new(in_flight);
    let body_read_timeout = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let guard = InFlight::enter(in_flight.clone());
        request.extensions_mut().insert(ConnectInfo(peer));
        let deadline = Instant::now() + body_read_timeout;
        let request = request.map(|body| Body::new(DeadlineBody::new(body, deadline)));
        let response = router.clone().oneshot(request);
        async move {
            let response: Result<Response<Body>, Infallible> = response.await;
            drop(guard);
            response
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let went_idle = idle(
        &mut requests,
        limits.header_read_timeout,
        limits.idle_timeout,
    );
    tokio::pin!(went_idle);
    let linger = tokio::time::sleep(limits.idle_timeout);
    tokio::pin!(linger);
    let (mut closing, mut lingering) = (false, false);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(%peer, %err, "connection ended with an error");
                }
                return;
            }
            state = &mut went_idle, if !closing => {
                if state == Idle::BeforeFirstRequest {
                    tracing::debug!(%peer, "no request head in time; dropping the connection");
                    return;
                }
                closing = true;
                lingering = true;
                conn.as_mut().graceful_shutdown();
                linger.as_mut().reset(Instant::now() + limits.idle_timeout);
            }
            _ = stop.wait_for(|stop| *stop), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = &mut linger, if lingering => return,
        }
    }
}

/// Why a connection went idle.
#[derive(Debug, PartialEq)]
enum Idle {
    /// It has not started a request yet.
    BeforeFirstRequest,
    /// Its last request finished long ago.
    BetweenRequests,
}

/// Resolves when the connection has had no request in flight for its allowance: `first`
/// until its first request starts, `between` after that. `requests` counts the requests in
/// flight.
async fn idle(requests: &mut watch::Receiver<usize>, first: Duration, between: Duration) -> Idle {
    let mut allowance = first;
    let mut state = Idle::BeforeFirstRequest;
    loop {
        if requests.wait_for(|n| *n == 0).await.is_err() {
            // The service is gone (the connection was upgraded): nothing to time any more.
            return std::future::pending().await;
        }
        match tokio::time::timeout(allowance, requests.changed()).await {
            Err(_elapsed) => return state,
            Ok(Ok(())) => {
                state = Idle::BetweenRequests;
                allowance = between;
            }
            Ok(Err(_closed)) => return std::future::pending().await,
        }
    }
}

/// One request in flight on a connection, from its head to its response.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn enter(count: Arc<watch::Sender<usize>>) -> Self {
        count.send_modify(|n| *n += 1);
        InFlight(count)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        err.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Reading a request body failed because it was not all in by `server.body_read_timeout_ms`
/// after its head.
#[derive(Debug)]
pub struct BodyReadTimeout;

impl std::fmt::Display for BodyReadTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body was not received in time")
    }
}

impl std::error::Error for BodyReadTimeout {}

/// A request body that fails with [`BodyReadTimeout`] once its deadline has passed.
///
/// Hand-written because tower-http's `TimeoutBody` restarts its timer on every frame: a body
/// trickling in a byte at a time would never trip it. This deadline is for the whole body.
struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Armed on the first wait, so a body never read costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> DeadlineBody<B> {
    fn new(inner: B, deadline: Instant) -> Self {
        DeadlineBody {
            inner,
            deadline,
            timer: None,
        }
    }
}

impl<B> hyper::body::Body for DeadlineBody<B>
where
    B: hyper::body::Body + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = B::Data;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        // What has arrived is taken even past the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyReadTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
