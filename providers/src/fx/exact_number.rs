//! A JSON number read from, and written as, its own decimal text (`16291`, `0.87495`,
//! `5.9e-05`), never through a binary float, so that a rate is the exact decimal the provider
//! wrote. Both exchange-rate vendors' JSON reads its rates with it.

use rust_decimal::Decimal;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// A JSON number as the exact decimal its text says.
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

impl Serialize for ExactNumber {
    /// Plain notation without trailing zeros, as ExchangeRate-API writes (`2`, `4017.47619`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.normalize().to_string();
        RawValue::from_string(text)
            .map_err(S::Error::custom)?
            .serialize(serializer)
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
