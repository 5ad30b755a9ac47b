//! The request deadline: every GraphQL request has one, and every upstream attempt made for
//! it gets at most the time left.
//!
//! It travels as a tokio task-local, set around the request's execution and carried into the
//! tasks that loaders and single-flight fetches spawn (see [`Deadline::carry`], which carries
//! the request's [`Usage`] along with it), so that no adapter or capability trait has to
//! thread it through.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::usage::Usage;

tokio::task_local! {
    static DEADLINE: Instant;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline;

impl Deadline {
    /// Runs `future` with the deadline `at`.
    pub async fn scope<F: Future>(at: Instant, future: F) -> F::Output {
        DEADLINE.scope(at, future).await
    }

    /// The deadline of the current task, if it has one.
    pub fn current() -> Option<Instant> {
        DEADLINE.try_with(|d| *d).ok()
    }

    /// Time left before the deadline (zero once passed); `None` without a deadline.
    pub fn remaining() -> Option<Duration> {
        Self::current().map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// `future` with the current task's deadline and usage (if any), for a task about to be
    /// spawned.
    pub fn carry<F>(future: F) -> impl Future<Output = F::Output> + Send
    where
        F: Future + Send,
        F::Output: Send,
    {
        let at = Self::current();
        let usage = Usage::current();
        async move {
            match (at, usage) {
                (Some(at), Some(usage)) => Usage::scope(usage, DEADLINE.scope(at, future)).await,
                (Some(at), None) => DEADLINE.scope(at, future).await,
                (None, Some(usage)) => Usage::scope(usage, future).await,
                (None, None) => future.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_reaches_spawned_tasks_that_carry_it() {
        let at = Instant::now() + Duration::from_secs(3);
        let left = Deadline::scope(at, async {
            tokio::spawn(Deadline::carry(async { Deadline::remaining() }))
                .await
                .unwrap()
        })
        .await;
        assert_eq!(left, Some(Duration::from_secs(3)));
        assert_eq!(Deadline::remaining(), None);
    }
}
