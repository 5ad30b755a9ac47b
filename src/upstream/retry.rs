//! Retry: sends an idempotent call again when a second attempt may get an answer, without
//! turning a failing provider's trouble into a storm of extra calls.
//!
//! 1. Only idempotent requests (`UpstreamRequest::idempotent`: a GET, or a POST carrying an
//!    Idempotency-Key; the adapter sets it) are retried, and at most `max_attempts` attempts
//!    are made in all, the first included.
//! 2. Retried: `Unavailable` and `Timeout` errors, and answers 500, 502, 503, 504 and 429.
//!    Nothing else: another 4xx will not change, `BadResponse`/`Auth`/`NotFound`/`BadInput`
//!    neither, and our own quota's `RateLimited` and the breaker's `CircuitOpen` fail fast on
//!    purpose (retrying them would only wait out the layers below).
//! 3. The provider's `Stripe-Should-Retry` header overrides rule 2 for its answer: `false`
//!    never retries it, `true` retries it whatever its status (e.g. a 409 lock conflict).
//! 4. Before attempt n+1 it waits the answer's `Retry-After` (429/503; seconds or HTTP-date)
//!    when it has one, otherwise a full-jitter backoff: uniform in
//!    `[0, min(cap, base * 2^(n-1))]`.
//! 5. It never waits past the request's deadline: if the wait would not end before
//!    `Deadline::remaining()`, it gives up now. Without a deadline, a `Retry-After` longer than
//!    `cap` is not waited for.
//! 6. Retries are at most `budget_percent` of the provider's calls over the last 10 s, plus
//!    `budget_min_per_s` per second (tower's `TpsBudget`: every call deposits, every retry
//!    withdraws); with the budget spent, it gives up.
//! 7. Giving up returns the last attempt's result as is: the answer with its status, or the
//!    error.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use tower::retry::budget::{Budget, TpsBudget};
use tower::util::rng::{HasherRng, Rng};

use super::deadline::Deadline;
use crate::config::RetryConfig;

/// How long a call's deposit counts in the retry budget (finagle's and tower's default).
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

const SHOULD_RETRY: &str = "stripe-should-retry";

pub struct Retry<T> {
    inner: T,
    provider: &'static str,
    config: RetryConfig,
    budget: TpsBudget,
}

impl<T> Retry<T> {
    pub fn new(inner: T, provider: &'static str, config: &RetryConfig) -> Self {
        // TpsBudget panics on a ratio outside 0..=1000 or NaN; config validation already
        // rejects such values, this only keeps `new` total.
        let ratio = match config.budget_percent / 100.0 {
            r if r.is_nan() => 0.0,
            r => r.clamp(0.0, 1000.0),
        };
        let floor = config.budget_min_per_s.min(i32::MAX as u32 - 1);
        Retry {
            inner,
            provider,
            config: config.clone(),
            budget: TpsBudget::new(BUDGET_WINDOW, floor, ratio),
        }
    }

    /// The wait before the next attempt, or `None` to give up (rules 4 and 5).
    fn wait_before_retry(
        &self,
        failed_attempt: u32,
        last: &Result<UpstreamResponse, ProviderError>,
    ) -> Option<Duration> {
        let cap = Duration::from_millis(self.config.cap_ms);
        let left = Deadline::remaining();
        let wait = match retry_after(last) {
            // Without a deadline nothing else bounds the wait a provider may ask for.
            Some(asked) if left.is_none() && asked > cap => return None,
            Some(asked) => asked,
            None => full_jitter(
                failed_attempt,
                Duration::from_millis(self.config.base_ms),
                cap,
                &mut HasherRng::new(),
            ),
        };
        // A wait that ends at the deadline leaves the attempt no time at all.
        left.is_none_or(|left| wait < left).then_some(wait)
    }
}

#[async_trait]
impl<T: Transport> Transport for Retry<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        self.budget.deposit();
        let max_attempts = self.config.max_attempts.max(1);
        if !request.idempotent || max_attempts == 1 {
            let (endpoint, call) = (request.endpoint, self.inner.send(request));
            return crate::telemetry::upstream_attempt(self.provider, endpoint, 1, call).await;
        }
        let mut attempt = 1;
        loop {
            let call = self.inner.send(request.clone());
            let result =
                crate::telemetry::upstream_attempt(self.provider, request.endpoint, attempt, call)
                    .await;
            if attempt >= max_attempts {
                return result;
            }
            let Some(reason) = retry_reason(&result) else {
                return result;
            };
            let Some(wait) = self.wait_before_retry(attempt, &result) else {
                tracing::debug!(
                    provider = self.provider,
                    endpoint = request.endpoint,
                    attempt,
                    %reason,
                    "not retried: the wait does not fit in the time left"
                );
                return result;
            };
            if !self.budget.withdraw() {
                tracing::debug!(
                    provider = self.provider,
                    endpoint = request.endpoint,
                    attempt,
                    %reason,
                    "not retried: retry budget spent"
                );
                return result;
            }
            attempt += 1;
            crate::metrics::retried(self.provider);
            tracing::debug!(
                provider = self.provider,
                endpoint = request.endpoint,
                attempt,
                %reason,
                wait_ms = wait.as_millis() as u64,
                "retrying upstream call"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why a result is worth another attempt; only the status or the error's code, because error
/// messages may carry the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Status(StatusCode),
    Error(&'static str),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Status(status) => write!(f, "status {}", status.as_u16()),
            Reason::Error(code) => f.write_str(code),
        }
    }
}

/// Rules 2 and 3.
fn retry_reason(result: &Result<UpstreamResponse, ProviderError>) -> Option<Reason> {
    match result {
        Ok(response) => {
            let retryable = match should_retry_header(response) {
                Some(told) => told,
                None => matches!(response.status.as_u16(), 429 | 500 | 502 | 503 | 504),
            };
            retryable.then_some(Reason::Status(response.status))
        }
        Err(err @ (ProviderError::Unavailable { .. } | ProviderError::Timeout)) => {
            Some(Reason::Error(err.code()))
        }
        Err(_) => None,
    }
}

/// `Stripe-Should-Retry`; any value but `true` or `false` is ignored.
fn should_retry_header(response: &UpstreamResponse) -> Option<bool> {
    let value = response.headers.get(SHOULD_RETRY)?.to_str().ok()?.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// The wait the provider asked for: `Retry-After` on a 429 or 503 answer, or the one an
/// `Unavailable` error carries.
fn retry_after(result: &Result<UpstreamResponse, ProviderError>) -> Option<Duration> {
    match result {
        Ok(response) if matches!(response.status.as_u16(), 429 | 503) => response.retry_after(),
        Ok(_) => None,
        Err(err) => err.retry_after(),
    }
}

/// Full jitter (AWS's "Exponential Backoff And Jitter"): uniform in
/// `[0, min(cap, base * 2^(attempt-1))]`, so that clients that failed together spread out
/// over the whole interval. Hand-written because the libraries at hand add the jitter on top
/// of the exponential delay instead (backon's `with_jitter` and tower's `ExponentialBackoff`
/// both wait `delay + random share of delay`), which keeps retries bunched after the delay.
fn full_jitter(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(cap);
    ceiling.mul_f64(rng.next_f64())
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use http::{HeaderMap, HeaderName, HeaderValue};
    use tokio::time::Instant;

    use super::*;

    type Answer = Result<UpstreamResponse, ProviderError>;

    /// Answers from a script, repeating its last answer once it runs out, and notes when each
    /// call arrived. Clones share the script, so a test keeps one to count the calls.
    #[derive(Clone, Default)]
    struct Script(Arc<ScriptState>);

    #[derive(Default)]
    struct ScriptState {
        answers: Mutex<VecDeque<Answer>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Script {
        fn calls(&self) -> usize {
            self.0.calls.lock().unwrap().len()
        }

        /// The time between consecutive calls.
        fn gaps(&self) -> Vec<Duration> {
            let calls = self.0.calls.lock().unwrap();
            calls.windows(2).map(|w| w[1] - w[0]).collect()
        }
    }

    #[async_trait]
    impl Transport for Script {
        async fn send(&self, _request: UpstreamRequest) -> Answer {
            self.0.calls.lock().unwrap().push(Instant::now());
            let mut answers = self.0.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                answers.front().unwrap().clone()
            }
        }
    }

    fn script(answers: impl IntoIterator<Item = Answer>) -> Script {
        let script = Script::default();
        script.0.answers.lock().unwrap().extend(answers);
        script
    }

    fn status(code: u16) -> Answer {
        with_headers(code, &[])
    }

    fn with_headers(code: u16, headers: &[(&'static str, &str)]) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Ok(UpstreamResponse {
            status: StatusCode::from_u16(code).unwrap(),
            headers: map,
            body: Default::default(),
        })
    }

    fn unavailable() -> Answer {
        Err(ProviderError::Unavailable {
            status: None,
            message: "connection reset".into(),
            retry_after: None,
        })
    }

    fn config(max_attempts: u32) -> RetryConfig {
        RetryConfig {
            max_attempts,
            base_ms: 100,
            cap_ms: 2000,
            budget_percent: 20.0,
            budget_min_per_s: 5,
        }
    }

    fn get() -> UpstreamRequest {
        UpstreamRequest::get("GET /products/{id}", "/products/1")
    }

    fn status_of(answer: &Answer) -> u16 {
        answer.as_ref().map(|r| r.status.as_u16()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_get_that_fails_once_with_503_is_retried() {
        let upstream = script([status(503), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(2));
        let answer = retry.send(get()).await;
        assert_eq!(status_of(&answer), 200);
        assert_eq!(upstream.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn max_attempts_bounds_the_calls_and_the_last_answer_is_returned_as_is() {
        let upstream = script([status(502)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(status_of(&retry.send(get()).await), 502);
        assert_eq!(upstream.calls(), 3);

        let upstream = script([Err(ProviderError::Timeout)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(retry.send(get()).await.unwrap_err(), ProviderError::Timeout);
        assert_eq!(upstream.calls(), 3);

        let upstream = script([status(503)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(1));
        assert_eq!(status_of(&retry.send(get()).await), 503);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_non_idempotent_post_is_never_retried() {
        let upstream = script([status(503), status(200)]);
        let retry = Retry::new(upstream.clone(), "inventory", &config(3));
        let post = UpstreamRequest::post("POST /reserve", "/reserve", "{}".into());
        assert_eq!(status_of(&retry.send(post).await), 503);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idempotent_post_is_retried() {
        let upstream = script([status(503), status(200)]);
        let retry = Retry::new(upstream.clone(), "inventory", &config(2));
        let mut post = UpstreamRequest::post("POST /reserve", "/reserve", "{}".into());
        post.idempotent = true;
        assert_eq!(status_of(&retry.send(post).await), 200);
        assert_eq!(upstream.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_never_retried() {
        for code in [400, 401, 403, 404, 409, 422] {
            let upstream = script([status(code), status(200)]);
            let retry = Retry::new(upstream.clone(), "catalog", &config(3));
            assert_eq!(status_of(&retry.send(get()).await), code);
            assert_eq!(upstream.calls(), 1, "status {code}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_429_and_transport_failures_are_retried() {
        let failures = [
            status(500),
            status(502),
            status(503),
            status(504),
            status(429),
            unavailable(),
            Err(ProviderError::Timeout),
        ];
        for failure in failures {
            let upstream = script([failure.clone(), status(200)]);
            let retry = Retry::new(upstream.clone(), "catalog", &config(2));
            assert_eq!(status_of(&retry.send(get()).await), 200, "{failure:?}");
            assert_eq!(upstream.calls(), 2, "{failure:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn our_own_fail_fast_errors_and_final_errors_are_not_retried() {
        let errors = [
            ProviderError::RateLimited {
                message: "quota".into(),
                retry_after: Some(Duration::from_millis(10)),
            },
            ProviderError::CircuitOpen {
                retry_after: Some(Duration::from_millis(10)),
            },
            ProviderError::BadResponse("not json".into()),
            ProviderError::Auth("bad key".into()),
            ProviderError::NotFound("no such product".into()),
            ProviderError::BadInput("bad sku".into()),
        ];
        for error in errors {
            let upstream = script([Err(error.clone()), status(200)]);
            let retry = Retry::new(upstream.clone(), "catalog", &config(3));
            assert_eq!(retry.send(get()).await.unwrap_err(), error);
            assert_eq!(upstream.calls(), 1, "{error:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_in_seconds_is_waited_instead_of_the_backoff() {
        for code in [503, 429] {
            let upstream = script([with_headers(code, &[("retry-after", "1")]), status(200)]);
            let retry = Retry::new(upstream.clone(), "catalog", &config(2));
            let start = Instant::now();
            assert_eq!(status_of(&retry.send(get()).await), 200);
            assert_eq!(start.elapsed(), Duration::from_secs(1));
            assert_eq!(upstream.calls(), 2);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_as_an_http_date_is_waited() {
        // The HTTP-date is read against the wall clock, so the wait is 2 to 3 s, far above the
        // first backoff's 100 ms ceiling (and above the cap: only a deadline allows it).
        let at = chrono::Utc::now() + chrono::Duration::seconds(3);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let upstream = script([with_headers(503, &[("retry-after", &date)]), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(2));
        let start = Instant::now();
        let answer = Deadline::scope(start + Duration::from_secs(10), retry.send(get())).await;
        assert_eq!(status_of(&answer), 200);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(1) && waited <= Duration::from_secs(3),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_deadline_returns_the_answer_at_once() {
        for code in [503, 429] {
            let upstream = script([with_headers(code, &[("retry-after", "2")]), status(200)]);
            let retry = Retry::new(upstream.clone(), "catalog", &config(2));
            let start = Instant::now();
            let answer = Deadline::scope(start + Duration::from_secs(1), retry.send(get())).await;
            assert_eq!(status_of(&answer), code);
            assert_eq!(start.elapsed(), Duration::ZERO);
            assert_eq!(upstream.calls(), 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_deadline_a_retry_after_longer_than_the_cap_is_not_waited() {
        let upstream = script([with_headers(503, &[("retry-after", "3600")]), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(2));
        let start = Instant::now();
        assert_eq!(status_of(&retry.send(get()).await), 503);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_stops_retries() {
        let upstream = script([Err(ProviderError::Timeout), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        let answer = Deadline::scope(Instant::now(), retry.send(get())).await;
        assert_eq!(answer.unwrap_err(), ProviderError::Timeout);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_waits_stay_under_their_ceiling() {
        let upstream = script([status(503)]);
        let mut config = config(6);
        config.cap_ms = 500;
        let retry = Retry::new(upstream.clone(), "catalog", &config);
        retry.send(get()).await.unwrap();
        let ceilings = [100, 200, 400, 500, 500].map(Duration::from_millis);
        let gaps = upstream.gaps();
        assert_eq!(gaps.len(), ceilings.len());
        for (gap, ceiling) in gaps.iter().zip(ceilings) {
            assert!(*gap <= ceiling, "{gap:?} > {ceiling:?}");
        }
    }

    /// An Rng that always draws the same number.
    struct Fixed(u64);

    impl Rng for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    #[test]
    fn full_jitter_spans_zero_to_a_capped_doubling_ceiling() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(2));
        let near = |d: Duration, ms: u64| {
            Duration::from_millis(ms).saturating_sub(d) <= Duration::from_micros(1)
        };
        for (attempt, ceiling_ms) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (5, 1600),
            (6, 2000),
            (64, 2000),
        ] {
            assert_eq!(
                full_jitter(attempt, base, cap, &mut Fixed(0)),
                Duration::ZERO
            );
            let top = full_jitter(attempt, base, cap, &mut Fixed(u64::MAX));
            assert!(
                top <= Duration::from_millis(ceiling_ms) && near(top, ceiling_ms),
                "attempt {attempt}: {top:?}"
            );
        }
        let mut rng = HasherRng::new();
        for attempt in 1..=8 {
            let ceiling = base.saturating_mul(1 << (attempt - 1)).min(cap);
            for _ in 0..200 {
                assert!(full_jitter(attempt, base, cap, &mut rng) <= ceiling);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stripe_should_retry_false_is_never_retried() {
        let upstream = script([with_headers(503, &[(SHOULD_RETRY, "false")]), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(status_of(&retry.send(get()).await), 503);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stripe_should_retry_true_retries_a_409_within_max_attempts() {
        let upstream = script([with_headers(409, &[(SHOULD_RETRY, "true")]), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(status_of(&retry.send(get()).await), 200);
        assert_eq!(upstream.calls(), 2);

        let upstream = script([with_headers(409, &[(SHOULD_RETRY, "true")])]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(status_of(&retry.send(get()).await), 409);
        assert_eq!(upstream.calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreadable_stripe_should_retry_is_ignored() {
        let upstream = script([with_headers(409, &[(SHOULD_RETRY, "maybe")]), status(200)]);
        let retry = Retry::new(upstream.clone(), "catalog", &config(3));
        assert_eq!(status_of(&retry.send(get()).await), 409);
        assert_eq!(upstream.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_stops_a_retry_storm() {
        let calls = 200;
        let upstream = script([status(503)]);
        let mut config = config(2);
        config.budget_min_per_s = 1;
        let retry = Retry::new(upstream.clone(), "catalog", &config);
        for _ in 0..calls {
            retry.send(get()).await.unwrap();
        }
        let retries = upstream.calls() - calls;
        // The paused clock moves only by the backoffs (at most 100 ms each), so all of it
        // falls in one budget window: 20 % of the calls plus the floor for 10 s.
        let allowed = calls / 5 + BUDGET_WINDOW.as_secs() as usize;
        assert!(retries <= allowed, "{retries} retries > {allowed}");
        assert!(
            retries >= calls / 5,
            "the budget allowed only {retries} retries"
        );
    }
}
