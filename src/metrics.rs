//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and its Prometheus
//! exporter: one recorder per process, installed on first use. Names follow DESIGN:
//! `switchyard_` prefix, a `provider` label on everything about a provider. Every
//! per-provider series exists from startup (at 0), so that alerts and dashboards see a
//! provider before its first failure.
//!
//! Per provider:
//! * `switchyard_upstream_requests_total{provider,endpoint,outcome}`: every attempt sent;
//!   `outcome` is `ok` or the attempt's error code (`UPSTREAM_UNAVAILABLE`, ...);
//!   `switchyard_upstream_request_duration_seconds{provider,endpoint}`, each attempt's time;
//!   `switchyard_upstream_response_bytes_total{provider}`, body bytes received;
//!   `switchyard_upstream_retries_total{provider}`, attempts that were retries.
//! * `switchyard_circuit_state{provider}` (0 closed, 1 half-open, 2 open, read at each
//!   scrape) and `switchyard_circuit_transitions_total{provider,to}`.
//! * `switchyard_quota_remaining{provider}` and `switchyard_quota_limit{provider}` (read at
//!   each scrape); `switchyard_quota_waits_total{provider}` and
//!   `switchyard_quota_wait_seconds{provider}`, attempts that waited for the quota (or a
//!   provider's `Retry-After`); `switchyard_quota_rejections_total{provider}`, attempts
//!   refused without a call (`RATE_LIMITED`).
//! * `switchyard_bulkhead_in_flight{provider}` and `switchyard_bulkhead_queued{provider}`.
//! * `switchyard_cache_lookups_total{provider,entity,result}`: entity-cache lookups, `result`
//!   `hit`, `stale` (served while refreshed), `negative` (the provider has none), `miss`, or
//!   `refresh` (a background refresh started).
//! * `switchyard_fields_shed_total{provider,reason}`: optional fields shed, `reason` `quota`
//!   or `budget`.
//! * `switchyard_spend_micros_total{provider,currency}` (counters are integers: millionths of
//!   the currency), `switchyard_spend_today{provider,currency}`,
//!   `switchyard_spend_this_month{provider,currency}`, and
//!   `switchyard_budget_used_ratio{provider,period}` (1 = reached) for each budget.
//!
//! Per GraphQL operation (label `operation`, see [`OperationNames`]):
//! `switchyard_graphql_requests_total`, `switchyard_graphql_errors_total{operation,code}`,
//! `switchyard_graphql_request_duration_seconds`.
//!
//! Process: `switchyard_build_info{version}` (1) and `switchyard_uptime_seconds`.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::upstream::Upstreams;
use crate::upstream::breaker::BreakerState;
use crate::upstream::health::{Attempt, CacheCounts};

pub const UPSTREAM_REQUESTS: &str = "switchyard_upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "switchyard_upstream_request_duration_seconds";
const UPSTREAM_BYTES: &str = "switchyard_upstream_response_bytes_total";
const RETRIES: &str = "switchyard_upstream_retries_total";
const CIRCUIT_STATE: &str = "switchyard_circuit_state";
const CIRCUIT_TRANSITIONS: &str = "switchyard_circuit_transitions_total";
const QUOTA_REMAINING: &str = "switchyard_quota_remaining";
const QUOTA_LIMIT: &str = "switchyard_quota_limit";
const QUOTA_WAITS: &str = "switchyard_quota_waits_total";
const QUOTA_WAIT: &str = "switchyard_quota_wait_seconds";
const QUOTA_REJECTIONS: &str = "switchyard_quota_rejections_total";
const BULKHEAD_IN_FLIGHT: &str = "switchyard_bulkhead_in_flight";
const BULKHEAD_QUEUED: &str = "switchyard_bulkhead_queued";
pub const CACHE_LOOKUPS: &str = "switchyard_cache_lookups_total";
const FIELDS_SHED: &str = "switchyard_fields_shed_total";
const SPEND: &str = "switchyard_spend_micros_total";
const SPEND_TODAY: &str = "switchyard_spend_today";
const SPEND_MONTH: &str = "switchyard_spend_this_month";
const BUDGET_USED: &str = "switchyard_budget_used_ratio";
const GRAPHQL_REQUESTS: &str = "switchyard_graphql_requests_total";
const GRAPHQL_ERRORS: &str = "switchyard_graphql_errors_total";
const GRAPHQL_DURATION: &str = "switchyard_graphql_request_duration_seconds";

/// Latency buckets, in seconds: from a cache-close 5 ms to the 10 s deadline.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Waits shorter than this are not waits (taking a free permit takes microseconds).
const WAITED: Duration = Duration::from_millis(1);

struct Exporter {
    handle: Option<PrometheusHandle>,
    started: Instant,
    operations: OperationNames,
}

fn exporter() -> &'static Exporter {
    static EXPORTER: OnceLock<Exporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(|err| tracing::warn!(%err, "metrics are off: no recorder"))
            .ok();
        describe();
        metrics::gauge!("switchyard_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        Exporter {
            handle,
            started: Instant::now(),
            operations: OperationNames::new(MAX_OPERATION_NAMES),
        }
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        UPSTREAM_REQUESTS,
        "Attempts sent to a provider, by outcome (ok or the error code)"
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Time of each attempt sent to a provider"
    );
    describe_counter!(
        UPSTREAM_BYTES,
        Unit::Bytes,
        "Body bytes received from a provider"
    );
    describe_counter!(RETRIES, "Attempts that were retries of a failed one");
    describe_gauge!(
        CIRCUIT_STATE,
        "The provider's breaker: 0 closed, 1 half-open, 2 open"
    );
    describe_counter!(CIRCUIT_TRANSITIONS, "Breaker state changes, by new state");
    describe_gauge!(
        QUOTA_REMAINING,
        "Calls the provider's quota allows now (its own report when it sends one)"
    );
    describe_gauge!(QUOTA_LIMIT, "The provider's quota: calls per window");
    describe_counter!(
        QUOTA_WAITS,
        "Attempts that waited for the provider's quota or Retry-After"
    );
    describe_histogram!(
        QUOTA_WAIT,
        Unit::Seconds,
        "How long an attempt waited for the provider's quota"
    );
    describe_counter!(
        QUOTA_REJECTIONS,
        "Attempts refused (RATE_LIMITED) without a call: no quota before the deadline"
    );
    describe_gauge!(BULKHEAD_IN_FLIGHT, "Attempts in flight to the provider");
    describe_gauge!(
        BULKHEAD_QUEUED,
        "Attempts waiting for a free slot (max_in_flight)"
    );
    describe_counter!(
        CACHE_LOOKUPS,
        "Entity-cache lookups by result: hit, stale, negative, miss, refresh"
    );
    describe_counter!(
        FIELDS_SHED,
        "Optional fields shed, by reason: quota (running low) or budget (reached)"
    );
    describe_counter!(
        SPEND,
        "Money spent on the provider, in millionths of currency"
    );
    describe_gauge!(SPEND_TODAY, "Money spent on the provider today (UTC)");
    describe_gauge!(
        SPEND_MONTH,
        "Money spent on the provider this calendar month (UTC)"
    );
    describe_gauge!(
        BUDGET_USED,
        "Share of the provider's budget used, by period (day, month); 1 = reached"
    );
    describe_counter!(GRAPHQL_REQUESTS, "GraphQL operations executed, by name");
    describe_counter!(
        GRAPHQL_ERRORS,
        "Errors in GraphQL responses, by operation and code"
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        Unit::Seconds,
        "Time to execute a GraphQL operation"
    );
    describe_gauge!(
        "switchyard_uptime_seconds",
        Unit::Seconds,
        "Time since the process started"
    );
}

/// Installs the recorder (once per process) and creates every provider's series at 0, so
/// that what happens from now on is counted.
pub fn init(upstreams: &Upstreams) {
    exporter();
    for provider in &upstreams.providers {
        let name = provider.name;
        for metric in [UPSTREAM_BYTES, RETRIES, QUOTA_WAITS, QUOTA_REJECTIONS] {
            metrics::counter!(metric, "provider" => name).absolute(0);
        }
        for to in ["open", "half-open", "closed"] {
            metrics::counter!(CIRCUIT_TRANSITIONS, "provider" => name, "to" => to).absolute(0);
        }
        for reason in ["quota", "budget"] {
            metrics::counter!(FIELDS_SHED, "provider" => name, "reason" => reason).absolute(0);
        }
        metrics::counter!(SPEND, "provider" => name, "currency" => provider.spend.currency())
            .absolute(0);
        metrics::gauge!(BULKHEAD_IN_FLIGHT, "provider" => name).set(0.0);
        metrics::gauge!(BULKHEAD_QUEUED, "provider" => name).set(0.0);
    }
}

/// The exposition text of every metric so far, with each provider's breaker, quota and
/// spend as they are now.
pub fn render(upstreams: &Upstreams) -> String {
    let exporter = exporter();
    for provider in &upstreams.providers {
        let name = provider.name;
        let state = match provider.breaker.state() {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!(CIRCUIT_STATE, "provider" => name).set(state);
        if let Some(left) = provider.quota.remaining() {
            metrics::gauge!(QUOTA_REMAINING, "provider" => name).set(f64::from(left));
        }
        if let Some(limit) = provider.quota.limit() {
            metrics::gauge!(QUOTA_LIMIT, "provider" => name).set(f64::from(limit));
        }
        let spend = provider.spend.snapshot();
        let currency = provider.spend.currency();
        metrics::gauge!(SPEND_TODAY, "provider" => name, "currency" => currency).set(spend.today);
        metrics::gauge!(SPEND_MONTH, "provider" => name, "currency" => currency)
            .set(spend.this_month);
        for (period, used) in spend.used() {
            metrics::gauge!(BUDGET_USED, "provider" => name, "period" => period.as_str()).set(used);
        }
    }
    metrics::gauge!("switchyard_uptime_seconds").set(exporter.started.elapsed().as_secs_f64());
    exporter
        .handle
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// One attempt sent to `provider`.
pub fn upstream_attempt(provider: &'static str, attempt: &Attempt) {
    let endpoint = attempt.endpoint;
    metrics::counter!(UPSTREAM_REQUESTS, "provider" => provider, "endpoint" => endpoint, "outcome" => attempt.outcome)
        .increment(1);
    metrics::histogram!(UPSTREAM_DURATION, "provider" => provider, "endpoint" => endpoint)
        .record(attempt.took.as_secs_f64());
    metrics::counter!(UPSTREAM_BYTES, "provider" => provider).increment(attempt.bytes);
}

/// One attempt of `provider` was a retry.
pub fn retried(provider: &'static str) {
    metrics::counter!(RETRIES, "provider" => provider).increment(1);
}

/// `provider`'s breaker turned `to` (`open`, `half-open`, `closed`).
pub fn breaker_transition(provider: &'static str, to: &'static str) {
    metrics::counter!(CIRCUIT_TRANSITIONS, "provider" => provider, "to" => to).increment(1);
}

/// An attempt asked `provider`'s quota to go: it was let through after `waited`, or refused.
pub fn quota_admission(provider: &'static str, waited: Duration, admitted: bool) {
    if !admitted {
        metrics::counter!(QUOTA_REJECTIONS, "provider" => provider).increment(1);
    } else if waited >= WAITED {
        metrics::counter!(QUOTA_WAITS, "provider" => provider).increment(1);
        metrics::histogram!(QUOTA_WAIT, "provider" => provider).record(waited.as_secs_f64());
    }
}

/// Keeps `provider`'s bulkhead gauge (queued or in flight) up while it lives.
pub struct BulkheadGauge(metrics::Gauge);

impl BulkheadGauge {
    pub fn queued(provider: &'static str) -> Self {
        Self::up(metrics::gauge!(BULKHEAD_QUEUED, "provider" => provider))
    }

    pub fn in_flight(provider: &'static str) -> Self {
        Self::up(metrics::gauge!(BULKHEAD_IN_FLIGHT, "provider" => provider))
    }

    fn up(gauge: metrics::Gauge) -> Self {
        gauge.increment(1.0);
        BulkheadGauge(gauge)
    }
}

impl Drop for BulkheadGauge {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// One loader batch's entity-cache lookups of `provider`'s `entity`, by result.
pub fn cache_lookups(provider: &'static str, entity: &'static str, counts: &CacheCounts) {
    for (result, n) in [
        ("hit", counts.hit),
        ("stale", counts.stale),
        ("negative", counts.negative),
        ("miss", counts.miss),
        ("refresh", counts.refresh),
    ] {
        if n > 0 {
            metrics::counter!(CACHE_LOOKUPS, "provider" => provider, "entity" => entity, "result" => result)
                .increment(n);
        }
    }
}

/// An optional field of `provider` was shed, for `reason` (`quota` or `budget`).
pub fn field_shed(provider: &'static str, reason: &'static str) {
    metrics::counter!(FIELDS_SHED, "provider" => provider, "reason" => reason).increment(1);
}

/// `micros` millionths of `currency` were spent on `provider`.
pub fn spent(provider: &'static str, currency: &'static str, micros: u64) {
    if micros > 0 {
        metrics::counter!(SPEND, "provider" => provider, "currency" => currency).increment(micros);
    }
}

/// Most distinct operation names given their own label value; later ones are `other`.
/// Clients choose names, so without a bound each new name would be a new series forever.
const MAX_OPERATION_NAMES: usize = 200;

/// The `operation` label of GraphQL metrics: the operation's name while fewer than a bound
/// of distinct names were seen, `other` after that, `anonymous` for unnamed operations.
pub struct OperationNames {
    seen: Mutex<HashSet<String>>,
    most: usize,
}

impl OperationNames {
    fn new(most: usize) -> Self {
        OperationNames {
            seen: Mutex::default(),
            most,
        }
    }

    /// The label value of an operation called `name`.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".into();
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(name) {
            return name.to_owned();
        }
        if seen.len() < self.most {
            seen.insert(name.to_owned());
            return name.to_owned();
        }
        "other".into()
    }
}

/// One GraphQL operation (`name` as the client gave it) executed in `took`, with the codes of
/// its response's errors.
pub fn operation<'a>(
    name: Option<&str>,
    took: Duration,
    error_codes: impl IntoIterator<Item = &'a str>,
) {
    let label = exporter().operations.label(name);
    metrics::counter!(GRAPHQL_REQUESTS, "operation" => label.clone()).increment(1);
    metrics::histogram!(GRAPHQL_DURATION, "operation" => label.clone()).record(took.as_secs_f64());
    for code in error_codes {
        metrics::counter!(GRAPHQL_ERRORS, "operation" => label.clone(), "code" => code.to_owned())
            .increment(1);
    }
}

/// A GraphQL request refused before execution, with `code`: counted under the operation
/// `rejected` (its name, if it has one, is the client's unchecked text).
pub fn rejected(code: &'static str) {
    metrics::counter!(GRAPHQL_REQUESTS, "operation" => "rejected").increment(1);
    metrics::counter!(GRAPHQL_ERRORS, "operation" => "rejected", "code" => code).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_bounded() {
        let names = OperationNames::new(2);
        assert_eq!(names.label(Some("A")), "A");
        assert_eq!(names.label(Some("B")), "B");
        assert_eq!(names.label(Some("C")), "other");
        assert_eq!(names.label(Some("A")), "A");
        assert_eq!(names.label(None), "anonymous");
    }
}
