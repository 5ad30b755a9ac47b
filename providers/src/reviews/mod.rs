//! The third-party reviews vendor (`reviews.openapi.yaml`): one product's reviews per call,
//! newest first, with a summary of all of them.
//!
//! Quirks: no batch endpoint (one call per product, billed per call); the API key travels in
//! `X-Api-Key` and a bad one is a 401 that retrying cannot fix; slow, and at most 8 concurrent
//! requests per key (the 9th gets 503 + `Retry-After`); 600 requests per minute announced with
//! GitHub-style `X-RateLimit-*` headers (429 + `Retry-After` over quota); opaque cursors;
//! `limit` only in `1..=20`; `summary.average` is null when there are no reviews.
//!
//! * `wire`: the vendor's JSON;
//! * `adapter`: [`ReviewsVendor`], the [`crate::Reviews`] capability over that JSON;
//! * `sandbox`: [`sandbox()`], the simulated vendor, over `data` (DummyJSON's real reviews plus
//!   generated ones).

mod adapter;
mod data;
mod sandbox;
mod wire;

#[cfg(test)]
mod tests;

pub use adapter::ReviewsVendor;
pub use sandbox::{DEFAULT_PORT, SANDBOX_API_KEY, sandbox};
