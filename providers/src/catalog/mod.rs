//! The catalog: DummyJSON's products API (<https://dummyjson.com/docs/products>, WIRE-FORMATS
//! §1), 194 products with ids 1..=194 in 24 categories, prices in USD.
//!
//! Quirks the adapter handles:
//! * no batch-by-ids endpoint: one `GET /products/{id}` per product;
//! * offset paging with `limit`/`skip`, where `limit=0` means "all" and the envelope's `limit`
//!   is the number returned, not the number asked for; `select=` trims the ~2 kB products to
//!   the fields the domain uses;
//! * search and category are separate endpoints that cannot be combined: both together fetch
//!   the (small) category and search it here with DummyJSON's own rule;
//! * `brand` is absent from about half the products; numbers are integers or fractions;
//! * errors are `{"message": ...}`: 404 for an unknown id, 400 for bad parameters, 429 past
//!   100 requests per 10 s (`x-ratelimit-*` headers, reset in epoch seconds).
//!
//! [`sandbox()`] serves the real catalogue with the server's own semantics, byte for byte.

mod adapter;
mod sandbox;
mod wire;

#[cfg(test)]
mod tests;

pub use adapter::DummyJson;
pub use sandbox::{QUOTA_LIMIT, QUOTA_WINDOW, RATE_LIMITED_MESSAGE, sandbox};
