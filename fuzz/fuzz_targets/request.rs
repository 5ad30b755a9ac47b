//! Arbitrary bytes through the gateway's whole request path: an HTTP request to `/graphql`,
//! the router, the response. Checks what every client may count on:
//!
//! * the gateway never panics (libfuzzer-sys turns any panic, on any thread, into a crash);
//! * the status is never 500;
//! * a JSON response parses as JSON, and every error in its `errors` has `extensions.code`;
//! * a 4xx is an error in the contract: JSON with `errors`, and no `data` key;
//! * any other JSON response has `data` or `errors`.
//!
//! The input: the first byte picks the request's shape, the rest is the POST body or the GET
//! query string (bytes a URI cannot hold are percent-encoded, so `query={ categories }` works).
//!
//! | bits | chooses |
//! |---|---|
//! | 0 | 0: POST, 1: GET |
//! | 1-3 | `Accept`: none, or one of [`ACCEPT`] |
//! | 4-5 | `Content-Type` (POST): one of [`CONTENT_TYPE`], or none |
//! | 6 | sends `Authorization` (a client with credentials) |
//! | 7 | sends `If-None-Match: *` |

#![no_main]

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{AsciiSet, CONTROLS, percent_encode};
use serde_json::Value;
use switchyard::app::App;
use switchyard::config::Config;
use tokio::runtime::Runtime;
use tower::ServiceExt as _;

/// The request deadline the target asks for: a query the sandboxes answer takes a millisecond
/// or two; one that waits (quota, a coalesced identical request) gives up this soon.
const DEADLINE_MS: &str = "25";

/// Responses are small; anything beyond this is a finding of its own.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// `Accept` headers, for bits 1-3 of the first byte (0: none).
const ACCEPT: [&str; 7] = [
    "application/json",
    "application/graphql-response+json",
    "application/graphql-response+json, application/json;q=0.9",
    "*/*",
    "text/html",
    "application/json;q=0",
    "application/*;q=0.5, application/json",
];

/// `Content-Type` headers of a POST, for bits 4-5 of the first byte (3: none).
const CONTENT_TYPE: [&str; 3] = [
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
];

/// Bytes percent-encoded in the GET query string: those `http::Uri` refuses there. `&`, `=`,
/// `%` and `+` are left alone so that the input shapes the form itself.
const NOT_IN_QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']');

/// One gateway for the whole run, with its sandboxes: built once, as `switchyard serve` does.
/// A current-thread runtime: the gateway and its sandboxes run only while an input is being
/// answered, so coverage belongs to that input.
struct Gateway {
    runtime: Runtime,
    app: App,
}

fn gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let app = runtime
            .block_on(App::build(&Config::default()))
            .expect("the gateway builds from the default config");
        Gateway { runtime, app }
    })
}

/// The request the input stands for; `None` when it cannot be an HTTP request at all.
fn request(data: &[u8]) -> Option<Request<Body>> {
    let (&shape, rest) = data.split_first()?;
    let get = shape & 1 == 1;
    let mut builder = Request::builder().header("x-switchyard-deadline-ms", DEADLINE_MS);
    if let Some(accept) = usize::from((shape >> 1) & 7)
        .checked_sub(1)
        .and_then(|i| ACCEPT.get(i))
    {
        builder = builder.header(header::ACCEPT, *accept);
    }
    if shape & (1 << 6) != 0 {
        builder = builder.header(header::AUTHORIZATION, "Bearer fuzz");
    }
    if shape & (1 << 7) != 0 {
        builder = builder.header(header::IF_NONE_MATCH, "*");
    }
    if get {
        let query = percent_encode(rest, NOT_IN_QUERY).to_string();
        builder
            .method(Method::GET)
            .uri(format!("/graphql?{query}"))
            .body(Body::empty())
            .ok()
    } else {
        if let Some(content_type) = CONTENT_TYPE.get(usize::from((shape >> 4) & 3)) {
            builder = builder.header(header::CONTENT_TYPE, *content_type);
        }
        builder
            .method(Method::POST)
            .uri("/graphql")
            .body(Body::from(rest.to_vec()))
            .ok()
    }
}

fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Whether to print every response (`SWITCHYARD_FUZZ_SHOW=1`), to see what seeds reach.
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("SWITCHYARD_FUZZ_SHOW").is_some())
}

/// Panics, with the response, when it breaks an invariant of the module's comment.
fn check(status: StatusCode, content_type: Option<&str>, body: &[u8]) {
    let shown = String::from_utf8_lossy(&body[..body.len().min(2000)]);
    if show() {
        eprintln!("{status} {content_type:?} {shown}");
    }
    assert_ne!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "status 500: {shown}"
    );
    if status == StatusCode::NOT_MODIFIED {
        return;
    }
    let json = content_type.is_some_and(is_json);
    assert!(
        json || !status.is_client_error(),
        "status {status} with content type {content_type:?}, not a JSON error: {shown}"
    );
    if !json {
        return;
    }
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("status {status}: a JSON response that is not JSON ({e}): {shown}")
    });
    let Some(object) = value.as_object() else {
        panic!("status {status}: the response is not a JSON object: {shown}");
    };
    if let Some(errors) = object.get("errors") {
        let Some(errors) = errors.as_array() else {
            panic!("status {status}: `errors` is not a list: {shown}");
        };
        assert!(
            !errors.is_empty(),
            "status {status}: `errors` is empty: {shown}"
        );
        for error in errors {
            assert!(
                error
                    .pointer("/extensions/code")
                    .is_some_and(Value::is_string),
                "status {status}: an error without `extensions.code`: {error}"
            );
        }
    }
    if status.is_client_error() {
        assert!(
            !object.contains_key("data"),
            "status {status} with a `data` key: {shown}"
        );
        assert!(
            object.contains_key("errors"),
            "status {status} without `errors`: {shown}"
        );
    } else {
        assert!(
            object.contains_key("data") || object.contains_key("errors"),
            "status {status}: neither `data` nor `errors`: {shown}"
        );
    }
}

fn answer(router: Router, request: Request<Body>) {
    gateway().runtime.block_on(async move {
        let response = match router.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
            .await
            .unwrap_or_else(|e| panic!("status {status}: the body cannot be read: {e}"));
        check(status, content_type.as_deref(), &body);
    });
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = request(data) else {
        return;
    };
    answer(gateway().app.router.clone(), request);
});
