//! What a client's rate limits said about one request, as the IETF RateLimit header fields
//! (draft-ietf-httpapi-ratelimit-headers, structured-field form, as the inventory provider
//! sends them): `RateLimit-Policy: "requests";q=1200;w=60, "cost";q=60000;w=60` and
//! `RateLimit: "requests";r=1187;t=1, "cost";r=59480;t=1`, plus `Retry-After` when refused.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One limit's state after a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetItem {
    /// `requests` or `cost`.
    pub name: &'static str,
    /// The amount per window.
    pub quota: u32,
    pub window_s: u32,
    /// What is left now, and the seconds until all of it is back; `None` when unknown.
    pub remaining: Option<(u32, u64)>,
}

/// The limits a request was admitted under; empty when they are unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Budget {
    items: Vec<BudgetItem>,
}

impl Budget {
    pub(super) fn of(item: BudgetItem) -> Budget {
        Budget { items: vec![item] }
    }

    pub fn items(&self) -> &[BudgetItem] {
        &self.items
    }

    /// Both budgets, as one set of headers (the request's, then its cost's).
    pub fn join(mut self, other: Budget) -> Budget {
        self.items.extend(other.items);
        self
    }

    /// Sets `RateLimit-Policy` and `RateLimit`; nothing when no limit applies.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        write_items(&self.items, headers);
    }
}

/// A request over its client's limit: 429 `RATE_LIMITED`. It is the client's own limit, so
/// the error names no provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    /// The admitted items first, then the one that refused.
    items: Vec<BudgetItem>,
    retry_after: Option<Duration>,
    message: String,
}

impl Limited {
    pub const STATUS: StatusCode = StatusCode::TOO_MANY_REQUESTS;
    pub const CODE: &'static str = "RATE_LIMITED";

    pub(super) fn new(item: BudgetItem, retry_after: Option<Duration>, message: String) -> Self {
        Limited {
            items: vec![item],
            retry_after,
            message,
        }
    }

    /// The same refusal, with the limits the request had already passed in its headers.
    pub fn after(mut self, admitted: Budget) -> Limited {
        let mut items = admitted.items;
        items.append(&mut self.items);
        self.items = items;
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long until the request could pass; `None` when it never can (a cost above the
    /// whole window's amount).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// `RateLimit-Policy`, `RateLimit` and (when it could ever pass) `Retry-After` in whole
    /// seconds, rounded up.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        write_items(&self.items, headers);
        if let Some(after) = self.retry_after {
            let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
    }

    /// The GraphQL error: `extensions.code` and, when it could pass later,
    /// `extensions.retryAfterMs`.
    pub fn graphql_error(&self) -> Value {
        let mut extensions = json!({ "code": Self::CODE });
        if let Some(after) = self.retry_after {
            let ms = after.as_nanos().div_ceil(1_000_000);
            extensions["retryAfterMs"] = json!(u64::try_from(ms).unwrap_or(u64::MAX));
        }
        json!({ "message": self.message, "extensions": extensions })
    }
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn write_items(items: &[BudgetItem], headers: &mut HeaderMap) {
    if items.is_empty() {
        return;
    }
    let policy = items
        .iter()
        .map(|i| format!("\"{}\";q={};w={}", i.name, i.quota, i.window_s))
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::try_from(policy) {
        headers.insert(RATELIMIT_POLICY, value);
    }
    let state = items
        .iter()
        .filter_map(|i| {
            let (remaining, full_in) = i.remaining?;
            Some(format!("\"{}\";r={remaining};t={full_in}", i.name))
        })
        .collect::<Vec<_>>()
        .join(", ");
    if !state.is_empty()
        && let Ok(value) = HeaderValue::try_from(state)
    {
        headers.insert(RATELIMIT, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &'static str, quota: u32, remaining: Option<(u32, u64)>) -> BudgetItem {
        BudgetItem {
            name,
            quota,
            window_s: 60,
            remaining,
        }
    }

    #[test]
    fn a_budget_renders_both_items_in_one_field_each() {
        let budget = Budget::of(item("requests", 1200, Some((1199, 1)))).join(Budget::of(item(
            "cost",
            60000,
            Some((59500, 1)),
        )));
        let mut headers = HeaderMap::new();
        budget.write_headers(&mut headers);
        assert_eq!(
            headers["ratelimit-policy"],
            "\"requests\";q=1200;w=60, \"cost\";q=60000;w=60"
        );
        assert_eq!(
            headers["ratelimit"],
            "\"requests\";r=1199;t=1, \"cost\";r=59500;t=1"
        );
        assert!(headers.get("retry-after").is_none());
    }

    #[test]
    fn an_unlimited_budget_sends_no_headers() {
        let mut headers = HeaderMap::new();
        Budget::default()
            .join(Budget::default())
            .write_headers(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn a_refusal_says_when_to_retry_rounded_up() {
        let limited = Limited::new(
            item("cost", 100, Some((3, 59))),
            Some(Duration::from_millis(2001)),
            "over".to_string(),
        )
        .after(Budget::of(item("requests", 10, Some((9, 6)))));
        let mut headers = HeaderMap::new();
        limited.write_headers(&mut headers);
        assert_eq!(headers["retry-after"], "3");
        assert_eq!(
            headers["ratelimit"],
            "\"requests\";r=9;t=6, \"cost\";r=3;t=59"
        );
        let error = limited.graphql_error();
        assert_eq!(error["extensions"]["code"], "RATE_LIMITED");
        assert_eq!(error["extensions"]["retryAfterMs"], 2001);
        assert!(error["extensions"].get("provider").is_none());
    }

    #[test]
    fn a_refusal_that_can_never_pass_has_no_retry_time() {
        let limited = Limited::new(item("cost", 100, None), None, "too costly".to_string());
        let mut headers = HeaderMap::new();
        limited.write_headers(&mut headers);
        assert!(headers.get("retry-after").is_none());
        assert!(headers.get("ratelimit").is_none());
        assert_eq!(headers["ratelimit-policy"], "\"cost\";q=100;w=60");
        assert!(
            limited.graphql_error()["extensions"]
                .get("retryAfterMs")
                .is_none()
        );
    }
}
