//! Frankfurter v1 (`https://api.frankfurter.dev/v1`, WIRE-FORMATS.md §2): the European Central
//! Bank's reference rates, published once per business day around 16:00 CET, free and keyless.
//! Switchyard's primary exchange-rate provider.
//!
//! Quirks: the base URL is the host, so every path carries `/v1`; `GET /v1/latest?base=XXX`
//! answers `{"amount":1.0,"base":..,"date":..,"rates":{..}}` with rates rebased from EUR and
//! rounded by size (an integer above 5000, so `"IDR":16291` is a JSON int); a plain EUR answer
//! may be unrounded; `date` is the business day the rates are for, which lags weekends and
//! holidays; EUR is among the rates whenever the base is not EUR, the base never is; refusals
//! are `{"message":".."}` with 404 (unknown currency) or 422 (bad amount, date or pair); no
//! API key, no rate-limit headers.
//!
//! * `wire`: Frankfurter's JSON;
//! * `adapter`: [`Frankfurter`], the [`crate::ExchangeRates`] capability over that JSON;
//! * `sandbox`: [`sandbox()`], the simulated service over a small embedded ECB dataset.

mod adapter;
mod sandbox;
mod wire;

#[cfg(test)]
mod tests;

pub use adapter::Frankfurter;
pub use sandbox::{DEFAULT_PORT, sandbox};
