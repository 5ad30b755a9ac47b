//! Provider health for people: the `providers` query and the `/status` page, after traffic
//! the test drives against the sandboxes (answers, cache hits, billed calls, an outage that
//! opens a breaker). The page is also loaded in headless Chromium (`apt-get install -y
//! chromium`, or `CHROMIUM=path`): its content, no request beyond the gateway, no console
//! error, and a screenshot in `target/test-artifacts/status.png`.
//!
//! `cargo test --test status -- --ignored readme_screenshot` drives ten minutes of varied
//! traffic and saves the page as `docs/status.png`, the README's picture.
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use providers::sandbox::FaultPlan;
use serde_json::{Value, json};
use support::{TestGateway, browser::Browser, code, poll_until};
use switchyard::config::{Config, Profile};

const PROVIDERS: &str = "query Providers($minutes: Int! = 5) {
  providers(minutes: $minutes) {
    name critical breaker breakerRetryAfterMs
    quota { remaining limit }
    lastError { code message at }
    traffic {
      minutes requests errors errorRate latencyP50Ms latencyP99Ms
      cacheHits cacheMisses cacheHitRatio
      series { start requests errors errorRate latencyP50Ms latencyP99Ms }
    }
    spend { currency today thisMonth dailyBudget monthlyBudget }
  }
}";

/// A product by id, with its review summary (one reviews call, billed).
const PRODUCT_WITH_REVIEWS: &str =
    "query($id: ID!) { product(id: $id) { title reviewSummary { count } } }";
/// The same product, other fields: another document, so it is executed again (not answered
/// by the response cache) and its product comes from the entity cache.
const PRODUCT_AGAIN: &str = "query($id: ID!) { product(id: $id) { id title } }";
const PRODUCT: &str = "query($id: ID!) { product(id: $id) { title } }";
/// Generous: a cold Chromium on a busy 2-core machine.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// Every provider's status, by name.
async fn providers(gw: &TestGateway, minutes: i64) -> BTreeMap<String, Value> {
    let answer = gw.query(PROVIDERS, json!({ "minutes": minutes })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    answer.body["data"]["providers"]
        .as_array()
        .expect("a list of providers")
        .iter()
        .map(|p| (p["name"].as_str().expect("a name").to_owned(), p.clone()))
        .collect()
}

async fn status_page(
    gw: &TestGateway,
    token: Option<&str>,
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut request = gw.client.get(format!("{}/status", gw.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("gateway answers /status");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.expect("a body"), headers)
}

/// Requests a provider's sandbox answered, all endpoints.
fn calls(gw: &TestGateway, provider: &str) -> i64 {
    gw.calls(provider).values().sum::<u64>() as i64
}

/// Requests a provider's sandbox answered with `status`.
fn answered_with(gw: &TestGateway, provider: &str, status: u16) -> i64 {
    gw.sandbox(provider)
        .statuses()
        .get(&status)
        .copied()
        .unwrap_or(0) as i64
}

/// Queries products `ids` until one answers `CIRCUIT_OPEN` (the breaker opened); fails when
/// none does.
async fn until_breaker_opens(gw: &TestGateway, ids: std::ops::Range<u32>) {
    for id in ids {
        let answer = gw.query(PRODUCT, json!({ "id": id.to_string() })).await;
        if code(&answer.body) == "CIRCUIT_OPEN" {
            return;
        }
    }
    panic!("the catalog's breaker never opened");
}

/// Ok calls, cache hits and billed calls: each of products 1 to 4 with its review summary
/// (a catalog miss), then again (a catalog hit).
async fn drive_traffic(gw: &TestGateway) {
    for id in 1..=4 {
        let vars = json!({ "id": id.to_string() });
        let first = gw.query(PRODUCT_WITH_REVIEWS, vars.clone()).await;
        assert!(first.body.get("errors").is_none(), "{}", first.body);
        let again = gw.query(PRODUCT_AGAIN, vars).await;
        assert!(again.body.get("errors").is_none(), "{}", again.body);
    }
}

#[tokio::test]
async fn providers_shows_traffic_cache_spend_and_an_open_breaker() {
    let gw = TestGateway::start().await;
    let idle = providers(&gw, 5).await;
    assert_eq!(
        idle.keys().map(String::as_str).collect::<Vec<_>>(),
        ["catalog", "erapi", "frankfurter", "inventory", "reviews"]
    );
    for (name, p) in &idle {
        assert_eq!(p["breaker"], "CLOSED", "{name}");
        assert_eq!(p["traffic"]["requests"], 0, "{name}");
        assert_eq!(p["traffic"]["errorRate"], Value::Null, "{name}");
        assert_eq!(
            p["traffic"]["series"].as_array().unwrap().len(),
            10,
            "{name}"
        );
    }

    drive_traffic(&gw).await;
    let after = providers(&gw, 5).await;
    let catalog = &after["catalog"];
    let traffic = &catalog["traffic"];
    assert_eq!(traffic["requests"], calls(&gw, "catalog"), "{catalog}");
    assert_eq!(traffic["requests"], 4, "one call per product: {catalog}");
    assert_eq!(traffic["errors"], 0);
    assert_eq!(traffic["errorRate"], 0.0);
    let p50 = traffic["latencyP50Ms"].as_f64().expect("a p50");
    let p99 = traffic["latencyP99Ms"].as_f64().expect("a p99");
    assert!(p50 > 0.0 && p50 <= p99, "p50 {p50}, p99 {p99}");
    // Each product was a miss, then a hit.
    assert_eq!(
        (&traffic["cacheHits"], &traffic["cacheMisses"]),
        (&json!(4), &json!(4)),
        "{traffic}"
    );
    assert_eq!(traffic["cacheHitRatio"], 0.5);
    let series_requests: i64 = traffic["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(series_requests, 4);
    assert_eq!(catalog["quota"]["limit"], 100);
    let remaining = catalog["quota"]["remaining"].as_i64().unwrap();
    assert!((0..=96).contains(&remaining), "4 calls spent: {remaining}");
    assert_eq!(catalog["lastError"], Value::Null);

    // The reviews vendor bills 0.002 USD per answered call (switchyard.toml).
    let reviews = &after["reviews"];
    let billed = calls(&gw, "reviews");
    assert!(billed >= 4, "one review summary per product: {billed}");
    assert_eq!(reviews["traffic"]["requests"], billed);
    let today: f64 = reviews["spend"]["today"].as_str().unwrap().parse().unwrap();
    assert!(
        (today - billed as f64 * 0.002).abs() < 1e-9,
        "{billed} calls: {}",
        reviews["spend"]
    );
    assert_eq!(reviews["spend"]["thisMonth"], reviews["spend"]["today"]);
    assert_eq!(reviews["spend"]["currency"], "USD");
    assert_eq!(reviews["spend"]["dailyBudget"], "25");
    assert_eq!(reviews["spend"]["monthlyBudget"], "500");
    assert_eq!(after["erapi"]["traffic"]["requests"], 0);

    gw.outage("catalog");
    until_breaker_opens(&gw, 100..160).await;
    let down = providers(&gw, 5).await;
    let catalog = &down["catalog"];
    assert_eq!(catalog["breaker"], "OPEN", "{catalog}");
    let retry = catalog["breakerRetryAfterMs"]
        .as_i64()
        .expect("time to a probe");
    assert!(retry > 0 && retry <= 30_000, "{retry}");
    assert_eq!(catalog["lastError"]["code"], "UPSTREAM_UNAVAILABLE");
    let traffic = &catalog["traffic"];
    assert_eq!(traffic["requests"], calls(&gw, "catalog"), "{traffic}");
    let failed = answered_with(&gw, "catalog", 503);
    assert!(failed >= 5, "{failed}");
    assert_eq!(traffic["errors"], failed, "{traffic}");
    let rate = traffic["errorRate"].as_f64().unwrap();
    assert!(
        (rate - failed as f64 / calls(&gw, "catalog") as f64).abs() < 1e-9,
        "{rate}"
    );
    // The other providers are untouched.
    assert_eq!(down["reviews"]["breaker"], "CLOSED");
    assert_eq!(down["reviews"]["traffic"]["errors"], 0);
}

#[tokio::test]
async fn minutes_must_be_within_the_window() {
    let gw = TestGateway::start().await;
    for minutes in [0, 16, -1] {
        let answer = gw.query(PROVIDERS, json!({ "minutes": minutes })).await;
        assert_eq!(
            code(&answer.body),
            "BAD_USER_INPUT",
            "{minutes}: {}",
            answer.body
        );
    }
    let whole = providers(&gw, 15).await;
    let series = whole["catalog"]["traffic"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 30, "one point per 30 s");
    assert_eq!(whole["catalog"]["traffic"]["minutes"], 15.0);
    let starts: Vec<&str> = series
        .iter()
        .map(|p| p["start"].as_str().unwrap())
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {starts:?}"
    );
    // The default span is 5 minutes.
    let answer = gw
        .query("{ providers { traffic { minutes } } }", json!({}))
        .await;
    assert_eq!(
        answer.body["data"]["providers"][0]["traffic"]["minutes"],
        5.0
    );
}

#[tokio::test]
async fn the_page_shows_each_provider_and_escapes_nothing_unsafe() {
    let gw = TestGateway::start().await;
    drive_traffic(&gw).await;
    let (status, page, headers) = status_page(&gw, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(page.contains(r#"<meta http-equiv="refresh" content="5">"#));
    for name in ["catalog", "erapi", "frankfurter", "inventory", "reviews"] {
        assert!(
            page.contains(&format!(r#"data-provider="{name}""#)),
            "{name}"
        );
    }
    assert!(!page.contains("<script"), "no script");
    // No asset to load: the only link is the empty data: icon (which stops the favicon
    // request).
    assert!(!page.contains(" src="), "no external asset");
    assert_eq!(page.matches(" href=").count(), 1);
    assert!(page.contains(r#"<link rel="icon" href="data:,">"#));
    assert_eq!(page.matches("<svg").count(), 10, "two charts per provider");
    assert!(
        page.contains(r#"data-field="requests" data-count="4">4<"#),
        "{page}"
    );
}

#[tokio::test]
async fn production_shows_only_what_readyz_does() {
    const TOKEN_VAR: &str = "SWITCHYARD_TEST_STATUS_ADMIN_TOKEN";
    // SAFETY: this binary's tests read no other variable of this name.
    unsafe { std::env::set_var(TOKEN_VAR, "status-admin") };
    let mut config = Config {
        profile: Profile::Production,
        ..Config::default()
    };
    config.cache.admin_token_env = TOKEN_VAR.into();
    let gw = TestGateway::start_with(config).await;
    drive_traffic(&gw).await;

    let shown = providers(&gw, 5).await;
    for (name, p) in &shown {
        assert_eq!(p["traffic"], Value::Null, "{name}: {p}");
        assert_eq!(p["spend"], Value::Null, "{name}: {p}");
        assert_eq!(p["breaker"], "CLOSED", "{name}");
    }
    assert_eq!(shown["catalog"]["quota"]["limit"], Value::Null);
    assert!(shown["catalog"]["quota"]["remaining"].is_i64());

    let (status, page, _) = status_page(&gw, None).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-provider="catalog""#));
    assert!(page.contains(r#"data-field="breaker""#));
    for detail in [
        "<svg",
        r#"data-field="requests""#,
        r#"data-field="spend-today""#,
        "USD",
    ] {
        assert!(
            !page.contains(detail),
            "{detail} shown in production: {page}"
        );
    }
    let (_, wrong, _) = status_page(&gw, Some("not-the-token")).await;
    assert!(!wrong.contains("<svg"));
    let (_, admin, _) = status_page(&gw, Some("status-admin")).await;
    assert!(admin.contains("<svg"), "the admin token shows everything");
    assert!(admin.contains(r#"data-field="spend-today""#));
}

/// Loads `/status` in Chromium and checks what a person sees.
async fn load_in_browser(gw: &TestGateway, browser: &Browser) -> Value {
    browser
        .navigate(&format!("{}/status", gw.base_url))
        .await
        .expect("the page loads");
    browser
        .wait_for(
            "document.querySelectorAll('section.card').length === 5 && \
             document.querySelector('[data-provider=catalog] svg.latency') !== null",
            BROWSER_TIMEOUT,
        )
        .await
        .expect("the page renders");
    browser
        .evaluate(
            "Object.fromEntries([...document.querySelectorAll('section.card')].map(card => {
                const field = name => card.querySelector(`[data-field=${name}]`);
                return [card.dataset.provider, {
                    breaker: card.dataset.breaker,
                    pill: field('breaker').innerText,
                    requests: Number(field('requests').dataset.count),
                    errors: Number(field('error-rate').dataset.count),
                    errorRate: field('error-rate').innerText,
                    quota: field('quota').innerText,
                    lastError: field('last-error').innerText,
                    spend: field('spend-today')?.innerText ?? null,
                    charts: card.querySelectorAll('svg').length,
                    bars: card.querySelectorAll('svg rect.volume').length,
                    failedBars: card.querySelectorAll('svg rect.failed').length,
                    borderColor: getComputedStyle(card).borderLeftColor,
                    height: card.getBoundingClientRect().height,
                }];
            }))",
        )
        .await
        .expect("the cards read")
}

#[tokio::test]
async fn the_page_in_a_browser_shows_an_open_breaker_after_an_outage() {
    let gw = TestGateway::start().await;
    let browser = Browser::launch().await.expect("Chromium starts");
    drive_traffic(&gw).await;
    gw.outage("catalog");
    until_breaker_opens(&gw, 100..160).await;

    let cards = load_in_browser(&gw, &browser).await;
    let catalog = &cards["catalog"];
    assert_eq!(catalog["breaker"], "OPEN", "{cards:#}");
    assert!(
        catalog["pill"]
            .as_str()
            .unwrap()
            .starts_with("breaker open"),
        "{catalog}"
    );
    assert_eq!(catalog["requests"], calls(&gw, "catalog"));
    assert_eq!(catalog["errors"], answered_with(&gw, "catalog", 503));
    assert!(catalog["failedBars"].as_i64().unwrap() >= 1, "{catalog}");
    assert!(
        catalog["lastError"]
            .as_str()
            .unwrap()
            .contains("UPSTREAM_UNAVAILABLE"),
        "{catalog}"
    );
    assert!(
        catalog["quota"].as_str().unwrap().ends_with("/ 100"),
        "{catalog}"
    );
    // Red for open, green for closed.
    assert_eq!(catalog["borderColor"], "rgb(207, 34, 46)");
    let reviews = &cards["reviews"];
    assert_eq!(reviews["breaker"], "CLOSED");
    assert_eq!(reviews["borderColor"], "rgb(26, 127, 55)");
    assert_eq!(reviews["requests"], calls(&gw, "reviews"));
    let spend = reviews["spend"].as_str().unwrap();
    assert!(spend.ends_with("/ 25 USD"), "{spend}");
    for (name, card) in cards.as_object().unwrap() {
        assert_eq!(card["charts"], 2, "{name}");
    }
    assert!(catalog["bars"].as_i64().unwrap() >= 1);

    browser
        .screenshot(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/test-artifacts/status.png"
        ))
        .await
        .expect("a screenshot");
    assert_only_the_gateway(&gw, &browser);
}

/// Nothing but the page itself was requested, nothing failed, nothing was logged as an error.
fn assert_only_the_gateway(gw: &TestGateway, browser: &Browser) {
    let requests = browser.requests();
    assert!(
        requests.contains(&format!("{}/status", gw.base_url)),
        "{requests:#?}"
    );
    browser.assert_stayed_on(&format!("{}/", gw.base_url));
}

/// Ten minutes of varied traffic (steady storefront queries; then slow stock, failing
/// reviews, an FX outage the failover covers, recovery, a catalog outage), then the page
/// saved as `docs/status.png`. Run it by hand when the page changes.
#[tokio::test]
#[ignore = "ten minutes of traffic; run by hand for the README's screenshot"]
async fn readme_screenshot() {
    // Short-lived caches, so that traffic keeps reaching the providers (and an outage shows
    // as errors, not as stale answers); rates uncached, so that the FX failover is seen.
    let mut config = Config::default();
    let p = &mut config.providers;
    for (cache, ttl_s) in [(&mut p.catalog.cache, 20), (&mut p.reviews.cache, 30)] {
        cache.ttl_s = ttl_s;
        cache.swr_s = 0;
        cache.max_stale_s = 0;
    }
    p.frankfurter.cache.enabled = false;
    p.erapi.cache.enabled = false;
    let gw = TestGateway::start_with(config).await;
    let browser = Browser::launch().await.expect("Chromium starts");
    let phases: [(u32, &str); 6] = [
        (150, "steady"),
        (90, "slow stock"),
        (90, "failing reviews"),
        (75, "fx outage"),
        (120, "recovering"),
        (45, "catalog outage"),
    ];
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    for (seconds, phase) in phases {
        match phase {
            "slow stock" => gw.set_faults(
                "inventory",
                FaultPlan {
                    latency_ms: 120,
                    latency_p99_ms: Some(600),
                    ..FaultPlan::default()
                },
            ),
            "failing reviews" => {
                gw.set_faults("inventory", FaultPlan::default());
                gw.set_faults(
                    "reviews",
                    FaultPlan {
                        error_rate: 0.35,
                        error_status: Some(503),
                        latency_ms: 40,
                        ..FaultPlan::default()
                    },
                );
            }
            "fx outage" => {
                gw.set_faults("reviews", FaultPlan::default());
                gw.outage("frankfurter");
            }
            "recovering" => {
                gw.set_faults("frankfurter", FaultPlan::default());
                gw.set_faults(
                    "reviews",
                    FaultPlan {
                        error_rate: 0.1,
                        error_status: Some(500),
                        ..FaultPlan::default()
                    },
                );
            }
            "catalog outage" => gw.outage("catalog"),
            _ => {}
        }
        for _ in 0..seconds * 4 {
            ticks.tick().await;
            n += 1;
            storefront_request(&gw, n).await;
        }
    }
    // A breaker open for its whole `open_ms` turns half-open by time alone: one more call
    // (a failing probe) keeps it open for the picture.
    gw.query(PRODUCT, json!({ "id": "99" })).await;
    let cards = load_in_browser(&gw, &browser).await;
    assert_eq!(cards["catalog"]["breaker"], "OPEN", "{cards:#}");
    let picture = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/status.png");
    browser.screenshot(picture).await.expect("a screenshot");
    assert_only_the_gateway(&gw, &browser);
}

/// The `n`th request of a storefront's mix: pages, products (new and seen), stock, prices in
/// several currencies, reviews.
async fn storefront_request(gw: &TestGateway, n: u32) {
    const CURRENCIES: [&str; 6] = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD"];
    const SEARCHES: [&str; 5] = ["phone", "red", "", "oil", "watch"];
    // Each kind of request walks the catalog's products (7 and 150 are coprime), and the
    // kinds asked in a row share a product: misses, then hits.
    let id = (n / 5 * 7) % 150 + 1;
    let (query, variables) = match n % 5 {
        0 => (
            "query($first: Int, $search: String) { products(first: $first, search: $search) \
             { edges { node { title stock { available } } } } }",
            json!({ "first": 5 + n % 7, "search": SEARCHES[(n / 5) as usize % SEARCHES.len()] }),
        ),
        1 => (
            "query($id: ID!, $c: Currency) { product(id: $id) { title price(currency: $c) { amount } } }",
            json!({ "id": id.to_string(), "c": CURRENCIES[(n / 5) as usize % CURRENCIES.len()] }),
        ),
        2 => (
            "query($id: ID!) { product(id: $id) { title reviews(first: 2) { edges { node { id } } } } }",
            json!({ "id": id.to_string() }),
        ),
        3 => (
            "query($id: ID!) { product(id: $id) { sku stock { available } reviewSummary { count } } }",
            json!({ "id": id.to_string() }),
        ),
        _ => (
            "query($b: Currency!) { exchangeRates(base: $b) { date } }",
            json!({ "b": CURRENCIES[(n / 5) as usize % CURRENCIES.len()] }),
        ),
    };
    let answer = gw.query(query, variables).await;
    assert!(
        answer.status == 200 || answer.status == 429,
        "{}: {}",
        answer.status,
        answer.body
    );
}

#[tokio::test]
async fn the_status_page_waits_for_nothing() {
    // The page answers while a provider hangs: it reads memory, never a provider.
    let gw = TestGateway::start().await;
    gw.set_faults(
        "catalog",
        FaultPlan {
            hang: true,
            ..FaultPlan::default()
        },
    );
    let hanging = {
        let client = gw.client.clone();
        let url = format!("{}/graphql", gw.base_url);
        tokio::spawn(async move {
            let _ = client
                .post(url)
                .header("content-type", "application/json")
                .body(json!({ "query": "{ product(id: \"1\") { title } }" }).to_string())
                .send()
                .await;
        })
    };
    poll_until(
        "the catalog call is in flight",
        Duration::from_secs(10),
        || async { (calls(&gw, "catalog") > 0).then_some(()) },
    )
    .await;
    let (status, page, _) = status_page(&gw, None).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"data-provider="catalog""#));
    hanging.abort();
}
