//! `/graphql`: GraphQL over HTTP. POST takes `application/json`; GET takes the query string and
//! runs queries only. Requests that fail before execution carry no `data` and an
//! `extensions.code` (see DESIGN's error contract).

use async_graphql::parser::types::{DocumentOperations, OperationDefinition, OperationType};
use axum::body::{Body, to_bytes};
use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::AppState;
use super::negotiate::{ResponseType, json_body, response_type};
use crate::auth::{AuthRejection, Budget, Client, Limited};
use crate::cache::response::ResponseCache;
use crate::graphql::limits::{Analysis, LimitError};
use crate::graphql::loaders::Loaders;
use crate::graphql::tick::ExecutionTick;
use crate::upstream::deadline::Deadline;
use crate::upstream::usage::Usage;

/// A request that cannot run, answered without executing anything.
pub(super) struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow: Option<&'static str>,
    /// Whether to answer `Accept-Encoding: identity` (a content coding was refused).
    accept_encoding: bool,
    /// Extensions besides `code` (`retryAfterMs`) and headers (`WWW-Authenticate`,
    /// `Retry-After`, `RateLimit`): boxed, as few rejections have them.
    extra: Option<Box<(serde_json::Map<String, Value>, HeaderMap)>>,
}

impl Rejection {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            code,
            message: message.into(),
            allow: None,
            accept_encoding: false,
            extra: None,
        }
    }

    /// The error-contract body: one error, no `data`.
    pub(super) fn body(&self) -> Value {
        let mut extensions = self
            .extra
            .as_ref()
            .map(|extra| extra.0.clone())
            .unwrap_or_default();
        extensions.insert("code".into(), Value::from(self.code));
        json!({ "errors": [{ "message": self.message, "extensions": extensions }] })
    }

    pub(super) fn into_response(self, as_type: ResponseType) -> Response {
        crate::metrics::rejected(self.code);
        let mut response = json_response(self.status, as_type, &self.body());
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if self.accept_encoding {
            response.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        if let Some(extra) = self.extra {
            response.headers_mut().extend(extra.1);
        }
        response
    }
}

impl From<AuthRejection> for Rejection {
    fn from(rejection: AuthRejection) -> Self {
        let mut headers = rejection.headers();
        headers.remove(header::CONTENT_TYPE);
        Rejection {
            extra: Some(Box::new((serde_json::Map::new(), headers))),
            ..Rejection::new(rejection.status, rejection.code, rejection.message)
        }
    }
}

impl From<Limited> for Rejection {
    fn from(limited: Limited) -> Self {
        let mut headers = HeaderMap::new();
        limited.write_headers(&mut headers);
        // The error's own extensions (`retryAfterMs`); `code` is set from `Limited::CODE`.
        let extensions = match limited.graphql_error()["extensions"].take() {
            Value::Object(extensions) => extensions,
            _ => serde_json::Map::new(),
        };
        Rejection {
            extra: Some(Box::new((extensions, headers))),
            ..Rejection::new(Limited::STATUS, Limited::CODE, limited.message())
        }
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
    Extension(admitted): Extension<Arc<Admitted>>,
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
    execute(&state, &headers, &admitted, request, as_type, true).await
}

pub async fn post_request(
    State(state): State<AppState>,
    Extension(admitted): Extension<Arc<Admitted>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(as_type) = response_type(&headers) else {
        return not_acceptable();
    };
    if let Some(coding) = headers
        .get(header::CONTENT_ENCODING)
        .filter(|c| !c.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        // Bodies are read as sent, never inflated (so no decompression bomb): RFC 9110
        // 15.5.16 answers a content coding the server does not take with 415.
        let mut rejection = Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            format!(
                "request bodies are not decoded; `Content-Encoding: {}` is not accepted",
                String::from_utf8_lossy(coding.as_bytes())
            ),
        );
        rejection.accept_encoding = true;
        return rejection.into_response(as_type);
    }
    if let Err(unsupported) = json_body(&headers) {
        // Only JSON: a form or text/plain POST would be a CORS "simple request" (CSRF).
        return Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            unsupported.message(),
        )
        .into_response(as_type);
    }
    // The body limit layer has already bounded the body; this only reports it.
    let bytes = match to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => {
            return if is_length_limit(&err) {
                Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "the request body is larger than the gateway accepts",
                )
            } else if is_body_read_timeout(&err) {
                Rejection::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "REQUEST_TIMEOUT",
                    "the request body was not received in time",
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
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(body) => body,
        Err(e) => {
            return Rejection::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("the body is not JSON: {e}"),
            )
            .into_response(as_type);
        }
    };
    if let Value::Array(operations) = body {
        // Counted before anything is made of the operations: a 10,000-operation batch costs
        // what a 5-operation one does.
        if let Err(rejection) = batch_size(&state, operations.len()) {
            return rejection.into_response(as_type);
        }
        let requests: Result<Vec<_>, _> = operations.into_iter().map(request_from_json).collect();
        return match requests {
            Ok(requests) => execute_batch(&state, &headers, &admitted, requests, as_type).await,
            Err(rejection) => rejection.into_response(as_type),
        };
    }
    match request_from_json(body) {
        Ok(request) => execute(&state, &headers, &admitted, request, as_type, false).await,
        Err(rejection) => rejection.into_response(as_type),
    }
}

/// Any other method on `/graphql`: 405 naming the two it takes, in the error contract.
pub async fn other_method(headers: HeaderMap) -> Response {
    let mut rejection = Rejection::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BAD_REQUEST",
        "`/graphql` takes GET and POST",
    );
    rejection.allow = Some("GET, POST");
    rejection.into_response(response_type(&headers).unwrap_or(ResponseType::Json))
}

/// The GET form, turned into the JSON form: `variables` and `extensions` are JSON texts; an
/// empty `operationName` is the same as none (the spec says so for GET).
fn request_from_query(query: &str) -> Result<async_graphql::Request, Rejection> {
    let bad = |message: String| Rejection::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
    let params: GetParams =
        serde_urlencoded::from_str(query).map_err(|e| bad(format!("bad query string: {e}")))?;
    let mut object = serde_json::Map::new();
    if let Some(text) = params.query {
        object.insert("query".into(), Value::String(text));
    }
    if let Some(name) = params.operation_name.filter(|name| !name.is_empty()) {
        object.insert("operationName".into(), Value::String(name));
    }
    for (name, text) in [
        ("variables", params.variables),
        ("extensions", params.extensions),
    ] {
        if let Some(text) = text {
            let value = serde_json::from_str(&text)
                .map_err(|e| bad(format!("`{name}` is not JSON: {e}")))?;
            object.insert(name.into(), value);
        }
    }
    request_from_json(Value::Object(object))
}

/// A GraphQL-over-HTTP request from its JSON form: an object whose `query` is a string,
/// `operationName` a string, `variables` and `extensions` objects. `null` is the same as
/// leaving an optional one out; other keys are ignored, as the spec asks. Anything else is
/// not a well-formed request: 400 whatever the response type.
fn request_from_json(value: Value) -> Result<async_graphql::Request, Rejection> {
    /// Takes `name` out of `object`: `None` when absent or null, 400 when not a `T`.
    fn take<T: serde::de::DeserializeOwned>(
        object: &mut serde_json::Map<String, Value>,
        name: &str,
        expected: &str,
    ) -> Result<Option<T>, Rejection> {
        match object.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|_| {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    format!("`{name}` must be {expected}"),
                )
            }),
        }
    }
    let bad = |message: String| Rejection::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
    let mut object = match value {
        Value::Object(object) => object,
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                _ => "an array",
            };
            return Err(bad(format!(
                "a GraphQL request is a JSON object, not {kind}"
            )));
        }
    };
    let query: Option<String> = take(&mut object, "query", "a string")?;
    let operation_name: Option<String> = take(&mut object, "operationName", "a string or null")?;
    let variables: Option<serde_json::Map<String, Value>> =
        take(&mut object, "variables", "an object or null")?;
    let extensions: Option<serde_json::Map<String, Value>> =
        take(&mut object, "extensions", "an object or null")?;
    // A persisted query's hash may stand for the text (see persisted.rs).
    let persisted = extensions
        .as_ref()
        .is_some_and(|e| e.contains_key("persistedQuery"));
    let text = match query {
        Some(text) => text,
        None if persisted => String::new(),
        None => {
            return Err(bad(
                "`query` is required: a string holding the GraphQL document".into(),
            ));
        }
    };
    let mut request = async_graphql::Request::new(text);
    request.operation_name = operation_name;
    if let Some(variables) = variables {
        request.variables = async_graphql::Variables::from_json(Value::Object(variables));
    }
    for (key, value) in extensions.into_iter().flatten() {
        if let Ok(value) = async_graphql::Value::from_json(value) {
            request.extensions.insert(key, value);
        }
    }
    Ok(request)
}

/// A request that passed the front door: who sent it, and the request budget it was
/// admitted under (see `edge::admit`).
pub struct Admitted {
    pub client: Client,
    pub budget: Budget,
}

/// A request ready to run: its document parsed, within the limits, its fields allowed.
struct Prepared {
    request: async_graphql::Request,
    operation: Option<OperationType>,
    /// The selected operation's name, when it has one.
    name: Option<String>,
    analysis: Analysis,
    /// Whether the client asked for `extensions.cost` (see [`asks_for_cost`]).
    cost_report: bool,
}

/// Turns a request into one that may run, or says why it may not: the document's tokens,
/// then (parsed) its variables, method, limits and the client's scopes.
fn prepare(
    state: &AppState,
    admitted: &Admitted,
    mut request: async_graphql::Request,
    as_type: ResponseType,
    via_get: bool,
) -> Result<Prepared, Rejection> {
    let limited = |e: LimitError| {
        let status = match e.code {
            "PAYLOAD_TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
            _ => as_type.request_error_status(),
        };
        Rejection::new(status, e.code, e.message)
    };
    state.limits.scan(&request.query).map_err(limited)?;
    let operation_name = request.operation_name.clone();
    let variables = request.variables.clone();
    let doc = request.parsed_query().map_err(|err| {
        Rejection::new(
            as_type.request_error_status(),
            "GRAPHQL_PARSE_FAILED",
            err.message.clone(),
        )
    })?;
    let selected = selected_operation(&doc.operations, operation_name.as_deref());
    if let Some(message) = selected.and_then(|op| missing_variable(op, &variables)) {
        return Err(Rejection::new(
            as_type.request_error_status(),
            "GRAPHQL_VALIDATION_FAILED",
            message,
        ));
    }
    let operation = selected.map(|op| op.ty);
    let name = selected_name(&doc.operations, operation_name.as_deref());
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
        return Err(rejection);
    }
    let analysis = state
        .limits
        .analyze(doc, operation_name.as_deref(), &variables)
        .map_err(limited)?;
    state
        .auth
        .authorize(&admitted.client, analysis.fields.iter().map(String::as_str))
        .map_err(Rejection::from)?;
    let cost_report = request.extensions.get("cost") == Some(&async_graphql::Value::Boolean(true));
    Ok(Prepared {
        request,
        operation,
        name,
        analysis,
        cost_report,
    })
}

/// Fills in a request's text from a persisted query's hash (APQ), or, in trusted-documents
/// mode, checks that the document is a trusted one.
fn resolve_document(
    state: &AppState,
    request: &mut async_graphql::Request,
    as_type: ResponseType,
) -> Result<(), Rejection> {
    match &state.trusted {
        Some(trusted) => trusted.resolve(request, as_type.request_error_status()),
        None => state
            .persisted
            .resolve(request, as_type.request_error_status()),
    }
}

/// Charges `cost` to the client's cost budget: the budget to report (request and cost), or
/// a 429 that reports both.
fn charge(state: &AppState, admitted: &Admitted, cost: u64) -> Result<Budget, Rejection> {
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    match state.client_limits.admit_cost(&admitted.client, cost) {
        Ok(paid) => Ok(admitted.budget.clone().join(paid)),
        Err(limited) => Err(Rejection::from(limited.after(admitted.budget.clone()))),
    }
}

pub(super) async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    admitted: &Admitted,
    mut request: async_graphql::Request,
    as_type: ResponseType,
    via_get: bool,
) -> Response {
    let deadline = match deadline(state, headers) {
        Ok(deadline) => deadline,
        Err(rejection) => return rejection.into_response(as_type),
    };
    if let Err(rejection) = resolve_document(state, &mut request, as_type) {
        return rejection.into_response(as_type);
    }
    // A response a shared cache could keep may already be here (see cache/response.rs). A
    // request for a cost report must be run: the report is about this request's calls.
    let cost_header = asks_for_cost(headers);
    let response_key = match cost_header
        || request.extensions.get("cost") == Some(&async_graphql::Value::Boolean(true))
    {
        true => None,
        false => response_key(state, headers, &request, as_type),
    };
    let responses = &state.providers.caches.responses;
    let mut _leader = None;
    if let Some(key) = response_key {
        let mut hit = responses.get(&key);
        if hit.is_none() {
            // An identical request being answered now: wait for it rather than run again.
            _leader = responses.turn(key, deadline).await;
            if _leader.is_none() {
                hit = responses.get(&key);
            }
        }
        if let Some((hit, age)) = hit {
            return match charge(state, admitted, hit.cost) {
                Ok(budget) => with_budget(cached_response(headers, as_type, &hit, age), &budget),
                Err(rejection) => rejection.into_response(as_type),
            };
        }
    }
    let mut prepared = match prepare(state, admitted, request, as_type, via_get) {
        Ok(prepared) => prepared,
        Err(rejection) => return rejection.into_response(as_type),
    };
    prepared.cost_report |= cost_header;
    let cost = prepared.analysis.cost;
    let budget = match charge(state, admitted, cost) {
        Ok(budget) => budget,
        Err(rejection) => return rejection.into_response(as_type),
    };
    let operation = prepared.operation;
    let outcome = run(state, prepared, deadline, as_type).await;
    let response = match outcome {
        Ok(outcome) => respond(
            state,
            headers,
            as_type,
            outcome,
            operation,
            response_key,
            cost,
        ),
        Err(rejection) => rejection.into_response(as_type),
    };
    with_budget(response, &budget)
}

/// A batch (a JSON array of requests, when `limits.max_batch_operations` allows): at most
/// that many operations, each within the limits, and their costs added up against
/// `limits.max_cost` and charged together. The answer is the array of their answers, each as
/// it would be alone; a batch is never cached.
pub(super) async fn execute_batch(
    state: &AppState,
    headers: &HeaderMap,
    admitted: &Admitted,
    requests: Vec<async_graphql::Request>,
    as_type: ResponseType,
) -> Response {
    if let Err(rejection) = batch_size(state, requests.len()) {
        return rejection.into_response(as_type);
    }
    let deadline = match deadline(state, headers) {
        Ok(deadline) => deadline,
        Err(rejection) => return rejection.into_response(as_type),
    };
    let prepared: Vec<Result<Prepared, Rejection>> = requests
        .into_iter()
        .map(|mut request| {
            resolve_document(state, &mut request, as_type)?;
            let mut prepared = prepare(state, admitted, request, as_type, false)?;
            prepared.cost_report |= asks_for_cost(headers);
            Ok(prepared)
        })
        .collect();
    let cost = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .fold(0u64, |sum, p| sum.saturating_add(p.analysis.cost));
    let max_cost = state.limits.config().max_cost;
    if cost > max_cost {
        return Rejection::new(
            as_type.request_error_status(),
            "MAX_COMPLEXITY_LIMIT",
            format!("the batch's operations cost {cost} together; at most {max_cost} is allowed"),
        )
        .into_response(as_type);
    }
    let budget = match charge(state, admitted, cost) {
        Ok(budget) => budget,
        Err(rejection) => return rejection.into_response(as_type),
    };
    let answers = futures_util::future::join_all(prepared.into_iter().map(|p| async move {
        match p {
            Ok(prepared) => match run(state, prepared, deadline, as_type).await {
                Ok(outcome) => outcome.text,
                Err(rejection) => rejection.body().to_string(),
            },
            Err(rejection) => rejection.body().to_string(),
        }
    }))
    .await;
    let text = format!("[{}]", answers.join(","));
    let mut response = text_response(StatusCode::OK, as_type, text);
    set_caching(response.headers_mut(), "no-store", None);
    with_budget(response, &budget)
}

/// Whether a batch of `operations` may run: batching on, and 1 to
/// `limits.max_batch_operations` operations.
fn batch_size(state: &AppState, operations: usize) -> Result<(), Rejection> {
    let max = state.limits.config().max_batch_operations;
    if max == 0 {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "BATCHING_NOT_ENABLED",
            "batched operations are not enabled",
        ));
    }
    if operations == 0 || operations > max {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "BATCH_LIMIT_EXCEEDED",
            format!("a batch holds 1 to {max} operations; this one holds {operations}"),
        ));
    }
    Ok(())
}

/// What running an operation gave, encoded.
struct Outcome {
    status: StatusCode,
    text: String,
    /// Whether a cache may keep it (no errors, nothing stale), and for how long.
    cacheable: bool,
    max_age: Option<std::time::Duration>,
}

/// Runs a prepared request within `deadline` and encodes its response: request errors
/// without `data`, `extensions.stale` for what was served stale, `extensions.cost` when the
/// request asked for it (`"extensions": {"cost": true}`).
async fn run(
    state: &AppState,
    prepared: Prepared,
    deadline: std::time::Duration,
    as_type: ResponseType,
) -> Result<Outcome, Rejection> {
    let Prepared {
        request,
        analysis,
        name,
        cost_report,
        ..
    } = prepared;
    let tick = ExecutionTick::default();
    let loaders = Loaders::new(&state.providers, &tick);
    let report = loaders.stale.clone();
    let request = request.data(loaders);
    let schema = match &state.traced_schema {
        Some(traced) if crate::telemetry::spans::is_sampled(&tracing::Span::current()) => {
            traced.clone()
        }
        _ => state.schema.clone(),
    };
    let started = Instant::now();
    let deadline = started + deadline;
    let usage = Arc::new(Usage::default());
    let mut response = Usage::scope(
        usage.clone(),
        Deadline::scope(
            deadline,
            tick.track(async move { schema.execute(request).await }),
        ),
    )
    .await;
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if response.data == async_graphql::Value::Null && response.errors.is_empty() {
        // Every root field skipped (`@skip`/`@include`): the spec's result is an empty map.
        response.data = async_graphql::Value::Object(Default::default());
    }
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
    crate::metrics::operation(
        name.as_deref(),
        started.elapsed(),
        response.errors.iter().filter_map(error_code),
    );
    if cost_report {
        let report = cost_report_of(analysis.cost, state.limits.config().max_cost, &usage);
        if let Ok(report) = async_graphql::Value::from_json(report) {
            response.extensions.insert("cost".into(), report);
        }
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
    let text = encoded.map_err(|_| {
        Rejection::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "the response could not be encoded",
        )
    })?;
    Ok(Outcome {
        status,
        text,
        cacheable,
        max_age: report.max_age(),
    })
}

/// The HTTP response of one operation's outcome: its caching headers and validator, kept in
/// the response cache when a shared cache could keep it.
fn respond(
    state: &AppState,
    headers: &HeaderMap,
    as_type: ResponseType,
    outcome: Outcome,
    operation: Option<OperationType>,
    response_key: Option<crate::cache::response::Key>,
    cost: u64,
) -> Response {
    let Outcome {
        status,
        text,
        cacheable,
        max_age,
    } = outcome;
    // A request that says who sends it may get an answer for that client alone: browsers
    // may keep it, shared caches (CDNs, proxies) must not.
    let scope = if carries_identity(headers) {
        "private"
    } else {
        "public"
    };
    let cache_control = match max_age.map(|d| d.as_secs()) {
        // Errors and stale data must not be kept by anyone; nor what is fresh for no time.
        _ if !cacheable => "no-store".to_owned(),
        Some(secs) if secs > 0 => format!("{scope}, max-age={secs}"),
        _ => "no-cache".to_owned(),
    };
    if status == StatusCode::OK && cacheable {
        let tag = etag(&text);
        if let (Some(key), Some(OperationType::Query), Some(secs)) =
            (response_key, operation, max_age.map(|d| d.as_secs()))
            && scope == "public"
        {
            state.providers.caches.responses.insert(
                key,
                text.clone(),
                tag.clone(),
                std::time::Duration::from_secs(secs),
                cost,
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

/// Reports the client's budget (`RateLimit-Policy`, `RateLimit`) on a response.
fn with_budget(mut response: Response, budget: &Budget) -> Response {
    budget.write_headers(response.headers_mut());
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

/// `Cache-Control`, the validator, and `Vary: Accept` (the media type decides the content
/// type and the status of an answer, so a shared cache must key on it).
fn set_caching(headers: &mut HeaderMap, cache_control: &str, etag: Option<&str>) {
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    if let Ok(value) = HeaderValue::from_str(cache_control) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if let Some(value) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        headers.insert(header::ETAG, value);
    }
}

/// The operation that will run, if the document names it unambiguously.
/// The selected operation's name: the one asked for, or the only one's.
fn selected_name(ops: &DocumentOperations, name: Option<&str>) -> Option<String> {
    match ops {
        DocumentOperations::Single(_) => None,
        DocumentOperations::Multiple(map) => match name {
            Some(name) => map.contains_key(name).then(|| name.to_owned()),
            None if map.len() == 1 => map.keys().next().map(ToString::to_string),
            None => None,
        },
    }
}

/// Whether the client asked for a cost report with the `x-switchyard-cost: 1` header (or
/// `true`); `"extensions": {"cost": true}` asks the same.
fn asks_for_cost(headers: &HeaderMap) -> bool {
    headers
        .get("x-switchyard-cost")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim(), "1" | "true"))
}

/// `extensions.code` of a response error.
fn error_code(error: &async_graphql::ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

/// `extensions.cost`: the estimate the limits charged, and what running the request did, by
/// provider: attempts sent, cache lookups that saved a call, money spent (totalled by
/// currency).
fn cost_report_of(estimated: u64, limit: u64, usage: &Usage) -> Value {
    let by_provider = usage.by_provider();
    let mut spent = serde_json::Map::new();
    for usage in by_provider.values() {
        if let Some(currency) = usage.currency {
            let total = spent.get(currency).and_then(Value::as_f64).unwrap_or(0.0);
            spent.insert(currency.into(), json!(round_money(total + usage.spent)));
        }
    }
    let providers: serde_json::Map<String, Value> = by_provider
        .iter()
        .map(|(name, u)| {
            let mut entry = json!({ "calls": u.calls, "cacheHits": u.cache_hits });
            if let Some(currency) = u.currency {
                entry["spent"] = json!(round_money(u.spent));
                entry["currency"] = json!(currency);
            }
            ((*name).to_owned(), entry)
        })
        .collect();
    json!({
        "estimated": estimated,
        "limit": limit,
        "calls": by_provider.values().map(|u| u.calls).sum::<u64>(),
        "cacheHits": by_provider.values().map(|u| u.cache_hits).sum::<u64>(),
        "spent": spent,
        "providers": providers,
    })
}

/// Money to the nano-unit the ledger counts in, without float noise (0.006000000000000001).
fn round_money(amount: f64) -> f64 {
    (amount * 1e9).round() / 1e9
}

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
    let body = json!({ "errors": [{ "message": "this endpoint answers application/graphql-response+json or application/json, in UTF-8", "extensions": { "code": "BAD_REQUEST" } }] });
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

/// Whether reading the body failed because it was not all in by the server's body-read
/// deadline (`server.body_read_timeout_ms`).
fn is_body_read_timeout(err: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.is::<super::server::BodyReadTimeout>() {
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

/// The request's deadline: the gateway's, or less when the client asks for less.
fn deadline(state: &AppState, headers: &HeaderMap) -> Result<std::time::Duration, Rejection> {
    Ok(requested_deadline(headers)?.map_or(state.deadline, |asked| asked.min(state.deadline)))
}

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
