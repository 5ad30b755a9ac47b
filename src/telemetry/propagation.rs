//! The W3C trace context (`traceparent`, `tracestate`): taken from a client's request so that
//! the request span continues the client's trace, and sent on every upstream attempt so that
//! the provider's spans join it. Only while traces are exported: without a tracer there is no
//! span context to continue or pass on.

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const TRACEPARENT: &str = "traceparent";

/// Makes `span` a child of the client's span named by `headers`' `traceparent`. A missing or
/// malformed `traceparent` leaves `span` the root of a new trace. Call it before `span` is
/// first entered.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !super::exporting() || !headers.contains_key(TRACEPARENT) {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only when the span is disabled or already started: it then keeps its own parent.
    let _ = span.set_parent(parent);
}

/// The headers that pass the current span's trace on to an upstream (`traceparent`, and the
/// client's `tracestate` if it sent one); empty when traces are not exported.
pub fn trace_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    if super::exporting() {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(&mut headers));
    }
    headers
}
