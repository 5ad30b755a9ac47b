//! Faults a test or benchmark can switch on at run time, applied to every request of one
//! sandbox before (latency, errors, 429s, outage) or after (bad bodies) its handler runs.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The faults in force. All off by default; the JSON form is what `PUT /__sandbox/faults`
/// takes (missing fields are off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Added before the handler answers.
    pub latency_ms: u64,
    /// Uniform extra latency in `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Share of requests (0.0 to 1.0) answered with `error_status` instead.
    pub error_rate: f64,
    /// Status of injected errors (default 500).
    pub error_status: Option<u16>,
    /// When set, every request is answered 429 with this `Retry-After` (seconds).
    pub rate_limited_retry_after_s: Option<u64>,
    /// Every request is answered 503: the provider is down.
    pub outage: bool,
    /// 200s carry a body that is not JSON.
    pub malformed_body: bool,
    /// 200s carry only the first half of their body.
    pub truncated_body: bool,
    /// 200s send the first half of their body, then wait this long before the rest.
    pub slow_body_ms: u64,
    /// Turns off the simulated provider's own quota (rate and concurrency limits), for
    /// benchmarks that measure the gateway rather than the quota.
    pub quota_off: bool,
}

/// The decision taken before the handler runs.
pub(crate) enum Before {
    Proceed,
    Answer {
        status: StatusCode,
        retry_after: Option<u64>,
    },
}

impl FaultPlan {
    pub(crate) fn delay(&self) -> Duration {
        let jitter = if self.jitter_ms > 0 {
            rand::rng().random_range(0..=self.jitter_ms)
        } else {
            0
        };
        Duration::from_millis(self.latency_ms + jitter)
    }

    pub(crate) fn before(&self) -> Before {
        if self.outage {
            return Before::Answer {
                status: StatusCode::SERVICE_UNAVAILABLE,
                retry_after: None,
            };
        }
        if let Some(secs) = self.rate_limited_retry_after_s {
            return Before::Answer {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after: Some(secs),
            };
        }
        if self.error_rate > 0.0 && rand::rng().random_bool(self.error_rate.clamp(0.0, 1.0)) {
            let status = self
                .error_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Before::Answer {
                status,
                retry_after: None,
            };
        }
        Before::Proceed
    }

    fn spoils_bodies(&self) -> bool {
        self.malformed_body || self.truncated_body || self.slow_body_ms > 0
    }

    /// Spoils a successful answer's body as the plan says.
    pub(crate) async fn after(&self, response: Response) -> Response {
        if !response.status().is_success() || !self.spoils_bodies() {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let Ok(bytes) = to_bytes(body, usize::MAX).await else {
            return Response::from_parts(parts, Body::empty());
        };
        parts.headers.remove(header::CONTENT_LENGTH);
        if self.malformed_body {
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            return Response::from_parts(
                parts,
                Body::from("<html><body>502 Bad Gateway</body></html>"),
            );
        }
        let half = bytes.slice(..bytes.len() / 2);
        if self.truncated_body {
            return Response::from_parts(parts, Body::from(half));
        }
        let rest = bytes.slice(bytes.len() / 2..);
        let pause = Duration::from_millis(self.slow_body_ms);
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]).chain(
            futures_util::stream::once(async move {
                tokio::time::sleep(pause).await;
                Ok(rest)
            }),
        );
        Response::from_parts(parts, Body::from_stream(stream))
    }
}

use futures_util::StreamExt as _;
