//! GraphiQL in a real browser: the page the gateway serves renders, runs a query against the
//! gateway (providers on their sandboxes) and shows the answer, and everything it loads comes
//! from the gateway itself. Needs Chromium (`apt-get install -y chromium`, or `CHROMIUM=path`).
mod support;

use std::time::Duration;

use support::{TestGateway, browser::Browser};

const QUERY: &str = "{ products(first: 2) { edges { node { title } } } }";
/// Product 1 of the sandbox catalogue (DummyJSON), as the result pane prints it.
const FIRST_TITLE: &str = "\"Essence Mascara Lash Princess\"";
/// Generous: a cold Chromium parses 1.2 MB of JavaScript on a busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn graphiql_runs_a_query_with_nothing_but_the_gateway() {
    let gw = TestGateway::start().await;
    let browser = Browser::launch().await.expect("Chromium starts");
    let mut url = reqwest::Url::parse(&format!("{}/graphiql", gw.base_url)).unwrap();
    url.query_pairs_mut().append_pair("query", QUERY);
    browser.navigate(url.as_str()).await.unwrap();

    // Rendered: the run button is there and the query editor holds the query from the URL.
    let query_js = serde_json::to_string(QUERY).unwrap();
    browser
        .wait_for(
            &format!(
                "document.querySelector('.graphiql-execute-button') !== null && \
                 document.querySelector('.graphiql-query-editor .CodeMirror')\
                 ?.CodeMirror?.getValue() === {query_js}"
            ),
            TIMEOUT,
        )
        .await
        .unwrap();

    browser
        .evaluate("document.querySelector('.graphiql-execute-button').click()")
        .await
        .unwrap();
    let title_js = serde_json::to_string(FIRST_TITLE).unwrap();
    let result = browser
        .wait_for(
            &format!(
                "(() => {{ const text = document.querySelector('.result-window')?.innerText ?? ''; \
                 return text.includes({title_js}) ? text : null; }})()"
            ),
            TIMEOUT,
        )
        .await
        .unwrap();
    assert!(
        result.as_str().unwrap().contains("\"data\""),
        "result pane: {result}"
    );

    let screenshot = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/test-artifacts/graphiql.png"
    );
    browser.screenshot(screenshot).await.unwrap();

    // The address bar is a link to the query, as GraphiQL users expect.
    let query_in_url = browser
        .evaluate("new URLSearchParams(window.location.search).get('query')")
        .await
        .unwrap();
    assert_eq!(query_in_url, QUERY);

    let requests = browser.requests();
    let origin = format!("{}/", gw.base_url);
    assert!(
        requests.contains(&format!("{}/graphql", gw.base_url)),
        "the query was not sent to the gateway: {requests:#?}"
    );
    // `data:` URLs are the fonts and icons inlined in GraphiQL's stylesheet: no network.
    browser.assert_stayed_on(&origin);
}

/// The harness's promise that Chromium never reaches the internet: anything but loopback goes
/// to a proxy where nothing listens. The addresses are reserved (TEST-NET-1, `.invalid`), so
/// even a broken guard would not contact a real host.
#[tokio::test]
async fn the_test_browser_cannot_reach_other_hosts() {
    let browser = Browser::launch().await.expect("Chromium starts");
    for url in [
        "http://192.0.2.1/",
        "https://192.0.2.1/",
        "http://graphiql.invalid/",
    ] {
        let error = browser.navigate(url).await.unwrap_err().to_string();
        assert!(
            error.contains("net::ERR_PROXY_CONNECTION_FAILED"),
            "{url}: {error}"
        );
    }
}
