//! ExchangeRate-API's open access endpoint (`https://open.er-api.com/v6`, WIRE-FORMATS.md §3):
//! daily rates for about 160 currencies from any base, free and keyless. Switchyard's failover
//! exchange-rate provider.
//!
//! Quirks: `GET /v6/latest/{BASE}` answers `{"result":"success",..,"time_last_update_unix":..,
//! "base_code":..,"rates":{..}}` where the base itself is among the rates (as `1`, listed first,
//! the others alphabetically), whole values are JSON ints (`"BBD":2`), and the day the rates are
//! for is only given as the Unix time of the last update; failures are
//! `{"result":"error","error-type":".."}` (`unsupported-code` for an unknown base) whose HTTP
//! status is not documented; "rate limited" without published numbers (429, after which the
//! docs say to wait 20 minutes); updates once a day.
//!
//! * `wire`: ExchangeRate-API's JSON;
//! * `adapter`: [`ErApi`], the [`crate::ExchangeRates`] capability over that JSON;
//! * `sandbox`: [`sandbox()`], the simulated endpoint over a real 2024-08-19 USD snapshot.

mod adapter;
mod sandbox;
mod wire;

#[cfg(test)]
mod tests;

pub use adapter::ErApi;
pub use sandbox::{DEFAULT_PORT, QUOTA_REQUESTS, QUOTA_WINDOW, sandbox};
