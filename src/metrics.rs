//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its Prometheus
//! exporter: one recorder per process, installed on first use. Names follow DESIGN:
//! `switchyard_` prefix, a `provider` label on everything about a provider.
//!
//! * `switchyard_upstream_requests_total{provider,endpoint,outcome}`: every attempt sent to a
//!   provider; `outcome` is `ok` or the attempt's error code (`UPSTREAM_UNAVAILABLE`, ...).
//! * `switchyard_upstream_request_duration_seconds{provider,endpoint}`: each attempt's time.
//! * `switchyard_cache_lookups_total{provider,entity,result}`: entity-cache lookups, `result`
//!   `hit`, `stale` (served while refreshed), `negative` (the provider has none) or `miss`.
//! * `switchyard_circuit_state{provider}` (0 closed, 1 half-open, 2 open) and
//!   `switchyard_quota_remaining{provider}`, read at each scrape.
//! * `switchyard_build_info{version}` (1) and `switchyard_uptime_seconds`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::upstream::Upstreams;
use crate::upstream::breaker::BreakerState;

pub const UPSTREAM_REQUESTS: &str = "switchyard_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "switchyard_upstream_request_duration_seconds";
pub const CACHE_LOOKUPS: &str = "switchyard_cache_lookups_total";

/// Upstream latency buckets, in seconds: from a cache-close 5 ms to the 10 s deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct Exporter {
    handle: Option<PrometheusHandle>,
    started: Instant,
}

fn exporter() -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(|err| tracing::warn!(%err, "metrics are off: no recorder"))
            .ok();
        metrics::describe_counter!(
            UPSTREAM_REQUESTS,
            "Attempts sent to a provider, by outcome (ok or the error code)"
        );
        metrics::describe_histogram!(
            UPSTREAM_DURATION,
            metrics::Unit::Seconds,
            "Time of each attempt sent to a provider"
        );
        metrics::gauge!("switchyard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Exporter {
            handle,
            started: Instant::now(),
        }
    })
}

/// Installs the recorder (once per process), so that what happens from now on is counted.
pub fn init() {
    exporter();
}

/// The exposition text of every metric so far, with each provider's breaker and quota as
/// they are now.
pub fn render(upstreams: &Upstreams) -> String {
    let exporter = exporter();
    for provider in &upstreams.providers {
        let state = match provider.breaker.state() {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!("switchyard_circuit_state", "provider" => provider.name).set(state);
        if let Some(left) = provider.quota.remaining() {
            metrics::gauge!("switchyard_quota_remaining", "provider" => provider.name)
                .set(f64::from(left));
        }
    }
    metrics::gauge!("switchyard_uptime_seconds").set(exporter.started.elapsed().as_secs_f64());
    exporter
        .handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// One attempt sent to `provider`'s `endpoint`, which ended with `outcome` after `took`.
pub fn upstream_attempt(
    provider: &'static str,
    endpoint: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    metrics::counter!(UPSTREAM_REQUESTS, "provider" => provider, "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(UPSTREAM_DURATION, "provider" => provider, "endpoint" => endpoint)
        .record(took.as_secs_f64());
}

/// One batch's entity-cache lookups of `provider`'s `entity`, by result.
pub fn cache_lookups(
    provider: &'static str,
    entity: &'static str,
    results: [(&'static str, u64); 4],
) {
    for (result, n) in results {
        if n > 0 {
            metrics::counter!(CACHE_LOOKUPS, "provider" => provider, "entity" => entity, "result" => result)
                .increment(n);
        }
    }
}
