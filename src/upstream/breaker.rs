//! Circuit breaker, one per provider: stops calling a provider that is failing or too slow, so
//! that its callers fail fast with `CIRCUIT_OPEN` instead of waiting on it, and it gets time to
//! recover.
//!
//! 1. Closed: every call goes through. The outcomes of the last `window` counted calls are
//!    kept; once at least `min_calls` are in the window, the breaker opens when the share of
//!    failures is >= `failure_rate` (and at least one call failed), or the share of calls that
//!    succeeded slower than `slow_call_ms` is >= `slow_call_rate` (and at least one was slow).
//! 2. What counts: a failure is `Err(Unavailable | Timeout | BadResponse)` from the inner
//!    transport, or a 5xx answer. Not counted at all: 401/403 and `Err(Auth)` (our
//!    credential), 404 and `Err(NotFound)` (the entity is missing, the provider is fine), 429
//!    and `Err(RateLimited)` (the quota layer's business), `Err(CircuitOpen)`, a timeout that
//!    the request's deadline caused (the deadline had passed when the call ended: the provider
//!    never had its full attempt timeout), and calls cancelled before they finished. Anything
//!    else is a success, slow or not by its duration.
//! 3. Open for `open_ms`: no call is made; `send` fails at once with `CircuitOpen` whose
//!    `retry_after` is the time until half-open.
//! 4. Half-open (by time alone, also as `state()` reports it): at most `half_open_probes`
//!    probes are let through, and never more at once than are still needed to close; other
//!    calls fail fast with `CircuitOpen`. When `half_open_probes` probes have succeeded it
//!    closes with an empty window; a probe that fails, or that succeeds but is slow, reopens it
//!    for another `open_ms`. A probe that is cancelled or not counted (rule 2) frees its slot.
//! 5. An outcome counts only in the period (closed, or one half-open spell) in which its call
//!    was let through: a call from before the breaker opened cannot close it, reopen it, or
//!    take a probe's place.
//!
//! Hand-written: the recloser crate (the usual choice) has no slow-call rate and no minimum
//! number of calls apart from its window's length, and reads the std clock, which paused-time
//! tests cannot drive; everything here runs on tokio's clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use tokio::time::Instant;

use super::deadline::Deadline;
use crate::config::BreakerConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// A counted call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failure,
    Success { slow: bool },
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32, succeeded: u32 },
}

#[derive(Debug)]
struct Circuit {
    phase: Phase,
    /// Bumped at every transition; calls carry the period they were let through in (rule 5).
    period: u64,
    window: VecDeque<Outcome>,
}

pub struct CircuitBreaker {
    provider: &'static str,
    config: BreakerConfig,
    circuit: Mutex<Circuit>,
}

impl CircuitBreaker {
    pub fn new(provider: &'static str, config: &BreakerConfig) -> Self {
        CircuitBreaker {
            provider,
            config: config.clone(),
            circuit: Mutex::new(Circuit {
                phase: Phase::Closed,
                period: 0,
                window: VecDeque::with_capacity(config.window as usize),
            }),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn state(&self) -> BreakerState {
        let circuit = self.lock_at(Instant::now());
        match circuit.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Time until an open breaker lets a probe through.
    pub fn retry_after(&self) -> Option<Duration> {
        let now = Instant::now();
        match self.lock_at(now).phase {
            Phase::Open { until } => Some(until - now),
            _ => None,
        }
    }

    /// The circuit, moved on to half-open if its open time is over (rule 4).
    fn lock_at(&self, now: Instant) -> MutexGuard<'_, Circuit> {
        // Nothing under this lock can panic halfway through a change, so a poisoned lock
        // still holds a consistent circuit.
        let mut circuit = self.circuit.lock().unwrap_or_else(|e| e.into_inner());
        if let Phase::Open { until } = circuit.phase
            && now >= until
        {
            self.transition(
                &mut circuit,
                Phase::HalfOpen {
                    in_flight: 0,
                    succeeded: 0,
                },
                None,
            );
        }
        circuit
    }

    /// Lets a call through, or says why not.
    fn admit(&self) -> Result<Admission<'_>, ProviderError> {
        let now = Instant::now();
        let mut circuit = self.lock_at(now);
        let probes = self.config.half_open_probes;
        let probe = match &mut circuit.phase {
            Phase::Closed => false,
            Phase::Open { until } => {
                return Err(ProviderError::CircuitOpen {
                    retry_after: Some(*until - now),
                });
            }
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => {
                if *in_flight + *succeeded >= probes {
                    // When the probes in flight will be done is unknown.
                    return Err(ProviderError::CircuitOpen { retry_after: None });
                }
                *in_flight += 1;
                true
            }
        };
        Ok(Admission {
            breaker: self,
            period: circuit.period,
            probe,
            started: now,
            finished: false,
        })
    }

    /// Notes the outcome of a call let through in `period`; `None` = not counted.
    fn record(&self, period: u64, probe: bool, outcome: Option<Outcome>) {
        let mut circuit = self.lock_at(Instant::now());
        if circuit.period != period {
            return;
        }
        match (&mut circuit.phase, outcome) {
            (Phase::Closed, Some(outcome)) => {
                let window = self.config.window as usize;
                while circuit.window.len() >= window.max(1) {
                    circuit.window.pop_front();
                }
                circuit.window.push_back(outcome);
                let rates = Rates::of(&circuit.window);
                if rates.calls >= self.config.min_calls as usize
                    && ((rates.failures > 0 && rates.failure_rate() >= self.config.failure_rate)
                        || (rates.slow > 0 && rates.slow_rate() >= self.config.slow_call_rate))
                {
                    self.open(&mut circuit, rates);
                }
            }
            (Phase::HalfOpen { in_flight, .. }, None) if probe => {
                *in_flight = in_flight.saturating_sub(1);
            }
            (
                Phase::HalfOpen {
                    in_flight,
                    succeeded,
                },
                Some(outcome),
            ) if probe => {
                *in_flight = in_flight.saturating_sub(1);
                let rates = Rates {
                    calls: *succeeded as usize + 1,
                    failures: usize::from(outcome == Outcome::Failure),
                    slow: usize::from(outcome == Outcome::Success { slow: true }),
                };
                if outcome == (Outcome::Success { slow: false }) {
                    *succeeded += 1;
                    if *succeeded >= self.config.half_open_probes {
                        circuit.window.clear();
                        self.transition(&mut circuit, Phase::Closed, Some(rates));
                    }
                } else {
                    self.open(&mut circuit, rates);
                }
            }
            _ => {}
        }
    }

    fn open(&self, circuit: &mut Circuit, rates: Rates) {
        let until = Instant::now() + Duration::from_millis(self.config.open_ms);
        self.transition(circuit, Phase::Open { until }, Some(rates));
    }

    fn transition(&self, circuit: &mut Circuit, to: Phase, rates: Option<Rates>) {
        let from = phase_name(&circuit.phase);
        let to_name = phase_name(&to);
        let opened = matches!(to, Phase::Open { .. });
        circuit.phase = to;
        circuit.period += 1;
        crate::metrics::breaker_transition(self.provider, to_name);
        // Rates over the window when it opens from closed, over the spell's probes otherwise.
        let (failure_rate, slow_call_rate, calls) = rates
            .map(|r| (r.failure_rate(), r.slow_rate(), r.calls))
            .unwrap_or_default();
        if opened {
            tracing::warn!(
                provider = self.provider,
                from,
                to = to_name,
                failure_rate,
                slow_call_rate,
                calls,
                open_ms = self.config.open_ms,
                "circuit breaker opened"
            );
        } else {
            tracing::info!(
                provider = self.provider,
                from,
                to = to_name,
                failure_rate,
                slow_call_rate,
                calls,
                "circuit breaker state changed"
            );
        }
    }
}

fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Closed => BreakerState::Closed.as_str(),
        Phase::Open { .. } => BreakerState::Open.as_str(),
        Phase::HalfOpen { .. } => BreakerState::HalfOpen.as_str(),
    }
}

/// Counts over the window (when closed) or over one half-open spell's probes.
#[derive(Debug, Clone, Copy)]
struct Rates {
    calls: usize,
    failures: usize,
    slow: usize,
}

impl Rates {
    fn of(window: &VecDeque<Outcome>) -> Self {
        Rates {
            calls: window.len(),
            failures: window.iter().filter(|o| **o == Outcome::Failure).count(),
            slow: window
                .iter()
                .filter(|o| **o == Outcome::Success { slow: true })
                .count(),
        }
    }

    fn failure_rate(&self) -> f64 {
        share(self.failures, self.calls)
    }

    fn slow_rate(&self) -> f64 {
        share(self.slow, self.calls)
    }
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A call let through. Dropped unfinished (the caller's future was cancelled), it gives back
/// its probe slot so a half-open breaker is never stuck with slots no call will free.
struct Admission<'a> {
    breaker: &'a CircuitBreaker,
    period: u64,
    probe: bool,
    started: Instant,
    finished: bool,
}

impl Admission<'_> {
    fn finish(mut self, result: &Result<UpstreamResponse, ProviderError>) {
        self.finished = true;
        let slow = self.started.elapsed() > Duration::from_millis(self.breaker.config.slow_call_ms);
        let outcome = match result {
            Err(ProviderError::Timeout) if Deadline::remaining().is_some_and(|l| l.is_zero()) => {
                None
            }
            _ => classify(result, slow),
        };
        self.breaker.record(self.period, self.probe, outcome);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.breaker.record(self.period, self.probe, None);
        }
    }
}

/// Rule 2; `None` = not counted.
fn classify(result: &Result<UpstreamResponse, ProviderError>, slow: bool) -> Option<Outcome> {
    match result {
        Ok(response) => match response.status.as_u16() {
            401 | 403 | 404 | 429 => None,
            s if s >= 500 => Some(Outcome::Failure),
            _ => Some(Outcome::Success { slow }),
        },
        Err(
            ProviderError::Unavailable { .. }
            | ProviderError::Timeout
            | ProviderError::BadResponse(_),
        ) => Some(Outcome::Failure),
        Err(
            ProviderError::Auth(_)
            | ProviderError::NotFound(_)
            | ProviderError::RateLimited { .. }
            | ProviderError::CircuitOpen { .. },
        ) => None,
        Err(ProviderError::BadInput(_)) => Some(Outcome::Success { slow }),
    }
}

pub struct Breaker<T> {
    inner: T,
    breaker: Arc<CircuitBreaker>,
}

impl<T> Breaker<T> {
    pub fn new(inner: T, breaker: Arc<CircuitBreaker>) -> Self {
        Breaker { inner, breaker }
    }
}

#[async_trait]
impl<T: Transport> Transport for Breaker<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let admission = self.breaker.admit()?;
        let result = self.inner.send(request).await;
        admission.finish(&result);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{HeaderMap, StatusCode};
    use tokio::task::JoinSet;
    use tokio::time::{advance, sleep};

    use super::*;

    /// One scripted answer: how long the provider takes, then what it says.
    type Step = (Duration, Result<UpstreamResponse, ProviderError>);

    /// Answers from a script (then with `fallback`), and counts calls started and in flight.
    #[derive(Clone)]
    struct Scripted(Arc<Script>);

    struct Script {
        steps: Mutex<VecDeque<Step>>,
        fallback: Step,
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Scripted {
        fn new(steps: Vec<Step>, fallback: Step) -> Self {
            Scripted(Arc::new(Script {
                steps: Mutex::new(steps.into()),
                fallback,
                calls: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
            }))
        }

        fn calls(&self) -> usize {
            self.0.calls.load(Ordering::SeqCst)
        }

        fn in_flight(&self) -> usize {
            self.0.in_flight.load(Ordering::SeqCst)
        }

        fn peak(&self) -> usize {
            self.0.peak.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Transport for Scripted {
        async fn send(&self, _: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
            let script = &self.0;
            script.calls.fetch_add(1, Ordering::SeqCst);
            let now = script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            script.peak.fetch_max(now, Ordering::SeqCst);
            let step = script.steps.lock().unwrap().pop_front();
            let (delay, answer) = step.unwrap_or_else(|| script.fallback.clone());
            sleep(delay).await;
            script.in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    }

    fn status(code: u16) -> Result<UpstreamResponse, ProviderError> {
        Ok(UpstreamResponse {
            status: StatusCode::from_u16(code).unwrap(),
            headers: HeaderMap::new(),
            body: Default::default(),
        })
    }

    fn ok() -> Step {
        (Duration::from_millis(10), status(200))
    }

    fn fail() -> Step {
        (Duration::from_millis(10), status(503))
    }

    fn request() -> UpstreamRequest {
        UpstreamRequest::get("GET /test", "/test")
    }

    fn stack(script: Vec<Step>, fallback: Step) -> (Breaker<Scripted>, Scripted) {
        let inner = Scripted::new(script, fallback);
        let breaker = Arc::new(CircuitBreaker::new("test", &BreakerConfig::default()));
        (Breaker::new(inner.clone(), breaker), inner)
    }

    async fn send_n(stack: &Breaker<Scripted>, n: usize) {
        for _ in 0..n {
            let _ = stack.send(request()).await;
        }
    }

    /// Opens the breaker of `stack` with failures: the default `min_calls` of 10.
    async fn trip(stack: &Breaker<Scripted>, inner: &Scripted) {
        let before = inner.calls();
        send_n(stack, 10).await;
        assert_eq!(stack.breaker.state(), BreakerState::Open);
        assert_eq!(inner.calls(), before + 10);
    }

    /// Lets spawned tasks run (paused time does not move meanwhile) until `done` holds.
    async fn until(done: impl Fn() -> bool) {
        for _ in 0..1000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("spawned tasks never got there");
    }

    fn open_ms() -> Duration {
        Duration::from_millis(BreakerConfig::default().open_ms)
    }

    #[tokio::test(start_paused = true)]
    async fn no_decision_before_min_calls() {
        let (stack, _) = stack(vec![], fail());
        send_n(&stack, 9).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        send_n(&stack, 1).await;
        assert_eq!(stack.breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_half_of_the_window_failing() {
        // 10 successes, then alternate: the window of 20 reaches 50 % failures only once the
        // 10 successes have slid out of it.
        let mut script = vec![ok(); 10];
        for _ in 0..10 {
            script.push(fail());
            script.push(ok());
        }
        let (stack, _) = stack(script, ok());
        // After 10 ok + 9 failures + 9 ok (28 calls) the window holds 9 of 20 failures.
        send_n(&stack, 28).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        send_n(&stack, 1).await; // failure: 10 of 20 = 50 %
        assert_eq!(stack.breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn below_the_failure_rate_stays_closed() {
        // Every window of 20 holds 9 failures (45 %), and no shorter one reaches 50 %.
        let mut script = Vec::new();
        for _ in 0..5 {
            script.extend(vec![ok(); 11]);
            script.extend(vec![fail(); 9]);
        }
        let (stack, inner) = stack(script, ok());
        send_n(&stack, 100).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        assert_eq!(inner.calls(), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_fail_count() {
        let script = vec![
            (Duration::ZERO, Err(ProviderError::Timeout)),
            (Duration::ZERO, Err(ProviderError::BadResponse("x".into()))),
            (
                Duration::ZERO,
                Err(ProviderError::Unavailable {
                    status: None,
                    message: "reset".into(),
                    retry_after: None,
                }),
            ),
            (Duration::ZERO, status(500)),
            (Duration::ZERO, status(502)),
        ];
        let (stack, _) = stack(script, ok());
        send_n(&stack, 5).await;
        send_n(&stack, 4).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        send_n(&stack, 1).await; // 5 of 10
        assert_eq!(stack.breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_the_deadline_caused_do_not_count() {
        let script = (0..20)
            .map(|_| (Duration::ZERO, Err(ProviderError::Timeout)))
            .collect();
        let (stack, _) = stack(script, ok());
        // The request's deadline has passed: the attempts were cut short by it, not by the
        // provider being slow.
        Deadline::scope(Instant::now(), send_n(&stack, 20)).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_open_it() {
        // Default: slower than 1500 ms is slow, 80 % slow opens.
        let slow = (Duration::from_millis(1600), status(200));
        let brisk = (Duration::from_millis(1400), status(200));
        let mut script = vec![brisk; 2];
        script.extend(vec![slow; 8]);
        let (stack, _) = stack(script, ok());
        send_n(&stack, 9).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        send_n(&stack, 1).await; // 8 of 10 slow
        assert_eq!(stack.breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn auth_not_found_and_rate_limits_do_not_count() {
        let mut script = Vec::new();
        for code in [401, 403, 404, 429] {
            script.extend(vec![(Duration::ZERO, status(code)); 5]);
        }
        script.extend(vec![
            (
                Duration::ZERO,
                Err(ProviderError::RateLimited {
                    message: "quota".into(),
                    retry_after: None,
                }),
            );
            5
        ]);
        script.extend(vec![
            (
                Duration::ZERO,
                Err(ProviderError::CircuitOpen { retry_after: None })
            );
            5
        ]);
        // 9 failures: with any of the above counted as a success or a failure, 10 calls would
        // be in the window and the breaker would decide.
        script.extend(vec![fail(); 9]);
        let (stack, inner) = stack(script, ok());
        send_n(&stack, 39).await;
        assert_eq!(inner.calls(), 39);
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        let rates = Rates::of(&stack.breaker.lock_at(Instant::now()).window);
        assert_eq!((rates.calls, rates.failures), (9, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn open_fails_fast_without_calling_inner() {
        let (stack, inner) = stack(vec![], fail());
        trip(&stack, &inner).await;

        advance(Duration::from_secs(10)).await;
        let error = stack.send(request()).await.unwrap_err();
        assert_eq!(
            error,
            ProviderError::CircuitOpen {
                retry_after: Some(open_ms() - Duration::from_secs(10))
            }
        );
        assert_eq!(inner.calls(), 10);
        assert_eq!(
            stack.breaker.retry_after(),
            Some(open_ms() - Duration::from_secs(10))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn state_turns_half_open_by_time_alone() {
        let (stack, inner) = stack(vec![], fail());
        trip(&stack, &inner).await;
        advance(open_ms() - Duration::from_millis(1)).await;
        assert_eq!(stack.breaker.state(), BreakerState::Open);
        advance(Duration::from_millis(1)).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
        assert_eq!(stack.breaker.retry_after(), None);
        assert_eq!(inner.calls(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_exactly_the_probes_through_at_once() {
        let (stack, inner) = stack(vec![fail(); 10], (Duration::from_secs(1), status(200)));
        let stack = Arc::new(stack);
        trip(&stack, &inner).await;
        advance(open_ms()).await;

        let mut probes = JoinSet::new();
        for _ in 0..5 {
            let stack = stack.clone();
            probes.spawn(async move { stack.send(request()).await });
        }
        let results = probes.join_all().await;
        let through = results.iter().filter(|r| r.is_ok()).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(ProviderError::CircuitOpen { retry_after: None })))
            .count();
        assert_eq!((through, refused), (3, 2));
        assert_eq!(inner.calls(), 13);
        assert_eq!(inner.peak(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn successful_probes_close_it_with_an_empty_window() {
        let (stack, inner) = stack(vec![fail(); 10], ok());
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        send_n(&stack, 2).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
        send_n(&stack, 1).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        assert!(stack.breaker.lock_at(Instant::now()).window.is_empty());
        send_n(&stack, 1).await;
        assert_eq!(inner.calls(), 14);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_open_ms() {
        let mut script = vec![fail(); 10];
        script.extend([ok(), fail()]);
        let (stack, inner) = stack(script, ok());
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        send_n(&stack, 2).await;
        assert_eq!(stack.breaker.state(), BreakerState::Open);
        // Reopened just now: a whole `open_ms` again.
        assert_eq!(stack.breaker.retry_after(), Some(open_ms()));
        assert!(matches!(
            stack.send(request()).await,
            Err(ProviderError::CircuitOpen { .. })
        ));
        assert_eq!(inner.calls(), 12);
        advance(open_ms()).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_probe_reopens() {
        let mut script = vec![fail(); 10];
        script.push((Duration::from_millis(1600), status(200)));
        let (stack, inner) = stack(script, ok());
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        send_n(&stack, 1).await;
        assert_eq!(stack.breaker.state(), BreakerState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn uncounted_probe_frees_its_slot() {
        let mut script = vec![fail(); 10];
        script.extend(vec![(Duration::ZERO, status(404)); 3]);
        let (stack, inner) = stack(script, ok());
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        send_n(&stack, 3).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
        send_n(&stack, 3).await;
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
        assert_eq!(inner.calls(), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_probe_frees_its_slot() {
        let mut script = vec![fail(); 10];
        script.extend(vec![(Duration::from_secs(60), status(200)); 3]);
        let (stack, inner) = stack(script, ok());
        let stack = Arc::new(stack);
        trip(&stack, &inner).await;
        advance(open_ms()).await;

        let mut hung = JoinSet::new();
        for _ in 0..3 {
            let stack = stack.clone();
            hung.spawn(async move { stack.send(request()).await });
        }
        until(|| inner.in_flight() == 3).await;
        assert!(matches!(
            stack.send(request()).await,
            Err(ProviderError::CircuitOpen { .. })
        ));
        hung.abort_all();
        while hung.join_next().await.is_some() {}

        // All three slots are free again: three new probes reach the provider and close it.
        let mut probes = JoinSet::new();
        for _ in 0..3 {
            let stack = stack.clone();
            probes.spawn(async move { stack.send(request()).await });
        }
        assert!(probes.join_all().await.iter().all(Result::is_ok));
        assert_eq!(inner.calls(), 16);
        assert_eq!(stack.breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_from_an_earlier_half_open_spell_is_ignored() {
        // Probe A is still running when probe B fails and reopens the breaker; A ends in the
        // next half-open spell, where it must neither count nor free a slot it does not hold.
        let mut script = vec![fail(); 10];
        script.push((open_ms() + Duration::from_secs(10), status(200)));
        script.push(fail());
        let (stack, inner) = stack(script, ok());
        let stack = Arc::new(stack);
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        let probe_a = tokio::spawn({
            let stack = stack.clone();
            async move { stack.send(request()).await }
        });
        until(|| inner.calls() == 11).await;
        send_n(&stack, 1).await; // probe B
        assert_eq!(stack.breaker.state(), BreakerState::Open);
        advance(open_ms()).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
        assert!(probe_a.await.unwrap().is_ok());
        match stack.breaker.lock_at(Instant::now()).phase {
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => assert_eq!((in_flight, succeeded), (0, 0)),
            ref other => panic!("expected half-open, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn late_outcomes_from_before_opening_are_ignored() {
        // A slow success started while closed must not count as a probe when it lands in
        // half-open.
        let mut script = vec![(open_ms() + Duration::from_secs(1), status(200))];
        script.extend(vec![fail(); 10]);
        let (stack, inner) = stack(script, ok());
        let stack = Arc::new(stack);
        let straggler = tokio::spawn({
            let stack = stack.clone();
            async move { stack.send(request()).await }
        });
        until(|| inner.calls() == 1).await;
        trip(&stack, &inner).await;
        advance(open_ms()).await;
        assert_eq!(stack.breaker.state(), BreakerState::HalfOpen);
        assert!(straggler.await.unwrap().is_ok());
        match stack.breaker.lock_at(Instant::now()).phase {
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => assert_eq!((in_flight, succeeded), (0, 0)),
            ref other => panic!("expected half-open, got {other:?}"),
        }
    }
}
