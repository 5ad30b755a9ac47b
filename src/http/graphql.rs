//! `/graphql`: GraphQL over HTTP. POST takes `application/json`; GET takes the query string and
//! runs queries only. Requests that fail before execution carry no `data` and an
//! `extensions.code` (see DESIGN's error contract).

use async_graphql::parser::types::{DocumentOperations, OperationDefinition, OperationType};
use axum::body::{Body, to_bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::AppState;
use super::negotiate::{ResponseType, is_json_body, response_type};
use crate::cache::response::ResponseCache;
use crate::graphql::loaders::Loaders;
use crate::graphql::tick::ExecutionTick;
use crate::upstream::deadline::Deadline;

/// A request that cannot run, answered without executing anything.
pub(super) struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow: Option<&'static str>,
}

impl Rejection {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    fn into_response(self, as_type: ResponseType) -> Response {
        let body =
            json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        let mut response = json_response(self.status, as_type, &body);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// The GET form: every value is a string; `variables` and `extensions` are JSON texts.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

pub async fn get_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(as_type) = response_type(&headers) else {
        return not_acceptable();
    };
    let request = match request_from_query(query.as_deref().unwrap_or("")) {
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(as_type),
    };
    execute(&state, &headers, request, as_type, true).await
}

pub async fn post_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(as_type) = response_type(&headers) else {
        return not_acceptable();
    };
    if !is_json_body(&headers) {
        // Only JSON: a form or text/plain POST would be a CORS "simple request" (CSRF).
        return Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "POST bodies must be application/json",
        )
        .into_response(as_type);
    }
    // The body limit layer has already bounded the body; this only reports it.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => {
            let too_large = is_length_limit(&err);
            return if too_large {
                Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "the request body is larger than the gateway accepts",
                )
            } else {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "could not read the request body",
                )
            }
            .into_response(as_type);
        }
    };
    let request = match request_from_json(&bytes) {
        Ok(r) => r,
        Err(rejection) => return rejection.into_response(as_type),
    };
    execute(&state, &headers, request, as_type, false).await
}

fn request_from_query(query: &str) -> Result<async_graphql::Request, Rejection> {
    let params: GetParams = serde_urlencoded::from_str(query).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("bad query string: {e}"),
        )
    })?;
    // A persisted query's hash may stand for the text (see persisted.rs).
    let persisted = params
        .extensions
        .as_deref()
        .is_some_and(|e| e.contains("persistedQuery"));
    let text = match params.query {
        Some(text) => text,
        None if persisted => String::new(),
        None => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the `query` parameter is required",
            ));
        }
    };
    let mut request = async_graphql::Request::new(text);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables {
        let value: Value = serde_json::from_str(&vars).map_err(|e| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("`variables` is not JSON: {e}"),
            )
        })?;
        request = request.variables(async_graphql::Variables::from_json(value));
    }
    if let Some(ext) = params.extensions {
        let value: std::collections::HashMap<String, Value> =
            serde_json::from_str(&ext).map_err(|e| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    format!("`extensions` is not a JSON object: {e}"),
                )
            })?;
        for (k, v) in value {
            if let Ok(v) = async_graphql::Value::from_json(v) {
                request.extensions.insert(k, v);
            }
        }
    }
    Ok(request)
}

fn request_from_json(bytes: &[u8]) -> Result<async_graphql::Request, Rejection> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("the body is not JSON: {e}"),
        )
    })?;
    if value.is_array() {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "BATCHING_NOT_ENABLED",
            "batched operations are not enabled",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("the body is not a GraphQL request: {e}"),
        )
    })
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    as_type: ResponseType,
    via_get: bool,
) -> Response {
    let deadline = match requested_deadline(headers) {
        Ok(Some(asked)) => asked.min(state.deadline),
        Ok(None) => state.deadline,
        Err(rejection) => return rejection.into_response(as_type),
    };
    if let Err(rejection) = state
        .persisted
        .resolve(&mut request, as_type.request_error_status())
    {
        return rejection.into_response(as_type);
    }
    // A response a shared cache could keep may already be here (see cache/response.rs).
    let response_key = response_key(state, headers, &request, as_type);
    let responses = &state.providers.caches.responses;
    let mut _leader = None;
    if let Some(key) = response_key {
        if let Some((hit, age)) = responses.get(&key) {
            return cached_response(headers, as_type, &hit, age);
        }
        // An identical request being answered now: wait for it rather than run again.
        _leader = responses.turn(key, deadline).await;
        if _leader.is_none()
            && let Some((hit, age)) = responses.get(&key)
        {
            return cached_response(headers, as_type, &hit, age);
        }
    }
    let operation_name = request.operation_name.clone();
    let variables = request.variables.clone();
    let operation = match request.parsed_query() {
        Ok(doc) => {
            let operation = selected_operation(&doc.operations, operation_name.as_deref());
            if let Some(message) = operation.and_then(|op| missing_variable(op, &variables)) {
                return Rejection::new(
                    as_type.request_error_status(),
                    "GRAPHQL_VALIDATION_FAILED",
                    message,
                )
                .into_response(as_type);
            }
            operation.map(|op| op.ty)
        }
        Err(err) => {
            return Rejection::new(
                as_type.request_error_status(),
                "GRAPHQL_PARSE_FAILED",
                err.message,
            )
            .into_response(as_type);
        }
    };
    if via_get
        && matches!(
            operation,
            Some(OperationType::Mutation | OperationType::Subscription)
        )
    {
        let mut rejection = Rejection::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_REQUEST",
            "only queries may be sent with GET; use POST",
        );
        rejection.allow = Some("POST");
        return rejection.into_response(as_type);
    }
    let tick = ExecutionTick::default();
    let loaders = Loaders::new(&state.providers, &tick);
    let report = loaders.stale.clone();
    let request = request.data(loaders);
    let schema = state.schema.clone();
    let deadline = Instant::now() + deadline;
    let mut response = Deadline::scope(
        deadline,
        tick.track(async move { schema.execute(request).await }),
    )
    .await;
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let stale = report.entries();
    let cacheable = !request_error && response.errors.is_empty() && stale.is_empty();
    let default_code = if request_error {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "INTERNAL_SERVER_ERROR"
    };
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", default_code);
        }
    }
    if !stale.is_empty()
        && let Ok(stale) = async_graphql::Value::from_json(Value::Array(stale))
    {
        response.extensions.insert("stale".into(), stale);
    }
    // Straight to text: through a serde_json::Value first costs five times as much.
    let (status, encoded) = if request_error {
        // No `data` at all when the request failed before execution (DESIGN's contract).
        let encoded = serde_json::to_value(&response).map(|mut body| {
            if let Some(obj) = body.as_object_mut() {
                obj.remove("data");
            }
            body.to_string()
        });
        (as_type.request_error_status(), encoded)
    } else {
        (StatusCode::OK, serde_json::to_string(&response))
    };
    let Ok(text) = encoded else {
        return Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "the response could not be encoded",
        )
        .into_response(as_type);
    };
    // A request that says who sends it may get an answer for that client alone: browsers
    // may keep it, shared caches (CDNs, proxies) must not.
    let scope = if carries_identity(headers) {
        "private"
    } else {
        "public"
    };
    let cache_control = match report.max_age().map(|d| d.as_secs()) {
        // Errors and stale data must not be kept by anyone; nor what is fresh for no time.
        _ if !cacheable => "no-store".to_owned(),
        Some(secs) if secs > 0 => format!("{scope}, max-age={secs}"),
        _ => "no-cache".to_owned(),
    };
    if status == StatusCode::OK && cacheable {
        let tag = etag(&text);
        if let (Some(key), Some(OperationType::Query), Some(secs)) = (
            response_key,
            operation,
            report.max_age().map(|d| d.as_secs()),
        ) && scope == "public"
        {
            state.providers.caches.responses.insert(
                key,
                text.clone(),
                tag.clone(),
                std::time::Duration::from_secs(secs),
            );
        }
        if if_none_match(headers, &tag) {
            let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
            set_caching(not_modified.headers_mut(), &cache_control, Some(&tag));
            return not_modified;
        }
        let mut response = text_response(status, as_type, text);
        set_caching(response.headers_mut(), &cache_control, Some(&tag));
        return response;
    }
    let mut response = text_response(status, as_type, text);
    set_caching(response.headers_mut(), &cache_control, None);
    response
}

/// The response cache's key of a request whose response a shared cache could keep; `None`
/// when the cache is off or the request says who sends it.
fn response_key(
    state: &AppState,
    headers: &HeaderMap,
    request: &async_graphql::Request,
    as_type: ResponseType,
) -> Option<crate::cache::response::Key> {
    if !state.providers.caches.responses.enabled() || carries_identity(headers) {
        return None;
    }
    let variables = serde_json::to_vec(&request.variables).ok()?;
    let extensions = serde_json::to_vec(&request.extensions).ok()?;
    Some(ResponseCache::key(&[
        as_type.content_type().as_bytes(),
        request.operation_name.as_deref().unwrap_or("").as_bytes(),
        request.query.as_bytes(),
        &variables,
        &extensions,
    ]))
}

/// A kept response, stored `age` ago: 304 when the client holds it already.
fn cached_response(
    headers: &HeaderMap,
    as_type: ResponseType,
    hit: &crate::cache::response::Cached,
    age: std::time::Duration,
) -> Response {
    let cache_control = format!("public, max-age={}", hit.max_age.as_secs());
    let mut response = if if_none_match(headers, &hit.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        text_response(StatusCode::OK, as_type, hit.body.clone())
    };
    set_caching(response.headers_mut(), &cache_control, Some(&hit.etag));
    response
        .headers_mut()
        .insert(header::AGE, HeaderValue::from(age.as_secs()));
    response
}

/// Whether the request carries a client's identity: credentials or a session.
fn carries_identity(headers: &HeaderMap) -> bool {
    [header::AUTHORIZATION, header::COOKIE]
        .iter()
        .any(|name| headers.contains_key(name))
        || headers.contains_key("x-api-key")
}

/// A strong validator of the response body: its SHA-1, base64url.
fn etag(body: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let digest = sha1::Sha1::digest(body.as_bytes());
    format!(
        "\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// Whether `If-None-Match` names `tag` (weak comparison, as RFC 9110 asks for this header).
fn if_none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

fn set_caching(headers: &mut HeaderMap, cache_control: &str, etag: Option<&str>) {
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if let Some(value) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, value);
    }
}

/// The operation that will run, if the document names it unambiguously.
fn selected_operation<'a>(
    ops: &'a DocumentOperations,
    name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match ops {
        DocumentOperations::Single(op) => Some(&op.node),
        DocumentOperations::Multiple(map) => match name {
            Some(name) => map.get(name).map(|op| &op.node),
            None if map.len() == 1 => map.values().next().map(|op| &op.node),
            None => None,
        },
    }
}

/// A required variable without a value, which the spec's variable coercion rejects before
/// execution (async-graphql would only notice it when a resolver reads it).
fn missing_variable(
    operation: &OperationDefinition,
    variables: &async_graphql::Variables,
) -> Option<String> {
    operation.variable_definitions.iter().find_map(|def| {
        let def = &def.node;
        let given = variables
            .get(&def.name.node)
            .is_some_and(|v| *v != async_graphql::Value::Null);
        (!def.var_type.node.nullable && def.default_value.is_none() && !given).then(|| {
            format!(
                "variable `${}` of required type `{}` was not provided",
                def.name.node, def.var_type.node
            )
        })
    })
}

fn json_response(status: StatusCode, as_type: ResponseType, body: &Value) -> Response {
    text_response(status, as_type, body.to_string())
}

fn text_response(status: StatusCode, as_type: ResponseType, text: String) -> Response {
    let mut response = (status, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(as_type.content_type()),
    );
    response
}

fn not_acceptable() -> Response {
    let body = json!({ "errors": [{ "message": "this endpoint answers application/graphql-response+json or application/json", "extensions": { "code": "BAD_REQUEST" } }] });
    json_response(StatusCode::NOT_ACCEPTABLE, ResponseType::Json, &body)
}

/// Whether reading the body failed because the body limit layer cut it off.
fn is_length_limit(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The body limit layer answers an over-long `Content-Length` itself, in plain text; this
/// puts that answer into the error contract.
pub async fn payload_too_large_as_contract(response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE
        || response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/"))
    {
        return response;
    }
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "the request body is larger than the gateway accepts",
    )
    .into_response(ResponseType::Json)
}

/// The header a client asks for a shorter deadline with (milliseconds).
pub const DEADLINE_HEADER: &str = "x-switchyard-deadline-ms";

/// A deadline the client asked for: `None` without the header; a 400 when it is not a
/// positive number of milliseconds.
fn requested_deadline(headers: &HeaderMap) -> Result<Option<std::time::Duration>, Rejection> {
    let Some(value) = headers.get(DEADLINE_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(|ms| Some(std::time::Duration::from_millis(ms)))
        .ok_or_else(|| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("`{DEADLINE_HEADER}` must be a positive number of milliseconds"),
            )
        })
}
