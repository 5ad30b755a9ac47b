//! The simulated reviews vendor: `GET /v1/products/{productId}/reviews` over the reviews in
//! [`super::data`], with the vendor's key check, parameters, cursors, error bodies and limits.
//!
//! Order of checks, as a vendor's gateway does them: API key (401, not counted), quota (429),
//! concurrency (503), parameters (400), product (404). Every request with a valid key counts
//! against the quota and carries the `X-RateLimit-*` headers, whatever its answer. Faults
//! injected by the sandbox machinery are answered before any of this and carry no quota
//! headers, like a vendor whose load balancer answers for it.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{data, wire};
use crate::sandbox::{Arrival, FixedWindow, Sandbox, SandboxApp, SandboxHandle};

/// The only key the sandbox accepts in `X-Api-Key`.
pub const SANDBOX_API_KEY: &str = "sandbox-reviews-key";
/// The port the gateway's `sandbox` command serves this vendor on (the OpenAPI `servers` entry).
pub const DEFAULT_PORT: u16 = 9104;

/// Requests one key may have in flight; one more is answered 503.
const MAX_IN_FLIGHT: usize = 8;
const QUOTA_PER_MINUTE: u32 = 600;
/// What the vendor asks an overloaded client to wait: in-flight requests finish quickly.
const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;
const DEFAULT_LIMIT: usize = 5;
const MAX_LIMIT: usize = 20;
/// The vendor lets clients cache a page for five minutes.
const CACHE_CONTROL: &str = "public, max-age=300";

const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The reviews vendor's simulator.
pub fn sandbox() -> Sandbox {
    let app = SandboxApp::new();
    let handle = app.handle();
    let quota = handle.register_quota(Arc::new(FixedWindow::new(
        QUOTA_PER_MINUTE,
        Duration::from_secs(60),
    )));
    let vendor = Vendor {
        handle: handle.clone(),
        quota,
    };
    let routes = Router::new()
        .route("/v1/products/{productId}/reviews", get(reviews))
        .fallback(unknown_path)
        .with_state(vendor);
    Sandbox {
        router: app.into_router(routes, render_error),
        handle,
    }
}

#[derive(Clone)]
struct Vendor {
    handle: SandboxHandle,
    quota: Arc<FixedWindow>,
}

/// What the opaque cursor carries: `base64url({"o":offset})`, e.g. `eyJvIjoxfQ` for offset 1.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    o: usize,
}

impl Cursor {
    fn encode(offset: usize) -> String {
        // Serialising a struct of one integer cannot fail.
        let json = serde_json::to_vec(&Cursor { o: offset }).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(cursor: &str) -> Option<usize> {
        let json = URL_SAFE_NO_PAD.decode(cursor).ok()?;
        serde_json::from_slice::<Cursor>(&json).ok().map(|c| c.o)
    }
}

async fn reviews(
    State(vendor): State<Vendor>,
    arrival: Option<Extension<Arrival>>,
    headers: HeaderMap,
    product: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    if headers.get(API_KEY).map(HeaderValue::as_bytes) != Some(SANDBOX_API_KEY.as_bytes()) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "invalid API key");
    }
    if vendor.handle.quota_off() {
        return page(product, query.as_deref());
    }
    let count = vendor.quota.hit();
    let mut response = if !count.admitted {
        with_retry_after(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "quota exceeded",
            ),
            count.reset_secs(),
        )
    } else if arrival.is_some_and(|Extension(a)| a.in_flight > MAX_IN_FLIGHT) {
        overloaded()
    } else {
        page(product, query.as_deref())
    };
    announce_quota(
        response.headers_mut(),
        count.limit,
        count.remaining,
        count.reset_epoch_secs(),
    );
    response
}

/// The page the parameters ask for, or the vendor's 400/404.
fn page(product: Result<Path<String>, PathRejection>, query: Option<&str>) -> Response {
    let Some(product) = product.ok().and_then(|Path(id)| id.parse::<u64>().ok()) else {
        return invalid_parameter("productId must be an integer");
    };
    let mut limit = DEFAULT_LIMIT;
    let mut cursor = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return invalid_parameter("limit must be between 1 and 20"),
            },
            "cursor" => cursor = Some(value.into_owned()),
            _ => {}
        }
    }
    let offset = match cursor.as_deref().map(Cursor::decode) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => return invalid_parameter("cursor is not valid"),
    };
    let Some(reviews) = data::of_product(product) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no product {product}"),
        );
    };
    let all = &reviews.newest_first;
    // A cursor past the end was never issued by this vendor.
    if offset > all.len() {
        return invalid_parameter("cursor is not valid");
    }
    let end = offset.saturating_add(limit).min(all.len());
    let body = wire::ReviewsPage {
        product_id: product,
        summary: reviews.summary.clone(),
        data: all[offset..end].to_vec(),
        next_cursor: (end < all.len()).then(|| Cursor::encode(end)),
    };
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    response
}

/// GitHub-style: the reset is an epoch second, not a delay.
fn announce_quota(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_epoch_secs: u64) {
    headers.insert(RATE_LIMIT_LIMIT, HeaderValue::from(limit));
    headers.insert(RATE_LIMIT_REMAINING, HeaderValue::from(remaining));
    headers.insert(RATE_LIMIT_RESET, HeaderValue::from(reset_epoch_secs));
}

async fn unknown_path() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn overloaded() -> Response {
    with_retry_after(
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "try again shortly",
        ),
        OVERLOADED_RETRY_AFTER_SECS,
    )
}

fn invalid_parameter(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_parameter", message)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = wire::ErrorBody {
        error: wire::ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    };
    (status, Json(body)).into_response()
}

fn with_retry_after(mut response: Response, secs: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Injected faults, in the vendor's error format.
fn render_error(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let response = match status.as_u16() {
        400 => invalid_parameter("invalid request"),
        401 => error(status, "unauthorized", "invalid API key"),
        404 => error(status, "not_found", "not found"),
        429 => error(status, "rate_limited", "quota exceeded"),
        503 => error(status, "overloaded", "try again shortly"),
        s if s >= 500 => error(status, "internal_error", "internal error"),
        _ => error(
            status,
            "error",
            status.canonical_reason().unwrap_or("error"),
        ),
    };
    match retry_after_secs {
        Some(secs) => with_retry_after(response, secs),
        None => response,
    }
}
