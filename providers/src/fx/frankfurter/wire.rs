//! Frankfurter v1's JSON, as the service sends it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

pub use crate::fx::exact_number::ExactNumber;

/// `GET /v1/latest` and `GET /v1/{date}`:
/// `{"amount":1.0,"base":"AUD","date":"2025-01-31","rates":{"BGN":1.171,..,"IDR":10143,..}}`.
/// `amount` is not read: the adapter never asks for another amount than the default 1.
#[derive(Debug, Deserialize)]
pub struct Quote {
    pub base: String,
    pub date: NaiveDate,
    pub rates: BTreeMap<String, ExactNumber>,
}

/// Every refusal: `{"message":"not found"}`, `{"message":"bad currency pair"}`, ...
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}
