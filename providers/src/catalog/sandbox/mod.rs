//! The simulated DummyJSON products API, serving the real catalogue with the server's own
//! semantics (WIRE-FORMATS §1.1–1.4, read from `src/middleware/clean-request.js`,
//! `src/controllers/product.js`, `src/utils/util.js` and express-rate-limit v5).
//!
//! * `GET /products`, `/products/{id}`, `/products/search?q=`, `/products/categories`,
//!   `/products/category-list`, `/products/category/{slug}`, and all of them under `/product`.
//! * `limit`, `skip`, `select` (comma-separated or repeated; `id` first; unknown keys dropped;
//!   also on `/{id}`), `sortBy`/`order` (JavaScript `<`/`>` comparisons sorted by V8's
//!   TimSort, so even inconsistent comparisons, e.g. `sortBy=brand`, order products as Node
//!   does), `delay` (0–5000 ms), each validated in the server's order with its exact 400.
//! * Every query is parsed and validated the way Express (`qs`) and `cleanRequest` do it,
//!   before routing: `?limit=abc` is a 400 on any path.
//! * Bodies are byte-identical to the real server: the products keep the file's key order,
//!   numbers print as JavaScript prints them, and all is written compactly, without a trailing
//!   newline.
//! * Quota: [`QUOTA_LIMIT`] requests per [`QUOTA_WINDOW`], counting every request (404s and
//!   redirects too), with `x-ratelimit-limit`/`-remaining`/`-reset` (epoch seconds) on every
//!   answer; over it a 429 `{"message":"request limit exceeded, please wait a few seconds"}`
//!   with `Retry-After: 10` (express-rate-limit v5 sends the window length, not the time left).
//!   Switched off (no counting, no headers) by `quota_off`.
//! * Headers like the live capture: `content-type: application/json; charset=utf-8`, helmet's
//!   and CORS headers, and Express's weak ETag `W/"<len hex>-<base64 sha1, 27 chars>"`;
//!   `If-None-Match` answers 304.
//! * A trailing slash is a 301 to the path without it (query kept); an unknown path is an HTML
//!   404 page (not DummyJSON's exact markup).
//!
//! Not simulated: writes (`POST /products/add`, `PUT`/`PATCH`/`DELETE`), gzip, and Express's
//! case-insensitive routing (`/PRODUCTS` is a 404 here).
//!
//! The routes, their handlers and the middleware around them are here; the rest is beside it:
//! * `catalogue`: the stored products, the list envelope (sort, skip, limit) and `select`;
//! * `options`: the query parameters as `cleanRequest` validates them;
//! * `js`: the JavaScript value semantics the server rests on (`qs`, `Number()`, `parseInt`,
//!   number printing, `sortArray`'s comparisons);
//! * `v8_sort`: V8's TimSort, which orders even inconsistent comparisons as Node does;
//! * `express`: what Express adds (helmet/CORS headers, redirects, conditional GET, the weak
//!   ETag, `decodeURIComponent`);
//! * `error`: DummyJSON's JSON answers and `{"message"}` errors.

mod catalogue;
mod error;
mod express;
mod js;
mod options;
mod v8_sort;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use self::catalogue::Catalogue;
use self::error::{ApiError, json_response};
use self::express::{COMMON_HEADERS, Conditional, percent_decode, redirect, with_etag};
use self::options::Options;
use super::wire;
use crate::sandbox::{FixedWindow, Sandbox, SandboxApp, SandboxHandle};

/// Requests admitted per [`QUOTA_WINDOW`] (express-rate-limit `max`).
pub const QUOTA_LIMIT: u32 = 100;
/// express-rate-limit `windowMs`.
pub const QUOTA_WINDOW: Duration = Duration::from_secs(10);
/// The body's `message` of a 429.
pub const RATE_LIMITED_MESSAGE: &str = "request limit exceeded, please wait a few seconds";

const NOT_FOUND_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"UTF-8\" />\n  <title>Page not found — DummyJSON</title>\n</head>\n<body>\n  <main class=\"page-404\">\n    <span class=\"page-404__badge\">Error 404</span>\n    <h1>This page floated away</h1>\n    <p>The URL you opened is not part of DummyJSON.</p>\n  </main>\n</body>\n</html>\n";

/// The DummyJSON simulator: its routes wrapped by the shared sandbox machinery.
pub fn sandbox() -> Sandbox {
    let app = SandboxApp::new();
    let handle = app.handle();
    let quota = handle.register_quota(Arc::new(FixedWindow::new(QUOTA_LIMIT, QUOTA_WINDOW)));
    let simulator = Simulator {
        catalogue: Catalogue::shared(),
        handle: handle.clone(),
        quota,
    };
    Sandbox {
        router: app.into_router(routes(simulator), render_error),
        handle,
    }
}

#[derive(Clone)]
struct Simulator {
    catalogue: Arc<Catalogue>,
    handle: SandboxHandle,
    quota: Arc<FixedWindow>,
}

fn routes(simulator: Simulator) -> Router {
    let mut router = Router::new();
    // Express mounts the same product router at both paths.
    for base in ["/products", "/product"] {
        router = router
            .route(base, get(list_all))
            .route(&format!("{base}/search"), get(search))
            .route(&format!("{base}/categories"), get(categories))
            .route(&format!("{base}/category-list"), get(category_list))
            .route(&format!("{base}/category/{{slug}}"), get(by_category))
            .route(&format!("{base}/{{id}}"), get(by_id));
    }
    router
        .fallback(unmatched)
        .layer(middleware::from_fn_with_state(
            simulator.clone(),
            express_pipeline,
        ))
        .with_state(simulator)
}

/// Injected faults, in DummyJSON's error format.
fn render_error(status: StatusCode, retry_after_secs: Option<u64>) -> Response {
    let message = match status {
        StatusCode::TOO_MANY_REQUESTS => RATE_LIMITED_MESSAGE,
        StatusCode::INTERNAL_SERVER_ERROR => "Something went wrong.",
        other => other.canonical_reason().unwrap_or("Something went wrong."),
    };
    let mut response = ApiError::new(status, message).into_response();
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Handlers (src/routes/product.js)

async fn list_all(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    let options = Options::from_query(&uri)?;
    options.wait().await;
    let all = (0..sim.catalogue.products.len()).collect();
    Ok(sim.catalogue.page(all, &options))
}

/// Indexes, in catalogue order, of the products that `keep` accepts.
fn matching(sim: &Simulator, keep: impl Fn(&catalogue::StoredProduct) -> bool) -> Vec<usize> {
    sim.catalogue
        .products
        .iter()
        .enumerate()
        .filter(|(_, p)| keep(p))
        .map(|(i, _)| i)
        .collect()
}

async fn search(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    let options = Options::from_query(&uri)?;
    options.wait().await;
    let matches = matching(&sim, |p| {
        wire::search_matches(&options.search, &p.title, &p.description)
    });
    Ok(sim.catalogue.page(matches, &options))
}

async fn categories(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    Options::from_query(&uri)?.wait().await;
    Ok(json_response(
        StatusCode::OK,
        sim.catalogue.categories_json.clone(),
    ))
}

async fn category_list(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    Options::from_query(&uri)?.wait().await;
    Ok(json_response(
        StatusCode::OK,
        sim.catalogue.category_list_json.clone(),
    ))
}

async fn by_category(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    let options = Options::from_query(&uri)?;
    let slug = last_segment(&uri)?.to_lowercase();
    options.wait().await;
    let matches = matching(&sim, |p| p.category.to_lowercase() == slug);
    Ok(sim.catalogue.page(matches, &options))
}

async fn by_id(State(sim): State<Simulator>, uri: Uri) -> Result<Response, ApiError> {
    let options = Options::from_query(&uri)?;
    let id = last_segment(&uri)?;
    options.wait().await;
    // `p.id.toString() === id`: `01` is not product 1.
    let Some(product) = sim.catalogue.products.iter().find(|p| p.id == id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Product with id '{id}' not found"),
        ));
    };
    let body = match &options.select {
        Some(keys) => product.select(keys),
        None => product.json.clone(),
    };
    Ok(json_response(StatusCode::OK, body))
}

/// Whatever no route matched: `cleanRequest`'s trailing-slash redirect, its validation, then
/// the site's HTML 404 page.
async fn unmatched(uri: Uri) -> Result<Response, ApiError> {
    let path = uri.path();
    if path.len() > 1 && path.ends_with('/') {
        let mut target = collapse_slashes(&path[..path.len() - 1]);
        if let Some(query) = uri.query() {
            target.push('?');
            target.push_str(query);
        }
        return Ok(redirect(&target));
    }
    Options::from_query(&uri)?.wait().await;
    Ok((
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        NOT_FOUND_PAGE,
    )
        .into_response())
}

/// The route's parameter (always its last segment) as Express hands it over:
/// `decodeURIComponent`d, a 400 when that fails. Read from the raw path because axum's own
/// extractors reject what is not UTF-8 in their own words.
fn last_segment(uri: &Uri) -> Result<String, ApiError> {
    let raw = uri.path().rsplit('/').next().unwrap_or_default();
    percent_decode(raw).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Failed to decode param '{raw}'"),
        )
    })
}

fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The Express pipeline around every route: rate limit, headers, ETag

async fn express_pipeline(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let conditional = Conditional::of(request.method(), request.headers());
    let window = (!sim.handle.quota_off()).then(|| sim.quota.hit());
    let mut response = match &window {
        Some(count) if !count.admitted => {
            let mut response =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED_MESSAGE).into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(QUOTA_WINDOW.as_secs()),
            );
            response
        }
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(count) = window {
        headers.insert("x-ratelimit-limit", HeaderValue::from(count.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(count.remaining));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from(count.reset_epoch_secs()),
        );
    }
    for (name, value) in COMMON_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if response.status().is_redirection() {
        return response;
    }
    with_etag(response, &conditional).await
}
