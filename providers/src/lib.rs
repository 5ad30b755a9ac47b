//! Switchyard's domain and its providers.
//!
//! The domain types ([`domain`]) are what the gateway's GraphQL schema speaks; the capability
//! traits ([`capability`]) are what resolvers call. Each provider folder translates one
//! upstream's wire format into those types and back, sending its requests through the
//! [`Transport`] the gateway hands it. Nothing here knows GraphQL, the gateway's routes or its
//! policy stack: timeouts, retries, rate limits and caching live in the gateway, once, for every
//! provider. Each provider also ships a `sandbox`: a small HTTP server that speaks the real
//! upstream's wire format, so the gateway runs and is tested offline.

pub mod capability;
pub mod domain;
pub mod error;
pub mod sandbox;
pub mod transport;

pub mod catalog;
pub mod fx;
pub mod inventory;
pub mod reviews;

pub use capability::{Catalog, ExchangeRates, Inventory, Reviews};
pub use error::ProviderError;
pub use transport::{Transport, UpstreamRequest, UpstreamResponse};
