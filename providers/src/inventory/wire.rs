//! The warehouse service's own JSON and form shapes (`inventory.openapi.yaml`, v2.3), shared by
//! the adapter (which reads them) and the sandbox (which writes them).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /oauth/token` form body (RFC 6749 §4.4 client credentials).
#[derive(Deserialize)]
pub(crate) struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
}

pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";

/// `POST /oauth/token` 200 body.
#[derive(Serialize, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds from issue until the token stops being accepted.
    pub expires_in: u64,
}

// By hand so that a token never reaches a log line through `{:?}`.
impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// `GET /v2/stock` 200 body.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StockResponse {
    pub items: Vec<StockItem>,
    /// Requested SKUs the warehouse does not know, in request order.
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StockItem {
    pub sku: String,
    pub available: u32,
    pub reserved: u32,
    pub warehouse: String,
    pub updated_at: DateTime<Utc>,
}

/// `POST /v2/reservations` body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReservationRequest {
    pub order_id: String,
    pub items: Vec<ReservationLine>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReservationLine {
    pub sku: String,
    pub quantity: u32,
}

/// `POST /v2/reservations` 201 body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reservation {
    pub reservation_id: String,
    pub order_id: String,
    pub status: String,
    pub expires_at: String,
}

/// Every error the service answers: `{"error": "<code>"}`, plus details for some codes
/// (`max` for `too_many_skus`, `sku`/`available` for `insufficient_stock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<u32>,
}

impl ErrorBody {
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
            max: None,
            sku: None,
            available: None,
        }
    }
}

/// The largest batch `GET /v2/stock` accepts; one more is a 400 `too_many_skus`.
pub(crate) const MAX_SKUS_PER_CALL: usize = 50;

/// Error codes the adapter acts on.
pub(crate) const INVALID_TOKEN: &str = "invalid_token";
pub(crate) const INVALID_CLIENT: &str = "invalid_client";
