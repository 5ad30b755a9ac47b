//! The fixed-window request counter that the simulators use to enforce their provider's quota
//! (express-rate-limit, which DummyJSON runs, counts this way; so do most vendors' gateways).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

#[derive(Debug)]
pub struct FixedWindow {
    max: u32,
    window: Duration,
    state: Mutex<WindowState>,
}

#[derive(Debug)]
struct WindowState {
    started: Instant,
    used: u32,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    pub admitted: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Time until the window resets.
    pub reset_in: Duration,
}

impl WindowCount {
    /// The reset time as Unix epoch seconds (rounded up), as `x-ratelimit-reset` carries it.
    pub fn reset_epoch_secs(&self) -> u64 {
        let at = SystemTime::now() + self.reset_in;
        let secs = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        secs.as_secs() + u64::from(secs.subsec_nanos() > 0)
    }

    /// The reset delay in whole seconds (rounded up, at least 1), as `Retry-After` and the
    /// IETF `RateLimit` field's `t` carry it.
    pub fn reset_secs(&self) -> u64 {
        let ms = self.reset_in.as_millis() as u64;
        ms.div_ceil(1000).max(1)
    }
}

impl FixedWindow {
    pub fn new(max: u32, window: Duration) -> Self {
        FixedWindow {
            max,
            window,
            state: Mutex::new(WindowState {
                started: Instant::now(),
                used: 0,
            }),
        }
    }

    /// Counts one request and says whether it is within the quota.
    pub fn hit(&self) -> WindowCount {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(state.started) >= self.window {
            state.started = now;
            state.used = 0;
        }
        let admitted = state.used < self.max;
        if admitted {
            state.used += 1;
        }
        WindowCount {
            admitted,
            limit: self.max,
            remaining: self.max - state.used,
            reset_in: self
                .window
                .saturating_sub(now.duration_since(state.started)),
        }
    }

    /// Starts a fresh window (admin reset).
    pub fn reset(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.started = Instant::now();
        state.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn admits_max_per_window_then_resets() {
        let w = FixedWindow::new(3, Duration::from_secs(10));
        assert!(w.hit().admitted);
        assert!(w.hit().admitted);
        let third = w.hit();
        assert!(third.admitted);
        assert_eq!(third.remaining, 0);
        let fourth = w.hit();
        assert!(!fourth.admitted);
        assert_eq!(fourth.reset_secs(), 10);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(w.hit().admitted);
    }
}
