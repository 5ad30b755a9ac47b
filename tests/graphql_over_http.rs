//! `/graphql` against the GraphQL-over-HTTP specification
//! (<https://graphql.github.io/graphql-over-http/draft/>), rule by rule, the way graphql-http's
//! server audits check a server: each case is one exact HTTP request (no header the case does
//! not list) and what the spec asks of the answer under the media type the request accepts.
//! Where the spec leaves a choice and the gateway makes another one than the audits, the case
//! says why.

mod support;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::TestGateway;

const GQL: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// A query that would call the catalog if it ran: requests refused before execution must not.
const CATALOG_QUERY: &str = "{ categories { slug } }";
/// A query that runs without any provider.
const TYPENAME: &str = "{ __typename }";
/// Introspection with a variable: proves the variable reached execution.
const TYPE_BY_NAME: &str = "query Type($name: String!) { __type(name: $name) { name } }";

/// One audit: an HTTP request and what its answer must be.
struct Case {
    /// The spec's rule (or graphql-http's audit) the case checks.
    rule: String,
    method: &'static str,
    /// Path and query string.
    target: String,
    /// Every header sent, and no other (besides `host` and the body's length).
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    expect: Expect,
}

struct Expect {
    status: u16,
    /// The response's media type; it must also say `charset=utf-8`.
    media: &'static str,
    body: Answer,
    /// The methods `Allow` must list.
    allow: Option<&'static [&'static str]>,
}

enum Answer {
    /// An execution result: no `errors`, and this value at this JSON pointer.
    Data(&'static str, Value),
    /// A partial result: this value at this pointer, and an error with this code.
    Partial(&'static str, Value, &'static str),
    /// Refused before execution: no `data` key, and every error has `extensions.code`, the
    /// first this one.
    Refused(&'static str),
    /// Only the status and `Allow` are checked.
    Unchecked,
}

impl Case {
    fn new(rule: impl Into<String>, method: &'static str, target: impl Into<String>) -> Case {
        Case {
            rule: rule.into(),
            method,
            target: target.into(),
            headers: Vec::new(),
            body: String::new(),
            expect: Expect {
                status: 0,
                media: "",
                body: Answer::Refused(""),
                allow: None,
            },
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Case {
        self.headers.push((name, value));
        self
    }

    /// Sends `Accept: accept` unless `None`.
    fn accept(self, accept: Option<&'static str>) -> Case {
        match accept {
            Some(accept) => self.header("accept", accept),
            None => self,
        }
    }

    fn body(mut self, body: impl Into<String>) -> Case {
        self.body = body.into();
        self
    }

    fn answers(mut self, status: u16, media: &'static str, body: Answer) -> Case {
        self.expect.status = status;
        self.expect.media = media;
        self.expect.body = body;
        self
    }

    fn allowing(mut self, methods: &'static [&'static str]) -> Case {
        self.expect.allow = Some(methods);
        self
    }
}

/// `POST /graphql` with `Content-Type: application/json` and this JSON body.
fn post(rule: impl Into<String>, accept: Option<&'static str>, body: Value) -> Case {
    Case::new(rule, "POST", "/graphql")
        .header("content-type", JSON)
        .accept(accept)
        .body(body.to_string())
}

/// `GET /graphql` with these parameters, form-encoded into the query string.
fn get(rule: impl Into<String>, accept: Option<&'static str>, params: &[(&str, &str)]) -> Case {
    let query = serde_urlencoded::to_string(params).expect("form-encodable");
    Case::new(rule, "GET", format!("/graphql?{query}")).accept(accept)
}

fn data(pointer: &'static str, value: Value) -> Answer {
    Answer::Data(pointer, value)
}

fn typename() -> Answer {
    data("/data/__typename", json!("Query"))
}

fn refused(code: &'static str) -> Answer {
    Answer::Refused(code)
}

/// The status a request error (parse, validation, operation, variables) gets under `media`:
/// 400 under graphql-response+json, 200 under application/json.
fn request_error_status(media: &str) -> u16 {
    if media == GQL { 400 } else { 200 }
}

/// What came back.
struct Reply {
    status: u16,
    content_type: String,
    allow: Option<String>,
    text: String,
}

/// Sends exactly the case's request: hyper's bare HTTP/1.1 connection adds no header of its
/// own (reqwest would add `Accept: */*`, which several cases must not send).
async fn send(addr: SocketAddr, case: &Case) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the gateway listens");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(case.method)
        .uri(&case.target)
        .header("host", addr.to_string());
    for (name, value) in &case.headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(case.body.clone())))
        .expect("a valid request");
    let response = sender
        .send_request(request)
        .await
        .expect("the gateway answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, content_type, allow) = (
        response.status().as_u16(),
        header("content-type").unwrap_or_default(),
        header("allow"),
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the whole body")
        .to_bytes();
    Reply {
        status,
        content_type,
        allow,
        text: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    }
}

impl Expect {
    /// What in `reply` breaks the rule, if anything.
    fn check(&self, reply: &Reply) -> Result<(), String> {
        if reply.status != self.status {
            return Err(format!("status {}, not {}", reply.status, self.status));
        }
        if let Some(expected) = self.allow {
            let listed: Vec<String> = (reply.allow.as_deref().unwrap_or(""))
                .split(',')
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| !m.is_empty())
                .collect();
            // HEAD is GET without the body: listing it beside GET is true as well.
            let allowed = |m: &String| {
                expected.contains(&m.as_str()) || (m == "HEAD" && expected.contains(&"GET"))
            };
            if expected.iter().any(|m| !listed.iter().any(|l| l == m))
                || !listed.iter().all(allowed)
            {
                return Err(format!("Allow lists {listed:?}, not {expected:?}"));
            }
        }
        if matches!(self.body, Answer::Unchecked) {
            return Ok(());
        }
        let mut params = reply.content_type.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        if !media.eq_ignore_ascii_case(self.media) {
            return Err(format!("media type {media}, not {}", self.media));
        }
        if !params.any(|p| p.eq_ignore_ascii_case("charset=utf-8")) {
            return Err("Content-Type does not say charset=utf-8".into());
        }
        let body: Value =
            serde_json::from_str(&reply.text).map_err(|e| format!("the body is not JSON ({e})"))?;
        match &self.body {
            Answer::Data(pointer, value) => {
                if let Some(errors) = body.get("errors") {
                    return Err(format!("errors in an execution result: {errors}"));
                }
                if body.pointer(pointer) != Some(value) {
                    return Err(format!("{pointer} is not {value}"));
                }
            }
            Answer::Partial(pointer, value, code) => {
                if body.pointer(pointer) != Some(value) {
                    return Err(format!("{pointer} is not {value}"));
                }
                let codes: Vec<&Value> = errors(&body)?
                    .iter()
                    .map(|e| &e["extensions"]["code"])
                    .collect();
                if !codes.iter().any(|c| *c == code) {
                    return Err(format!("no error has code {code}: {codes:?}"));
                }
            }
            Answer::Unchecked => {}
            Answer::Refused(code) => {
                if body.get("data").is_some() {
                    return Err("a refused request's answer has a `data` key".into());
                }
                let errors = errors(&body)?;
                if errors.iter().any(|e| !e["extensions"]["code"].is_string()) {
                    return Err("an error without extensions.code".into());
                }
                if errors[0]["extensions"]["code"] != *code {
                    return Err(format!(
                        "code {}, not {code}",
                        errors[0]["extensions"]["code"]
                    ));
                }
            }
        }
        Ok(())
    }
}

fn errors(body: &Value) -> Result<&Vec<Value>, String> {
    body["errors"]
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| "no `errors` list".to_owned())
}

/// Runs every case against `gw` and fails with the list of those that break their rule.
async fn audit(gw: &TestGateway, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let reply = send(gw.gateway.addr, case).await;
        if let Err(why) = case.expect.check(&reply) {
            failures.push(format!(
                "{} ({} {}): {why}\n    got {} [{}] {}",
                case.rule, case.method, case.target, reply.status, reply.content_type, reply.text
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases break their rule:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Audits `cases` on a fresh gateway; none of them may reach a provider.
async fn audit_without_providers(cases: Vec<Case>) {
    let gw = TestGateway::start().await;
    audit(&gw, cases).await;
    for sandbox in &gw.gateway.sandboxes.running {
        assert_eq!(
            sandbox.handle.total(),
            0,
            "a request that was refused or needs no provider reached one"
        );
    }
}

#[tokio::test]
async fn accept_negotiation() {
    let ok = |rule: &str, accept| post(rule, Some(accept), json!({ "query": TYPENAME }));
    let refused_406 = |rule: &str, accept| {
        post(rule, Some(accept), json!({ "query": CATALOG_QUERY })).answers(
            406,
            JSON,
            refused("BAD_REQUEST"),
        )
    };
    let cases = vec![
        ok(
            "SHOULD accept application/graphql-response+json and match the content-type",
            GQL,
        )
        .answers(200, GQL, typename()),
        ok(
            "MUST accept application/json and match the content-type",
            JSON,
        )
        .answers(200, JSON, typename()),
        // The spec leaves a request without Accept to the server; graphql-http's audit 80D8
        // asks for application/json, which is what clients that send no Accept expect.
        post(
            "no Accept: application/json",
            None,
            json!({ "query": TYPENAME }),
        )
        .answers(200, JSON, typename()),
        get(
            "no Accept on GET: application/json",
            None,
            &[("query", TYPENAME)],
        )
        .answers(200, JSON, typename()),
        // Deliberately not graphql-http's audit 47DE (application/json for */*): a client
        // that accepts anything accepts the type the spec calls preferred, whose status codes
        // tell proxies and tooling what happened.
        ok(
            "*/*: the preferred application/graphql-response+json",
            "*/*",
        )
        .answers(200, GQL, typename()),
        ok(
            "application/*: the preferred application/graphql-response+json",
            "application/*",
        )
        .answers(200, GQL, typename()),
        ok(
            "MUST respect Accept: the spec's recommended Accept gets graphql-response+json",
            "application/graphql-response+json, application/json;q=0.9",
        )
        .answers(200, GQL, typename()),
        ok(
            "MUST respect Accept: the higher q wins",
            "application/json, application/graphql-response+json;q=0.9",
        )
        .answers(200, JSON, typename()),
        // Equal q: RFC 9110 leaves the order to the server; the spec prefers the new type.
        ok(
            "equal q: the preferred application/graphql-response+json",
            "application/json, application/graphql-response+json",
        )
        .answers(200, GQL, typename()),
        ok(
            "MUST respect Accept: a type refused with q=0 is not used",
            "application/graphql-response+json;q=0, */*",
        )
        .answers(200, JSON, typename()),
        ok(
            "MUST respect Accept: the one supported type listed is used",
            "text/html, application/json;q=0.1",
        )
        .answers(200, JSON, typename()),
        ok(
            "MUST accept utf-8 charset in Accept",
            "application/graphql-response+json; charset=utf-8",
        )
        .answers(200, GQL, typename()),
        ok(
            "MUST accept utf-8 charset in Accept (application/json)",
            "application/json; charset=utf-8",
        )
        .answers(200, JSON, typename()),
        refused_406(
            "RECOMMENDED 406 when no supported media type is accepted",
            "text/html",
        ),
        refused_406(
            "RECOMMENDED 406 when the supported types are refused (q=0)",
            "application/json;q=0, application/graphql-response+json;q=0",
        ),
        refused_406(
            "the gateway answers in UTF-8 only: another charset is not acceptable (406)",
            "application/graphql-response+json; charset=iso-8859-1",
        ),
        get(
            "RECOMMENDED 406 on GET too",
            Some("text/html"),
            &[("query", CATALOG_QUERY)],
        )
        .answers(406, JSON, refused("BAD_REQUEST")),
    ];
    audit_without_providers(cases).await;
}

#[tokio::test]
async fn post_content_types() {
    // Non-ASCII in the document: the body must be read as UTF-8.
    let utf8 = json!({ "query": "{ __type(name: \"Run🏃Swim🏊\") { name } }" }).to_string();
    let with_content_type = |rule: &str, content_type: &'static str, body: String| {
        Case::new(rule, "POST", "/graphql")
            .header("content-type", content_type)
            .header("accept", GQL)
            .body(body)
    };
    let catalog = json!({ "query": CATALOG_QUERY }).to_string();
    let cases = vec![
        with_content_type("MUST accept application/json POST requests", JSON, json!({ "query": TYPENAME }).to_string())
            .answers(200, GQL, typename()),
        with_content_type("MUST accept utf-8 encoded request", "application/json; charset=utf-8", utf8.clone())
            .answers(200, GQL, data("/data/__type", Value::Null)),
        with_content_type("MUST assume utf-8 in request if encoding is unspecified", JSON, utf8.clone())
            .answers(200, GQL, data("/data/__type", Value::Null)),
        with_content_type("the charset is case-insensitive", "application/json; charset=UTF-8", utf8)
            .answers(200, GQL, data("/data/__type", Value::Null)),
        with_content_type("another charset is not supported: 415", "application/json; charset=iso-8859-1", catalog.clone())
            .answers(415, GQL, refused("BAD_REQUEST")),
        Case::new("SHOULD respond with 4xx if content-type is not supplied on POST", "POST", "/graphql")
            .header("accept", GQL)
            .body(catalog.clone())
            .answers(415, GQL, refused("BAD_REQUEST")),
        // A JSON body sent as text/plain, a form or multipart is a CORS "simple request" any
        // web page can make: refusing them is the CSRF defence.
        with_content_type("text/plain is refused (no CSRF): 415", "text/plain", catalog.clone())
            .answers(415, GQL, refused("BAD_REQUEST")),
        with_content_type("a form is refused (no CSRF): 415", "application/x-www-form-urlencoded", "query=%7B%20categories%20%7B%20slug%20%7D%20%7D".into())
            .answers(415, GQL, refused("BAD_REQUEST")),
        with_content_type("multipart is refused (no CSRF): 415", "multipart/form-data; boundary=X", format!("--X\r\ncontent-disposition: form-data; name=\"query\"\r\n\r\n{CATALOG_QUERY}\r\n--X--\r\n"))
            .answers(415, GQL, refused("BAD_REQUEST")),
        with_content_type("MAY support other media types: application/graphql is not", "application/graphql", CATALOG_QUERY.into())
            .answers(415, GQL, refused("BAD_REQUEST")),
        Case::new("415 speaks the accepted media type", "POST", "/graphql")
            .header("content-type", "text/plain")
            .header("accept", JSON)
            .body(catalog)
            .answers(415, JSON, refused("BAD_REQUEST")),
    ];
    audit_without_providers(cases).await;
}

#[tokio::test]
async fn get_requests() {
    let cases = vec![
        get("MAY accept application/x-www-form-urlencoded formatted GET requests", Some(GQL), &[("query", TYPENAME)])
            .answers(200, GQL, typename()),
        get("MAY allow URL-encoded JSON string {variables} in GETs (graphql-response+json)", Some(GQL), &[("query", TYPE_BY_NAME), ("variables", r#"{"name":"Product"}"#)])
            .answers(200, GQL, data("/data/__type/name", json!("Product"))),
        get("MAY allow URL-encoded JSON string {variables} in GETs (application/json)", Some(JSON), &[("query", TYPE_BY_NAME), ("variables", r#"{"name":"Product"}"#)])
            .answers(200, JSON, data("/data/__type/name", json!("Product"))),
        get("{extensions} in GETs is a URL-encoded JSON string", Some(GQL), &[("query", TYPENAME), ("extensions", r#"{"some":"value"}"#)])
            .answers(200, GQL, typename()),
        get("null {variables} and {extensions} in GETs are left out", Some(GQL), &[("query", TYPENAME), ("variables", "null"), ("extensions", "null")])
            .answers(200, GQL, typename()),
        get("{operationName} in GETs names the operation to run", Some(GQL), &[("query", "query A { a: __typename } query B { b: __typename }"), ("operationName", "B")])
            .answers(200, GQL, data("/data/b", json!("Query"))),
        get("an empty {operationName} in GETs is equivalent to omitting it", Some(GQL), &[("query", "query Only { __typename }"), ("operationName", "")])
            .answers(200, GQL, typename()),
        get("MUST NOT execute mutations on GET: 405 (graphql-response+json)", Some(GQL), &[("query", "mutation { __typename }")])
            .answers(405, GQL, refused("BAD_REQUEST"))
            .allowing(&["POST"]),
        get("MUST NOT execute mutations on GET: 405 (application/json)", Some(JSON), &[("query", "mutation { __typename }")])
            .answers(405, JSON, refused("BAD_REQUEST"))
            .allowing(&["POST"]),
        get("MUST NOT execute mutations on GET: {operationName} selecting a mutation", Some(GQL), &[("query", "query Q { __typename } mutation M { __typename }"), ("operationName", "M")])
            .answers(405, GQL, refused("BAD_REQUEST"))
            .allowing(&["POST"]),
        get("subscriptions are not run over GET either: 405", Some(GQL), &[("query", "subscription { __typename }")])
            .answers(405, GQL, refused("BAD_REQUEST"))
            .allowing(&["POST"]),
        get("a GET without {query} is not well-formed: 400 (graphql-response+json)", Some(GQL), &[("variables", "{}")])
            .answers(400, GQL, refused("BAD_REQUEST")),
        get("a GET without {query} is not well-formed: 400 (application/json)", Some(JSON), &[])
            .answers(400, JSON, refused("BAD_REQUEST")),
        get("{variables} that is not JSON is not well-formed: 400", Some(JSON), &[("query", CATALOG_QUERY), ("variables", "{nope")])
            .answers(400, JSON, refused("BAD_REQUEST")),
        get("{variables} that is not a map is not well-formed: 400", Some(JSON), &[("query", CATALOG_QUERY), ("variables", "[7]")])
            .answers(400, JSON, refused("BAD_REQUEST")),
        get("{extensions} that is not a map is not well-formed: 400", Some(GQL), &[("query", CATALOG_QUERY), ("extensions", r#""string""#)])
            .answers(400, GQL, refused("BAD_REQUEST")),
        get("a document parsing failure on GET: 400 (graphql-response+json)", Some(GQL), &[("query", "{")])
            .answers(400, GQL, refused("GRAPHQL_PARSE_FAILED")),
        get("a document parsing failure on GET: 200 (application/json)", Some(JSON), &[("query", "{")])
            .answers(200, JSON, refused("GRAPHQL_PARSE_FAILED")),
        get("a persisted query's hash stands for {query}: unknown hash (graphql-response+json)", Some(GQL), &[("extensions", r#"{"persistedQuery":{"version":1,"sha256Hash":"0000000000000000000000000000000000000000000000000000000000000000"}}"#)])
            .answers(400, GQL, refused("PERSISTED_QUERY_NOT_FOUND")),
        get("a persisted query's hash stands for {query}: unknown hash (application/json)", Some(JSON), &[("extensions", r#"{"persistedQuery":{"version":1,"sha256Hash":"0000000000000000000000000000000000000000000000000000000000000000"}}"#)])
            .answers(200, JSON, refused("PERSISTED_QUERY_NOT_FOUND")),
    ];
    audit_without_providers(cases).await;
}

#[tokio::test]
async fn request_parameters() {
    let mut cases = Vec::new();
    for media in [GQL, JSON] {
        let accept = Some(media);
        cases.extend([
            post(
                format!("MUST allow string {{query}} ({media})"),
                accept,
                json!({ "query": TYPENAME }),
            )
            .answers(200, media, typename()),
            post(
                format!("MUST allow string {{operationName}} ({media})"),
                accept,
                json!({ "query": "query Query { __typename }", "operationName": "Query" }),
            )
            .answers(200, media, typename()),
            post(
                format!("MUST allow map {{variables}} ({media})"),
                accept,
                json!({ "query": TYPE_BY_NAME, "variables": { "name": "Product" } }),
            )
            .answers(200, media, data("/data/__type/name", json!("Product"))),
            post(
                format!("MUST allow map {{extensions}} ({media})"),
                accept,
                json!({ "query": TYPENAME, "extensions": { "some": "value" } }),
            )
            .answers(200, media, typename()),
            post(
                format!("MUST ignore properties it does not understand ({media})"),
                accept,
                json!({ "query": TYPENAME, "documentId": 7 }),
            )
            .answers(200, media, typename()),
            // Not well-formed: 400 under both types (the spec's "invalid parameters" and
            // "JSON parsing failure" examples; graphql-http's older audits asked 200 under
            // application/json, the spec asks 400).
            Case::new(
                format!("JSON parsing failure: 400 ({media})"),
                "POST",
                "/graphql",
            )
            .header("content-type", JSON)
            .header("accept", media)
            .body(r#"{ "not a JSON"#)
            .answers(400, media, refused("BAD_REQUEST")),
            Case::new(
                format!("MUST require a request body on POST: 400 ({media})"),
                "POST",
                "/graphql",
            )
            .header("content-type", JSON)
            .header("accept", media)
            .answers(400, media, refused("BAD_REQUEST")),
            post(
                format!("missing {{query}} is not well-formed: 400 ({media})"),
                accept,
                json!({ "qeury": CATALOG_QUERY }),
            )
            .answers(400, media, refused("BAD_REQUEST")),
            post(
                format!("null {{query}} is a missing one: 400 ({media})"),
                accept,
                json!({ "query": null }),
            )
            .answers(400, media, refused("BAD_REQUEST")),
            post(
                format!("batches are not enabled: 400 ({media})"),
                accept,
                json!([{ "query": CATALOG_QUERY }]),
            )
            .answers(400, media, refused("BATCHING_NOT_ENABLED")),
        ]);
        for (kind, body) in [
            ("a number", json!(1)),
            ("a string", json!(CATALOG_QUERY)),
            ("null", Value::Null),
            ("a boolean", json!(true)),
        ] {
            cases.push(
                post(
                    format!("a body that is {kind}, not a map, is not well-formed: 400 ({media})"),
                    accept,
                    body,
                )
                .answers(400, media, refused("BAD_REQUEST")),
            );
        }
        for parameter in ["variables", "operationName", "extensions"] {
            cases.push(
                post(
                    format!("MUST allow null {{{parameter}}} ({media})"),
                    accept,
                    json!({ "query": TYPENAME, parameter: null }),
                )
                .answers(200, media, typename()),
            );
        }
        let invalid = [
            ("object", json!({ "obj": "ect" })),
            ("number", json!(0)),
            ("boolean", json!(false)),
            ("array", json!(["array"])),
            ("string", json!("string")),
        ];
        for (parameter, valid_type) in [
            ("query", "string"),
            ("operationName", "string"),
            ("variables", "object"),
            ("extensions", "object"),
        ] {
            for (kind, value) in invalid.iter().filter(|(kind, _)| *kind != valid_type) {
                let mut body = json!({ "query": CATALOG_QUERY });
                body[parameter] = value.clone();
                cases.push(
                    post(
                        format!("{kind} {{{parameter}}} is not well-formed: 400 ({media})"),
                        accept,
                        body,
                    )
                    .answers(400, media, refused("BAD_REQUEST")),
                );
            }
        }
    }
    audit_without_providers(cases).await;
}

#[tokio::test]
async fn request_errors_follow_the_media_type() {
    let mut cases = Vec::new();
    for media in [GQL, JSON] {
        let accept = Some(media);
        let status = request_error_status(media);
        cases.extend([
            post(format!("document parsing failure: {status} ({media})"), accept, json!({ "query": "{" }))
                .answers(status, media, refused("GRAPHQL_PARSE_FAILED")),
            post(format!("document validation failure: {status} ({media})"), accept, json!({ "query": "{ categories { slug } nope }" }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
            post(format!("an empty document does not parse: {status} ({media})"), accept, json!({ "query": "" }))
                .answers(status, media, refused("GRAPHQL_PARSE_FAILED")),
            post(format!("operation cannot be determined: unknown {{operationName}}: {status} ({media})"), accept, json!({ "query": "query A { categories { slug } }", "operationName": "B" }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
            post(format!("operation cannot be determined: several operations, no {{operationName}}: {status} ({media})"), accept, json!({ "query": "query A { categories { slug } } query B { categories { name } }" }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
            post(format!("variable coercion failure: a value of the wrong type: {status} ({media})"), accept, json!({ "query": "query($n: Int!) { products(first: $n) { totalCount } }", "variables": { "n": "ten" } }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
            post(format!("variable coercion failure: a required variable missing: {status} ({media})"), accept, json!({ "query": "query($id: ID!) { product(id: $id) { title } }" }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
            post(format!("variable coercion failure: null for a non-null variable: {status} ({media})"), accept, json!({ "query": "query CoerceFailure($id: ID!) { product(id: $id) { title } }", "variables": { "id": null } }))
                .answers(status, media, refused("GRAPHQL_VALIDATION_FAILED")),
        ]);
    }
    audit_without_providers(cases).await;
}

#[tokio::test]
async fn execution_results_carry_data() {
    let gw = TestGateway::start().await;
    let product = || json!({ "query": "query($id: ID!) { product(id: $id) { title } }", "variables": { "id": "1" } });
    let title = || {
        data(
            "/data/product/title",
            json!("Essence Mascara Lash Princess"),
        )
    };
    let cases = vec![
        post(
            "an executed operation: 200 with data (graphql-response+json)",
            Some(GQL),
            product(),
        )
        .answers(200, GQL, title()),
        post(
            "an executed operation: 200 with data (application/json)",
            Some(JSON),
            product(),
        )
        .answers(200, JSON, title()),
    ];
    audit(&gw, cases).await;
    assert!(gw.sandbox("catalog").total() > 0, "the operation ran");

    // A provider failing during execution is a field error: a partial result, still 200.
    gw.outage("reviews");
    let reviews = || json!({ "query": "{ product(id: \"1\") { title reviews(first: 1) { nodes { rating } } } }" });
    let partial = || {
        Answer::Partial(
            "/data/product/title",
            json!("Essence Mascara Lash Princess"),
            "UPSTREAM_UNAVAILABLE",
        )
    };
    let cases = vec![
        post(
            "field errors during execution: 200 with data (graphql-response+json)",
            Some(GQL),
            reviews(),
        )
        .answers(200, GQL, partial()),
        post(
            "field errors during execution: 200 with data (application/json)",
            Some(JSON),
            reviews(),
        )
        .answers(200, JSON, partial()),
    ];
    audit(&gw, cases).await;
}

/// `PUT`, `DELETE`, `PATCH` and an extension method, each with a JSON query body.
fn other_methods(answer: fn() -> Answer) -> Vec<Case> {
    ["PUT", "DELETE", "PATCH", "PURGE"]
        .into_iter()
        .map(|method| {
            Case::new(
                format!("{method} is not a GraphQL-over-HTTP method: 405"),
                method,
                "/graphql",
            )
            .header("content-type", JSON)
            .header("accept", GQL)
            .body(json!({ "query": CATALOG_QUERY }).to_string())
            .answers(405, GQL, answer())
            .allowing(&["GET", "POST"])
        })
        .collect()
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    audit_without_providers(other_methods(|| Answer::Unchecked)).await;
}

#[tokio::test]
async fn other_methods_are_refused_in_the_error_contract() {
    audit_without_providers(other_methods(|| refused("BAD_REQUEST"))).await;
}
