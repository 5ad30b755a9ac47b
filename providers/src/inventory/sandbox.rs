//! The simulated warehouse service: the wire format, token rules and limits of
//! `inventory.openapi.yaml`, with stock for every product of the DummyJSON catalogue.
//!
//! * `POST /oauth/token`: client credentials; only [`SANDBOX_CLIENT_ID`] /
//!   [`SANDBOX_CLIENT_SECRET`] get a token (else 401 `invalid_client`). Tokens are opaque and
//!   stop being accepted [`SandboxOptions::token_lifetime`] of tokio time after issue, so paused
//!   time expires them. Not under the API quota (it is the authorization server's).
//! * `GET /v2/stock?skus=A,B`: bearer token required (401 `invalid_token`); 1 to 50 SKUs
//!   (else 400 `too_many_skus`); unknown SKUs listed under `missing` in request order;
//!   `Cache-Control: max-age=5`.
//! * `POST /v2/reservations`: bearer token and `Idempotency-Key` required. The same key with
//!   the same body replays the stored answer with `Idempotent-Replayed: true`, with another
//!   body it is 422, while the first request is still being processed it is 409. Holds stock
//!   (available down, reserved up) or answers 409 `insufficient_stock`; holds never lapse here.
//! * Quota: 20 requests per second over the `/v2/` endpoints, one fixed window for all
//!   clients, announced on every `/v2/` answer with `RateLimit-Policy` / `RateLimit`; over it
//!   429 `rate_limited` with `Retry-After`. `quota_off` removes the limit and its headers.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::Deserialize;
use tokio::time::Instant;

use super::wire::{
    self, ErrorBody, Reservation, ReservationRequest, StockItem, StockResponse, TokenRequest,
    TokenResponse,
};
use crate::sandbox::{FixedWindow, Sandbox, SandboxApp, SandboxHandle};

/// The client id the sandbox issues tokens to.
pub const SANDBOX_CLIENT_ID: &str = "switchyard-sandbox";
/// The secret that goes with [`SANDBOX_CLIENT_ID`]; worthless outside the sandbox.
pub const SANDBOX_CLIENT_SECRET: &str = "sandbox-secret-not-for-production";

/// Requests per second the service admits on its `/v2/` endpoints.
const QUOTA_PER_SECOND: u32 = 20;
/// How long a reservation holds its stock, as announced in `expiresAt`.
const RESERVATION_HOLD: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// The service's documented bound on `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const POLICY_VALUE: &str = "\"default\";q=20;w=1";
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The real DummyJSON catalogue: every product's `sku` gets a stock item.
const CATALOGUE: &str = include_str!("../../data/dummyjson-products.json");
const WAREHOUSES: [&str; 4] = ["FRA-1", "AMS-2", "WAW-1", "MAD-3"];

/// What a test may change about the simulated service.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// The `expires_in` of issued tokens; they are refused once this much tokio time passed.
    pub token_lifetime: Duration,
    /// How long a reservation stays in flight before it is answered, so that a test can send
    /// a second request with the same key while the first is still being processed.
    pub reservation_processing: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            token_lifetime: Duration::from_secs(3600),
            reservation_processing: Duration::ZERO,
        }
    }
}

/// The simulated warehouse service with its default options.
pub fn sandbox() -> Sandbox {
    sandbox_with(SandboxOptions::default())
}

pub fn sandbox_with(options: SandboxOptions) -> Sandbox {
    let app = SandboxApp::new();
    let handle = app.handle();
    let quota = handle.register_quota(Arc::new(FixedWindow::new(
        QUOTA_PER_SECOND,
        Duration::from_secs(1),
    )));
    let service = Arc::new(WarehouseService {
        options,
        handle: handle.clone(),
        quota,
        tokens: Mutex::default(),
        shelves: Mutex::new(stock_from_catalogue()),
        idempotency_keys: Mutex::default(),
    });
    let routes = Router::new()
        .route("/oauth/token", post(issue_token))
        .route("/v2/stock", get(stock))
        .route("/v2/reservations", post(reserve))
        .fallback(not_found)
        .with_state(service);
    Sandbox {
        router: app.into_router(routes, render_error),
        handle,
    }
}

struct WarehouseService {
    options: SandboxOptions,
    handle: SandboxHandle,
    quota: Arc<FixedWindow>,
    /// Issued tokens and when each stops being accepted.
    tokens: Mutex<HashMap<String, Instant>>,
    shelves: Mutex<HashMap<String, StockItem>>,
    idempotency_keys: Mutex<HashMap<String, KeyState>>,
}

enum KeyState {
    InFlight,
    Answered {
        request: serde_json::Value,
        status: StatusCode,
        body: Bytes,
    },
}

#[derive(Deserialize)]
struct CatalogueProduct {
    id: u64,
    sku: String,
    stock: u32,
}

fn stock_from_catalogue() -> HashMap<String, StockItem> {
    let products: Vec<CatalogueProduct> = match serde_json::from_str(CATALOGUE) {
        Ok(products) => products,
        Err(err) => {
            tracing::error!(%err, "inventory sandbox: embedded catalogue does not decode");
            Vec::new()
        }
    };
    let updated_at = Utc
        .with_ymd_and_hms(2026, 11, 28, 9, 12, 44)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH);
    products
        .into_iter()
        .map(|p| {
            let item = StockItem {
                sku: p.sku.clone(),
                available: p.stock,
                // Small, fixed per product, and different between neighbours.
                reserved: (p.id * 2 % 7) as u32,
                warehouse: WAREHOUSES[(p.id.saturating_sub(1) % WAREHOUSES.len() as u64) as usize]
                    .to_owned(),
                updated_at,
            };
            (p.sku, item)
        })
        .collect()
}

/// What the quota said about one request, echoed on its answer.
struct QuotaNotice {
    admitted: bool,
    /// `(remaining, seconds until the window resets)`; `None` while the quota is off.
    window: Option<(u32, u64)>,
}

impl QuotaNotice {
    fn announce(&self, headers: &mut HeaderMap) {
        if let Some((remaining, reset_secs)) = self.window {
            headers.insert(RATELIMIT_POLICY, HeaderValue::from_static(POLICY_VALUE));
            if let Ok(value) =
                HeaderValue::try_from(format!("\"default\";r={remaining};t={reset_secs}"))
            {
                headers.insert(RATELIMIT, value);
            }
        }
    }

    fn stamp(&self, mut response: Response) -> Response {
        self.announce(response.headers_mut());
        response
    }

    /// The 429 that replaces an answer over quota.
    fn refusal(&self) -> Response {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorBody::new("rate_limited"),
        );
        if let Some((_, reset_secs)) = self.window {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(reset_secs));
        }
        self.stamp(response)
    }
}

impl WarehouseService {
    /// Counts one `/v2/` request against the quota.
    fn admit(&self) -> QuotaNotice {
        if self.handle.quota_off() {
            return QuotaNotice {
                admitted: true,
                window: None,
            };
        }
        let count = self.quota.hit();
        QuotaNotice {
            admitted: count.admitted,
            window: Some((count.remaining, count.reset_secs())),
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
        else {
            return false;
        };
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(token)
            .is_some_and(|expires_at| Instant::now() < *expires_at)
    }
}

async fn issue_token(State(service): State<Arc<WarehouseService>>, body: Bytes) -> Response {
    let Ok(form) = serde_urlencoded::from_bytes::<TokenRequest>(&body) else {
        return error(StatusCode::BAD_REQUEST, ErrorBody::new("invalid_request"));
    };
    if form.grant_type != wire::CLIENT_CREDENTIALS {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorBody::new("unsupported_grant_type"),
        );
    }
    if form.client_id != SANDBOX_CLIENT_ID || form.client_secret != SANDBOX_CLIENT_SECRET {
        return error(
            StatusCode::UNAUTHORIZED,
            ErrorBody::new(wire::INVALID_CLIENT),
        );
    }
    let access_token = format!("inv_{:032x}", rand::random::<u128>());
    let now = Instant::now();
    {
        let mut tokens = service.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, expires_at| now < *expires_at);
        tokens.insert(access_token.clone(), now + service.options.token_lifetime);
    }
    let body = TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: service.options.token_lifetime.as_secs(),
    };
    // RFC 6749 §5.1: token responses must not be cached.
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

async fn stock(
    State(service): State<Arc<WarehouseService>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let quota = service.admit();
    if !quota.admitted {
        return quota.refusal();
    }
    quota.stamp(stock_answer(&service, &headers, query.as_deref()))
}

fn stock_answer(service: &WarehouseService, headers: &HeaderMap, query: Option<&str>) -> Response {
    if !service.authorized(headers) {
        return invalid_token();
    }
    let skus: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "skus")
        .map(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .filter(|sku| !sku.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if skus.is_empty() || skus.len() > wire::MAX_SKUS_PER_CALL {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorBody {
                max: Some(wire::MAX_SKUS_PER_CALL as u32),
                ..ErrorBody::new("too_many_skus")
            },
        );
    }
    service.handle.count_keys("GET /v2/stock", skus.len());
    let shelves = service.shelves.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = HashSet::new();
    let mut answer = StockResponse {
        items: Vec::new(),
        missing: Vec::new(),
    };
    for sku in skus {
        if !seen.insert(sku.clone()) {
            continue;
        }
        match shelves.get(&sku) {
            Some(item) => answer.items.push(item.clone()),
            None => answer.missing.push(sku),
        }
    }
    drop(shelves);
    ([(header::CACHE_CONTROL, "max-age=5")], Json(answer)).into_response()
}

async fn reserve(
    State(service): State<Arc<WarehouseService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let quota = service.admit();
    if !quota.admitted {
        return quota.refusal();
    }
    quota.stamp(reservation_answer(&service, &headers, &body).await)
}

async fn reservation_answer(
    service: &WarehouseService,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if !service.authorized(headers) {
        return invalid_token();
    }
    let key = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorBody::new("idempotency_key_required"),
            );
        }
        Some(Ok(key)) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN => key.to_owned(),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorBody::new("invalid_idempotency_key"),
            );
        }
    };
    // Requests that fail validation never started executing, so they are not stored under
    // their key (Stripe's rule, which this service follows).
    let Ok(request_json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return error(StatusCode::BAD_REQUEST, ErrorBody::new("invalid_body"));
    };
    let order = match serde_json::from_value::<ReservationRequest>(request_json.clone()) {
        Ok(order) if !order.items.is_empty() && order.items.iter().all(|l| l.quantity >= 1) => {
            order
        }
        _ => return error(StatusCode::BAD_REQUEST, ErrorBody::new("invalid_body")),
    };

    let mut claim = {
        let mut keys = service
            .idempotency_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match keys.get(&key) {
            Some(KeyState::InFlight) => {
                return error(
                    StatusCode::CONFLICT,
                    ErrorBody::new("idempotency_key_in_use"),
                );
            }
            // JSON values compare objects regardless of key order, as a client would expect.
            Some(KeyState::Answered { request, .. }) if *request != request_json => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorBody::new("idempotency_key_reused"),
                );
            }
            Some(KeyState::Answered { status, body, .. }) => {
                return replay(*status, body.clone());
            }
            None => {
                keys.insert(key.clone(), KeyState::InFlight);
                KeyClaim {
                    keys: &service.idempotency_keys,
                    key,
                    answered: false,
                }
            }
        }
    };
    if !service.options.reservation_processing.is_zero() {
        tokio::time::sleep(service.options.reservation_processing).await;
    }
    let (status, answer) = hold_stock(service, &order);
    claim.answer(request_json, status, answer.clone());
    (status, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

/// Holds every line of `order` or none of them.
fn hold_stock(service: &WarehouseService, order: &ReservationRequest) -> (StatusCode, Bytes) {
    let mut wanted: Vec<(&str, u64)> = Vec::new();
    for line in &order.items {
        match wanted.iter_mut().find(|(sku, _)| *sku == line.sku) {
            Some((_, quantity)) => *quantity += u64::from(line.quantity),
            None => wanted.push((&line.sku, u64::from(line.quantity))),
        }
    }
    let mut shelves = service.shelves.lock().unwrap_or_else(|e| e.into_inner());
    for (sku, quantity) in &wanted {
        // An unknown SKU has nothing on the shelf: the same answer as an empty one.
        let available = shelves.get(*sku).map_or(0, |item| item.available);
        if u64::from(available) < *quantity {
            let body = ErrorBody {
                sku: Some((*sku).to_owned()),
                available: Some(available),
                ..ErrorBody::new("insufficient_stock")
            };
            return (StatusCode::CONFLICT, json_bytes(&body));
        }
    }
    let now = Utc::now();
    let updated_at = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    for (sku, quantity) in wanted {
        if let Some(item) = shelves.get_mut(sku) {
            // Checked above: `quantity <= available`, which is a u32.
            let quantity = u32::try_from(quantity).unwrap_or(item.available);
            item.available -= quantity;
            item.reserved = item.reserved.saturating_add(quantity);
            item.updated_at = updated_at;
        }
    }
    drop(shelves);
    let reservation = Reservation {
        reservation_id: format!("res_{:016x}", rand::random::<u64>()),
        order_id: order.order_id.clone(),
        status: "held".into(),
        expires_at: (now + RESERVATION_HOLD).to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    (StatusCode::CREATED, json_bytes(&reservation))
}

/// Marks an idempotency key in flight; releases it if the request is dropped before it is
/// answered (client gone), so that a retry can run instead of meeting 409 forever.
struct KeyClaim<'a> {
    keys: &'a Mutex<HashMap<String, KeyState>>,
    key: String,
    answered: bool,
}

impl KeyClaim<'_> {
    fn answer(&mut self, request: serde_json::Value, status: StatusCode, body: Bytes) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.insert(
            self.key.clone(),
            KeyState::Answered {
                request,
                status,
                body,
            },
        );
        self.answered = true;
    }
}

impl Drop for KeyClaim<'_> {
    fn drop(&mut self) {
        if !self.answered {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.remove(&self.key);
        }
    }
}

fn replay(status: StatusCode, body: Bytes) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (IDEMPOTENT_REPLAYED, HeaderValue::from_static("true")),
        ],
        body,
    )
        .into_response()
}

fn json_bytes(body: &impl serde::Serialize) -> Bytes {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .unwrap_or_default()
}

fn error(status: StatusCode, body: ErrorBody) -> Response {
    (status, Json(body)).into_response()
}

fn invalid_token() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        ErrorBody::new(wire::INVALID_TOKEN),
    );
    // RFC 6750 §3: the challenge that goes with a refused bearer token.
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, ErrorBody::new("not_found"))
}

/// Injected faults, in the service's `{"error": ...}` format.
fn render_error(status: StatusCode, retry_after: Option<u64>) -> Response {
    let code = match status.as_u16() {
        429 => "rate_limited",
        503 => "unavailable",
        502 => "bad_gateway",
        504 => "gateway_timeout",
        s if s >= 500 => "internal_error",
        401 => wire::INVALID_TOKEN,
        404 => "not_found",
        _ => "bad_request",
    };
    let mut response = error(status, ErrorBody::new(code));
    if let Some(secs) = retry_after {
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        if status == StatusCode::TOO_MANY_REQUESTS {
            let exhausted = QuotaNotice {
                admitted: false,
                window: Some((0, secs)),
            };
            exhausted.announce(headers);
        }
    }
    response
}
