//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its Prometheus
//! exporter: one recorder per process, installed on first use. Names follow DESIGN:
//! `switchyard_` prefix, a `provider` label on everything about a provider.
//!
//! * `switchyard_upstream_requests_total{provider,endpoint,outcome}`: every attempt sent to a
//!   provider; `outcome` is `ok` or the attempt's error code (`UPSTREAM_UNAVAILABLE`, ...).
//! * `switchyard_upstream_request_duration_seconds{provider,endpoint}`: each attempt's time.
//! * `switchyard_build_info{version}` (1) and `switchyard_uptime_seconds`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const UPSTREAM_REQUESTS: &str = "switchyard_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "switchyard_upstream_request_duration_seconds";

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

/// The exposition text of every metric so far.
pub fn render() -> String {
    let exporter = exporter();
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
