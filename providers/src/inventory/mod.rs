//! Inventory: the storefront's internal warehouse service (`inventory.openapi.yaml`, v2.3),
//! stock levels by SKU.
//!
//! Quirks the adapter handles:
//! * OAuth2 client credentials: a bearer token from `POST /oauth/token`, reused until shortly
//!   before it expires, fetched by one request however many calls need it at once; a
//!   `401 invalid_token` means refresh once and retry once (`auth.rs`).
//! * `GET /v2/stock?skus=A,B,C` takes at most 50 SKUs (51 is a 400); longer lists are split.
//! * Unknown SKUs are not errors: the service lists them under `missing`, the adapter leaves
//!   them out of the map. A SKU that is empty or contains a comma cannot be asked for (the
//!   service splits on commas) and is treated the same way.
//! * 20 requests per second, announced with the IETF `RateLimit-Policy` / `RateLimit` fields;
//!   429 and 503 carry `Retry-After`.
//! * Reservations (`POST /v2/reservations`, Idempotency-Key) exist in the sandbox only so far;
//!   no capability uses them yet.
//!
//! [`sandbox()`] simulates the service (gateway default port 9103) with stock for every SKU of
//! the DummyJSON catalogue; [`SANDBOX_CLIENT_ID`] / [`SANDBOX_CLIENT_SECRET`] are the only
//! credentials it accepts.

mod adapter;
mod auth;
mod sandbox;
mod wire;

#[cfg(test)]
mod tests;

pub use adapter::Warehouse;
pub use auth::Credentials;
pub use sandbox::{
    SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SandboxOptions, sandbox, sandbox_with,
};
