//! GraphQL over HTTP at the gateway's edge: media types, status codes, GET vs POST, body limit,
//! and the error contract for requests that fail before execution.

mod support;

use serde_json::json;
use support::{TestGateway, answer, code};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let gw = TestGateway::start().await;
    let response = gw
        .client
        .get(format!("{}/graphql", gw.base_url))
        .query(&[
            (
                "query",
                "query One($id: ID!) { product(id: $id) { title } }",
            ),
            ("variables", r#"{"id":"1"}"#),
        ])
        .send()
        .await
        .unwrap();
    let ok = answer(response).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );

    let response = gw
        .client
        .get(format!("{}/graphql", gw.base_url))
        .query(&[("query", "mutation { reserve }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let refused = answer(response).await;
    assert!(refused.body.get("data").is_none());
    assert_eq!(
        gw.sandbox("catalog").total(),
        1,
        "only the first request reached a provider"
    );
}

#[tokio::test]
async fn status_codes_follow_the_negotiated_media_type() {
    let gw = TestGateway::start().await;
    let cases = [
        ("{ products { ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "query($n: Int!) { products(first: $n) { totalCount } }",
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ];
    for (query, expected) in cases {
        let modern = gw
            .post_json(json!({ "query": query }), Some(GRAPHQL_RESPONSE))
            .await;
        assert_eq!(modern.status, 400, "{query}: {:?}", modern.body);
        assert!(modern.content_type.starts_with(GRAPHQL_RESPONSE));
        assert!(modern.body.get("data").is_none(), "{:?}", modern.body);
        assert_eq!(code(&modern.body), expected, "{query}");

        let legacy = gw
            .post_json(json!({ "query": query }), Some("application/json"))
            .await;
        assert_eq!(legacy.status, 200, "{query}");
        assert!(legacy.content_type.starts_with("application/json"));
        assert_eq!(code(&legacy.body), expected, "{query}");
    }
    assert_eq!(
        gw.sandbox("catalog").total(),
        0,
        "rejected requests call no provider"
    );

    let fine = gw
        .post_json(
            json!({ "query": "{ categories { slug } }" }),
            Some(GRAPHQL_RESPONSE),
        )
        .await;
    assert_eq!(fine.status, 200);
    assert!(fine.body["data"]["categories"].is_array());
}

#[tokio::test]
async fn malformed_requests_get_the_error_contract() {
    let gw = TestGateway::start().await;
    let url = format!("{}/graphql", gw.base_url);

    let form = gw
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=%7B%20categories%20%7B%20slug%20%7D%20%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415, "no CSRF-able simple requests");

    let not_json = answer(
        gw.client
            .post(&url)
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(code(&not_json.body), "BAD_REQUEST");

    let batch = gw
        .post_json(json!([{ "query": "{ categories { slug } }" }]), None)
        .await;
    assert_eq!(batch.status, 400);
    assert_eq!(code(&batch.body), "BATCHING_NOT_ENABLED");

    let html_only = gw
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body(json!({ "query": "{ categories { slug } }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(html_only.status(), 406);
    assert_eq!(gw.sandbox("catalog").total(), 0);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_unread() {
    let gw = TestGateway::start().await;
    let url = format!("{}/graphql", gw.base_url);
    let padding = " ".repeat(1024 * 1024 + 1);
    let big = format!(r#"{{"query":"{{ categories {{ slug }} }}{padding}"}}"#);

    let declared = answer(
        gw.client
            .post(&url)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(declared.status, 413);
    assert_eq!(code(&declared.body), "PAYLOAD_TOO_LARGE");

    // Chunked: no Content-Length, so the limit must cut the stream itself.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let chunked = answer(
        gw.client
            .post(&url)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(chunked.status, 413);
    assert_eq!(code(&chunked.body), "PAYLOAD_TOO_LARGE");
    assert_eq!(gw.sandbox("catalog").total(), 0);

    let health = gw
        .client
        .get(format!("{}/healthz", gw.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_query_whose_root_fields_are_all_skipped_answers_an_empty_map() {
    let gw = TestGateway::start().await;
    let skipped = gw
        .query("{ categories @skip(if: true) { slug } }", json!({}))
        .await;
    assert_eq!(skipped.status, 200);
    assert_eq!(skipped.body, json!({ "data": {} }));
    assert_eq!(gw.sandbox("catalog").total(), 0);
}
