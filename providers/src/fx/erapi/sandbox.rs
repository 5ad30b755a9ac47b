//! The simulated ExchangeRate-API open access endpoint, `GET /v6/latest/{BASE}`, over the real
//! USD snapshot of 2024-08-19 (`fixtures/open-er-api/latest-USD-2024-08-19.json`, 162 codes).
//!
//! * `USD` answers the captured body exactly; any other of the 162 codes answers the same
//!   snapshot rebased: `rate(X) = usd(X) / usd(BASE)`, exact decimal arithmetic, rounded half
//!   away from zero to six decimals as the API writes them (values below 0.1 keep six
//!   significant digits instead, so that a weak base such as IRR does not print `0.000024`),
//!   trailing zeros dropped (`"BBD":2`). The base comes first as `1`, then the others
//!   alphabetically; the other fields (update times, links) are the snapshot's.
//! * The base is read case-insensitively (`/v6/latest/eur` is EUR).
//! * An unknown base is `{"result":"error","error-type":"unsupported-code"}` with status 404.
//!   The real status is undocumented (client code commonly assumes 200); 404 is the sandbox's
//!   choice, and the adapter reads the body whatever the status.
//! * Other paths are 404 `{"result":"error","error-type":"malformed-request"}` (a sandbox
//!   choice: the real answer is not documented).
//! * Quota: the docs say "rate limited" without numbers, that hourly requests never are, and
//!   that a limit lifts after 20 minutes. The sandbox admits [`QUOTA_REQUESTS`] requests per
//!   [`QUOTA_WINDOW`] (a fixed window; the number is the sandbox's choice) and answers the rest
//!   429 `{"result":"error","error-type":"quota-reached"}`. No `Retry-After` and no rate-limit
//!   headers: the real 429's headers are unknown, so a client must cope without them.
//! * Headers: `content-type: application/json`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_decimal::{Decimal, RoundingStrategy};

use super::wire;
use crate::sandbox::{FixedWindow, Sandbox, SandboxApp, SandboxHandle};

/// The port the gateway's `sandbox` command serves ExchangeRate-API on.
pub const DEFAULT_PORT: u16 = 9105;
/// Requests admitted per [`QUOTA_WINDOW`]; the one after is answered 429.
pub const QUOTA_REQUESTS: u32 = 300;
/// The docs say a rate limit lifts after 20 minutes.
pub const QUOTA_WINDOW: Duration = Duration::from_secs(20 * 60);

const SNAPSHOT: &str = include_str!("../../../fixtures/open-er-api/latest-USD-2024-08-19.json");
const UNSUPPORTED_CODE: &str =
    include_str!("../../../fixtures/open-er-api/error-unsupported-code.json");
const MALFORMED_REQUEST: &str = r#"{"result":"error","error-type":"malformed-request"}"#;
const QUOTA_REACHED: &str = r#"{"result":"error","error-type":"quota-reached"}"#;
const JSON: &str = "application/json";
/// The API writes six decimals.
const DECIMALS: u32 = 6;

/// ExchangeRate-API's simulator.
pub fn sandbox() -> Sandbox {
    with_quota(QUOTA_REQUESTS, QUOTA_WINDOW)
}

/// The simulator with another quota, for tests that reach it in a few requests.
pub(super) fn with_quota(requests: u32, window: Duration) -> Sandbox {
    let app = SandboxApp::new();
    let handle = app.handle();
    let quota = handle.register_quota(Arc::new(FixedWindow::new(requests, window)));
    let api = Arc::new(OpenAccess {
        handle: handle.clone(),
        quota,
        // The snapshot is embedded and a test reads it; `None` would answer 500s, not panic.
        snapshot: serde_json::from_str(SNAPSHOT).ok(),
    });
    let routes = Router::new()
        .route("/v6/latest/{base}", get(latest))
        .fallback(unmatched)
        .with_state(api);
    Sandbox {
        router: app.into_router(routes, render_error),
        handle,
    }
}

struct OpenAccess {
    handle: SandboxHandle,
    quota: Arc<FixedWindow>,
    snapshot: Option<wire::Latest>,
}

/// Injected faults: a 429 in the API's quota shape; anything else as the reason phrase in plain
/// text, as the proxy in front of an API that is down would say it.
fn render_error(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        json(status, QUOTA_REACHED.to_owned())
    } else {
        let reason = status.canonical_reason().unwrap_or("error");
        (status, reason.to_owned()).into_response()
    };
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

async fn unmatched() -> Response {
    json(StatusCode::NOT_FOUND, MALFORMED_REQUEST.to_owned())
}

async fn latest(State(api): State<Arc<OpenAccess>>, Path(base): Path<String>) -> Response {
    // Counted before anything else, as a limiter in front of the API would.
    if !api.handle.quota_off() && !api.quota.hit().admitted {
        return json(StatusCode::TOO_MANY_REQUESTS, QUOTA_REACHED.to_owned());
    }
    let Some(snapshot) = &api.snapshot else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "sandbox snapshot unreadable",
        )
            .into_response();
    };
    match rebased(snapshot, &base.to_ascii_uppercase()) {
        Some(latest) => match serde_json::to_string(&latest) {
            Ok(body) => json(StatusCode::OK, body),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        None => json(StatusCode::NOT_FOUND, UNSUPPORTED_CODE.to_owned()),
    }
}

/// The snapshot as seen from `base`; `None` when the snapshot does not have `base`.
fn rebased(snapshot: &wire::Latest, base: &str) -> Option<wire::Latest> {
    let divisor = snapshot
        .rates
        .0
        .iter()
        .find(|(code, _)| code == base)
        .map(|(_, wire::ExactNumber(rate))| *rate)
        .filter(|rate| !rate.is_zero())?;
    let mut others: Vec<(String, wire::ExactNumber)> = snapshot
        .rates
        .0
        .iter()
        .filter(|(code, _)| code != base)
        .filter_map(|(code, wire::ExactNumber(rate))| {
            let rate = rate.checked_div(divisor)?;
            Some((code.clone(), wire::ExactNumber(written(rate))))
        })
        .collect();
    others.sort_by(|(a, _), (b, _)| a.cmp(b));
    let mut rates = Vec::with_capacity(others.len() + 1);
    rates.push((base.to_owned(), wire::ExactNumber(Decimal::ONE)));
    rates.extend(others);
    Some(wire::Latest {
        base_code: base.to_owned(),
        rates: wire::RateList(rates),
        ..snapshot.clone()
    })
}

/// Six decimals, or six significant digits for values below 0.1.
fn written(rate: Decimal) -> Decimal {
    let mut decimals = DECIMALS;
    while decimals < 20 && rate < Decimal::new(1, decimals - 5) {
        decimals += 1;
    }
    rate.round_dp_with_strategy(decimals, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}
