//! The spans below a GraphQL operation, one per DataLoader batch and one per upstream
//! attempt, and the helpers every span of the gateway uses. Their fields name the provider,
//! the endpoint's template (never a URL: query strings may carry keys), statuses, counts and
//! error codes, never a message, header or body.

use std::future::Future;

use opentelemetry::trace::TraceContextExt as _;
use providers::{ProviderError, UpstreamResponse};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Whether `span` belongs to a trace that is sampled (and so exported).
pub fn is_sampled(span: &tracing::Span) -> bool {
    super::exporting() && span.context().span().span_context().is_sampled()
}

/// The span of one batch of the DataLoader over `L`, under `parent` (the span that asked for
/// the batch's first key). The loader records what the cache answered ([`record_cache`]).
pub fn batch<L>(parent: &tracing::Span) -> tracing::Span {
    // `StockLoader` of `switchyard::graphql::loaders::entities::StockLoader`.
    let path = std::any::type_name::<L>();
    let loader = path.rsplit("::").next().unwrap_or(path);
    tracing::info_span!(
        parent: parent,
        "dataloader.batch",
        loader,
        provider = Empty,
        entity = Empty,
        "cache.hit" = Empty,
        "cache.stale" = Empty,
        "cache.negative" = Empty,
        "cache.miss" = Empty,
        "cache.refresh" = Empty,
    )
}

/// What the entity cache answered for the keys of the current batch: fresh, stale (served
/// while refreshed), known absent, missed (to fetch), and refreshed in the background.
pub fn record_cache(
    provider: &'static str,
    entity: &'static str,
    [hit, stale, negative, miss, refresh]: [u64; 5],
) {
    let span = tracing::Span::current();
    span.record("provider", provider);
    span.record("entity", entity);
    span.record("cache.hit", hit);
    span.record("cache.stale", stale);
    span.record("cache.negative", negative);
    span.record("cache.miss", miss);
    span.record("cache.refresh", refresh);
}

/// Runs `call`, attempt number `attempt` of a call to `provider`'s `endpoint` (its template:
/// `UpstreamRequest::endpoint`), in its span: the provider, the endpoint, the attempt number,
/// the answer's status (recorded by the HTTP client: [`record_status`]) and, when it failed,
/// the error's code.
pub async fn upstream_attempt<F>(
    provider: &'static str,
    endpoint: &'static str,
    attempt: u32,
    call: F,
) -> Result<UpstreamResponse, ProviderError>
where
    F: Future<Output = Result<UpstreamResponse, ProviderError>>,
{
    let span = tracing::info_span!(
        "upstream.attempt",
        provider,
        endpoint,
        attempt,
        "http.response.status_code" = Empty,
        "error.type" = Empty,
        "otel.name" = Empty,
        "otel.kind" = Empty,
        "otel.status_code" = Empty,
    );
    otel_fields(&span, &[("otel.name", endpoint), ("otel.kind", "client")]);
    let result = call.instrument(span.clone()).await;
    let failure = match &result {
        Ok(response) if response.status.is_client_error() || response.status.is_server_error() => {
            Some(response.status.as_str())
        }
        Ok(_) => None,
        Err(error) => Some(error.code()),
    };
    if let Some(failure) = failure {
        span.record("error.type", failure);
        otel_fields(&span, &[("otel.status_code", "ERROR")]);
    }
    result
}

/// Records the fields only the trace export reads (`otel.name`, `otel.kind`,
/// `otel.status_code`), and only while it runs: the log lines need none of them. The span's
/// name and kind must be recorded before it is first entered.
pub fn otel_fields(span: &tracing::Span, fields: &[(&'static str, &str)]) {
    if super::exporting() {
        for (field, value) in fields {
            span.record(*field, *value);
        }
    }
}

/// Records the status of the upstream's answer on the current attempt's span.
pub fn record_status(status: http::StatusCode) {
    tracing::Span::current().record("http.response.status_code", status.as_u16());
}
