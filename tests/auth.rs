//! Client identity against real keys: the `Authenticator` with a JWKS served over HTTP on a
//! loopback port (or read from a file), tokens signed with the test keys in
//! `tests/fixtures/jwt/`, API keys, anonymous access, field scopes; `ClientLimits`' headers
//! at the shipped defaults; and the same through `/graphql` of a running gateway.

mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use switchyard::auth::{AuthRejection, Authenticator, Client, ClientLimits};
use switchyard::config::{ApiKeyConfig, AuthConfig, JwtConfig, RateLimitsConfig};
use tokio::sync::oneshot;

use support::jwt::{self, AUDIENCE, ISSUER, RSA_PUBLIC_PEM, now, sign};
use support::{code, poll_until};

const JWKS: &str = include_str!("fixtures/jwt/jwks.json");

const WEB_KEY: &str = "sk_test_web_4f1c2a";

fn peer() -> IpAddr {
    IpAddr::from([198, 51, 100, 20])
}

/// The fixture JWKS with only the keys named.
fn jwks_with(kids: &[&str]) -> Value {
    let all: Value = serde_json::from_str(JWKS).expect("fixture JWKS");
    let keys: Vec<Value> = all["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter(|k| kids.contains(&k["kid"].as_str().unwrap_or("")))
        .cloned()
        .collect();
    json!({ "keys": keys })
}

/// A JWKS endpoint on a loopback port, whose set the test can change, counting its fetches.
struct JwksServer {
    url: String,
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct Served {
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(set: Value) -> JwksServer {
        let served = Served {
            set: Arc::new(Mutex::new(set)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let app = Router::new()
            .route(
                "/.well-known/jwks.json",
                get(|State(s): State<Served>| async move {
                    s.fetches.fetch_add(1, Ordering::SeqCst);
                    let set = s.set.lock().expect("set").clone();
                    axum::Json(set)
                }),
            )
            .with_state(served.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        JwksServer {
            url: format!("http://{addr}/.well-known/jwks.json"),
            set: served.set,
            fetches: served.fetches,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn serve(&self, set: Value) {
        *self.set.lock().expect("set") = set;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Stops listening; returns once the port is closed.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

fn jwt_config(url: &str) -> JwtConfig {
    JwtConfig {
        jwks_url: Some(url.to_string()),
        jwks_file: None,
        jwks_refresh_s: 300,
        jwks_min_refetch_s: 60,
        issuer: ISSUER.to_string(),
        audience: AUDIENCE.to_string(),
        algorithms: vec!["RS256".to_string(), "ES256".to_string()],
        leeway_s: 30,
        scopes_claim: "scope".to_string(),
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn auth_config(jwt: Option<JwtConfig>, anonymous: bool) -> AuthConfig {
    AuthConfig {
        anonymous,
        api_keys: vec![ApiKeyConfig {
            name: "storefront-web".to_string(),
            sha256: sha256_hex(WEB_KEY),
            scopes: vec!["inventory:read".to_string()],
            requests_per_minute: None,
            cost_per_minute: None,
        }],
        jwt,
        field_scopes: BTreeMap::from([
            ("Product.stock".to_string(), "inventory:read".to_string()),
            ("Product.reviews".to_string(), "reviews:read".to_string()),
        ]),
    }
}

async fn authenticator(config: &AuthConfig) -> Authenticator {
    Authenticator::new(config).await.expect("authenticator")
}

fn claims() -> Value {
    jwt::claims("inventory:read profile")
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    headers
}

/// A 401 `invalid_token` whose description says `why`, and which repeats nothing of `secret`.
fn assert_invalid(rejection: AuthRejection, why: &str, secret: &str) {
    assert_eq!(rejection.status, StatusCode::UNAUTHORIZED, "{rejection}");
    assert_eq!(rejection.code, "UNAUTHENTICATED");
    let challenge = rejection.www_authenticate.clone().expect("challenge");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
        "{challenge}"
    );
    assert!(challenge.contains(why), "{challenge} lacks {why}");
    assert!(rejection.message.contains(why), "{rejection} lacks {why}");
    assert_eq!(
        rejection.headers()["www-authenticate"],
        challenge.as_str(),
        "header"
    );
    // Nothing of the credential is echoed: not it, nor any of its parts.
    for part in secret.split('.').filter(|p| p.len() >= 8) {
        assert!(!rejection.message.contains(part), "{rejection} echoes it");
        assert!(!challenge.contains(part), "{challenge} echoes it");
    }
    let error = rejection.graphql_error();
    assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_name_their_subject_and_scopes() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), false)).await;
    for (alg, kid) in [(Algorithm::RS256, "rsa-1"), (Algorithm::ES256, "ec-1")] {
        let client = auth
            .authenticate(&bearer(&sign(alg, kid, &claims())), peer())
            .await
            .unwrap_or_else(|r| panic!("{alg:?}: {r}"));
        assert_eq!(client.id, "jwt:https://idp.test/|user-42");
        assert_eq!(client.name, "user-42");
        assert!(!client.anonymous);
        assert_eq!(
            client.scopes.iter().map(String::as_str).collect::<Vec<_>>(),
            ["inventory:read", "profile"]
        );
    }
    // Scopes may be a list too, under another claim name.
    let mut config = jwt_config(&server.url);
    config.scopes_claim = "scp".to_string();
    let auth = authenticator(&auth_config(Some(config), false)).await;
    let mut listed = claims();
    listed["scp"] = json!(["reviews:read"]);
    let client = auth
        .authenticate(&bearer(&sign(Algorithm::RS256, "rsa-1", &listed)), peer())
        .await
        .expect("valid token");
    assert!(client.scopes.contains("reviews:read") && client.scopes.len() == 1);
    // Both authenticators fetched the set once at startup and needed no other fetch.
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn tokens_with_bad_claims_are_refused_with_the_reason() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), true)).await;
    let with = |change: Value| {
        let mut claims = claims();
        for (name, value) in change.as_object().expect("object") {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    };
    let cases = [
        ("expired", with(json!({"exp": now() - 120})), "expired"),
        (
            "not yet valid",
            with(json!({"nbf": now() + 3600})),
            "not valid yet",
        ),
        (
            "wrong audience",
            with(json!({"aud": "another-api"})),
            "another audience",
        ),
        (
            "wrong issuer",
            with(json!({"iss": "https://evil.test/"})),
            "another issuer",
        ),
        ("missing exp", with(json!({"exp": null})), "no expiry (exp)"),
        (
            "missing sub",
            with(json!({"sub": null})),
            "no subject (sub)",
        ),
        ("missing iss", with(json!({"iss": null})), "no issuer (iss)"),
        (
            "bad scope claim",
            with(json!({"scope": {"read": true}})),
            "scope claim is malformed",
        ),
    ];
    for (case, claims, why) in cases {
        for (alg, kid) in [(Algorithm::RS256, "rsa-1"), (Algorithm::ES256, "ec-1")] {
            let token = sign(alg, kid, &claims);
            let rejection = auth
                .authenticate(&bearer(&token), peer())
                .await
                .expect_err(case);
            assert_invalid(rejection, why, &token);
        }
    }
    // Within the leeway, an expired token and an early one still pass.
    for claims in [
        with(json!({"exp": now() - 5})),
        with(json!({"nbf": now() + 5})),
    ] {
        let token = sign(Algorithm::ES256, "ec-1", &claims);
        assert!(auth.authenticate(&bearer(&token), peer()).await.is_ok());
    }
}

#[tokio::test]
async fn alg_none_hmac_key_confusion_and_garbage_are_refused() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), true)).await;
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());

    // `alg: none`, unsigned, naming a real key.
    let none = format!(
        "{}.{}.",
        encode(&json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"})),
        encode(&claims())
    );
    let rejection = auth.authenticate(&bearer(&none), peer()).await.unwrap_err();
    assert_invalid(rejection, "algorithm is not accepted", &none);

    // HS256 with the RSA public key as the HMAC secret (the classic key confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".to_string());
    let secret = EncodingKey::from_secret(RSA_PUBLIC_PEM).expect("secret");
    let confused = jsonwebtoken::encode(&header, &claims(), &secret).expect("signed");
    let rejection = auth
        .authenticate(&bearer(&confused), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "algorithm is not accepted", &confused);

    // ES256 claimed for the RSA key's kid.
    let mismatched = sign(Algorithm::ES256, "rsa-1", &claims());
    let rejection = auth
        .authenticate(&bearer(&mismatched), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "not its key", &mismatched);

    // A valid token with its signature swapped for another token's.
    let good = sign(Algorithm::RS256, "rsa-1", &claims());
    let mut other_claims = claims();
    other_claims["sub"] = json!("admin");
    let other = sign(Algorithm::RS256, "rsa-1", &other_claims);
    let (forged_body, _) = other.rsplit_once('.').expect("three parts");
    let (_, good_signature) = good.rsplit_once('.').expect("three parts");
    let forged = format!("{forged_body}.{good_signature}");
    let rejection = auth
        .authenticate(&bearer(&forged), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "signature does not verify", &forged);

    // An algorithm the config leaves out.
    let mut config = jwt_config(&server.url);
    config.algorithms = vec!["RS256".to_string()];
    let rs_only = authenticator(&auth_config(Some(config), true)).await;
    let es = sign(Algorithm::ES256, "ec-1", &claims());
    let rejection = rs_only
        .authenticate(&bearer(&es), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "algorithm is not accepted", &es);

    for garbage in [
        "not-a-token",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIn0.e30.c2ln",
    ] {
        let rejection = auth
            .authenticate(&bearer(garbage), peer())
            .await
            .unwrap_err();
        assert_eq!(rejection.status, StatusCode::UNAUTHORIZED, "{garbage}");
        assert!(
            rejection
                .www_authenticate
                .as_deref()
                .is_some_and(|c| c.starts_with("Bearer error=\"invalid_token\"")),
            "{garbage}: {rejection}"
        );
    }
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_set_at_most_once_per_interval() {
    let server = JwksServer::start(jwks_with(&["rsa-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), true)).await;
    assert_eq!(server.fetches(), 1);

    let unknown = sign(Algorithm::RS256, "rsa-9", &claims());
    let rejection = auth
        .authenticate(&bearer(&unknown), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "key (kid) is unknown", &unknown);
    assert_eq!(server.fetches(), 2, "one refetch for the unknown kid");

    // More unknown kids within `jwks_min_refetch_s`, some at once: no more fetches.
    let attempts = (0..5).map(|i| {
        let token = sign(Algorithm::RS256, &format!("rsa-x{i}"), &claims());
        let auth = &auth;
        async move { auth.authenticate(&bearer(&token), peer()).await }
    });
    for outcome in futures_util::future::join_all(attempts).await {
        assert!(outcome.is_err());
    }
    assert_eq!(server.fetches(), 2);
    // Known keys are unaffected.
    let known = sign(Algorithm::RS256, "rsa-1", &claims());
    assert!(auth.authenticate(&bearer(&known), peer()).await.is_ok());
}

#[tokio::test]
async fn a_rotated_in_key_is_fetched_when_a_token_names_it() {
    let server = JwksServer::start(jwks_with(&["rsa-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), false)).await;
    let rotated = sign(Algorithm::ES256, "ec-1", &claims());

    // The provider rotates: the new key is published, then used.
    server.serve(jwks_with(&["rsa-1", "ec-1"]));
    let client = auth
        .authenticate(&bearer(&rotated), peer())
        .await
        .expect("the new key is fetched");
    assert_eq!(client.name, "user-42");
    assert_eq!(server.fetches(), 2);
    // And the old key still works while it is published.
    let old = sign(Algorithm::RS256, "rsa-1", &claims());
    assert!(auth.authenticate(&bearer(&old), peer()).await.is_ok());
}

#[tokio::test]
async fn the_set_is_refreshed_periodically_and_a_retired_key_stops_working() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let mut config = jwt_config(&server.url);
    config.jwks_refresh_s = 1;
    let auth = authenticator(&auth_config(Some(config), false)).await;
    let retiring = sign(Algorithm::RS256, "rsa-1", &claims());
    assert!(auth.authenticate(&bearer(&retiring), peer()).await.is_ok());

    server.serve(jwks_with(&["ec-1"]));
    let fetched_before = server.fetches();
    poll_until("a periodic JWKS refresh", Duration::from_secs(10), || {
        let fetches = server.fetches();
        async move { (fetches > fetched_before).then_some(()) }
    })
    .await;
    // The refresh has been served; wait until the authenticator has swapped its set.
    poll_until("the retired key refused", Duration::from_secs(10), || {
        let token = retiring.clone();
        let auth = &auth;
        async move {
            auth.authenticate(&bearer(&token), peer())
                .await
                .err()
                .map(|r| r.message)
        }
    })
    .await;
    let kept = sign(Algorithm::ES256, "ec-1", &claims());
    assert!(auth.authenticate(&bearer(&kept), peer()).await.is_ok());
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let mut server = JwksServer::start(jwks_with(&["rsa-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), false)).await;
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    assert!(auth.authenticate(&bearer(&token), peer()).await.is_ok());

    // A set without a usable key is a failed refresh too.
    server.serve(json!({ "keys": [] }));
    assert!(auth.refresh_keys().await.is_err());
    assert!(auth.authenticate(&bearer(&token), peer()).await.is_ok());
    server.serve(json!("<html>maintenance</html>"));
    assert!(auth.refresh_keys().await.is_err());
    assert!(auth.authenticate(&bearer(&token), peer()).await.is_ok());

    // The JWKS server goes away altogether.
    server.stop().await;
    let error = auth.refresh_keys().await.expect_err("server is down");
    assert!(error.to_string().contains("JWKS fetch failed"), "{error}");
    let client = auth
        .authenticate(&bearer(&token), peer())
        .await
        .expect("old keys kept");
    assert_eq!(client.name, "user-42");
}

#[tokio::test]
async fn a_jwks_url_down_at_startup_does_not_stop_startup_but_a_bad_file_does() {
    let mut server = JwksServer::start(jwks_with(&["rsa-1"])).await;
    let url = server.url.clone();
    server.stop().await;
    let auth = authenticator(&auth_config(Some(jwt_config(&url)), false)).await;
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    let rejection = auth
        .authenticate(&bearer(&token), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "key (kid) is unknown", &token);

    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    let from_file = |path: PathBuf| {
        let mut config = jwt_config("http://unused.invalid/");
        config.jwks_url = None;
        config.jwks_file = Some(path);
        auth_config(Some(config), false)
    };
    let auth = authenticator(&from_file(fixtures.join("jwks.json"))).await;
    assert_eq!(auth.refresh_keys().await.expect("file reread"), 2);
    assert!(auth.authenticate(&bearer(&token), peer()).await.is_ok());
    for bad in ["missing.json", "rsa-1.pub.pem"] {
        let error = Authenticator::new(&from_file(fixtures.join(bad)))
            .await
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(error.to_string().starts_with("auth.jwt: "), "{error}");
    }
}

#[tokio::test]
async fn api_keys_are_known_by_their_hash_in_either_header() {
    let auth = authenticator(&auth_config(None, false)).await;
    let mut by_header = HeaderMap::new();
    by_header.insert("x-api-key", HeaderValue::from_static(WEB_KEY));
    let mut by_scheme = HeaderMap::new();
    by_scheme.insert(
        "authorization",
        HeaderValue::from_str(&format!("ApiKey {WEB_KEY}")).expect("header"),
    );
    for headers in [by_header, by_scheme] {
        let client = auth
            .authenticate(&headers, peer())
            .await
            .expect("known key");
        assert_eq!(client.id, "key:storefront-web");
        assert_eq!(client.name, "storefront-web");
        assert!(client.scopes.contains("inventory:read"));
        assert!(!client.anonymous);
    }

    let wrong = "sk_test_web_4f1c2b";
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static(wrong));
    let rejection = auth.authenticate(&headers, peer()).await.unwrap_err();
    assert_invalid(rejection.clone(), "API key is not known", wrong);
    assert!(!rejection.message.contains(wrong));

    // The hash itself is not a key.
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-api-key",
        HeaderValue::from_str(&sha256_hex(WEB_KEY)).expect("header"),
    );
    assert!(auth.authenticate(&headers, peer()).await.is_err());

    // Without a JWT section, bearer tokens are refused, not ignored.
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    let rejection = auth
        .authenticate(&bearer(&token), peer())
        .await
        .unwrap_err();
    assert_invalid(rejection, "not accepted here", &token);
}

#[tokio::test]
async fn requests_without_credentials_are_anonymous_only_when_allowed() {
    let open = authenticator(&auth_config(None, true)).await;
    let client = open
        .authenticate(&HeaderMap::new(), peer())
        .await
        .expect("anonymous allowed");
    assert!(client.anonymous);
    assert_eq!(client.id, "ip:198.51.100.20");
    assert_eq!(client.name, "anonymous");
    assert!(client.scopes.is_empty());

    // A bad credential is refused even where anonymous access is allowed.
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static("nope-nope-nope"));
    assert!(open.authenticate(&headers, peer()).await.is_err());

    let closed = authenticator(&auth_config(None, false)).await;
    let rejection = closed
        .authenticate(&HeaderMap::new(), peer())
        .await
        .unwrap_err();
    assert_eq!(rejection.status, StatusCode::UNAUTHORIZED);
    assert_eq!(rejection.code, "UNAUTHENTICATED");
    // RFC 6750: no error code when no credentials were sent.
    assert_eq!(rejection.www_authenticate.as_deref(), Some("Bearer"));
    assert!(rejection.message.contains("credentials are required"));
}

#[tokio::test]
async fn a_scoped_field_needs_its_scope_401_when_anonymous_403_when_lacking() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let auth = authenticator(&auth_config(Some(jwt_config(&server.url)), true)).await;
    assert!(auth.has_field_scopes());
    assert_eq!(
        auth.scoped_fields().collect::<Vec<_>>(),
        ["Product.reviews", "Product.stock"]
    );
    let storefront = ["Query.products", "Product.title", "Product.stock"];

    let anonymous = auth.authenticate(&HeaderMap::new(), peer()).await.unwrap();
    assert!(auth.authorize(&anonymous, ["Product.title"]).is_ok());
    let rejection = auth.authorize(&anonymous, storefront).unwrap_err();
    assert_eq!(rejection.status, StatusCode::UNAUTHORIZED);
    assert_eq!(rejection.code, "UNAUTHENTICATED");
    assert!(rejection.message.contains("`Product.stock`"), "{rejection}");

    // The token grants inventory:read, not reviews:read.
    let token = sign(Algorithm::RS256, "rsa-1", &claims());
    let user: Client = auth.authenticate(&bearer(&token), peer()).await.unwrap();
    assert!(auth.authorize(&user, storefront).is_ok());
    let rejection = auth
        .authorize(&user, ["Product.stock", "Product.reviews"])
        .unwrap_err();
    assert_eq!(rejection.status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.code, "FORBIDDEN");
    assert!(
        rejection.message.contains("`Product.reviews`")
            && rejection.message.contains("`reviews:read`"),
        "{rejection}"
    );
    assert_eq!(
        rejection.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"reviews:read\""
    );
}

#[tokio::test]
async fn client_limits_announce_the_default_budget_and_refuse_with_429() {
    let limits = ClientLimits::new(&RateLimitsConfig::default(), &[]);
    let client = Client::anonymous(peer());
    let budget = limits
        .admit_request(&client)
        .expect("admitted")
        .join(limits.admit_cost(&client, 120).expect("admitted"));
    let mut headers = HeaderMap::new();
    budget.write_headers(&mut headers);
    assert_eq!(
        headers["ratelimit-policy"],
        "\"requests\";q=1200;w=60, \"cost\";q=60000;w=60"
    );
    assert_eq!(
        headers["ratelimit"],
        "\"requests\";r=1199;t=1, \"cost\";r=59880;t=1"
    );

    let limited = limits
        .admit_cost(&client, 60_001)
        .expect_err("over a minute");
    assert_eq!(
        limited.graphql_error()["extensions"]["code"],
        "RATE_LIMITED"
    );
    assert_eq!(
        switchyard::auth::Limited::STATUS,
        StatusCode::TOO_MANY_REQUESTS
    );
    let spent = limits.admit_cost(&client, 59_880).expect("the rest");
    // What is left is what came back since (one unit per millisecond): less than 1000.
    let left = spent.items()[0].remaining.map(|(r, _)| r);
    assert!(left.is_some_and(|r| r < 1000), "{left:?}");
    let limited = limits
        .admit_cost(&client, 1_000)
        .expect_err("budget spent")
        .after(budget);
    let mut headers = HeaderMap::new();
    limited.write_headers(&mut headers);
    let retry_after: u64 = headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let error = limited.graphql_error();
    assert!(
        error["extensions"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    assert!(error["extensions"].get("provider").is_none());
}

// Through `/graphql`: what a client of the running gateway sees.

const PUBLIC: &str = "{ product(id: \"1\") { title } }";
const WITH_STOCK: &str = "{ product(id: \"1\") { title stock { available } } }";

/// POSTs `query` with `credential` as extra headers; the status, the headers and the body.
async fn post_as(
    gw: &support::TestGateway,
    query: &str,
    credential: &[(&str, String)],
) -> (u16, HeaderMap, Value) {
    let mut request = gw
        .client
        .post(format!("{}/graphql", gw.base_url))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(json!({ "query": query }).to_string());
    for (name, value) in credential {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.expect("JSON body");
    (status, headers, body)
}

fn api_key(name: &str, key: &str, scopes: &[&str], requests: Option<u32>) -> ApiKeyConfig {
    ApiKeyConfig {
        name: name.to_string(),
        sha256: sha256_hex(key),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        requests_per_minute: requests,
        cost_per_minute: None,
    }
}

#[tokio::test]
async fn through_graphql_a_scoped_field_needs_credentials_holding_its_scope() {
    let mut config = switchyard::config::Config {
        auth: auth_config(None, true),
        ..Default::default()
    };
    config.auth.api_keys.push(api_key(
        "partner",
        "sk_test_partner_77",
        &["reviews:read"],
        None,
    ));
    let gw = support::TestGateway::start_with(config).await;
    let web = [("x-api-key", WEB_KEY.to_string())];
    let partner = [("authorization", "ApiKey sk_test_partner_77".to_string())];

    let (status, headers, body) = post_as(&gw, PUBLIC, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["product"]["title"].is_string(), "{body}");
    assert!(
        headers["ratelimit-policy"]
            .to_str()
            .unwrap()
            .starts_with("\"requests\";q=1200;w=60"),
        "{headers:?}"
    );

    // Anonymous clients are asked to authenticate, before anything runs.
    let (status, headers, body) = post_as(&gw, WITH_STOCK, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`Product.stock`"),
        "{body}"
    );
    assert_eq!(gw.calls_to("inventory", "GET /v2/stock"), 0);

    // A key without the scope is forbidden; one with it gets the stock.
    let (status, headers, body) = post_as(&gw, WITH_STOCK, &partner).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(code(&body), "FORBIDDEN");
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"inventory:read\""
    );
    assert_eq!(gw.calls_to("inventory", "GET /v2/stock"), 0);
    let (status, _, body) = post_as(&gw, WITH_STOCK, &web).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert!(
        body["data"]["product"]["stock"]["available"].is_number(),
        "{body}"
    );

    // A wrong key is refused even for public fields, without repeating it.
    let wrong = "sk_test_web_0000";
    let (status, headers, body) = post_as(&gw, PUBLIC, &[("x-api-key", wrong.to_string())]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_none(), "{body}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(!body.to_string().contains(wrong), "{body}");
}

#[tokio::test]
async fn through_graphql_each_client_has_its_own_request_budget() {
    let server = JwksServer::start(jwks_with(&["rsa-1", "ec-1"])).await;
    let mut config = switchyard::config::Config {
        auth: auth_config(Some(jwt_config(&server.url)), false),
        ..Default::default()
    };
    config
        .auth
        .api_keys
        .push(api_key("batch-job", "sk_test_batch_1", &[], Some(1)));
    config.rate_limits.requests_per_minute = 2;
    let gw = support::TestGateway::start_with(config).await;

    let (status, headers, body) = post_as(&gw, PUBLIC, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(code(&body), "UNAUTHENTICATED");
    assert_eq!(headers["www-authenticate"], "Bearer");

    let as_user = |sub: &str| {
        let mut claims = claims();
        claims["sub"] = json!(sub);
        [(
            "authorization",
            format!("Bearer {}", sign(Algorithm::ES256, "ec-1", &claims)),
        )]
    };
    let alice = as_user("alice");
    for left in [1, 0] {
        let (status, headers, body) = post_as(&gw, PUBLIC, &alice).await;
        assert_eq!(status, 200, "{body}");
        let state = headers["ratelimit"].to_str().unwrap();
        assert!(
            state.starts_with(&format!("\"requests\";r={left};")),
            "{state}"
        );
    }
    let (status, headers, body) = post_as(&gw, PUBLIC, &alice).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(code(&body), "RATE_LIMITED");
    assert!(body.get("data").is_none(), "{body}");
    assert!(body["errors"][0]["extensions"].get("provider").is_none());
    assert!(
        body["errors"][0]["extensions"]["retryAfterMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0)
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["ratelimit-policy"], "\"requests\";q=2;w=60");

    // Another subject, and an API key with its own limit of one, each have their own budget.
    let (status, _, body) = post_as(&gw, PUBLIC, &as_user("bob")).await;
    assert_eq!(status, 200, "{body}");
    let batch = [("x-api-key", "sk_test_batch_1".to_string())];
    let (status, headers, _) = post_as(&gw, PUBLIC, &batch).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["ratelimit-policy"],
        "\"requests\";q=1;w=60, \"cost\";q=60000;w=60"
    );
    let (status, _, body) = post_as(&gw, PUBLIC, &batch).await;
    assert_eq!(status, 429, "{body}");

    // An expired token says so.
    let mut expired = claims();
    expired["exp"] = json!(now() - 600);
    let token = sign(Algorithm::RS256, "rsa-1", &expired);
    let (status, headers, body) =
        post_as(&gw, PUBLIC, &[("authorization", format!("Bearer {token}"))]).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
    );
    assert!(!body.to_string().contains(&token), "{body}");
}
