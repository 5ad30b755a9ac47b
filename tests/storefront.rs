//! The storefront over real HTTP: the gateway and every provider's sandbox on loopback.

mod support;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use support::{TestGateway, operation};

fn edges(body: &Value) -> &Vec<Value> {
    body["data"]["products"]["edges"].as_array().expect("edges")
}

#[tokio::test]
async fn storefront_page_costs_one_call_per_batch() {
    let gw = TestGateway::start().await;
    let answer = gw.query(&operation("storefront"), json!({})).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    let edges = edges(&answer.body);
    assert_eq!(edges.len(), 20);
    assert_eq!(answer.body["data"]["products"]["totalCount"], 194);
    for edge in edges {
        let node = &edge["node"];
        assert_eq!(node["price"]["currency"], "EUR", "{node}");
        assert!(node["stock"]["available"].is_u64(), "{node}");
        assert!(
            node["reviewSummary"]["count"].as_u64().unwrap() >= 3,
            "{node}"
        );
        assert_eq!(
            node["reviews"]["nodes"].as_array().unwrap().len(),
            3,
            "{node}"
        );
    }

    assert_eq!(
        gw.calls("catalog").values().sum::<u64>(),
        1,
        "{:?}",
        gw.calls("catalog")
    );
    assert_eq!(
        gw.calls_to("inventory", "GET /v2/stock"),
        1,
        "{:?}",
        gw.calls("inventory")
    );
    assert!(
        gw.calls_to("frankfurter", "GET /v1/latest") <= 1,
        "{:?}",
        gw.calls("frankfurter")
    );
    assert_eq!(gw.calls("erapi").values().sum::<u64>(), 0);
    // One call per distinct product: reviews(first: 3) and reviewSummary share it.
    assert_eq!(
        gw.sandbox("reviews").total(),
        20,
        "{:?}",
        gw.calls("reviews")
    );
    // The vendor allows 8 concurrent calls; the gateway never asks for more.
    assert!(gw.sandbox("reviews").peak_in_flight() <= 8);
}

#[tokio::test]
async fn sixty_products_cost_two_inventory_calls() {
    let gw = TestGateway::start().await;
    let answer = gw
        .query(&operation("storefront"), json!({ "first": 60 }))
        .await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    assert_eq!(edges(&answer.body).len(), 60);
    // The inventory takes at most 50 SKUs per call.
    assert_eq!(
        gw.calls_to("inventory", "GET /v2/stock"),
        2,
        "{:?}",
        gw.calls("inventory")
    );
    assert_eq!(gw.sandbox("reviews").total(), 60);
}

#[tokio::test]
async fn prices_convert_exactly_through_the_published_rate() {
    let gw = TestGateway::start().await;
    let answer = gw
        .query(
            r#"{ exchangeRates(base: USD, symbols: [EUR, JPY]) { base source rates { currency rate } }
                 product(id: "1") { title price(currency: EUR) { amount currency }
                                    yen: price(currency: JPY) { amount } usd: price { amount currency } } }"#,
            json!({}),
        )
        .await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    let data = &answer.body["data"];
    assert_eq!(data["exchangeRates"]["source"], "frankfurter");
    let rates = data["exchangeRates"]["rates"].as_array().unwrap();
    assert_eq!(rates.len(), 2, "symbols narrow the list: {rates:?}");
    let rate = |code: &str| -> Decimal {
        rates
            .iter()
            .find(|r| r["currency"] == code)
            .and_then(|r| r["rate"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    };
    let list = Decimal::new(999, 2); // product 1 lists at 9.99 USD
    let eur = (list * rate("EUR"))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let jpy = (list * rate("JPY"))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    assert_eq!(data["product"]["price"]["amount"], eur.to_string());
    assert_eq!(data["product"]["yen"]["amount"], jpy.to_string());
    assert_eq!(
        data["product"]["usd"],
        json!({ "amount": "9.99", "currency": "USD" })
    );
    // Two bases asked (USD for the rates, USD for the prices): one call.
    assert_eq!(
        gw.calls_to("frankfurter", "GET /v1/latest"),
        1,
        "{:?}",
        gw.calls("frankfurter")
    );
}

#[tokio::test]
async fn a_failing_provider_nulls_only_its_own_fields() {
    let gw = TestGateway::start().await;
    gw.outage("reviews");
    let answer = gw
        .query(&operation("storefront"), json!({ "first": 5 }))
        .await;
    assert_eq!(answer.status, 200);
    let edges = edges(&answer.body);
    assert_eq!(edges.len(), 5);
    for edge in edges {
        let node = &edge["node"];
        assert!(node["title"].is_string());
        assert!(node["price"]["amount"].is_string(), "{node}");
        assert!(node["stock"]["available"].is_u64(), "{node}");
        assert!(
            node["reviews"].is_null() && node["reviewSummary"].is_null(),
            "{node}"
        );
    }
    let errors = answer.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 10, "one per nulled field: {errors:?}");
    for error in errors {
        let ext = &error["extensions"];
        assert_eq!(ext["code"], "UPSTREAM_UNAVAILABLE", "{error}");
        assert_eq!(ext["provider"], "reviews");
        assert_eq!(ext["retryable"], true);
        let path = error["path"].as_array().unwrap();
        assert_eq!(path[0], "products");
        assert!(path.last().unwrap() == "reviews" || path.last().unwrap() == "reviewSummary");
    }
}

#[tokio::test]
async fn fx_fails_over_when_the_primary_is_down() {
    let gw = TestGateway::start_with(support::uncached()).await;
    gw.outage("frankfurter");
    let answer = gw
        .query(
            r#"{ exchangeRates(base: USD) { source } product(id: "2") { price(currency: EUR) { amount currency } } }"#,
            json!({}),
        )
        .await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    assert_eq!(answer.body["data"]["exchangeRates"]["source"], "erapi");
    assert_eq!(answer.body["data"]["product"]["price"]["currency"], "EUR");
    assert_eq!(gw.calls("erapi").values().sum::<u64>(), 1);

    gw.outage("erapi");
    let answer = gw
        .query(
            r#"{ product(id: "2") { title price(currency: EUR) { amount } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(answer.body["data"]["product"]["price"], Value::Null);
    assert!(answer.body["data"]["product"]["title"].is_string());
    assert_eq!(
        answer.body["errors"][0]["extensions"]["code"],
        "UPSTREAM_UNAVAILABLE"
    );
    assert_eq!(
        answer.body["errors"][0]["path"],
        json!(["product", "price"])
    );
}

#[tokio::test]
async fn products_page_filter_and_look_up() {
    let gw = TestGateway::start().await;
    let first = gw
        .query("{ products(first: 2) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }", json!({}))
        .await;
    let end = first.body["data"]["products"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        first.body["data"]["products"]["pageInfo"]["hasNextPage"],
        true
    );
    let next = gw
        .query(
            "query($after: String) { products(first: 2, after: $after) { edges { node { id } } pageInfo { hasPreviousPage } } }",
            json!({ "after": end }),
        )
        .await;
    let ids: Vec<&Value> = edges(&next.body).iter().map(|e| &e["node"]["id"]).collect();
    assert_eq!(ids, [&json!("3"), &json!("4")]);
    assert_eq!(
        next.body["data"]["products"]["pageInfo"]["hasPreviousPage"],
        true
    );

    let phones = gw
        .query(r#"{ products(first: 100, search: "phone") { totalCount } smart: products(category: "smartphones", first: 1) { totalCount edges { node { category } } } }"#, json!({}))
        .await;
    assert_eq!(
        phones.body["data"]["products"]["totalCount"], 23,
        "{}",
        phones.body
    );
    assert_eq!(phones.body["data"]["smart"]["totalCount"], 16);
    assert_eq!(
        phones.body["data"]["smart"]["edges"][0]["node"]["category"],
        "smartphones"
    );

    let capped = gw
        .query(
            "{ products(first: 500) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(edges(&capped.body).len(), 100, "first is capped at 100");
    let defaulted = gw
        .query(
            "{ products(first: null) { edges { node { id reviews(first: null) { nodes { id } } price(currency: null) { currency } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        edges(&defaulted.body).len(),
        20,
        "null asks for the default page"
    );
    let node = &edges(&defaulted.body)[0]["node"];
    assert_eq!(node["reviews"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(node["price"]["currency"], "USD");

    let lookups = gw
        .query(
            r#"{ a: product(id: "1") { title brand sku availability } b: product(id: "16") { brand } none: product(id: "9999") { title } cats: categories { slug name } }"#,
            json!({}),
        )
        .await;
    assert!(lookups.body.get("errors").is_none(), "{}", lookups.body);
    let data = &lookups.body["data"];
    assert_eq!(data["a"]["title"], "Essence Mascara Lash Princess");
    assert_eq!(data["a"]["brand"], "Essence");
    assert_eq!(data["a"]["sku"], "BEA-ESS-ESS-001");
    assert_eq!(data["a"]["availability"], "IN_STOCK");
    assert_eq!(data["b"]["brand"], Value::Null, "groceries carry no brand");
    assert_eq!(data["none"], Value::Null);
    assert_eq!(data["cats"].as_array().unwrap().len(), 24);
    assert_eq!(
        data["cats"][0],
        json!({ "slug": "beauty", "name": "Beauty" })
    );

    let bad = gw
        .query(
            r#"{ products(after: "garbage") { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        bad.body["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn review_pages_follow_the_vendors_cursor() {
    let gw = TestGateway::start().await;
    let q = r#"query($after: String) { product(id: "1") { reviews(first: 2, after: $after) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } } }"#;
    let first = gw.query(q, json!({})).await;
    let reviews = &first.body["data"]["product"]["reviews"];
    assert_eq!(reviews["totalCount"], 3, "{}", first.body);
    assert_eq!(reviews["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(reviews["pageInfo"]["hasNextPage"], true);
    let second = gw
        .query(q, json!({ "after": reviews["pageInfo"]["endCursor"] }))
        .await;
    let reviews = &second.body["data"]["product"]["reviews"];
    assert_eq!(
        reviews["nodes"].as_array().unwrap().len(),
        1,
        "{}",
        second.body
    );
    assert_eq!(reviews["pageInfo"]["hasNextPage"], false);
}
