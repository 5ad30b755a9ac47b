//! Exchange rates: two vendors with different shapes for the same domain ([`Rates`]), and the
//! failover between them.
//!
//! * [`frankfurter`]: Frankfurter v1, the ECB's reference rates; the primary.
//! * [`erapi`]: ExchangeRate-API's open access endpoint; the failover.
//! * [`Failover`]: asks the primary, and the failover when the primary fails.
//!
//! Both publish once per day, so a rate stays good until the next business day's update; rates
//! are exact decimals read from the JSON number's own text, ints or floats alike, restricted to
//! the [`Currency`] set (ExchangeRate-API's other codes are dropped) and never listing the base.
//!
//! [`Rates`]: crate::domain::Rates
//! [`Currency`]: crate::domain::Currency

pub mod erapi;
pub(crate) mod exact_number;
mod failover;
pub mod frankfurter;
#[cfg(test)]
mod test_support;

pub use erapi::ErApi;
pub use failover::Failover;
pub use frankfurter::Frankfurter;
