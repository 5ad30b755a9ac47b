//! The query parameters as `cleanRequest` (`src/middleware/clean-request.js`) reads and
//! validates them, each in the server's order with its exact 400.

use std::time::Duration;

use axum::http::{StatusCode, Uri};

use super::error::ApiError;
use super::js;
use crate::catalog::wire;

pub(super) struct Options {
    /// `parseInt(limit, 10)`: may be NaN or negative, which the controller then slices with.
    pub(super) limit: f64,
    /// `parseInt(skip, 10)`, echoed in the envelope (NaN is written `null`).
    pub(super) skip: f64,
    /// `['id', ...select]`.
    pub(super) select: Option<Vec<String>>,
    /// The normalized search text (empty matches everything).
    pub(super) search: String,
    pub(super) sort: Option<Sort>,
    pub(super) delay_ms: f64,
}

pub(super) struct Sort {
    /// The property key `a[sortBy]` reads (`sortBy` converted to a string).
    pub(super) key: String,
    pub(super) ascending: bool,
}

impl Options {
    pub(super) fn from_query(uri: &Uri) -> Result<Options, ApiError> {
        let query = js::parse_query(uri.query().unwrap_or_default());
        let param = |name: &str| query.get(name);

        let limit = param("limit");
        if limit.is_some_and(|l| l.to_number().is_nan()) {
            return Err(ApiError::bad_request("Invalid 'limit' - must be a number"));
        }
        let skip = param("skip");
        if skip.is_some_and(|s| s.to_number().is_nan()) {
            return Err(ApiError::bad_request("Invalid 'skip' - must be a number"));
        }

        let search = match param("q") {
            None => String::new(),
            Some(js::Param::Str(q)) => wire::normalize_search(q),
            Some(js::Param::Obj(entries)) if entries.iter().any(|(k, _)| k == "valueSearch") => {
                let q = entries
                    .iter()
                    .find(|(k, _)| k == "valueSearch")
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_default();
                wire::normalize_search(q)
            }
            Some(_) => return Err(ApiError::bad_request("Invalid 'q' - must be a string")),
        };

        let delay = param("delay").filter(|d| d.truthy());
        if let Some(delay) = delay {
            let ms = delay.to_number();
            if ms.is_nan() {
                return Err(ApiError::bad_request(
                    "Delay must be a number in milliseconds",
                ));
            }
            if ms > 5000.0 {
                return Err(ApiError::bad_request(
                    "Delay cannot be greater than 5 seconds",
                ));
            }
            if ms < 0.0 {
                return Err(ApiError::bad_request("Delay cannot be less than 0"));
            }
        }

        let select = match param("select") {
            Some(js::Param::Str(s)) if !s.is_empty() => Some(
                std::iter::once("id".to_owned())
                    .chain(s.split(',').map(str::to_owned))
                    .collect(),
            ),
            Some(js::Param::Arr(items)) => Some(
                std::iter::once("id".to_owned())
                    .chain(items.iter().cloned())
                    .collect(),
            ),
            _ => None,
        };

        let sort_by = param("sortBy").filter(|s| s.truthy());
        let order = param("order").filter(|o| o.truthy());
        let sort = match (sort_by, order) {
            (None, _) => None,
            (Some(sort_by), None) => Some(Sort {
                key: sort_by.to_js_string(),
                ascending: true,
            }),
            (Some(sort_by), Some(js::Param::Str(order))) => {
                let ascending = match order.to_lowercase().as_str() {
                    "asc" => true,
                    "desc" => false,
                    _ => return Err(ApiError::bad_request("Order can be: 'asc' or 'desc'")),
                };
                Some(Sort {
                    key: sort_by.to_js_string(),
                    ascending,
                })
            }
            // `order.toLowerCase()` on an array or object throws a TypeError: a 500.
            (Some(_), Some(_)) => {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "order.toLowerCase is not a function",
                ));
            }
        };

        Ok(Options {
            limit: limit.map_or(30.0, |l| js::parse_int(&l.to_js_string())),
            skip: skip.map_or(0.0, |s| js::parse_int(&s.to_js_string())),
            select,
            search,
            sort,
            delay_ms: delay.map_or(0.0, |d| js::parse_int(&d.to_js_string())),
        })
    }

    /// `setTimeout(next, delay)` when `delay` is truthy.
    pub(super) async fn wait(&self) {
        if self.delay_ms > 0.0 {
            tokio::time::sleep(Duration::from_millis(self.delay_ms.min(5000.0) as u64)).await;
        }
    }
}
