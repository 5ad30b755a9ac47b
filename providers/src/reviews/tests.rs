use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use http::{HeaderValue, StatusCode};
use serde_json::Value;

use super::{ReviewsVendor, SANDBOX_API_KEY, data, sandbox};
use crate::capability::Reviews;
use crate::domain::{ProductId, Review, ReviewPage, ReviewPageRequest, ReviewSummary};
use crate::error::ProviderError;
use crate::sandbox::{FaultPlan, SandboxHandle, serve};
use crate::transport::http_testing::HttpTransport;
use crate::transport::testing::{FnTransport, json};
use crate::transport::{Transport, UpstreamResponse};

const EXAMPLE_PAGE: &str = include_str!("../../fixtures/reviews/product-1-limit-1.json");
const NO_REVIEWS: &str = include_str!("../../fixtures/reviews/no-reviews.json");
const ERROR_400: &str = include_str!("../../fixtures/reviews/error-400-invalid-limit.json");
const ERROR_401: &str = include_str!("../../fixtures/reviews/error-401-unauthorized.json");
const ERROR_404: &str = include_str!("../../fixtures/reviews/error-404-product-9999.json");
const ERROR_429: &str = include_str!("../../fixtures/reviews/error-429-rate-limited.json");
const ERROR_503: &str = include_str!("../../fixtures/reviews/error-503-overloaded.json");

const KEY: &str = "test-key-5f3a9c";

fn ask(product: u64, limit: u32, cursor: Option<&str>) -> ReviewPageRequest {
    ReviewPageRequest {
        product: ProductId(product),
        limit,
        cursor: cursor.map(str::to_owned),
    }
}

fn with_retry_after(mut response: UpstreamResponse, secs: &'static str) -> UpstreamResponse {
    response
        .headers
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static(secs));
    response
}

/// A vendor whose transport answers every request with `response`.
fn canned(response: UpstreamResponse) -> (FnTransport, ReviewsVendor) {
    let transport = FnTransport::new(move |_| Ok(response.clone()));
    let vendor = ReviewsVendor::new(Arc::new(transport.clone()), KEY.to_owned());
    (transport, vendor)
}

async fn canned_error(response: UpstreamResponse) -> ProviderError {
    let (_, vendor) = canned(response);
    vendor
        .reviews(&ask(1, 5, None))
        .await
        .expect_err("the answer is a failure")
}

// ---- adapter on canned bodies ----

#[tokio::test]
async fn maps_the_openapi_example_and_sends_the_key() {
    let (transport, vendor) = canned(json(200, EXAMPLE_PAGE));
    let page = vendor.reviews(&ask(1, 5, None)).await.unwrap();
    assert_eq!(
        page,
        ReviewPage {
            product: ProductId(1),
            summary: ReviewSummary {
                count: 3,
                average: Some(4.0),
            },
            reviews: vec![Review {
                id: "rev_1_3".into(),
                rating: 5,
                title: None,
                body: "Highly impressed!".into(),
                author: "Eleanor Collins".into(),
                created_at: "2025-04-30T09:41:02.053Z".parse().unwrap(),
                verified_purchase: true,
            }],
            next_cursor: Some("eyJvIjoxfQ".into()),
        }
    );
    let sent = transport.requests();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, http::Method::GET);
    assert_eq!(request.path_and_query, "/v1/products/1/reviews?limit=5");
    assert_eq!(request.endpoint, "GET /v1/products/{productId}/reviews");
    assert!(request.idempotent);
    let keys: Vec<_> = request
        .headers
        .iter()
        .filter(|(name, _)| name.as_str() == "x-api-key")
        .map(|(_, value)| value.clone())
        .collect();
    assert_eq!(keys, vec![HeaderValue::from_static(KEY)]);
    assert!(keys[0].is_sensitive());
}

#[tokio::test]
async fn clamps_the_limit_and_percent_encodes_the_cursor() {
    let (transport, vendor) = canned(json(200, EXAMPLE_PAGE));
    vendor.reviews(&ask(1, 0, None)).await.unwrap();
    vendor
        .reviews(&ask(1, 500, Some("a b/c+=&d")))
        .await
        .unwrap();
    vendor
        .reviews(&ask(1, 20, Some("eyJvIjoxfQ")))
        .await
        .unwrap();
    let paths: Vec<_> = transport
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        paths,
        [
            "/v1/products/1/reviews?limit=1",
            "/v1/products/1/reviews?limit=20&cursor=a+b%2Fc%2B%3D%26d",
            "/v1/products/1/reviews?limit=20&cursor=eyJvIjoxfQ",
        ]
    );
}

#[tokio::test]
async fn no_reviews_means_no_average() {
    let (_, vendor) = canned(json(200, NO_REVIEWS));
    let page = vendor.reviews(&ask(194, 5, None)).await.unwrap();
    assert_eq!(
        page.summary,
        ReviewSummary {
            count: 0,
            average: None
        }
    );
    assert!(page.reviews.is_empty());
    assert_eq!(page.next_cursor, None);

    // An average of nothing is not 0 stars, whatever the vendor sends.
    let zero = r#"{"productId":194,"summary":{"count":0,"average":0},"data":[],"nextCursor":null}"#;
    let (_, vendor) = canned(json(200, zero));
    let page = vendor.reviews(&ask(194, 5, None)).await.unwrap();
    assert_eq!(page.summary.average, None);
}

#[tokio::test]
async fn maps_each_error_status() {
    let err = canned_error(json(401, ERROR_401)).await;
    assert_eq!(
        err,
        ProviderError::Auth("unauthorized: invalid API key".into())
    );
    assert!(!err.retryable(), "a rejected key is never retried");

    let err = canned_error(json(404, ERROR_404)).await;
    assert_eq!(
        err,
        ProviderError::NotFound("not_found: no product 9999".into())
    );

    let err = canned_error(json(400, ERROR_400)).await;
    assert_eq!(
        err,
        ProviderError::BadInput("invalid_parameter: limit must be between 1 and 20".into())
    );

    let err = canned_error(with_retry_after(json(429, ERROR_429), "12")).await;
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: "rate_limited: quota exceeded".into(),
            retry_after: Some(Duration::from_secs(12)),
        }
    );

    let err = canned_error(with_retry_after(json(503, ERROR_503), "1")).await;
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "overloaded: try again shortly".into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    );

    // A load balancer's page instead of the vendor's JSON.
    let err = canned_error(json(502, "<html>Bad Gateway</html>")).await;
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(502),
            message: "Bad Gateway".into(),
            retry_after: None,
        }
    );
    let err = canned_error(json(500, "")).await;
    assert_eq!(err.code(), "UPSTREAM_UNAVAILABLE");
    assert!(err.retryable());
}

#[tokio::test]
async fn undecodable_or_contract_breaking_pages_are_bad_responses() {
    let bodies = [
        "<html><body>502 Bad Gateway</body></html>".to_owned(),
        EXAMPLE_PAGE[..EXAMPLE_PAGE.len() / 2].to_owned(),
        EXAMPLE_PAGE.replace(r#""rating":5"#, r#""rating":9"#),
        EXAMPLE_PAGE.replace(r#""rating":5"#, r#""rating":"five""#),
        EXAMPLE_PAGE.replace(r#""productId":1"#, r#""productId":2"#),
        EXAMPLE_PAGE.replace("2025-04-30T09:41:02.053Z", "yesterday"),
    ];
    for body in bodies {
        let err = canned_error(json(200, body.clone())).await;
        assert!(
            matches!(err, ProviderError::BadResponse(_)),
            "{body} gave {err:?}"
        );
    }
}

#[tokio::test]
async fn transport_failures_pass_through() {
    let transport = FnTransport::new(|_| Err(ProviderError::Timeout));
    let vendor = ReviewsVendor::new(Arc::new(transport), KEY.to_owned());
    assert_eq!(
        vendor.reviews(&ask(1, 5, None)).await,
        Err(ProviderError::Timeout)
    );
}

#[tokio::test]
async fn the_key_never_shows_in_errors_or_debug() {
    let echo =
        format!(r#"{{"error":{{"code":"unauthorized","message":"invalid API key {KEY}"}}}}"#);
    let err = canned_error(json(401, echo)).await;
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(!format!("{err:?}").contains(KEY));

    let (_, vendor) = canned(json(200, EXAMPLE_PAGE));
    let debug = format!("{vendor:?}");
    assert!(!debug.contains(KEY), "{debug}");

    // A key that cannot be a header value fails before any call, without quoting the key.
    let bad_key = "line\nbreak-secret";
    let transport = FnTransport::new(|_| Ok(json(200, EXAMPLE_PAGE)));
    let vendor = ReviewsVendor::new(Arc::new(transport.clone()), bad_key.to_owned());
    let err = vendor.reviews(&ask(1, 5, None)).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_AUTH");
    assert!(!err.to_string().contains("break-secret"));
    assert!(transport.requests().is_empty());
}

// ---- adapter against the sandbox over HTTP ----

struct Running {
    addr: SocketAddr,
    handle: SandboxHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn running_sandbox() -> Running {
    let sb = sandbox();
    let (addr, task) = serve(sb.router, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Running {
        addr,
        handle: sb.handle,
        task,
    }
}

fn vendor_for(running: &Running, key: &str) -> ReviewsVendor {
    let transport: Arc<dyn Transport> =
        Arc::new(HttpTransport::new(format!("http://{}", running.addr)));
    ReviewsVendor::new(transport, key.to_owned())
}

#[tokio::test]
async fn pages_through_every_review_of_a_bestseller() {
    let running = running_sandbox().await;
    let vendor = vendor_for(&running, SANDBOX_API_KEY);
    let expected_count = data::of_product(50).unwrap().newest_first.len();
    assert!(expected_count > 20);

    for limit in [20, 7] {
        let mut cursor = None;
        let mut pages = Vec::new();
        loop {
            let page = vendor
                .reviews(&ask(50, limit, cursor.as_deref()))
                .await
                .unwrap();
            cursor = page.next_cursor.clone();
            pages.push(page);
            if cursor.is_none() {
                break;
            }
            assert!(pages.len() < 100, "the cursors never end");
        }
        assert_eq!(pages.len(), expected_count.div_ceil(limit as usize));
        let first_summary = pages[0].summary.clone();
        assert_eq!(first_summary.count as usize, expected_count);
        assert!(pages.iter().all(|p| p.summary == first_summary));
        assert!(pages.iter().all(|p| p.product == ProductId(50)));

        let reviews: Vec<Review> = pages.into_iter().flat_map(|p| p.reviews).collect();
        assert_eq!(reviews.len(), expected_count);
        let ids: HashSet<_> = reviews.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), expected_count, "no review twice");
        assert!(
            reviews
                .windows(2)
                .all(|w| w[0].created_at >= w[1].created_at),
            "newest first"
        );
        let average =
            reviews.iter().map(|r| f64::from(r.rating)).sum::<f64>() / expected_count as f64;
        assert!((first_summary.average.unwrap() - average).abs() < 0.005);
    }
}

#[tokio::test]
async fn adapter_maps_the_sandbox_answers_and_refusals() {
    let running = running_sandbox().await;
    let vendor = vendor_for(&running, SANDBOX_API_KEY);

    let page = vendor.reviews(&ask(1, 5, None)).await.unwrap();
    assert_eq!(page.reviews.len(), 3);
    assert_eq!(page.reviews[0].id, "rev_1_3");
    assert_eq!(page.next_cursor, None);

    let err = vendor.reviews(&ask(9999, 5, None)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::NotFound("not_found: no product 9999".into())
    );
    let err = vendor
        .reviews(&ask(1, 5, Some("not a cursor")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BAD_USER_INPUT");

    let wrong = vendor_for(&running, "not-the-key");
    let err = wrong.reviews(&ask(1, 5, None)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Auth("unauthorized: invalid API key".into())
    );

    running.handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(7),
        ..FaultPlan::default()
    });
    let err = vendor.reviews(&ask(1, 5, None)).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.code(), "RATE_LIMITED");

    running.handle.set_faults(FaultPlan {
        malformed_body: true,
        ..FaultPlan::default()
    });
    let err = vendor.reviews(&ask(1, 5, None)).await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}

// ---- the sandbox's wire behaviour ----

fn client() -> reqwest::Client {
    // reqwest is built without a default TLS crypto provider; building a client needs one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn get(
    client: &reqwest::Client,
    running: &Running,
    path_and_query: &str,
) -> reqwest::Response {
    client
        .get(format!("http://{}{path_and_query}", running.addr))
        .header("x-api-key", SANDBOX_API_KEY)
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn number(response: &reqwest::Response, name: &str) -> u64 {
    header(response, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing or not a number"))
}

async fn body(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn answers_product_1_with_the_openapi_example() {
    let running = running_sandbox().await;
    let client = client();
    let response = get(&client, &running, "/v1/products/1/reviews?limit=1").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "cache-control"),
        Some("public, max-age=300")
    );
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    assert_eq!(body(response).await, fixture(EXAMPLE_PAGE));

    // The example's cursor leads on to the two older reviews, with the same summary.
    let response = get(
        &client,
        &running,
        "/v1/products/1/reviews?limit=5&cursor=eyJvIjoxfQ",
    )
    .await;
    let rest = body(response).await;
    assert_eq!(rest["summary"], fixture(EXAMPLE_PAGE)["summary"]);
    let ids: Vec<_> = rest["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["rev_1_2", "rev_1_1"]);
    assert_eq!(rest["nextCursor"], Value::Null);
}

#[tokio::test]
async fn nine_concurrent_requests_get_eight_pages_and_one_503() {
    let running = running_sandbox().await;
    // Slow enough that all nine are in flight together.
    running.handle.set_faults(FaultPlan {
        latency_ms: 500,
        ..FaultPlan::default()
    });
    let client = client();
    let responses =
        join_all((0..9).map(|_| get(&client, &running, "/v1/products/7/reviews"))).await;

    let mut ok = 0;
    let mut overloaded = Vec::new();
    for response in responses {
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => overloaded.push(response),
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 8);
    assert_eq!(overloaded.len(), 1);
    let refused = overloaded.remove(0);
    assert_eq!(header(&refused, "retry-after"), Some("1"));
    assert_eq!(number(&refused, "x-ratelimit-limit"), 600);
    assert_eq!(body(refused).await, fixture(ERROR_503));
    assert_eq!(running.handle.peak_in_flight(), 9);

    // Once they are done, the key may send again.
    running.handle.set_faults(FaultPlan::default());
    let response = get(&client, &running, "/v1/products/7/reviews").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn quota_off_lifts_the_concurrency_cap_and_the_quota() {
    let running = running_sandbox().await;
    running.handle.set_faults(FaultPlan {
        latency_ms: 300,
        quota_off: true,
        ..FaultPlan::default()
    });
    let client = client();
    let responses =
        join_all((0..9).map(|_| get(&client, &running, "/v1/products/7/reviews"))).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    assert!(
        responses
            .iter()
            .all(|r| header(r, "x-ratelimit-remaining").is_none())
    );
}

#[tokio::test]
async fn the_601st_request_in_a_minute_is_over_quota() {
    let running = running_sandbox().await;
    let client = client();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut reset = None;
    for n in 1..=600u64 {
        let response = get(&client, &running, "/v1/products/1/reviews").await;
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
        assert_eq!(number(&response, "x-ratelimit-limit"), 600);
        assert_eq!(number(&response, "x-ratelimit-remaining"), 600 - n);
        let this_reset = number(&response, "x-ratelimit-reset");
        assert!((started..=started + 61).contains(&this_reset));
        // One window: its reset does not move while it lasts (rounding may add a second).
        let first = *reset.get_or_insert(this_reset);
        assert!(this_reset.abs_diff(first) <= 1);
    }
    let over = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = number(&over, "retry-after");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(number(&over, "x-ratelimit-remaining"), 0);
    assert_eq!(number(&over, "x-ratelimit-limit"), 600);
    assert_eq!(body(over).await, fixture(ERROR_429));

    // The admin reset starts the window afresh.
    running.handle.reset();
    let response = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(number(&response, "x-ratelimit-remaining"), 599);
}

#[tokio::test]
async fn a_missing_or_bad_key_is_401_and_not_counted() {
    let running = running_sandbox().await;
    let client = client();
    let url = format!("http://{}/v1/products/1/reviews", running.addr);
    let missing = client.get(&url).send().await.unwrap();
    let wrong = client
        .get(&url)
        .header("x-api-key", "not-the-key")
        .send()
        .await
        .unwrap();
    for response in [missing, wrong] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(header(&response, "cache-control").is_none());
        assert_eq!(body(response).await, fixture(ERROR_401));
    }
    let response = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(number(&response, "x-ratelimit-remaining"), 599);
}

#[tokio::test]
async fn rejects_bad_parameters_and_unknown_products() {
    let running = running_sandbox().await;
    let client = client();
    for query in ["limit=0", "limit=21", "limit=abc", "limit=", "limit=-1"] {
        let response = get(
            &client,
            &running,
            &format!("/v1/products/1/reviews?{query}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(header(&response, "x-ratelimit-remaining").is_some());
        assert_eq!(body(response).await, fixture(ERROR_400), "{query}");
    }
    // Not base64url; base64url of something that is not a cursor; a cursor past the end.
    for cursor in ["!!!", "bm90IGpzb24", "eyJvIjo5OX0", "eyJwIjoxfQ"] {
        let response = get(
            &client,
            &running,
            &format!("/v1/products/1/reviews?cursor={cursor}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cursor}");
        let error = body(response).await;
        assert_eq!(error["error"]["code"], "invalid_parameter", "{cursor}");
    }
    let response = get(&client, &running, "/v1/products/abc/reviews").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(response).await["error"]["code"], "invalid_parameter");

    let response = get(&client, &running, "/v1/products/9999/reviews").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(response).await, fixture(ERROR_404));

    let response = get(&client, &running, "/v1/reviews").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(response).await["error"]["code"], "not_found");
}

#[tokio::test]
async fn default_limit_is_five_and_cursors_walk_on() {
    let running = running_sandbox().await;
    let client = client();
    let first = body(get(&client, &running, "/v1/products/7/reviews").await).await;
    assert_eq!(first["summary"]["count"], 9);
    assert_eq!(first["data"].as_array().unwrap().len(), 5);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let second = body(
        get(
            &client,
            &running,
            &format!("/v1/products/7/reviews?cursor={cursor}"),
        )
        .await,
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 4);
    assert_eq!(second["nextCursor"], Value::Null);
    assert_eq!(second["summary"], first["summary"]);
}

#[tokio::test]
async fn injected_faults_speak_the_vendor_format() {
    let running = running_sandbox().await;
    let client = client();

    running.handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let response = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body(response).await, fixture(ERROR_503));

    running.handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(7),
        ..FaultPlan::default()
    });
    let response = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, "retry-after"), Some("7"));
    assert_eq!(body(response).await, fixture(ERROR_429));

    running.handle.set_faults(FaultPlan {
        error_rate: 1.0,
        ..FaultPlan::default()
    });
    let response = get(&client, &running, "/v1/products/1/reviews").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body(response).await["error"]["code"], "internal_error");

    let counted = running.handle.counters();
    assert_eq!(
        counted.get("GET /v1/products/{productId}/reviews"),
        Some(&3)
    );
}

// ---- the sandbox's data ----

#[test]
fn every_catalogue_product_has_its_real_reviews_and_the_documented_extras() {
    for id in 1..=194u64 {
        let reviews = data::of_product(id).unwrap_or_else(|| panic!("product {id}"));
        let expected = 3 + data::extra_reviews(id) as usize;
        assert_eq!(reviews.newest_first.len(), expected, "product {id}");
        assert_eq!(reviews.summary.count as usize, expected);
        let ids: HashSet<_> = reviews.newest_first.iter().map(|r| &r.id).collect();
        assert_eq!(ids.len(), expected);
        assert!(
            reviews
                .newest_first
                .iter()
                .all(|r| (1..=5).contains(&r.rating) && r.title.is_none())
        );
        assert!(
            reviews
                .newest_first
                .windows(2)
                .all(|w| w[0].created_at >= w[1].created_at)
        );
        // The three real reviews are the newest: the generated ones are older.
        let newest: Vec<_> = reviews.newest_first[..3]
            .iter()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(
            newest,
            [
                format!("rev_{id}_3"),
                format!("rev_{id}_2"),
                format!("rev_{id}_1")
            ]
        );
    }
    assert!(data::of_product(0).is_none());
    assert!(data::of_product(195).is_none());

    let one = data::of_product(1).unwrap();
    assert_eq!((one.summary.count, one.summary.average), (3, Some(4.0)));
    assert_eq!(data::of_product(7).unwrap().newest_first.len(), 9);
    assert_eq!(data::of_product(13).unwrap().newest_first.len(), 15);
    for bestseller in [50, 100, 150] {
        assert_eq!(data::of_product(bestseller).unwrap().newest_first.len(), 33);
    }
    let verified = data::of_product(50)
        .unwrap()
        .newest_first
        .iter()
        .filter(|r| r.verified_purchase)
        .count();
    assert!(
        verified > 0 && verified < 33,
        "both kinds of purchase occur"
    );
}
