//! Wraps a provider's simulated routes with counters, faults and the admin API, and serves it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::task::JoinHandle;

use super::admin;
use super::faults::{Before, FaultPlan};
use super::quota::FixedWindow;

/// Renders an error in the provider's own format: status, and `Retry-After` seconds if any.
pub type ErrorRenderer = fn(StatusCode, Option<u64>) -> Response;

/// Added to every request's extensions: how many requests this sandbox was serving when this
/// one arrived, itself included (the simulators that cap concurrency read it).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub in_flight: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) counters: Mutex<BTreeMap<String, u64>>,
    /// Keys asked for, per batch endpoint.
    pub(crate) keys: Mutex<BTreeMap<String, u64>>,
    /// Answers sent, by status code.
    pub(crate) statuses: Mutex<BTreeMap<u16, u64>>,
    pub(crate) faults: RwLock<FaultPlan>,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) peak_in_flight: AtomicUsize,
    pub(crate) quotas: Mutex<Vec<Arc<FixedWindow>>>,
}

/// What a provider's handlers may ask of their sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxHandle {
    pub(crate) shared: Arc<Shared>,
}

impl SandboxHandle {
    /// Whether the provider's simulated quota is switched off by the fault plan.
    pub fn quota_off(&self) -> bool {
        self.faults().quota_off
    }

    pub fn faults(&self) -> FaultPlan {
        self.shared
            .faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_faults(&self, plan: FaultPlan) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// Registers a quota window so that the admin reset starts it afresh.
    pub fn register_quota(&self, window: Arc<FixedWindow>) -> Arc<FixedWindow> {
        self.shared
            .quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(window.clone());
        window
    }

    /// Requests served per endpoint (`GET /products/{id}`) since start or the last reset.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Notes that a call to a batch endpoint asked for `n` keys.
    pub fn count_keys(&self, endpoint: &str, n: usize) {
        *self
            .shared
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_owned())
            .or_default() += n as u64;
    }

    /// Keys asked for per batch endpoint (`GET /v2/stock`) since start or the last reset.
    pub fn keys(&self) -> BTreeMap<String, u64> {
        self.shared
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn total(&self) -> u64 {
        self.counters().values().sum()
    }

    /// Answers sent by status code (`429` included) since start or the last reset.
    pub fn statuses(&self) -> BTreeMap<u16, u64> {
        self.shared
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::Relaxed)
    }

    /// Zeroes the counters and starts every quota window afresh.
    pub fn reset(&self) {
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.shared.peak_in_flight.store(0, Ordering::Relaxed);
        for q in self
            .shared
            .quotas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            q.reset();
        }
    }
}

/// A provider's simulated routes plus the shared sandbox machinery.
#[derive(Debug, Clone, Default)]
pub struct SandboxApp {
    handle: SandboxHandle,
}

#[derive(Clone)]
struct LayerState {
    handle: SandboxHandle,
    render_error: ErrorRenderer,
}

impl SandboxApp {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn handle(&self) -> SandboxHandle {
        self.handle.clone()
    }

    /// The provider's routes with counting and faults on each matched route, and the admin API.
    pub fn into_router(self, provider: Router, render_error: ErrorRenderer) -> Router {
        let state = LayerState {
            handle: self.handle.clone(),
            render_error,
        };
        // route_layer: runs after routing, so the matched path names the endpoint; the
        // outer layer (count) runs first, so injected latency counts as time in flight.
        provider
            .route_layer(middleware::from_fn_with_state(state.clone(), inject_faults))
            .route_layer(middleware::from_fn_with_state(state, count))
            .merge(admin::router(self.handle))
    }
}

async fn count(State(state): State<LayerState>, request: Request, next: Next) -> Response {
    let endpoint = match request.extensions().get::<MatchedPath>() {
        Some(p) => format!("{} {}", request.method(), p.as_str()),
        None => format!("{} {}", request.method(), request.uri().path()),
    };
    let shared = &state.handle.shared;
    *shared
        .counters
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(endpoint)
        .or_default() += 1;
    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.peak_in_flight.fetch_max(in_flight, Ordering::SeqCst);
    // Decrement even if the client goes away mid-request and this future is dropped.
    let _guard = InFlightGuard(shared.clone());
    let mut request = request;
    request.extensions_mut().insert(Arrival { in_flight });
    let response = next.run(request).await;
    *shared
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(response.status().as_u16())
        .or_default() += 1;
    response
}

struct InFlightGuard(Arc<Shared>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn inject_faults(State(state): State<LayerState>, request: Request, next: Next) -> Response {
    let plan = state.handle.faults();
    if plan.hang {
        // Accepted, never answered: the client's own timeout is all that ends it.
        std::future::pending::<()>().await;
    }
    let delay = plan.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match plan.before() {
        Before::Answer {
            status,
            retry_after,
        } => plan.date_retry_after((state.render_error)(status, retry_after)),
        Before::Proceed => plan.after(next.run(request).await).await,
    }
}

/// Binds `router` on `addr` (port 0 picks a free one) and serves it in the background.
pub async fn serve(
    router: Router,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).await {
            tracing::error!(%err, "sandbox server stopped");
        }
    });
    Ok((local, task))
}
