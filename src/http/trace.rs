//! The request span and the request id.
//!
//! Every request gets an id: the client's `x-request-id` when it is short and safe (1 to 64 of
//! `A-Z a-z 0-9 . _ -`), a new one otherwise. It is sent back in `x-request-id` and is the
//! `request_id` field of the request's span, which every line logged while serving the
//! request is in. The span continues the client's W3C trace (`traceparent`) when traces are
//! exported, and records the method, the matched route and the response's status: never the
//! URL's query, a header or the body, which may carry secrets.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::telemetry::spans::otel_fields;

/// The request id's header, in both directions.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routes polled by machines (`/metrics` scrapes, health probes, the status page's reload):
/// their spans are at debug level, so they are not exported.
const QUIET_ROUTES: &[&str] = &["/metrics", "/healthz", "/readyz", "/status"];

/// The longest request id taken from a client.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The request span at `level` (a constant, as `tracing::span!` wants): what it records and
/// what the export fills in.
macro_rules! request_span {
    ($level:expr, $id:expr, $method:expr, $route:expr) => {
        tracing::span!(
            $level,
            "request",
            request_id = $id,
            "http.request.method" = %$method,
            "http.route" = $route,
            "http.response.status_code" = Empty,
            "otel.name" = Empty,
            "otel.kind" = Empty,
            "otel.status_code" = Empty,
        )
    };
}

/// Middleware: runs the request in its span, under its request id.
pub async fn request_span(request: Request, next: Next) -> Response {
    let id = request_id(request.headers().get(&REQUEST_ID));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id_text = id.to_str().unwrap_or_default();
    // What probes and scrapers call every few seconds is neither exported nor in the info
    // logs: a span at debug level (the OTLP layer takes info and above).
    let span = if QUIET_ROUTES.contains(&route) {
        request_span!(tracing::Level::DEBUG, id_text, request.method(), route)
    } else {
        request_span!(tracing::Level::INFO, id_text, request.method(), route)
    };
    if crate::telemetry::exporting() {
        let name = format!("{} {route}", request.method());
        otel_fields(&span, &[("otel.name", &name), ("otel.kind", "server")]);
        crate::telemetry::propagation::continue_trace(&span, request.headers());
    }
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        otel_fields(&span, &[("otel.status_code", "ERROR")]);
    }
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            took_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request served"
        );
    });
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// The client's request id when it is one we take, else a new one.
fn request_id(sent: Option<&HeaderValue>) -> HeaderValue {
    match sent {
        Some(value) if is_safe(value.as_bytes()) => value.clone(),
        _ => new_request_id(),
    }
}

/// Short, and only characters that need no quoting in a log line, a header or a URL.
fn is_safe(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// 128 random bits in hex. Hand-written: `uuid` would add a feature for the same 32 hex
/// digits, and tower-http's request-id layer keeps whatever a client sends.
fn new_request_id() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    HeaderValue::try_from(id).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_safe_client_id_is_kept() {
        for id in ["abc", "req-42", "A.b_C-9", &"x".repeat(64)] {
            let sent = HeaderValue::from_str(id).unwrap();
            assert_eq!(request_id(Some(&sent)), sent, "{id}");
        }
    }

    #[test]
    fn a_long_or_unsafe_client_id_is_replaced_by_a_new_one() {
        let too_long = "x".repeat(65);
        for id in [
            "",
            "has space",
            "semi;colon",
            "ü",
            "a/b",
            "{json}",
            too_long.as_str(),
        ] {
            let sent = HeaderValue::from_bytes(id.as_bytes()).unwrap();
            let made = request_id(Some(&sent));
            assert_ne!(made, sent, "{id:?}");
            assert!(is_safe(made.as_bytes()), "{made:?}");
        }
    }

    #[test]
    fn new_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (request_id(None), request_id(None));
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(id.as_bytes().iter().all(u8::is_ascii_hexdigit));
        }
    }
}
