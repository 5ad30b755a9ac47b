//! Frankfurter v1's JSON, as the service sends it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

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

/// A JSON number read from its own text (`16291`, `0.87495`, `5.9e-05`), so that a rate is the
/// exact decimal the provider wrote rather than the nearest binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactNumber(pub Decimal);

impl<'de> Deserialize<'de> for ExactNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        parse_number(raw.get())
            .map(ExactNumber)
            .map_err(serde::de::Error::custom)
    }
}

fn parse_number(text: &str) -> Result<Decimal, String> {
    // RawValue accepts any JSON value; a quoted "1.5" or a null is not a rate.
    if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Err(format!("expected a number, found `{text}`"));
    }
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    parsed.map_err(|err| format!("`{text}` is not a decimal number: {err}"))
}
