//! The reviews vendor's own JSON, as `reviews.openapi.yaml` defines it. The adapter reads these
//! types and the sandbox writes them, so both agree on the format by construction.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `GET /v1/products/{productId}/reviews`: one page plus the summary of all reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReviewsPage {
    pub product_id: u64,
    pub summary: Summary,
    pub data: Vec<Review>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Summary {
    pub count: u32,
    /// `null` when `count` is 0.
    pub average: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Review {
    pub id: String,
    pub rating: u8,
    pub title: Option<String>,
    pub body: String,
    pub author: Author,
    pub created_at: DateTime<Utc>,
    pub verified_purchase: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Author {
    pub name: String,
}

/// Every non-200 answer: `{"error":{"code":"not_found","message":"no product 9999"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    pub code: String,
    pub message: String,
}
