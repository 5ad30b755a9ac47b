//! Hostile and broken requests, as one table run against real gateways on loopback ports.
//! Each row is one HTTP request and the status and `extensions.code` it must get; after each,
//! the refused request must have reached no provider (the sandboxes' counters did not move)
//! and the gateway must still answer a normal query with data.
//!
//! Rows need one of three configs, so the table names the gateway each runs against:
//! `Main` (the production profile, API keys and JWTs from the fixture JWKS, a scoped field, a
//! short body-read timeout, batching off), `Batching` (batches of up to four operations) and
//! `Trusted` (only the documents of `schema/operations/` run); none has the response cache, so
//! each health check executes its query.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::jwt::{self, AUDIENCE, ISSUER, RSA_PUBLIC_PEM, now};
use support::{TestGateway, operation};
use switchyard::config::{ApiKeyConfig, AuthConfig, Config, JwtConfig, Profile};
use switchyard::http::trusted::sha256_hex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GQL: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The main gateway's `server.body_read_timeout_ms`: the slow-body row trickles for longer.
const BODY_READ_TIMEOUT_MS: u64 = 1000;
/// The slow-body row's pace: one byte per tick.
const TRICKLE_TICK: Duration = Duration::from_millis(50);
/// A bound for answers that must come, far above what they take.
const WITHIN: Duration = Duration::from_secs(10);

/// Holds `inventory:read`, the scope `Product.stock` needs.
const WEB_KEY: &str = "sk_test_web_4f1c2a";
/// Holds no scope.
const BASIC_KEY: &str = "sk_test_basic_77d0e1";
/// May send one request a minute.
const TINY_KEY: &str = "sk_test_tiny_0b9e55";

/// The normal query each health check sends to `Main` and `Batching`.
const HEALTH_QUERY: &str = "{ product(id: \"1\") { title } }";
const HEALTH_TITLE: &str = "Essence Mascara Lash Princess";
/// A query that would call the catalog if it ran.
const CATALOG_QUERY: &str = "{ product(id: \"2\") { title } }";
/// A scoped field (`Product.stock` needs `inventory:read`).
const STOCK_QUERY: &str = "{ product(id: \"3\") { stock { available } } }";

/// Which gateway a row runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gw {
    Main,
    Batching,
    Trusted,
}

/// How a request's body is sent.
#[derive(Clone)]
enum Body {
    Empty,
    /// At once, with its `Content-Length`.
    Whole(Vec<u8>),
    /// Chunked, without a `Content-Length`.
    Chunked(Vec<u8>),
    /// Its `Content-Length`, then one byte per [`TRICKLE_TICK`], on a raw connection.
    Trickle(Vec<u8>),
}

/// One HTTP request: exactly these headers (and the body's framing).
#[derive(Clone)]
struct Request {
    method: &'static str,
    /// Path and query string.
    target: String,
    headers: Vec<(String, String)>,
    body: Body,
}

impl Request {
    fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn without(mut self, name: &str) -> Request {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    fn accept(self, media: &'static str) -> Request {
        self.header("accept", media)
    }

    fn bearer(self, token: &str) -> Request {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn api_key(self, key: &str) -> Request {
        self.header("x-api-key", key)
    }

    fn chunked(mut self) -> Request {
        if let Body::Whole(bytes) = self.body {
            self.body = Body::Chunked(bytes);
        }
        self
    }

    fn trickled(mut self) -> Request {
        if let Body::Whole(bytes) = self.body {
            self.body = Body::Trickle(bytes);
        }
        self
    }

    /// The credentials it carries: a refusal must never repeat them.
    fn secrets(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "authorization" | "x-api-key"))
            .map(|(_, value)| value.rsplit(' ').next().unwrap_or(value))
            .filter(|secret| secret.len() >= 8)
            .collect()
    }
}

/// `POST /graphql` of `{"query": query}` as JSON, accepting graphql-response+json.
fn post(query: &str) -> Request {
    post_json(&json!({ "query": query }))
}

fn post_json(body: &Value) -> Request {
    post_bytes(JSON, body.to_string().into_bytes())
}

fn post_bytes(content_type: &str, body: Vec<u8>) -> Request {
    Request {
        method: "POST",
        target: "/graphql".into(),
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("accept".into(), GQL.into()),
        ],
        body: Body::Whole(body),
    }
}

/// `GET /graphql` with these parameters in the query string.
fn get(params: &[(&str, &str)]) -> Request {
    let query = serde_urlencoded::to_string(params).expect("form-encodable");
    Request {
        method: "GET",
        target: format!("/graphql?{query}"),
        headers: vec![("accept".into(), GQL.into())],
        body: Body::Empty,
    }
}

/// What the answer's body must be.
enum Expect {
    /// Refused before execution: no `data` key, every error has `extensions.code`, the
    /// first this one.
    Refused(&'static str),
    /// An execution result, which the check accepts.
    Data(fn(&Value) -> Result<(), String>),
    /// Answered by the HTTP server before any handler ran: the status alone is checked.
    Bare,
}

/// Whether the request may reach providers.
#[derive(PartialEq, Eq)]
enum Calls {
    None,
    Allowed,
}

struct Row {
    name: String,
    gateway: Gw,
    request: Request,
    status: u16,
    expect: Expect,
    /// Headers the answer must carry, with what their value starts with.
    headers: Vec<(&'static str, &'static str)>,
    calls: Calls,
    /// Sent just before the row's request, answers unchecked (to spend a budget).
    before: Vec<Request>,
}

fn row(name: impl Into<String>, gateway: Gw, request: Request, status: u16, expect: Expect) -> Row {
    Row {
        name: name.into(),
        gateway,
        request,
        status,
        expect,
        headers: Vec::new(),
        calls: Calls::None,
        before: Vec::new(),
    }
}

impl Row {
    fn with_header(mut self, name: &'static str, starts_with: &'static str) -> Row {
        self.headers.push((name, starts_with));
        self
    }

    fn calling_providers(mut self) -> Row {
        self.calls = Calls::Allowed;
        self
    }

    fn after(mut self, request: Request) -> Row {
        self.before.push(request);
        self
    }
}

fn refused(code: &'static str) -> Expect {
    Expect::Refused(code)
}

/// `levels` fields nested in one another: `{ a { a { ... } } }`.
fn nested(levels: usize) -> String {
    format!("{}{}", "{ a ".repeat(levels), "}".repeat(levels))
}

/// `n` aliased `__typename`s.
fn aliases(n: usize) -> String {
    (0..n).map(|i| format!("a{i}: __typename ")).collect()
}

/// The storefront page's product selection for 100 products.
const PRICEY_PAGE: &str = "products(first: 100) { edges { node { id title \
    price(currency: EUR) { amount } stock { available } reviewSummary { count } \
    reviews(first: 3) { nodes { body } } } } }";

/// `request` with `n` more header fields.
fn many_headers(mut request: Request, n: usize) -> Request {
    for i in 0..n {
        request.headers.push((format!("x-h{i}"), format!("v{i}")));
    }
    request
}

/// A `Content-Encoding: gzip` body that inflates to a 10 MiB JSON request.
fn gzip_bomb() -> Request {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let json = format!(
        r#"{{"query":"{{ __typename }}","padding":"{}"}}"#,
        " ".repeat(10 << 20)
    );
    encoder
        .write_all(json.as_bytes())
        .expect("compressed in memory");
    let body = encoder.finish().expect("compressed in memory");
    post_bytes(JSON, body).header("content-encoding", "gzip")
}

fn claims() -> Value {
    jwt::claims("inventory:read")
}

fn rs256(kid: &str, claims: &Value) -> String {
    jwt::sign(Algorithm::RS256, kid, claims)
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn unsigned(header: &Value, claims: &Value) -> String {
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", encode(header), encode(claims))
}

/// HS256 with the RSA public key as the HMAC secret: the classic key confusion.
fn hs256_with_public_key() -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".to_string());
    let secret = EncodingKey::from_secret(RSA_PUBLIC_PEM).expect("secret");
    jsonwebtoken::encode(&header, &claims(), &secret).expect("signed")
}

fn at_most_100_products(body: &Value) -> Result<(), String> {
    let edges = body
        .pointer("/data/products/edges")
        .and_then(Value::as_array)
        .ok_or("no `data.products.edges`")?;
    if body.get("errors").is_some() {
        return Err("errors in the answer".into());
    }
    match edges.len() {
        1..=100 => Ok(()),
        n => Err(format!("{n} products, expected 1 to 100")),
    }
}

fn stock_of_product_3(body: &Value) -> Result<(), String> {
    match body.pointer("/data/product/stock/available") {
        Some(Value::Number(_)) if body.get("errors").is_none() => Ok(()),
        _ => Err("expected `data.product.stock.available` and no errors".into()),
    }
}

fn storefront_page(body: &Value) -> Result<(), String> {
    let edges = body
        .pointer("/data/products/edges")
        .and_then(Value::as_array)
        .ok_or("no `data.products.edges`")?;
    if edges.len() != 20 || body.get("errors").is_some() {
        return Err(format!("{} products (expected 20), or errors", edges.len()));
    }
    Ok(())
}

fn two_typenames(body: &Value) -> Result<(), String> {
    let answers = body.as_array().ok_or("not an array of answers")?;
    let all = answers
        .iter()
        .all(|a| a.pointer("/data/__typename") == Some(&json!("Query")));
    if answers.len() == 2 && all {
        Ok(())
    } else {
        Err("expected two answers with `data.__typename`".into())
    }
}

/// Every hostile or broken request, with the answer it must get.
fn table() -> Vec<Row> {
    use Gw::{Batching, Main, Trusted};
    let big_string = "x".repeat(900 * 1024);
    let escapes = "\\u0041".repeat(100_000);
    let mut exponential = String::from("{ ...F0 }");
    for i in 0..30 {
        let next = i + 1;
        exponential.push_str(&format!(
            " fragment F{i} on Query {{ ...F{next} ...F{next} }}"
        ));
    }
    exponential.push_str(" fragment F30 on Query { __typename }");
    let mut chain = String::from("{ ...F0 }");
    for i in 0..40 {
        chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    chain.push_str(" fragment F40 on Query { __typename }");
    let deep_array = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let deep_variables = |v: &str| {
        format!(r#"{{"query":"query($v: [Int]) {{ __typename }}","variables":{{"v":{v}}}}}"#)
            .into_bytes()
    };
    let padding = |bytes: usize| {
        json!({ "query": "{ __typename }", "padding": "x".repeat(bytes) })
            .to_string()
            .into_bytes()
    };
    let storefront = operation("storefront");
    let batch = |n: usize, query: &str| Value::Array(vec![json!({ "query": query }); n]);

    vec![
        // Size and nesting, refused before the document is parsed.
        row("nesting 10,000 levels deep", Main, post(&nested(10_000)), 400, refused("MAX_DEPTH_LIMIT")),
        row("20,000 tokens", Main, post(&format!("{{ {} }}", "__typename ".repeat(20_000))), 400, refused("MAX_TOKENS_LIMIT")),
        row("5,000 aliases written out (15,002 tokens)", Main, post(&format!("{{ {} }}", aliases(5_000))), 400, refused("MAX_TOKENS_LIMIT")),
        // Parsed, then measured with fragments expanded.
        row(
            "a list literal nested 10,000 deep",
            Main,
            post(&format!("{{ exchangeRates(symbols: {}{}) {{ base }} }}", "[".repeat(10_000), "]".repeat(10_000))),
            400,
            refused("MAX_DEPTH_LIMIT"),
        ),
        row("nesting 13 levels, one over max_depth", Main, post(&nested(13)), 400, refused("MAX_DEPTH_LIMIT")),
        row("nesting 13 levels, application/json", Main, post(&nested(13)).accept(JSON), 200, refused("MAX_DEPTH_LIMIT")),
        row("nesting 13 levels over GET", Main, get(&[("query", &nested(13))]), 400, refused("MAX_DEPTH_LIMIT")),
        row("31 aliases", Main, post(&format!("{{ {} }}", aliases(31))), 400, refused("MAX_ALIASES_LIMIT")),
        row("31 aliases, application/json", Main, post(&format!("{{ {} }}", aliases(31))).accept(JSON), 200, refused("MAX_ALIASES_LIMIT")),
        row(
            "5,000 aliases: 50 in a fragment spread 100 times",
            Main,
            post(&format!("{{ {} }} fragment F on Query {{ {} }}", "...F ".repeat(100), aliases(50))),
            400,
            refused("MAX_ALIASES_LIMIT"),
        ),
        row(
            "21 root fields",
            Main,
            post(&format!("{{ {} }}", (0..21).map(|i| format!("c{i}: categories {{ slug }} ")).collect::<String>())),
            400,
            refused("MAX_ROOT_FIELDS_LIMIT"),
        ),
        row(
            "7,000 copies of one field",
            Main,
            post(&format!("{{ product(id: \"1\") {{ {} }} }}", "title ".repeat(7_000))),
            400,
            refused("MAX_COMPLEXITY_LIMIT"),
        ),
        row(
            "1,000 directives on one field",
            Main,
            post(&format!("{{ __typename {} }}", "@skip(if: false) ".repeat(1_000))),
            400,
            refused("MAX_DIRECTIVES_LIMIT"),
        ),
        row(
            "60 directives in the document, one per field",
            Main,
            post(&format!("{{ product(id: \"1\") {{ {} }} }}", "title @include(if: true) ".repeat(60))),
            400,
            refused("MAX_DIRECTIVES_LIMIT"),
        ),
        row(
            "fragment spreading itself",
            Main,
            post("{ ...A } fragment A on Query { __typename ...A }"),
            400,
            refused("GRAPHQL_VALIDATION_FAILED"),
        ),
        row(
            "fragment cycle through three fragments",
            Main,
            post("{ ...A } fragment A on Query { ...B } fragment B on Query { ...C } fragment C on Query { __typename ...A }"),
            400,
            refused("GRAPHQL_VALIDATION_FAILED"),
        ),
        row(
            "inline fragments nested 40 deep",
            Main,
            post(&format!("{{ {}__typename{} }}", "... on Query { ".repeat(40), " }".repeat(40))),
            400,
            refused("MAX_DEPTH_LIMIT"),
        ),
        row("fragment chain 40 long", Main, post(&chain), 400, refused("MAX_DEPTH_LIMIT")),
        row("fragment chain doubling 30 times (2^30 fields)", Main, post(&exponential), 400, refused("MAX_COMPLEXITY_LIMIT")),
        row(
            "cost: the storefront selection of 100 products, 3 aliases",
            Main,
            post(&format!("{{ a: {PRICEY_PAGE} b: {PRICEY_PAGE} c: {PRICEY_PAGE} }}")).api_key(WEB_KEY),
            400,
            refused("MAX_COMPLEXITY_LIMIT"),
        ),
        row("first: 2^70, not an Int", Main, post("{ products(first: 1180591620717411303424) { totalCount } }"), 400, refused("GRAPHQL_VALIDATION_FAILED")),
        row(
            "first: 1000000 is capped and runs",
            Main,
            post("{ products(first: 1000000) { edges { node { id } } } }"),
            200,
            Expect::Data(at_most_100_products),
        )
        .calling_providers(),
        // Strings and bytes.
        row(
            "900 KB string literal",
            Main,
            post(&format!("{{ product(id: \"{big_string}\") {{ title }} }}")),
            413,
            refused("PAYLOAD_TOO_LARGE"),
        ),
        row(
            "100,000 \\u0041 escapes",
            Main,
            post(&format!("{{ product(id: \"{escapes}\") {{ title }} }}")),
            413,
            refused("PAYLOAD_TOO_LARGE"),
        ),
        row("invalid escapes", Main, post(r#"{ product(id: "\q\x41\uZZZZ") { title } }"#), 400, refused("GRAPHQL_PARSE_FAILED")),
        row("unterminated string", Main, post("{ product(id: \"1) { title } }"), 400, refused("GRAPHQL_PARSE_FAILED")),
        row(
            "unterminated string, application/json",
            Main,
            post("{ product(id: \"1) { title } }").accept(JSON),
            200,
            refused("GRAPHQL_PARSE_FAILED"),
        ),
        row(
            "invalid UTF-8 in the body",
            Main,
            post_bytes(JSON, b"{\"query\":\"{ product(id: \\\"\xff\xfe\\\") { title } }\"}".to_vec()),
            400,
            refused("BAD_REQUEST"),
        ),
        row(
            "invalid UTF-8, application/json",
            Main,
            post_bytes(JSON, b"{\"query\":\"{ __typename \xc3\x28 }\"}".to_vec()).accept(JSON),
            400,
            refused("BAD_REQUEST"),
        ),
        row("variables: arrays nested 100,000 deep", Main, post_bytes(JSON, deep_variables(&deep_array)), 400, refused("BAD_REQUEST")),
        row("variables: objects nested 100,000 deep", Main, post_bytes(JSON, deep_variables(&deep_object)), 400, refused("BAD_REQUEST")),
        row("body is a JSON string", Main, post_json(&json!("{ __typename }")), 400, refused("BAD_REQUEST")),
        row("`query` twice in a GET", Main, get(&[("query", "{ __typename }"), ("query", CATALOG_QUERY)]), 400, refused("BAD_REQUEST")),
        row(
            "APQ hash that is not the query's",
            Main,
            post_json(&json!({
                "query": CATALOG_QUERY,
                "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ __typename }") } },
            })),
            400,
            refused("PERSISTED_QUERY_HASH_MISMATCH"),
        ),
        row("`query` is a number", Main, post_json(&json!({ "query": 7 })), 400, refused("BAD_REQUEST")),
        row(
            "a bad deadline header",
            Main,
            post(CATALOG_QUERY).header("x-switchyard-deadline-ms", "-1"),
            400,
            refused("BAD_REQUEST"),
        ),
        // HTTP framing.
        row("text/plain body", Main, post_json(&json!({ "query": CATALOG_QUERY })).header("content-type", "text/plain"), 415, refused("BAD_REQUEST")),
        row(
            "form body",
            Main,
            post_bytes("application/x-www-form-urlencoded", b"query=%7B+product%28id%3A+%222%22%29+%7B+title+%7D+%7D".to_vec()),
            415,
            refused("BAD_REQUEST"),
        ),
        row("no content type", Main, post(CATALOG_QUERY).without("content-type"), 415, refused("BAD_REQUEST")),
        row(
            "multipart body",
            Main,
            post_bytes(
                "multipart/form-data; boundary=x",
                b"--x\r\ncontent-disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ __typename }\"}\r\n--x--\r\n".to_vec(),
            ),
            415,
            refused("BAD_REQUEST"),
        ),
        row("JSON in latin1", Main, post(CATALOG_QUERY).header("content-type", "application/json; charset=latin1"), 415, refused("BAD_REQUEST")),
        row("2 MiB body with Content-Length", Main, post_bytes(JSON, padding(2 << 20)), 413, refused("PAYLOAD_TOO_LARGE")),
        row("2 MiB chunked body", Main, post_bytes(JSON, padding(2 << 20)).chunked(), 413, refused("PAYLOAD_TOO_LARGE")),
        row("body trickling in past body_read_timeout_ms", Main, post(CATALOG_QUERY).trickled(), 408, refused("REQUEST_TIMEOUT")),
        row(
            "40 KB query string over GET",
            Main,
            get(&[("query", &format!("{{ __typename{} }}", " ".repeat(40_000)))]),
            431,
            Expect::Bare,
        ),
        row("200 header fields", Main, many_headers(post(CATALOG_QUERY), 200), 431, Expect::Bare),
        row("gzip bomb: 10 MiB of JSON in 10 KB", Main, gzip_bomb(), 415, refused("BAD_REQUEST"))
            .with_header("accept-encoding", "identity"),
        row(
            "plain JSON declared gzip",
            Main,
            post(CATALOG_QUERY).header("content-encoding", "gzip"),
            415,
            refused("BAD_REQUEST"),
        )
        .with_header("accept-encoding", "identity"),
        // Operations.
        row("mutation over GET", Main, get(&[("query", "mutation { x }")]), 405, refused("BAD_REQUEST"))
            .with_header("allow", "POST"),
        row(
            "unknown operationName",
            Main,
            post_json(&json!({ "query": "query A { __typename }", "operationName": "B" })),
            400,
            refused("GRAPHQL_VALIDATION_FAILED"),
        ),
        row(
            "two operations, no operationName",
            Main,
            post("query A { __typename } query B { product(id: \"2\") { title } }"),
            400,
            refused("GRAPHQL_VALIDATION_FAILED"),
        ),
        row("introspection in production: __schema", Main, post("{ __schema { types { name } } }"), 400, refused("INTROSPECTION_DISABLED")),
        row("introspection in production: __type", Main, post("{ __type(name: \"Product\") { name } }"), 400, refused("INTROSPECTION_DISABLED")),
        row(
            "introspection through a fragment named __schema",
            Main,
            post("{ ...__schema } fragment __schema on Query { __schema { queryType { name } } }"),
            400,
            refused("INTROSPECTION_DISABLED"),
        ),
        row("batch while batching is off", Main, post_json(&batch(2, "{ __typename }")), 400, refused("BATCHING_NOT_ENABLED")),
        row("batch of 5, limit 4", Batching, post_json(&batch(5, "{ __typename }")), 400, refused("BATCH_LIMIT_EXCEEDED")),
        row("batch of 10,000", Batching, post_json(&batch(10_000, "{ __typename }")), 400, refused("BATCH_LIMIT_EXCEEDED")),
        row("empty batch", Batching, post_json(&json!([])), 400, refused("BATCH_LIMIT_EXCEEDED")),
        row(
            "batch whose costs add up past max_cost",
            Batching,
            post_json(&batch(3, &format!("{{ {PRICEY_PAGE} }}"))),
            400,
            refused("MAX_COMPLEXITY_LIMIT"),
        ),
        row("batch of 2 within the limits", Batching, post_json(&batch(2, "{ __typename }")), 200, Expect::Data(two_typenames)),
        // Credentials and budgets.
        row("expired JWT", Main, post(CATALOG_QUERY).bearer(&rs256("rsa-1", &with_claim("exp", json!(now() - 3600)))), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row(
            "JWT for another audience",
            Main,
            post(CATALOG_QUERY).bearer(&rs256("rsa-1", &with_claim("aud", json!("another-api")))),
            401,
            refused("UNAUTHENTICATED"),
        )
        .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row(
            "JWT with alg: none",
            Main,
            post(CATALOG_QUERY).bearer(&unsigned(&json!({ "alg": "none", "typ": "JWT", "kid": "rsa-1" }), &claims())),
            401,
            refused("UNAUTHENTICATED"),
        )
        .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row("JWT with an unknown kid", Main, post(CATALOG_QUERY).bearer(&rs256("rsa-9", &claims())), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row("garbage bearer token", Main, post(CATALOG_QUERY).bearer("not.a-jwt.at-all"), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row("HS256 JWT signed with the RSA public key", Main, post(CATALOG_QUERY).bearer(&hs256_with_public_key()), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer error=\"invalid_token\""),
        row("unknown API key", Main, post(CATALOG_QUERY).api_key("sk_test_nobody_000000"), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer"),
        row("scoped field without credentials", Main, post(STOCK_QUERY), 401, refused("UNAUTHENTICATED"))
            .with_header("www-authenticate", "Bearer"),
        row("scoped field with a key lacking the scope", Main, post(STOCK_QUERY).api_key(BASIC_KEY), 403, refused("FORBIDDEN"))
            .with_header("www-authenticate", "Bearer error=\"insufficient_scope\""),
        row("scoped field with a JWT holding the scope", Main, post(STOCK_QUERY).bearer(&rs256("rsa-1", &claims())), 200, Expect::Data(stock_of_product_3))
            .calling_providers(),
        row("over the client's request rate", Main, post("{ __typename }").api_key(TINY_KEY), 429, refused("RATE_LIMITED"))
            .after(post("{ __typename }").api_key(TINY_KEY))
            .with_header("retry-after", "")
            .with_header("ratelimit", "\"requests\";r=0")
            .with_header("ratelimit-policy", "\"requests\";q=1;w=60"),
        // Trusted documents.
        row("trusted mode: a document not in the list", Trusted, post("{ __typename }"), 400, refused("PERSISTED_QUERY_NOT_IN_LIST")),
        row(
            "trusted mode: a trusted document with a field added",
            Trusted,
            post(&storefront.replacen("totalCount", "totalCount categories { slug }", 1)),
            400,
            refused("PERSISTED_QUERY_NOT_IN_LIST"),
        ),
        row(
            "trusted mode: an unknown hash",
            Trusted,
            post_json(&json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ __typename }") } } })),
            400,
            refused("PERSISTED_QUERY_NOT_IN_LIST"),
        ),
        row("trusted mode: the storefront document runs", Trusted, post(&storefront), 200, Expect::Data(storefront_page))
            .calling_providers(),
    ]
}

fn sha256_of(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn api_key(
    name: &str,
    key: &str,
    scopes: &[&str],
    requests_per_minute: Option<u32>,
) -> ApiKeyConfig {
    ApiKeyConfig {
        name: name.to_string(),
        sha256: sha256_of(key),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        requests_per_minute,
        cost_per_minute: None,
    }
}

/// The defaults without the response cache, so that every health check runs its query.
fn base_config() -> Config {
    let mut config = Config::default();
    config.cache.response_max_bytes = 0;
    config
}

fn main_config() -> Config {
    let mut config = Config {
        profile: Profile::Production,
        ..base_config()
    };
    config.server.body_read_timeout_ms = BODY_READ_TIMEOUT_MS;
    config.auth = AuthConfig {
        anonymous: true,
        api_keys: vec![
            api_key("web", WEB_KEY, &["inventory:read"], None),
            api_key("basic", BASIC_KEY, &[], None),
            api_key("tiny", TINY_KEY, &[], Some(1)),
        ],
        jwt: Some(JwtConfig {
            jwks_url: None,
            jwks_file: Some(
                format!(
                    "{}/tests/fixtures/jwt/jwks.json",
                    env!("CARGO_MANIFEST_DIR")
                )
                .into(),
            ),
            jwks_refresh_s: 300,
            jwks_min_refetch_s: 10,
            issuer: ISSUER.to_string(),
            audience: AUDIENCE.to_string(),
            algorithms: vec!["RS256".to_string(), "ES256".to_string()],
            leeway_s: 30,
            scopes_claim: "scope".to_string(),
        }),
        field_scopes: BTreeMap::from([("Product.stock".to_string(), "inventory:read".to_string())]),
    };
    config
}

fn batching_config() -> Config {
    let mut config = base_config();
    config.limits.max_batch_operations = 4;
    config
}

fn trusted_config() -> Config {
    let mut config = base_config();
    config.trusted_documents.enabled = true;
    config.trusted_documents.dir =
        format!("{}/schema/operations", env!("CARGO_MANIFEST_DIR")).into();
    config
}

struct Gateways {
    main: TestGateway,
    batching: TestGateway,
    trusted: TestGateway,
}

impl Gateways {
    async fn start() -> Gateways {
        let (main, batching, trusted) = tokio::join!(
            TestGateway::start_with(main_config()),
            TestGateway::start_with(batching_config()),
            TestGateway::start_with(trusted_config()),
        );
        Gateways {
            main,
            batching,
            trusted,
        }
    }

    fn get(&self, which: Gw) -> &TestGateway {
        match which {
            Gw::Main => &self.main,
            Gw::Batching => &self.batching,
            Gw::Trusted => &self.trusted,
        }
    }
}

/// What came back.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(gw: &TestGateway, request: &Request) -> Result<Reply, String> {
    if let Body::Trickle(bytes) = &request.body {
        return trickle(gw, request, bytes.clone()).await;
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
    let mut builder = gw
        .client
        .request(method, format!("{}{}", gw.base_url, request.target));
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    builder = match &request.body {
        Body::Empty | Body::Trickle(_) => builder,
        Body::Whole(bytes) => builder.body(bytes.clone()),
        Body::Chunked(bytes) => {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            builder.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        }
    };
    let response = builder
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let text = response
        .text()
        .await
        .map_err(|e| format!("no whole body: {e}"))?;
    Ok(Reply {
        status,
        headers,
        text,
    })
}

/// Sends the head with the body's `Content-Length`, then the body one byte per tick on a raw
/// connection, and reads the answer that comes meanwhile.
async fn trickle(gw: &TestGateway, request: &Request, body: Vec<u8>) -> Result<Reply, String> {
    let stream = TcpStream::connect(gw.gateway.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: gateway\r\n",
        request.method, request.target
    );
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    writer
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("head: {e}"))?;
    let all_sent = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn({
        let all_sent = all_sent.clone();
        async move {
            let mut ticks = tokio::time::interval(TRICKLE_TICK);
            for byte in body {
                ticks.tick().await;
                if writer.write_all(&[byte]).await.is_err() {
                    return;
                }
            }
            all_sent.store(true, Ordering::SeqCst);
        }
    });
    let reply = tokio::time::timeout(WITHIN, read_response(&mut reader)).await;
    sender.abort();
    let reply = reply.map_err(|_| "no answer in time".to_string())??;
    if all_sent.load(Ordering::SeqCst) {
        return Err("the whole body went through before the answer".into());
    }
    Ok(reply)
}

/// One HTTP/1.1 response: its head, then a `Content-Length` body (or up to EOF without one).
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> Result<Reply, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err("the connection closed before an answer".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = buf[head_end..].to_vec();
    loop {
        if length.is_some_and(|l| body.len() >= l) {
            break;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Requests each provider's sandbox has served.
fn provider_calls(gw: &TestGateway) -> BTreeMap<&'static str, u64> {
    gw.gateway
        .sandboxes
        .running
        .iter()
        .map(|s| (s.provider, s.handle.total()))
        .collect()
}

fn abbreviated(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_string(),
    }
}

/// What in `reply` breaks the row, if anything.
fn verify(row: &Row, reply: &Reply) -> Result<(), String> {
    let body = || abbreviated(&reply.text);
    if reply.status != row.status {
        return Err(format!(
            "status {}, expected {}: {}",
            reply.status,
            row.status,
            body()
        ));
    }
    for (name, starts_with) in &row.headers {
        match reply.header(name) {
            Some(value) if value.starts_with(starts_with) => {}
            other => {
                return Err(format!(
                    "`{name}` is {other:?}, expected it to start with {starts_with:?}"
                ));
            }
        }
    }
    if let Some(secret) = row
        .request
        .secrets()
        .into_iter()
        .find(|s| reply.text.contains(s))
    {
        return Err(format!("the answer repeats the credential {secret:?}"));
    }
    let json = || {
        serde_json::from_str::<Value>(&reply.text)
            .map_err(|e| format!("not JSON ({e}): {}", body()))
    };
    match &row.expect {
        Expect::Bare => Ok(()),
        Expect::Data(check) => {
            let value = json()?;
            check(&value).map_err(|why| format!("{why}: {}", body()))
        }
        Expect::Refused(code) => {
            let value = json()?;
            if value.get("data").is_some() {
                return Err(format!("a refusal with a `data` key: {}", body()));
            }
            let errors = value["errors"].as_array().filter(|e| !e.is_empty());
            let Some(errors) = errors else {
                return Err(format!("no errors: {}", body()));
            };
            if let Some(uncoded) = errors.iter().find(|e| !e["extensions"]["code"].is_string()) {
                return Err(format!("an error without extensions.code: {uncoded}"));
            }
            if errors[0]["extensions"]["code"] != *code {
                return Err(format!(
                    "code {}, expected {code}: {}",
                    errors[0]["extensions"]["code"],
                    body()
                ));
            }
            Ok(())
        }
    }
}

/// The gateway answers a normal query with data.
async fn healthy(gws: &Gateways, which: Gw) -> Result<(), String> {
    let gw = gws.get(which);
    let (request, expected): (Request, fn(&Value) -> bool) = match which {
        Gw::Main | Gw::Batching => (post(HEALTH_QUERY), |body| {
            body.pointer("/data/product/title") == Some(&json!(HEALTH_TITLE))
        }),
        Gw::Trusted => {
            let hash = sha256_hex(&operation("storefront"));
            let request = post_json(&json!({
                "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } },
                "variables": { "first": 2 },
            }));
            (request, |body| {
                body.pointer("/data/products/edges")
                    .and_then(Value::as_array)
                    .is_some_and(|edges| edges.len() == 2)
            })
        }
    };
    let reply = send(gw, &request).await?;
    let body: Value = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    if reply.status == 200 && expected(&body) {
        Ok(())
    } else {
        Err(format!(
            "unhealthy after it: {} {}",
            reply.status,
            abbreviated(&reply.text)
        ))
    }
}

/// Sends the row's request and checks the answer, the provider calls and the gateway's health.
async fn check(gws: &Gateways, row: &Row) -> Result<(), String> {
    let gw = gws.get(row.gateway);
    for request in &row.before {
        send(gw, request).await?;
    }
    let calls_before = provider_calls(gw);
    let reply = send(gw, &row.request).await?;
    verify(row, &reply)?;
    let calls_after = provider_calls(gw);
    if row.calls == Calls::None && calls_after != calls_before {
        return Err(format!(
            "providers were called: {calls_before:?} -> {calls_after:?}"
        ));
    }
    healthy(gws, row.gateway).await
}

/// Runs the table's rows; the failures, one line each.
async fn run_rows() -> (usize, Vec<String>) {
    let gws = Gateways::start().await;
    for which in [Gw::Main, Gw::Batching, Gw::Trusted] {
        healthy(&gws, which).await.expect("healthy at the start");
    }
    let rows = table();
    let mut failures = Vec::new();
    for row in &rows {
        if let Err(why) = check(&gws, row).await {
            failures.push(format!("{} ({:?}): {why}", row.name, row.gateway));
        }
    }
    (rows.len(), failures)
}

#[tokio::test]
async fn hostile_requests_are_refused_before_execution_and_leave_the_gateway_healthy() {
    let (rows, failures) = run_rows().await;
    assert!(rows >= 35, "the table has {rows} rows");
    assert!(
        failures.is_empty(),
        "{} of {rows} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
