//! ExchangeRate-API's open access JSON, as it sends it.

use rust_decimal::Decimal;
use serde::de::{MapAccess, Visitor};
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// The first look at any answer: `result` is `success` or `error`, and an error says why in
/// `error-type` (`unsupported-code`, `malformed-request`, `quota-reached`, ...).
#[derive(Debug, Deserialize)]
pub struct Outcome {
    pub result: String,
    #[serde(rename = "error-type")]
    pub error_type: Option<String>,
}

/// `GET /v6/latest/{base}` when it succeeds, fields in the order the API sends them. The
/// adapter needs only `time_last_update_unix`, `base_code` and `rates`; the other fields are
/// optional so that their disappearance does not break it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latest {
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_use: Option<String>,
    pub time_last_update_unix: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_last_update_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_next_update_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_next_update_utc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_eol_unix: Option<i64>,
    pub base_code: String,
    pub rates: RateList,
}

/// `rates`, in the order the API lists them (the base first, then alphabetically).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateList(pub Vec<(String, ExactNumber)>);

impl<'de> Deserialize<'de> for RateList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;

        impl<'de> Visitor<'de> for InOrder {
            type Value = RateList;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of currency codes to rates")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RateList, A::Error> {
                let mut rates = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry::<String, ExactNumber>()? {
                    rates.push(entry);
                }
                Ok(RateList(rates))
            }
        }

        deserializer.deserialize_map(InOrder)
    }
}

impl Serialize for RateList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (code, rate) in &self.0 {
            map.serialize_entry(code, rate)?;
        }
        map.end()
    }
}

/// A JSON number read from, and written as, its exact decimal text (`2`, `0.907539`), never
/// through a binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExactNumber(pub Decimal);

impl<'de> Deserialize<'de> for ExactNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        // RawValue accepts any JSON value; a quoted "1.5" or a null is not a rate.
        if !text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!(
                "expected a number, found `{text}`"
            )));
        }
        let parsed = if text.contains(['e', 'E']) {
            Decimal::from_scientific(text)
        } else {
            text.parse::<Decimal>()
        };
        parsed.map(ExactNumber).map_err(|err| {
            serde::de::Error::custom(format!("`{text}` is not a decimal number: {err}"))
        })
    }
}

impl Serialize for ExactNumber {
    /// Plain notation without trailing zeros, as the API writes (`2`, `4017.47619`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.normalize().to_string();
        RawValue::from_string(text)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}
