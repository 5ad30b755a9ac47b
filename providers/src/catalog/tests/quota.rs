//! The sandbox's rate limit: express-rate-limit's window, headers and 429.

use http::StatusCode;

use super::{client, start};
use crate::catalog::QUOTA_LIMIT;
use crate::sandbox::FaultPlan;

#[tokio::test]
async fn sandbox_answers_the_101st_request_in_a_window_with_429() {
    let (base, handle) = start().await;
    let client = client();
    for n in 1..=QUOTA_LIMIT {
        let response = client
            .get(format!("{base}/products/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            (QUOTA_LIMIT - n).to_string().as_str()
        );
    }

    let limited = client
        .get(format!("{base}/products?limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let headers = limited.headers().clone();
    assert_eq!(headers["retry-after"], "10");
    assert_eq!(headers["x-ratelimit-limit"], "100");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert!(headers.contains_key("x-ratelimit-reset"));
    assert_eq!(
        limited.text().await.unwrap(),
        fixture!("error-429-rate-limited.json")
    );

    // Unknown paths count too: the limiter runs before routing.
    let html = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(html.status(), StatusCode::TOO_MANY_REQUESTS);

    handle.reset();
    let again = client
        .get(format!("{base}/products/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn sandbox_quota_off_admits_everything_without_rate_limit_headers() {
    let (base, handle) = start().await;
    handle.set_faults(FaultPlan {
        quota_off: true,
        ..FaultPlan::default()
    });
    let client = client();
    for _ in 0..=QUOTA_LIMIT {
        let response = client
            .get(format!("{base}/products/category-list"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("x-ratelimit-remaining"));
    }
}
