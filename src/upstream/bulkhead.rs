//! Bulkhead: a provider gets at most N calls in flight; further calls wait for a slot. Each
//! provider has its own, so a queue behind a slow provider never holds other providers'
//! connections or tasks.

use std::sync::Arc;

use async_trait::async_trait;
use providers::{ProviderError, Transport, UpstreamRequest, UpstreamResponse};
use tokio::sync::Semaphore;

use super::deadline::Deadline;

pub struct Bulkhead<T> {
    inner: T,
    slots: Arc<Semaphore>,
    provider: &'static str,
}

impl<T> Bulkhead<T> {
    pub fn new(inner: T, provider: &'static str, max_in_flight: usize) -> Self {
        Bulkhead {
            inner,
            slots: Arc::new(Semaphore::new(max_in_flight)),
            provider,
        }
    }
}

#[async_trait]
impl<T: Transport> Transport for Bulkhead<T> {
    async fn send(&self, request: UpstreamRequest) -> Result<UpstreamResponse, ProviderError> {
        let acquire = self.slots.acquire();
        // Waiting for a slot counts against the request's deadline like any other wait.
        let queued = crate::metrics::BulkheadGauge::queued(self.provider);
        let permit = match Deadline::current() {
            Some(at) => tokio::time::timeout_at(at, acquire)
                .await
                .map_err(|_| ProviderError::Timeout)?,
            None => acquire.await,
        };
        drop(queued);
        let _in_flight = crate::metrics::BulkheadGauge::in_flight(self.provider);
        // The semaphore is never closed, so acquiring only fails if that invariant breaks.
        let _permit = permit.map_err(|_| ProviderError::Unavailable {
            status: None,
            message: "bulkhead closed".into(),
            retry_after: None,
        })?;
        self.inner.send(request).await
    }
}
