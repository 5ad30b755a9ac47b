//! What a client sees of the gateway's request limits beyond refusals (those are in
//! `hostile.rs`): the cost it is charged and told about, batches, trusted documents, the
//! production profile and the list-size cap.

mod support;

use serde_json::{Value, json};
use support::{TestGateway, code, operation};
use switchyard::config::{Config, Profile};

/// 20 products' stock: 4 fields, a catalog call and 20 inventory calls.
const STOCK_PAGE: &str = "{ products(first: 20) { edges { node { stock { available } } } } }";
const STOCK_PAGE_COST: u64 = 5 + 1 + 20;

async fn post(gw: &TestGateway, body: Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/graphql", gw.base_url))
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body(body.to_string())
        .send()
        .await
        .expect("gateway answers")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn each_query_is_charged_its_cost_and_told_it_when_it_asks() {
    let mut config = Config::default();
    config.rate_limits.cost_per_minute = 100;
    let gw = TestGateway::start_with(config).await;
    let ask = json!({ "query": STOCK_PAGE, "extensions": { "cost": true } });

    let first = post(&gw, ask.clone()).await;
    assert_eq!(first.status(), 200);
    assert!(
        header(&first, "ratelimit-policy").contains("\"cost\";q=100;w=60"),
        "{}",
        header(&first, "ratelimit-policy")
    );
    let left = 100 - STOCK_PAGE_COST;
    assert!(
        header(&first, "ratelimit").contains(&format!("\"cost\";r={left}")),
        "{}",
        header(&first, "ratelimit")
    );
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["extensions"]["cost"]["estimated"], STOCK_PAGE_COST);
    assert_eq!(body["extensions"]["cost"]["limit"], 1000);
    // Without asking, no cost in the answer.
    let quiet = post(&gw, json!({ "query": "{ categories { slug } }" })).await;
    let quiet: Value = quiet.json().await.unwrap();
    assert!(
        quiet
            .get("extensions")
            .is_none_or(|e| e.get("cost").is_none())
    );

    // The same query again (without a report, which is always run) comes from the caches,
    // and is charged all the same: 26 + 3 + 26 + 26 = 81, then 107 is over the minute's 100.
    let plain = json!({ "query": STOCK_PAGE });
    let before = gw.calls_to("inventory", "GET /v2/stock");
    for _ in 0..2 {
        assert_eq!(post(&gw, plain.clone()).await.status(), 200);
    }
    assert_eq!(
        gw.calls_to("inventory", "GET /v2/stock"),
        before,
        "served from the caches"
    );
    let refused = post(&gw, plain).await;
    assert_eq!(refused.status(), 429);
    assert!(header(&refused, "retry-after").parse::<u64>().unwrap() >= 1);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(code(&body), "RATE_LIMITED");
    assert!(body.get("data").is_none());
    assert!(
        body["errors"][0]["extensions"]["retryAfterMs"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(body["errors"][0]["extensions"].get("provider").is_none());
    // A cheaper query still fits what is left.
    let cheap = post(&gw, json!({ "query": "{ __typename }" })).await;
    assert_eq!(cheap.status(), 200);
}

#[tokio::test]
async fn batches_run_when_enabled_and_their_costs_add_up() {
    let off = TestGateway::start().await;
    let batch = json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]);
    let refused = post(&off, batch.clone()).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(code(&refused.json().await.unwrap()), "BATCHING_NOT_ENABLED");

    let mut config = Config::default();
    config.limits.max_batch_operations = 3;
    config.limits.max_cost = 2 * STOCK_PAGE_COST + 10;
    let gw = TestGateway::start_with(config).await;
    let answered = post(
        &gw,
        json!([
            { "query": STOCK_PAGE },
            { "query": "query Q($id: ID!) { product(id: $id) { title } }", "variables": { "id": "1" } },
            { "query": "{ nope }" },
        ]),
    )
    .await;
    assert_eq!(answered.status(), 200);
    let answers: Value = answered.json().await.unwrap();
    let answers = answers.as_array().expect("an array of answers");
    assert_eq!(answers.len(), 3);
    assert_eq!(
        answers[0]["data"]["products"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        answers[1]["data"]["product"]["title"],
        "Essence Mascara Lash Princess"
    );
    // Each answer is what it would be alone: a request error has no data.
    assert!(answers[2].get("data").is_none());
    assert_eq!(code(&answers[2]), "GRAPHQL_VALIDATION_FAILED");

    let four = Value::Array(vec![json!({ "query": "{ __typename }" }); 4]);
    let too_many = post(&gw, four).await;
    assert_eq!(too_many.status(), 400);
    assert_eq!(
        code(&too_many.json().await.unwrap()),
        "BATCH_LIMIT_EXCEEDED"
    );

    // Each fits alone; the three together cost more than max_cost.
    let calls = gw.calls("inventory");
    let costly = post(&gw, Value::Array(vec![json!({ "query": STOCK_PAGE }); 3])).await;
    assert_eq!(costly.status(), 400);
    let body: Value = costly.json().await.unwrap();
    assert_eq!(code(&body), "MAX_COMPLEXITY_LIMIT");
    assert!(body.get("data").is_none());
    assert_eq!(gw.calls("inventory"), calls, "nothing ran");
}

#[tokio::test]
async fn in_trusted_documents_mode_only_the_known_documents_run() {
    let mut config = Config::default();
    config.trusted_documents.enabled = true;
    config.trusted_documents.dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/operations");
    let gw = TestGateway::start_with(config).await;
    let storefront = operation("storefront");

    let by_text = post(
        &gw,
        json!({ "query": storefront, "variables": { "first": 2 } }),
    )
    .await;
    assert_eq!(by_text.status(), 200);
    let body: Value = by_text.json().await.unwrap();
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        2
    );

    let hash = switchyard::http::trusted::sha256_hex(&storefront);
    let by_hash = post(
        &gw,
        json!({
            "variables": { "first": 1 },
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }
        }),
    )
    .await;
    assert_eq!(by_hash.status(), 200);
    let body: Value = by_hash.json().await.unwrap();
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        1
    );

    // Anything else, even a registration in the APQ way, is refused.
    let other = "{ categories { slug } }";
    for request in [
        json!({ "query": other }),
        json!({ "query": other, "extensions": { "persistedQuery": {
            "version": 1, "sha256Hash": switchyard::http::trusted::sha256_hex(other) } } }),
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "00" } } }),
    ] {
        let refused = post(&gw, request).await;
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(code(&body), "PERSISTED_QUERY_NOT_IN_LIST");
        assert!(body.get("data").is_none());
    }
    assert_eq!(gw.calls_to("catalog", "GET /products/categories"), 0);

    // A trusted-documents gateway without documents does not start, and says which key.
    let mut empty = Config::default();
    empty.trusted_documents.enabled = true;
    empty.trusted_documents.dir = std::env::temp_dir().join("switchyard-no-such-dir");
    let err = switchyard::app::App::build(&empty)
        .await
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains("trusted_documents.dir"),
        "{err:#}"
    );
}

#[tokio::test]
async fn the_production_profile_hides_the_schema() {
    let development = TestGateway::start().await;
    let production = TestGateway::start_with(Config {
        profile: Profile::Production,
        ..Config::default()
    })
    .await;

    let introspect = json!({ "query": "{ __schema { queryType { name } } }" });
    let shown = post(&development, introspect.clone()).await;
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(shown["data"]["__schema"]["queryType"]["name"], "Query");
    let hidden = post(&production, introspect).await;
    assert_eq!(hidden.status(), 400);
    let hidden: Value = hidden.json().await.unwrap();
    assert_eq!(code(&hidden), "INTROSPECTION_DISABLED");
    assert!(hidden.get("data").is_none());

    let typo = json!({ "query": "{ prodcts { totalCount } }" });
    let suggested: Value = post(&development, typo.clone()).await.json().await.unwrap();
    let message = suggested["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Did you mean"), "{message}");
    let plain: Value = post(&production, typo).await.json().await.unwrap();
    let message = plain["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    assert!(!message.contains("products"), "{message}");

    // `__typename` is not introspection of the schema.
    let typename: Value = post(&production, json!({ "query": "{ __typename }" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(typename["data"]["__typename"], "Query");

    for (gw, status) in [(&development, 200), (&production, 404)] {
        let page = gw
            .client
            .get(format!("{}/graphiql", gw.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status);
    }
}

#[tokio::test]
async fn a_lower_list_size_cap_holds_lists_to_it_and_prices_them_so() {
    let mut config = Config::default();
    config.limits.max_list_size = 5;
    let gw = TestGateway::start_with(config).await;
    let answer = post(
        &gw,
        json!({
            "query": "{ products(first: 50) { edges { node { stock { available } } } } }",
            "extensions": { "cost": true }
        }),
    )
    .await;
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        5
    );
    assert_eq!(body["extensions"]["cost"]["estimated"], 5 + 1 + 5);
}
