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
    /// A long tail instead of a uniform spread: latency is log-normal with median
    /// `latency_ms` and this 99th percentile (must be above the median to take effect).
    pub latency_p99_ms: Option<u64>,
    /// Share of requests (0.0 to 1.0) answered with `error_status` instead.
    pub error_rate: f64,
    /// Status of injected errors (default 500).
    pub error_status: Option<u16>,
    /// When set, every request is answered 429 with this `Retry-After` (seconds).
    pub rate_limited_retry_after_s: Option<u64>,
    /// Send `Retry-After` as an HTTP-date instead of seconds (RFC 9110 allows both).
    pub retry_after_http_date: bool,
    /// Every request is answered 503: the provider is down.
    pub outage: bool,
    /// Requests are accepted and never answered.
    pub hang: bool,
    /// 200s send the first half of their body, then the connection is cut.
    pub reset_mid_body: bool,
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
        if let Some(p99) = self.latency_p99_ms.filter(|p99| *p99 > self.latency_ms)
            && self.latency_ms > 0
        {
            return Duration::from_secs_f64(log_normal_ms(self.latency_ms, p99) / 1000.0);
        }
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
        self.malformed_body || self.truncated_body || self.reset_mid_body || self.slow_body_ms > 0
    }

    /// Rewrites a `Retry-After` in seconds as the equivalent HTTP-date, when the plan says so.
    pub(crate) fn date_retry_after(&self, mut response: Response) -> Response {
        if !self.retry_after_http_date {
            return response;
        }
        let secs = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok());
        if let Some(secs) = secs {
            // HTTP-dates have whole seconds: round up so the wait is never shorter than asked.
            let at = chrono::Utc::now() + chrono::Duration::seconds(secs + 1);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            if let Ok(value) = HeaderValue::from_str(&date) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
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
        if self.reset_mid_body {
            // Declares the whole length, sends half, then fails the stream: hyper drops the
            // connection, as a peer that resets mid-body does.
            if let Ok(len) = HeaderValue::from_str(&bytes.len().to_string()) {
                parts.headers.insert(header::CONTENT_LENGTH, len);
            }
            let stream = futures_util::stream::iter([
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset mid-body",
                )),
            ]);
            return Response::from_parts(parts, Body::from_stream(stream));
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

/// A log-normal sample (ms) with the given median and 99th percentile: the usual shape of
/// service latency (most calls near the median, a long tail). Box-Muller for the normal draw.
fn log_normal_ms(median_ms: u64, p99_ms: u64) -> f64 {
    // z of the 99th percentile of the standard normal distribution.
    const Z99: f64 = 2.326_347_874;
    let mu = (median_ms as f64).ln();
    let sigma = ((p99_ms as f64).ln() - mu) / Z99;
    let mut rng = rand::rng();
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (mu + sigma * z).exp()
}

use futures_util::StreamExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tail_latency_has_the_asked_median_and_p99() {
        let plan = FaultPlan {
            latency_ms: 40,
            latency_p99_ms: Some(400),
            ..FaultPlan::default()
        };
        let mut samples: Vec<u128> = (0..20_000).map(|_| plan.delay().as_millis()).collect();
        samples.sort_unstable();
        let median = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        assert!((36..=44).contains(&median), "median {median}");
        assert!((330..=480).contains(&p99), "p99 {p99}");
    }
}
