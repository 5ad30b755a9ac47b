//! ExchangeRate-API's open access JSON, as it sends it.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::fx::exact_number::ExactNumber;

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
