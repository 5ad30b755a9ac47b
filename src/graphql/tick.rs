//! Batches that close when the execution has gone as far as it can.
//!
//! async-graphql's DataLoader starts a batch on a spawned task after a fixed delay (1 ms). On a
//! multi-threaded runtime that task can run on another core while the request's own task is
//! still registering keys (resolving a list of products takes longer than 1 ms in a debug
//! build), so one list's keys split into two batches. The JavaScript DataLoader avoids this by
//! closing a batch on the next tick of the event loop; this gives the loaders the same rule: a
//! batch may start only when the request's execution is idle, i.e. it returned `Pending`
//! without having woken itself. (A self-wake means it only yielded to be fair: futures'
//! `FuturesUnordered`, which resolves long lists, yields every 32 items.) Every key that the
//! execution could register without waiting for I/O is then in.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct ExecutionTick {
    inner: Arc<TickState>,
}

#[derive(Default)]
struct TickState {
    /// The execution is being polled or has been woken and will be polled again.
    busy: AtomicBool,
    /// A wake arrived since the current poll began.
    woken: AtomicBool,
    idle: Notify,
}

/// Passes wakes on to the task, noting that the execution has more work to do.
struct TickWaker {
    state: Arc<TickState>,
    task: Waker,
}

impl Wake for TickWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.state.woken.store(true, Ordering::SeqCst);
        self.state.busy.store(true, Ordering::SeqCst);
        self.task.wake_by_ref();
    }
}

impl ExecutionTick {
    /// Wraps the request's execution so that the tick knows when it is being polled.
    pub fn track<F: Future + Send + 'static>(&self, future: F) -> Tracked<F::Output> {
        Tracked {
            future: Box::pin(future),
            tick: self.clone(),
        }
    }

    /// Resolves once the tracked execution is between polls.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.inner.busy.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

pub struct Tracked<T> {
    future: Pin<Box<dyn Future<Output = T> + Send>>,
    tick: ExecutionTick,
}

/// Marks the end of a poll, even one that unwinds: idle unless the poll woke itself.
struct EndOfPoll<'a>(&'a TickState);

impl Drop for EndOfPoll<'_> {
    fn drop(&mut self) {
        if !self.0.woken.load(Ordering::SeqCst) {
            self.0.busy.store(false, Ordering::SeqCst);
            self.0.idle.notify_waiters();
        }
    }
}

impl<T> Future for Tracked<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let state = self.tick.inner.clone();
        state.busy.store(true, Ordering::SeqCst);
        state.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(Arc::new(TickWaker {
            state: state.clone(),
            task: cx.waker().clone(),
        }));
        let _end = EndOfPoll(&state);
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_self_wake_is_not_idle() {
        let tick = ExecutionTick::default();
        let mut polls = 0;
        let work = tick.track(std::future::poll_fn(move |cx| {
            polls += 1;
            if polls == 1 {
                // Yield for fairness, as FuturesUnordered does.
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        assert!(!tick.inner.busy.load(Ordering::SeqCst));
        let mut work = Box::pin(work);
        let waker = Waker::from(Arc::new(NoopWake));
        let mut cx = Context::from_waker(&waker);
        assert!(work.as_mut().poll(&mut cx).is_pending());
        assert!(tick.inner.busy.load(Ordering::SeqCst), "yielded, not idle");
        assert!(work.as_mut().poll(&mut cx).is_ready());
        assert!(!tick.inner.busy.load(Ordering::SeqCst));
    }

    struct NoopWake;

    impl Wake for NoopWake {
        fn wake(self: Arc<Self>) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_waits_for_the_current_poll_to_end() {
        let tick = ExecutionTick::default();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let waiter = {
            let tick = tick.clone();
            tokio::spawn(async move {
                started_rx.recv().ok();
                tick.idle().await;
            })
        };
        let work = tick.track(async move {
            started_tx.send(()).ok();
            // Blocks this poll until the test has checked that the waiter is still waiting.
            release_rx.recv().ok();
        });
        let runner = tokio::spawn(work);
        // While the poll is in progress, idle() must not resolve.
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        release_tx.send(()).ok();
        runner.await.unwrap();
        waiter.await.unwrap();
    }
}
