//! Quota mirroring: a provider's calls stay within its real quota, so that it never has to
//! refuse one, and what the provider says about its quota corrects our own count.
//!
//! 1. A provider with a configured quota (`limit` calls per `window_s`) gets at most `limit`
//!    calls in any trailing window, and a burst of up to `limit` calls goes at once. A call
//!    counts from its admission until one window (+2 %) after its answer: the provider counts
//!    it when it arrives, somewhere in between (the bulkhead below may hold an admitted call
//!    back for a while), so counting until the answer keeps call n and call n + `limit` a
//!    whole window apart at the provider, whichever fixed windows it draws. The 2 % cover a
//!    provider whose clock or counting moment is a little off ours.
//! 2. The provider's own count corrects ours. `x-ratelimit-remaining` with
//!    `x-ratelimit-reset` (Unix epoch seconds; values too small to be an epoch are read as
//!    seconds from now), or IETF `RateLimit: "p";r=R;t=T` (T seconds; without T the window of
//!    `RateLimit-Policy: "p";q=Q;w=W`), say that R more calls may be made before the reset.
//!    We allow R less our other calls in flight (it may not have counted them yet); within one
//!    provider window the lower count and the earlier reset stand (a report with more calls
//!    left and a later reset starts the next window). Until the reset, each admission spends
//!    one; none left blocks every call until the reset, and so does a report of 0.
//! 3. A 429 or 503 with `Retry-After` (seconds or HTTP-date) blocks every call of every client
//!    until it has passed. A 429 without it blocks until the reset the provider announced, else
//!    for one window (the configured one, else the one of its `RateLimit-Policy`, else 1 s).
//! 4. A call that cannot be admitted before the request's deadline fails at once, unsent, with
//!    `RATE_LIMITED` and the wait in `retry_after`; one that can waits in line (first come,
//!    first served) and goes. The at-once check uses a lower bound of the wait (a call still
//!    in flight may answer later than now), so a call whose wait turns out longer gives up at
//!    the deadline, with the same error.
//! 5. A hint blocks a provider for at most a day; a header that does not parse is ignored, and
//!    never fails a call.
//! 6. `remaining()` is the lower of our own count and the provider's latest report in its
//!    window (0 while blocked); `is_low()` says that less than `shed_optional_below` of the
//!    configured quota is left. Without a configured quota nothing is limited locally: only
//!    the provider's hints (rules 2, 3) apply.
//!
//! The algorithm of rule 1 is a sliding-window log, kept as a first-come-first-served
//! semaphore of `limit` permits (tokio's, which also drops a cancelled waiter from the line): a
//! call holds a permit while in flight and a timer hands it back one window after the answer.
//! Hand-written because `governor` is GCRA only, whose burst-then-refill lets about twice the
//! limit through within one window length (a fixed-window provider refuses the excess with
//! 429), it cannot take the provider's own counts, and it runs on its own clock rather than
//! tokio's, which the tests pause.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::{HeaderMap, StatusCode};
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until, timeout_at};

use super::deadline::Deadline;
use crate::config::QuotaConfig;

/// Rule 1's margin on the window, in percent.
const WINDOW_MARGIN_PERCENT: u32 = 2;
/// Rule 5: the longest a provider's hint may block it (also caps our own estimates, so that
/// no clock arithmetic overflows).
const MAX_HOLD: Duration = Duration::from_secs(24 * 60 * 60);
/// Rule 3's window when neither the config nor the provider gives one.
const FALLBACK_WINDOW: Duration = Duration::from_secs(1);
/// Rule 2: an `x-ratelimit-reset` below this cannot be an epoch (it passed in 2001), so it is
/// a delay, as some providers send it.
const EPOCH_FLOOR: u64 = 1_000_000_000;

/// One provider's quota as far as we know it: what rules 1 to 3 allow, shared by all the
/// provider's calls.
pub struct QuotaTracker {
    provider: &'static str,
    config: Option<QuotaConfig>,
    window: Option<SlidingWindow>,
    state: Arc<Mutex<State>>,
}

/// Rule 1: one permit per call that may still count at the provider.
struct SlidingWindow {
    limit: u32,
    /// The configured window.
    length: Duration,
    /// How long a permit stays out after its call's answer: the window plus the margin.
    cool_down: Duration,
    permits: Arc<Semaphore>,
}

#[derive(Default)]
struct State {
    /// When the permits cooling down come back, earliest first.
    cooling: VecDeque<Instant>,
    /// Calls waiting in line for a permit.
    queued: usize,
    /// Calls admitted and not answered yet.
    in_flight: u32,
    /// No call before this (rules 2 and 3).
    blocked_until: Option<Instant>,
    /// The provider's count (rule 2).
    reported: Option<Report>,
    /// The window of the provider's `RateLimit-Policy`.
    announced_window: Option<Duration>,
}

/// Rule 2: `remaining` more calls may be made before `reset`.
#[derive(Debug, Clone, Copy)]
struct Report {
    remaining: u32,
    reset: Instant,
}

impl QuotaTracker {
    pub fn new(provider: &'static str, config: Option<&QuotaConfig>) -> Self {
        let window = config.map(|c| {
            // Config validation rejects a zero limit; the bounds keep `new` total anyway.
            let most = u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX);
            let limit = c.limit.clamp(1, most);
            let length = Duration::from_secs(c.window_s).min(MAX_HOLD);
            SlidingWindow {
                limit,
                length,
                cool_down: length + length * WINDOW_MARGIN_PERCENT / 100,
                permits: Arc::new(Semaphore::new(limit as usize)),
            }
        });
        QuotaTracker {
            provider,
            config: config.cloned(),
            window,
            state: Arc::default(),
        }
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Calls we may still make now (rule 6); `None` without a configured quota and without a
    /// report from the provider.
    pub fn remaining(&self) -> Option<u32> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.blocked(now).is_some() {
            return Some(0);
        }
        let own = self.window.as_ref().map(|w| {
            let free = w.permits.available_permits().saturating_sub(state.queued);
            u32::try_from(free).unwrap_or(u32::MAX)
        });
        let reported = state.reported.map(|r| r.remaining);
        match (own, reported) {
            (Some(own), Some(reported)) => Some(own.min(reported)),
            (own, reported) => own.or(reported),
        }
    }

    /// The configured quota: calls per window.
    pub fn limit(&self) -> Option<u32> {
        self.config.as_ref().map(|c| c.limit)
    }

    /// Whether so little quota is left that optional fields should be shed (rule 6).
    pub fn is_low(&self) -> bool {
        let Some(config) = &self.config else {
            return false;
        };
        self.remaining().is_some_and(|left| {
            f64::from(left) < config.shed_optional_below * f64::from(config.limit.max(1))
        })
    }

    /// Admits one call (rules 1 to 4) that counts as answered at once. [`Quota`] uses
    /// [`QuotaTracker::admit_call`] instead, so that its calls count until their answer.
    pub async fn admit(&self) -> Result<(), ProviderError> {
        self.admit_call().await.map(drop)
    }

    /// Admits one call (rules 1 to 4); it counts against the quota until the returned
    /// [`Admission`] is dropped, and for one window more.
    pub async fn admit_call(&self) -> Result<Admission, ProviderError> {
        let deadline = Deadline::current();
        let permit = match &self.window {
            Some(window) => Some(self.take_permit(window, deadline).await?),
            None => None,
        };
        // A failure here drops the permit unused, which hands it straight back.
        self.pass_blocks(deadline).await?;
        Ok(Admission {
            permit,
            cool_down: self.window.as_ref().map_or(Duration::ZERO, |w| w.cool_down),
            state: self.state.clone(),
        })
    }

    /// How long the provider asked us to wait (rule 3), if it did and that time has not
    /// passed.
    pub fn held_for(&self) -> Option<Duration> {
        let now = Instant::now();
        let mut state = self.lock();
        state.blocked(now).map(|until| until - now)
    }

    /// Waits out a `Retry-After` that arrived after this call was admitted, so that a call
    /// queued below the quota (in the bulkhead) never reaches the provider before that time
    /// either; fails at once when the wait would end past the deadline. Does not count the
    /// call again: it was admitted already.
    pub async fn hold_while_told_to_wait(&self) -> Result<(), ProviderError> {
        let deadline = Deadline::current();
        loop {
            let now = Instant::now();
            let until = {
                let mut state = self.lock();
                if state.blocked_until.is_some_and(|b| b <= now) {
                    state.blocked_until = None;
                }
                match state.blocked_until {
                    None => return Ok(()),
                    Some(until) => until,
                }
            };
            self.check_deadline(until, now, deadline)?;
            sleep_until(until).await;
        }
    }

    /// Learns from a provider's answer (rules 2 and 3).
    pub fn observe(&self, response: &UpstreamResponse) {
        let now = Instant::now();
        let hints = Hints::read(&response.headers);
        let mut state = self.lock();
        if let Some(window) = hints.policy_window {
            state.announced_window = Some(window);
        }
        let window = self.window_length(&state);
        let reset = hints.reset.map(|wait| after(now, wait));
        if let Some(remaining) = hints.remaining {
            let reset = reset.unwrap_or_else(|| after(now, window));
            let others_in_flight = state.in_flight.saturating_sub(1);
            state.report(
                Report {
                    remaining: remaining.saturating_sub(others_in_flight),
                    reset,
                },
                now,
            );
            if remaining == 0 {
                self.block(&mut state, reset, now, "the provider reports no call left");
            }
        }
        let status = response.status;
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            if let Some(wait) = response.retry_after() {
                self.block(&mut state, after(now, wait), now, "Retry-After");
            } else if status == StatusCode::TOO_MANY_REQUESTS {
                let known_reset = reset.or(state.reported.map(|r| r.reset));
                let until = known_reset
                    .filter(|at| *at > now)
                    .unwrap_or_else(|| after(now, window));
                self.block(&mut state, until, now, "429 without Retry-After");
            }
        }
    }

    /// Rule 1: waits in line for a permit, unless the line is too long for the deadline.
    async fn take_permit(
        &self,
        window: &SlidingWindow,
        deadline: Option<Instant>,
    ) -> Result<OwnedSemaphorePermit, ProviderError> {
        {
            let now = Instant::now();
            let mut state = self.lock();
            let position = state.queued;
            let at = self.earliest(window, &mut state, now, position);
            self.check_deadline(at, now, deadline)?;
            state.queued += 1;
        }
        let _in_line = InLine(&self.state);
        let acquire = window.permits.clone().acquire_owned();
        let acquired = match deadline {
            Some(deadline) => timeout_at(deadline, acquire).await.ok(),
            None => Some(acquire.await),
        };
        match acquired {
            Some(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; this only keeps that invariant from panicking.
            Some(Err(_closed)) => Err(ProviderError::Unavailable {
                status: None,
                message: "quota limiter closed".into(),
                retry_after: None,
            }),
            None => {
                let now = Instant::now();
                let mut state = self.lock();
                let position = state.queued.saturating_sub(1);
                let at = self.earliest(window, &mut state, now, position);
                Err(self.rate_limited(at.saturating_duration_since(now)))
            }
        }
    }

    /// Rules 2 to 4: waits out the provider's blocks, then spends one of its reported calls.
    async fn pass_blocks(&self, deadline: Option<Instant>) -> Result<(), ProviderError> {
        loop {
            let now = Instant::now();
            let until = {
                let mut state = self.lock();
                match state.blocked(now) {
                    None => {
                        state.admit();
                        return Ok(());
                    }
                    Some(until) => until,
                }
            };
            self.check_deadline(until, now, deadline)?;
            // Looped: a block may have been extended meanwhile.
            sleep_until(until).await;
        }
    }

    /// A lower bound of when the call at `position` in line could go (rule 4).
    fn earliest(
        &self,
        window: &SlidingWindow,
        state: &mut State,
        now: Instant,
        position: usize,
    ) -> Instant {
        let local = window.earliest(state, now, position);
        state.blocked(now).map_or(local, |until| until.max(local))
    }

    fn check_deadline(
        &self,
        at: Instant,
        now: Instant,
        deadline: Option<Instant>,
    ) -> Result<(), ProviderError> {
        match deadline {
            Some(deadline) if at > now && at >= deadline => {
                Err(self.rate_limited(at.saturating_duration_since(now)))
            }
            _ => Ok(()),
        }
    }

    fn rate_limited(&self, wait: Duration) -> ProviderError {
        ProviderError::RateLimited {
            message: format!(
                "{} quota admits no call before the request's deadline",
                self.provider
            ),
            retry_after: Some(wait),
        }
    }

    fn block(&self, state: &mut State, until: Instant, now: Instant, reason: &'static str) {
        if until <= now || state.blocked_until.is_some_and(|b| b >= until) {
            return;
        }
        state.blocked_until = Some(until);
        let wait_ms = until.saturating_duration_since(now).as_millis();
        tracing::info!(
            provider = self.provider,
            wait_ms = u64::try_from(wait_ms).unwrap_or(u64::MAX),
            reason,
            "provider quota: holding every call"
        );
    }

    /// Rule 3's "one window".
    fn window_length(&self, state: &State) -> Duration {
        self.window
            .as_ref()
            .map(|w| w.length)
            .or(state.announced_window)
            .unwrap_or(FALLBACK_WINDOW)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl SlidingWindow {
    /// When the call at `position` in line gets a permit, at the earliest: the first `free`
    /// calls now; the next ones as the cooling permits come back; then as the permits of calls
    /// in flight do (a window after an answer that may come now); past `limit`, one window
    /// after the call `limit` places ahead, which holds the permit it will get.
    fn earliest(&self, state: &State, now: Instant, position: usize) -> Instant {
        let free = self.permits.available_permits();
        if position < free {
            return now;
        }
        let limit = self.limit as usize;
        let (rounds, place) = (position / limit, position % limit);
        let first = match place.checked_sub(free) {
            None => now,
            Some(back) => state
                .cooling
                .get(back)
                .copied()
                .unwrap_or_else(|| after(now, self.cool_down)),
        };
        let rounds = u32::try_from(rounds).unwrap_or(u32::MAX);
        after(first.max(now), self.cool_down.saturating_mul(rounds))
    }
}

impl State {
    /// Until when every call is held (rules 2 and 3); forgets what has expired.
    fn blocked(&mut self, now: Instant) -> Option<Instant> {
        if self.blocked_until.is_some_and(|b| b <= now) {
            self.blocked_until = None;
        }
        if self.reported.is_some_and(|r| r.reset <= now) {
            self.reported = None;
        }
        let spent = self.reported.filter(|r| r.remaining == 0).map(|r| r.reset);
        match (self.blocked_until, spent) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn admit(&mut self) {
        self.in_flight += 1;
        if let Some(report) = &mut self.reported {
            report.remaining = report.remaining.saturating_sub(1);
        }
    }

    /// Rule 2's merge of a new report into the one we hold.
    fn report(&mut self, new: Report, now: Instant) {
        let current = self.reported.filter(|r| r.reset > now);
        self.reported = Some(match current {
            Some(old) if !(new.remaining > old.remaining && new.reset > old.reset) => Report {
                remaining: old.remaining.min(new.remaining),
                reset: old.reset.min(new.reset),
            },
            _ => new,
        });
    }
}

/// An admitted call. Dropping it (the call's answer, or its abandonment) ends the call; its
/// permit comes back one window later (rule 1).
#[must_use = "the call counts as ended when the admission is dropped"]
pub struct Admission {
    permit: Option<OwnedSemaphorePermit>,
    cool_down: Duration,
    state: Arc<Mutex<State>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        let Some(permit) = self.permit.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to send anything with: the permit is not needed any more.
            permit.forget();
            return;
        };
        let back_at = after(Instant::now(), self.cool_down);
        state.cooling.push_back(back_at);
        let shared = self.state.clone();
        runtime.spawn(async move {
            sleep_until(back_at).await;
            // Together, so that a permit is always either cooling or free (rule 4's estimate).
            let mut state = lock(&shared);
            state.cooling.pop_front();
            drop(permit);
        });
    }
}

/// A place in the line for a permit, given up when the call gets one or stops waiting.
struct InLine<'a>(&'a Mutex<State>);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let mut state = lock(self.0);
        state.queued = state.queued.saturating_sub(1);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// `wait` after `at`, capped by rule 5.
fn after(at: Instant, wait: Duration) -> Instant {
    at + wait.min(MAX_HOLD)
}

/// What one answer's headers say about the provider's quota (rule 2).
#[derive(Debug, Default, PartialEq)]
struct Hints {
    /// Calls left in the provider's window.
    remaining: Option<u32>,
    /// Time until the window resets.
    reset: Option<Duration>,
    /// The window of its `RateLimit-Policy`.
    policy_window: Option<Duration>,
}

impl Hints {
    fn read(headers: &HeaderMap) -> Hints {
        let mut hints = Hints::default();
        if let Some(remaining) = header_u64(headers, "x-ratelimit-remaining") {
            hints.remaining = Some(u32::try_from(remaining).unwrap_or(u32::MAX));
            hints.reset = header_u64(headers, "x-ratelimit-reset").map(reset_wait);
        }
        let limit = ietf_ratelimit(headers);
        hints.policy_window =
            ietf_policy_window(headers, limit.as_ref().map(|l| l.policy.as_str()));
        if let Some(limit) = limit
            && hints.remaining.is_none_or(|r| limit.remaining < r)
        {
            hints.remaining = Some(limit.remaining);
            hints.reset = limit.reset.or(hints.policy_window);
        }
        hints
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `x-ratelimit-reset` as a wait.
fn reset_wait(value: u64) -> Duration {
    if value < EPOCH_FLOOR {
        return Duration::from_secs(value);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(value).saturating_sub(now)
}

/// The most restrictive member of an IETF `RateLimit` field.
struct IetfLimit {
    policy: String,
    remaining: u32,
    reset: Option<Duration>,
}

fn ietf_ratelimit(headers: &HeaderMap) -> Option<IetfLimit> {
    let members = sf::parse_list(&joined(headers, "ratelimit")?)?;
    members
        .into_iter()
        .filter_map(|member| {
            let remaining = u32::try_from(member.integer("r")??).ok()?;
            let reset = match member.integer("t") {
                None => None,
                Some(t) => Some(Duration::from_secs(u64::try_from(t?).ok()?)),
            };
            Some(IetfLimit {
                policy: member.item,
                remaining,
                reset,
            })
        })
        .min_by_key(|l| (l.remaining, std::cmp::Reverse(l.reset)))
}

/// The `w` of the `RateLimit-Policy` member named `policy`, else of its first member.
fn ietf_policy_window(headers: &HeaderMap, policy: Option<&str>) -> Option<Duration> {
    let members = sf::parse_list(&joined(headers, "ratelimit-policy")?)?;
    let member = members
        .iter()
        .find(|m| Some(m.item.as_str()) == policy)
        .or(members.first())?;
    let w = u64::try_from(member.integer("w")??).ok()?;
    (w > 0).then(|| Duration::from_secs(w))
}

/// All lines of a field, as one list (RFC 9110 5.3).
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str())
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    (!lines.is_empty()).then(|| lines.join(","))
}

/// Just enough of RFC 8941 (structured fields) to read the IETF `RateLimit` fields: a List of
/// string or token items with parameters. Hand-written because none of the crates we depend
/// on parses structured fields. As the RFC asks, a field that does not parse is ignored whole.
mod sf {
    #[derive(Debug, PartialEq)]
    pub struct Member {
        pub item: String,
        /// Parameters in order; the value is `Some` for an integer.
        params: Vec<(String, Option<i64>)>,
    }

    impl Member {
        /// `None` without the parameter; `Some(None)` when it is not an integer.
        pub fn integer(&self, key: &str) -> Option<Option<i64>> {
            // The last of duplicate keys wins (RFC 8941 4.2.3.2).
            self.params
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| *v)
        }
    }

    pub fn parse_list(input: &str) -> Option<Vec<Member>> {
        let mut p = Parser {
            s: input.as_bytes(),
            i: 0,
        };
        let mut members = Vec::new();
        p.skip_ows();
        if p.done() {
            return Some(members);
        }
        loop {
            members.push(p.member()?);
            p.skip_ows();
            if p.done() {
                return Some(members);
            }
            if !p.eat(b',') {
                return None;
            }
            p.skip_ows();
            if p.done() {
                return None;
            }
        }
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn done(&self) -> bool {
            self.i >= self.s.len()
        }

        fn eat(&mut self, c: u8) -> bool {
            let hit = self.peek() == Some(c);
            if hit {
                self.i += 1;
            }
            hit
        }

        fn skip_ows(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }

        fn member(&mut self) -> Option<Member> {
            let item = match self.peek()? {
                b'"' => self.string()?,
                c if c.is_ascii_alphabetic() || c == b'*' => self.token(),
                _ => return None,
            };
            let mut params = Vec::new();
            while self.eat(b';') {
                while self.eat(b' ') {}
                let key = self.key()?;
                let value = if self.eat(b'=') {
                    self.bare_item()?
                } else {
                    None // a boolean true
                };
                params.push((key, value));
            }
            Some(Member { item, params })
        }

        fn string(&mut self) -> Option<String> {
            self.i += 1; // the opening quote
            let mut out = String::new();
            loop {
                match self.peek()? {
                    b'"' => {
                        self.i += 1;
                        return Some(out);
                    }
                    b'\\' => {
                        self.i += 1;
                        let c = self.peek().filter(|c| matches!(c, b'"' | b'\\'))?;
                        out.push(char::from(c));
                        self.i += 1;
                    }
                    c @ 0x20..=0x7e => {
                        out.push(char::from(c));
                        self.i += 1;
                    }
                    _ => return None,
                }
            }
        }

        fn token(&mut self) -> String {
            let start = self.i;
            self.i += 1;
            while self
                .peek()
                .is_some_and(|c| is_tchar(c) || c == b':' || c == b'/')
            {
                self.i += 1;
            }
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
        }

        fn key(&mut self) -> Option<String> {
            let start = self.i;
            if !self
                .peek()
                .is_some_and(|c| c.is_ascii_lowercase() || c == b'*')
            {
                return None;
            }
            self.i += 1;
            while self.peek().is_some_and(|c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'.' | b'*')
            }) {
                self.i += 1;
            }
            Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
        }

        /// A parameter's value: `Some(n)` for an integer, `None` for any other valid item.
        fn bare_item(&mut self) -> Option<Option<i64>> {
            match self.peek()? {
                b'-' | b'0'..=b'9' => self.number(),
                b'"' => self.string().map(|_| None),
                b'?' => {
                    self.i += 1;
                    self.peek().filter(|c| matches!(c, b'0' | b'1'))?;
                    self.i += 1;
                    Some(None)
                }
                b':' => {
                    self.i += 1;
                    while self.peek().is_some_and(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')
                    }) {
                        self.i += 1;
                    }
                    self.eat(b':').then_some(None)
                }
                c if c.is_ascii_alphabetic() || c == b'*' => {
                    self.token();
                    Some(None)
                }
                _ => None,
            }
        }

        /// An integer (at most 15 digits) or a decimal, as RFC 8941 4.2.4 reads them.
        fn number(&mut self) -> Option<Option<i64>> {
            let negative = self.eat(b'-');
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let digits = self.i - start;
            if digits == 0 || digits > 15 {
                return None;
            }
            if self.eat(b'.') {
                let fraction = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                }
                let fraction = self.i - fraction;
                return (digits <= 12 && (1..=3).contains(&fraction)).then_some(None);
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
            let n: i64 = text.parse().ok()?;
            Some(Some(if negative { -n } else { n }))
        }
    }

    fn is_tchar(c: u8) -> bool {
        c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
    }
}

/// The layer: admits each attempt within the provider's quota and learns from its answer.
pub struct Quota<T> {
    inner: T,
    tracker: Arc<QuotaTracker>,
}

impl<T> Quota<T> {
    pub fn new(inner: T, tracker: Arc<QuotaTracker>) -> Self {
        Quota { inner, tracker }
    }
}

#[async_trait]
impl<T: Transport> Transport for Quota<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let asked = Instant::now();
        let admission = self.tracker.admit_call().await;
        crate::metrics::quota_admission(
            self.tracker.provider(),
            asked.elapsed(),
            admission.is_ok(),
        );
        let admission = admission?;
        let result = self.inner.send(request).await;
        if let Ok(response) = &result {
            // Before the admission ends, so that this call is not among "the others in flight".
            self.tracker.observe(response);
        }
        drop(admission);
        result
    }
}

/// The last check before the wire, under the bulkhead: see
/// [`QuotaTracker::hold_while_told_to_wait`].
pub struct RetryAfterGate<T> {
    inner: T,
    tracker: Arc<QuotaTracker>,
}

impl<T> RetryAfterGate<T> {
    pub fn new(inner: T, tracker: Arc<QuotaTracker>) -> Self {
        RetryAfterGate { inner, tracker }
    }
}

#[async_trait]
impl<T: Transport> Transport for RetryAfterGate<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let asked = Instant::now();
        let held = self.tracker.hold_while_told_to_wait().await;
        crate::metrics::quota_admission(self.tracker.provider(), asked.elapsed(), held.is_ok());
        held?;
        self.inner.send(request).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::{HeaderName, HeaderValue};
    use providers::transport::testing::json;

    use super::*;

    fn config(limit: u32, window_s: u64) -> QuotaConfig {
        QuotaConfig {
            limit,
            window_s,
            shed_optional_below: 0.2,
        }
    }

    fn tracker(config: Option<QuotaConfig>) -> Arc<QuotaTracker> {
        Arc::new(QuotaTracker::new("test", config.as_ref()))
    }

    fn answer(status: u16, headers: &[(&'static str, &str)]) -> UpstreamResponse {
        let mut response = json(status, "{}");
        for (name, value) in headers {
            response.headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        response
    }

    fn request() -> UpstreamRequest {
        UpstreamRequest::get("GET /things", "/things")
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    /// A provider that answers from a script (then 200) after `latency`, and records when
    /// each call reached it.
    struct Scripted {
        script: Mutex<VecDeque<UpstreamResponse>>,
        latency: Duration,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn new(latency: Duration, script: Vec<UpstreamResponse>) -> Arc<Self> {
            Arc::new(Scripted {
                script: Mutex::new(script.into()),
                latency,
                calls: Mutex::default(),
            })
        }

        fn calls(&self) -> Vec<Instant> {
            self.calls.lock().unwrap().clone()
        }
    }

    /// A test provider shared between the layer under test and the test's checks.
    struct Shared<T>(Arc<T>);

    #[async_trait]
    impl Transport for Shared<Scripted> {
        async fn send(&self, _: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
            let this = &self.0;
            this.calls.lock().unwrap().push(Instant::now());
            tokio::time::sleep(this.latency).await;
            let next = this.script.lock().unwrap().pop_front();
            Ok(next.unwrap_or_else(|| answer(200, &[])))
        }
    }

    /// Admits once in a task and says how long after `start` it got through.
    fn admit_later(
        tracker: &Arc<QuotaTracker>,
        start: Instant,
    ) -> tokio::task::JoinHandle<Duration> {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            tracker.admit().await.unwrap();
            start.elapsed()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_the_limit_goes_at_once_and_the_next_call_waits_for_the_window() {
        let quota = tracker(Some(config(5, 10)));
        let start = Instant::now();
        for _ in 0..5 {
            quota.admit().await.unwrap();
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(quota.remaining(), Some(0));
        quota.admit().await.unwrap();
        let waited = start.elapsed();
        assert!(waited >= secs(10.0) && waited <= secs(10.21), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_counts_until_one_window_after_its_answer() {
        let provider = Scripted::new(secs(5.0), vec![]);
        let layer = Quota::new(Shared(provider.clone()), tracker(Some(config(1, 10))));
        let start = Instant::now();
        layer.send(request()).await.unwrap();
        layer.send(request()).await.unwrap();
        let calls = provider.calls();
        let gap = calls[1] - calls[0];
        // Answered at 5 s, so the slot comes back at 5 + 10.2 s.
        assert!(gap >= secs(15.2) && gap <= secs(15.21), "{gap:?}");
        assert_eq!(calls[0], start);
    }

    /// A provider counting fixed windows from its first request, as the simulators (and
    /// express-rate-limit) do, announcing its count in IETF fields; the network and the
    /// bulkhead hold each call back a different time before it arrives.
    struct FixedWindowProvider {
        /// Whether it sends its count (without, only rule 1 keeps within the quota).
        announces: bool,
        limit: u32,
        window: Duration,
        counter: Mutex<(Option<Instant>, u32)>,
        arrivals: Mutex<Vec<Instant>>,
        refused: AtomicUsize,
        sent: AtomicUsize,
    }

    #[async_trait]
    impl Transport for Shared<FixedWindowProvider> {
        async fn send(&self, _: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
            let this = &self.0;
            let n = this.sent.fetch_add(1, Ordering::SeqCst) as u64;
            tokio::time::sleep(Duration::from_millis(n * 37 % 150)).await;
            let now = Instant::now();
            this.arrivals.lock().unwrap().push(now);
            let (admitted, remaining, reset_in) = {
                let mut counter = this.counter.lock().unwrap();
                let (started, used) = &mut *counter;
                if started.is_none_or(|s| now - s >= this.window) {
                    *started = Some(now);
                    *used = 0;
                }
                let admitted = *used < this.limit;
                if admitted {
                    *used += 1;
                }
                let reset_in = this.window - (now - started.unwrap_or(now));
                (admitted, this.limit - *used, reset_in)
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            let t = reset_in.as_millis().div_ceil(1000).max(1).to_string();
            let policy = format!("\"default\";q={};w={}", this.limit, this.window.as_secs());
            let limit = format!("\"default\";r={remaining};t={t}");
            let mut headers = vec![];
            if this.announces {
                headers.extend([("ratelimit-policy", policy.as_str()), ("ratelimit", &limit)]);
            }
            if admitted {
                return Ok(answer(200, &headers));
            }
            this.refused.fetch_add(1, Ordering::SeqCst);
            headers.push(("retry-after", &t));
            Ok(answer(429, &headers))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_of_the_provider_ever_holds_more_than_the_limit_under_ten_times_the_load() {
        ten_times_the_load(true).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_local_window_alone_keeps_a_silent_provider_within_its_limit() {
        ten_times_the_load(false).await;
    }

    async fn ten_times_the_load(announces: bool) {
        let provider = Arc::new(FixedWindowProvider {
            announces,
            limit: 20,
            window: secs(1.0),
            counter: Mutex::default(),
            arrivals: Mutex::default(),
            refused: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
        });
        let layer = Arc::new(Quota::new(
            Shared(provider.clone()),
            tracker(Some(config(20, 1))),
        ));
        let start = Instant::now();
        let mut calls = Vec::new();
        // 200 calls a second for 5 s, each with a 2 s deadline.
        for _ in 0..50 {
            for _ in 0..20 {
                let layer = layer.clone();
                let deadline = Instant::now() + secs(2.0);
                calls.push(tokio::spawn(Deadline::scope(deadline, async move {
                    let asked = Instant::now();
                    (layer.send(request()).await, asked.elapsed())
                })));
            }
            tokio::time::sleep(secs(0.1)).await;
        }
        let mut answered = 0;
        for call in calls {
            match call.await.unwrap() {
                (Ok(response), _) => {
                    assert_eq!(response.status, StatusCode::OK);
                    answered += 1;
                }
                (Err(e), waited) => {
                    assert_eq!(e.code(), "RATE_LIMITED");
                    assert!(e.retry_after().is_some(), "{e:?}");
                    assert!(waited <= secs(2.0), "{waited:?}");
                }
            }
        }
        assert_eq!(provider.refused.load(Ordering::SeqCst), 0);
        let mut arrivals = provider.arrivals.lock().unwrap().clone();
        arrivals.sort();
        let mut first = 0;
        for (last, at) in arrivals.iter().enumerate() {
            while *at - arrivals[first] >= secs(1.0) {
                first += 1;
            }
            assert!(
                last - first < 20,
                "{} calls within 1 s up to {:?}",
                last - first + 1,
                *at - start
            );
        }
        // The first second's burst went at once, and the quota was used, not wasted.
        assert!(arrivals[..20].iter().all(|at| *at - start < secs(0.15)));
        assert!(answered >= 100, "only {answered} calls in 7 s");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_with_retry_after_in_seconds_holds_every_call_until_it_has_passed() {
        let provider = Scripted::new(Duration::ZERO, vec![answer(429, &[("retry-after", "3")])]);
        let layer = Arc::new(Quota::new(
            Shared(provider.clone()),
            tracker(Some(config(100, 10))),
        ));
        let start = Instant::now();
        let refused = layer.send(request()).await.unwrap();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let layer = layer.clone();
                tokio::spawn(async move { layer.send(request()).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let calls = provider.calls();
        assert_eq!(calls.len(), 4);
        assert!(
            calls[1..].iter().all(|at| *at - start == secs(3.0)),
            "{calls:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_with_retry_after_as_an_http_date_holds_every_call_until_then() {
        let quota = tracker(None);
        // Whole seconds, as HTTP-dates have them: 3 to 4 s from now.
        let at = chrono::Utc::now() + chrono::Duration::seconds(4);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        quota.observe(&answer(429, &[("retry-after", &date)]));
        assert_eq!(quota.remaining(), Some(0));
        let start = Instant::now();
        let waits: Vec<_> = (0..3).map(|_| admit_later(&quota, start)).collect();
        for wait in waits {
            let waited = wait.await.unwrap();
            assert!(waited >= secs(2.9) && waited <= secs(4.0), "{waited:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_of_no_call_left_holds_every_call_until_the_reset() {
        let quota = tracker(Some(config(100, 10)));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let reset = (now.as_secs() + 3).to_string();
        quota.observe(&answer(
            200,
            &[
                ("x-ratelimit-limit", "100"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ],
        ));
        assert_eq!(quota.remaining(), Some(0));
        assert!(quota.is_low());
        let start = Instant::now();
        quota.admit().await.unwrap();
        let waited = start.elapsed();
        assert!(waited > secs(2.0) && waited <= secs(3.0), "{waited:?}");
        assert_eq!(quota.remaining(), Some(99));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_too_small_to_be_an_epoch_is_read_as_seconds() {
        let quota = tracker(None);
        quota.observe(&answer(
            200,
            &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "4")],
        ));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(4.0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ietf_report_of_no_call_left_holds_every_call_for_its_t_seconds() {
        let quota = tracker(Some(config(20, 1)));
        quota.observe(&answer(
            200,
            &[
                ("ratelimit-policy", "\"default\";q=20;w=1"),
                ("ratelimit", "\"default\";r=0;t=2"),
            ],
        ));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(2.0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ietf_report_caps_the_next_calls_within_its_window() {
        let quota = tracker(None);
        quota.observe(&answer(200, &[("ratelimit", "\"default\";r=5;t=10")]));
        assert_eq!(quota.remaining(), Some(5));
        let start = Instant::now();
        for _ in 0..5 {
            quota.admit().await.unwrap();
        }
        assert_eq!(Instant::now(), start);
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(10.0));
        // The window has reset: nothing is known any more, nothing is held.
        assert_eq!(quota.remaining(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_report_leaves_room_for_the_other_calls_in_flight() {
        let provider = Scripted::new(
            secs(1.0),
            vec![answer(200, &[("ratelimit", "\"default\";r=5;t=10")])],
        );
        let layer = Arc::new(Quota::new(Shared(provider), tracker(None)));
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let layer = layer.clone();
                tokio::spawn(async move { layer.send(request()).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        // The provider may not have counted the two others when it said 5.
        assert_eq!(layer.tracker.remaining(), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn within_one_provider_window_the_lower_count_and_the_earlier_reset_stand() {
        let quota = tracker(None);
        let ietf =
            |r: u32, t: u32| answer(200, &[("ratelimit", &format!("\"default\";r={r};t={t}"))]);
        quota.observe(&ietf(3, 2));
        tokio::time::advance(secs(0.5)).await;
        // Its t is rounded up to whole seconds: a later reset with fewer calls left is still
        // the same window, and the earlier reset stands.
        quota.observe(&ietf(2, 2));
        // More left, earlier reset: an answer overtaken by a later one.
        quota.observe(&ietf(3, 1));
        assert_eq!(quota.remaining(), Some(2));
        tokio::time::advance(secs(1.0)).await;
        assert_eq!(quota.remaining(), None);
        quota.observe(&ietf(1, 1));
        // More left and a later reset: the next window.
        quota.observe(&ietf(9, 5));
        assert_eq!(quota.remaining(), Some(9));
    }

    #[tokio::test(start_paused = true)]
    async fn headers_that_do_not_parse_are_ignored() {
        let quota = tracker(None);
        let malformed: &[(u16, &[(&'static str, &str)])] = &[
            (200, &[("ratelimit", "\"default\";r=0;t=5,")]),
            (200, &[("ratelimit", "\"default\";r=0;t=5;")]),
            (200, &[("ratelimit", "\"default\";r=-1;t=5")]),
            (200, &[("ratelimit", "\"default\";r=zero;t=5")]),
            (200, &[("ratelimit", "\"default\";r=0;t=-5")]),
            (200, &[("ratelimit", "\"default;r=0;t=5")]),
            (200, &[("ratelimit", "r=0, t=5")]),
            (200, &[("ratelimit", "(\"default\");r=0")]),
            (200, &[("ratelimit", "\"default\";r=1234567890123456;t=5")]),
            (200, &[("x-ratelimit-remaining", "none")]),
            (200, &[("x-ratelimit-remaining", "-1")]),
            (200, &[("x-ratelimit-remaining", "0.0")]),
            (503, &[("retry-after", "soon")]),
            (503, &[("retry-after", "-3")]),
        ];
        for (status, headers) in malformed {
            quota.observe(&answer(*status, headers));
        }
        let mut binary = answer(200, &[]);
        binary.headers.insert(
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from_bytes(b"\xff0").unwrap(),
        );
        binary.headers.insert(
            HeaderName::from_static("ratelimit"),
            HeaderValue::from_bytes(b"\"d\xe9fault\";r=0;t=5").unwrap(),
        );
        quota.observe(&binary);
        let start = Instant::now();
        for _ in 0..100 {
            quota.admit().await.unwrap();
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(quota.remaining(), None);
    }

    #[test]
    fn the_structured_fields_of_the_ietf_headers_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "ratelimit-policy",
            HeaderValue::from_static(
                "\"burst\";q=100;w=60, \"daily\";q=1000;w=86400;qu=\"requests\"",
            ),
        );
        headers.insert(
            "ratelimit",
            HeaderValue::from_static("\"daily\";r=900;t=5000,\t\"burst\";r=17;t=12"),
        );
        assert_eq!(
            Hints::read(&headers),
            Hints {
                remaining: Some(17),
                reset: Some(secs(12.0)),
                policy_window: Some(secs(60.0)),
            }
        );
        let list =
            sf::parse_list("token/x:1;a;b=?1;c=1.5;d=:aGk=:;e=tok, \"q\\\"uote\";r=3;r=4").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].item, "token/x:1");
        assert_eq!(list[0].integer("a"), Some(None));
        assert_eq!(list[0].integer("c"), Some(None));
        assert_eq!(list[0].integer("r"), None);
        assert_eq!(list[1].item, "q\"uote");
        assert_eq!(list[1].integer("r"), Some(Some(4)));
        assert_eq!(sf::parse_list("").unwrap(), vec![]);
        for bad in [
            "a,", ",a", "a;", "a;B=1", "a;b=", "1", "a b", "\"a\\x\"", "a;b=1.", "a;b=?2",
        ] {
            assert_eq!(sf::parse_list(bad), None, "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_two_header_families_combine_to_the_lower_count() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("50"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("30"));
        headers.insert("ratelimit", HeaderValue::from_static("\"default\";r=7"));
        assert_eq!(
            Hints::read(&headers),
            Hints {
                remaining: Some(7),
                reset: None,
                policy_window: None,
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_cannot_be_admitted_before_the_deadline_fails_at_once_unsent() {
        let provider = Scripted::new(Duration::ZERO, vec![]);
        let layer = Quota::new(Shared(provider.clone()), tracker(Some(config(2, 10))));
        layer.send(request()).await.unwrap();
        layer.send(request()).await.unwrap();
        let start = Instant::now();
        let error = Deadline::scope(start + secs(1.0), layer.send(request()))
            .await
            .unwrap_err();
        assert_eq!(Instant::now(), start);
        assert_eq!(error.code(), "RATE_LIMITED");
        assert_eq!(error.retry_after(), Some(secs(10.2)));
        assert_eq!(provider.calls().len(), 2);
        // One that can be admitted in time waits and goes.
        Deadline::scope(start + secs(11.0), layer.send(request()))
            .await
            .unwrap();
        assert_eq!(start.elapsed(), secs(10.2));
        assert_eq!(provider.calls().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_behind_a_line_too_long_for_its_deadline_fails_at_once() {
        let quota = tracker(Some(config(2, 10)));
        quota.admit().await.unwrap();
        quota.admit().await.unwrap();
        let start = Instant::now();
        // Three in line: two get the permits back at 10.2 s, the third at 20.4 s.
        let line: Vec<_> = (0..3).map(|_| admit_later(&quota, start)).collect();
        tokio::task::yield_now().await;
        let fourth = Deadline::scope(start + secs(15.0), quota.admit()).await;
        assert_eq!(Instant::now(), start);
        assert_eq!(fourth.unwrap_err().retry_after(), Some(secs(20.4)));
        let waits: Vec<_> = futures_util::future::join_all(line)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(waits, vec![secs(10.2), secs(10.2), secs(20.4)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_block_past_the_deadline_fails_at_once_and_one_within_it_waits() {
        let quota = tracker(Some(config(100, 10)));
        quota.observe(&answer(429, &[("retry-after", "5")]));
        let start = Instant::now();
        let error = Deadline::scope(start + secs(1.0), quota.admit())
            .await
            .unwrap_err();
        assert_eq!(Instant::now(), start);
        assert_eq!(error.retry_after(), Some(secs(5.0)));
        Deadline::scope(start + secs(6.0), quota.admit())
            .await
            .unwrap();
        assert_eq!(start.elapsed(), secs(5.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_stops_waiting_gives_up_its_place_in_line() {
        let quota = tracker(Some(config(1, 10)));
        quota.admit().await.unwrap();
        let start = Instant::now();
        assert!(
            tokio::time::timeout(secs(1.0), quota.admit())
                .await
                .is_err()
        );
        // Had the abandoned place been kept, this call would be second in line (20.4 s).
        Deadline::scope(start + secs(10.5), quota.admit())
            .await
            .unwrap();
        assert_eq!(start.elapsed(), secs(10.2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_quota_is_low_when_less_than_a_fifth_is_left() {
        let quota = tracker(Some(config(10, 60)));
        for _ in 0..8 {
            quota.admit().await.unwrap();
        }
        assert_eq!(quota.remaining(), Some(2));
        assert!(!quota.is_low());
        quota.admit().await.unwrap();
        assert_eq!(quota.remaining(), Some(1));
        assert!(quota.is_low());

        // The provider's count counts too.
        let quota = tracker(Some(config(10, 60)));
        assert!(!quota.is_low());
        quota.observe(&answer(200, &[("ratelimit", "\"default\";r=1;t=30")]));
        assert_eq!(quota.remaining(), Some(1));
        assert!(quota.is_low());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_quota_nothing_is_held_but_the_providers_hints() {
        let quota = tracker(None);
        let start = Instant::now();
        for _ in 0..1000 {
            quota.admit().await.unwrap();
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(quota.remaining(), None);
        assert!(!quota.is_low());
        quota.observe(&answer(429, &[("retry-after", "1")]));
        assert!(!quota.is_low());
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(1.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_without_retry_after_holds_until_the_known_reset_else_for_one_window() {
        let quota = tracker(Some(config(100, 10)));
        quota.observe(&answer(
            429,
            &[("x-ratelimit-remaining", "3"), ("x-ratelimit-reset", "4")],
        ));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(4.0));

        let quota = tracker(Some(config(100, 10)));
        quota.observe(&answer(429, &[]));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(10.0));

        let quota = tracker(None);
        quota.observe(&answer(429, &[("ratelimit-policy", "\"default\";q=5;w=7")]));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(7.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_503_holds_calls_only_with_retry_after() {
        let quota = tracker(None);
        quota.observe(&answer(503, &[]));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(Instant::now(), start);
        quota.observe(&answer(503, &[("retry-after", "2")]));
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), secs(2.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_of_years_holds_the_provider_for_a_day_at_most() {
        let quota = tracker(None);
        quota.observe(&answer(429, &[("retry-after", "18446744073709551615")]));
        let start = Instant::now();
        quota.admit().await.unwrap();
        assert_eq!(start.elapsed(), MAX_HOLD);
    }
}
