//! Every outbound call goes through here. [`transport_for`] assembles one provider's
//! [`Transport`] from its config; the order of the layers is visible in that one function,
//! and each layer is a small file that states its rules.

mod bulkhead;
mod client;
pub mod single_flight;

use std::sync::Arc;

use providers::Transport;

use crate::config::ProviderConfig;

pub use client::HttpClient;

/// The transport the adapters of provider `name` send through, pointed at `base_url`.
///
/// Order, outermost first:
/// 1. bulkhead: at most `max_in_flight` calls in flight, so one slow provider cannot take
///    the process's connections and tasks;
/// 2. client: one attempt over HTTP with connect and attempt timeouts and a body size cap.
pub fn transport_for(
    name: &'static str,
    base_url: &str,
    config: &ProviderConfig,
) -> anyhow::Result<Arc<dyn Transport>> {
    let client = HttpClient::new(name, base_url, config)?;
    Ok(Arc::new(bulkhead::Bulkhead::new(
        client,
        config.max_in_flight,
    )))
}
