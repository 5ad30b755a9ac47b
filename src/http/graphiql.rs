//! The GraphiQL playground at `/graphiql`, served entirely by the gateway.
//!
//! async-graphql's `GraphiQLSource` loads React and GraphiQL from unpkg and its favicon from
//! graphql.org: the playground breaks offline and tells two third parties about every visit.
//! Here the page is a copy of async-graphql 7.x's GraphiQL v2 template pointed at local paths;
//! the scripts and stylesheet are the npm packages that `scripts/vendor-graphiql.sh` put in
//! `assets/graphiql/` (versions and checksums in `assets/graphiql/VERSIONS`), embedded in the
//! binary at compile time.
//!
//! Rules:
//! 1. Asset URLs are `/graphiql/assets/{version}/{file}`, where `version` is derived from the
//!    content of every asset, so assets are cached forever (`immutable`) and a re-vendor changes
//!    every URL. The page itself is `no-cache`, so it always points at the current version.
//! 2. A request with another version still gets the current file, but `no-cache`: during a
//!    rolling deploy an old page keeps working without pinning new bytes under an old URL.
//! 3. The page's Content-Security-Policy allows only its own origin (plus `data:` for the fonts
//!    and icons inlined in GraphiQL's stylesheet), so nothing can reach another host.
//! 4. Scripts and the stylesheet have a gzip copy (made by the vendor script); it is sent when
//!    the browser accepts gzip: 1.6 MB becomes 0.6 MB.

use std::{
    borrow::Cow,
    hash::{DefaultHasher, Hash, Hasher},
    sync::LazyLock,
};

use axum::{
    Router,
    body::Body,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use rust_embed::RustEmbed;

/// Where the page sends queries (HTTP) and subscriptions (WebSocket on the same path).
const GRAPHQL_ENDPOINT: &str = "/graphql";
const PAGE_PATH: &str = "/graphiql";
const ASSETS_PATH: &str = "/graphiql/assets";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// The vendored files; regenerate with `scripts/vendor-graphiql.sh`.
#[derive(RustEmbed)]
#[folder = "assets/graphiql/"]
struct Vendored;

/// Served beside the vendored files; see [`BOOTSTRAP_JS`].
const BOOTSTRAP_FILE: &str = "switchyard-graphiql.js";

/// The inline script of async-graphql's template, moved to a file so that the CSP can forbid
/// inline scripts. Added: the `?query=`, `?variables=` and `?operationName=` URL parameters set
/// the initial editors, and editing writes them back (as GraphiQL's own examples do), so the
/// address bar is always a link to the current query.
const BOOTSTRAP_JS: &str = r#"(function () {
  'use strict';

  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var params = new URLSearchParams(window.location.search);

  function param(name) {
    var value = params.get(name);
    return value === null ? undefined : value;
  }

  function updateUrl(name, value) {
    var next = new URLSearchParams(window.location.search);
    if (value) {
      next.set(name, value);
    } else {
      next.delete(name);
    }
    var search = next.toString();
    window.history.replaceState(
      null,
      '',
      window.location.pathname + (search ? '?' + search : '') + window.location.hash
    );
  }

  function customFetch(url, opts) {
    return fetch(url, Object.assign({}, opts, { credentials: 'same-origin' }));
  }

  function createUrl(path, subscription) {
    var url = new URL(path, window.location.origin);
    if (subscription) {
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    }
    return url.toString();
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({
        url: createUrl(endpoint),
        subscriptionUrl: createUrl(endpoint, true),
        fetch: customFetch,
      }),
      query: param('query'),
      variables: param('variables'),
      operationName: param('operationName'),
      onEditQuery: function (value) { updateUrl('query', value); },
      onEditVariables: function (value) { updateUrl('variables', value); },
      onEditOperationName: function (value) { updateUrl('operationName', value); },
      defaultEditorToolsVisibility: true,
    })
  );
})();
"#;

/// A hash of every asset's content: changes whenever any served byte does. (`DefaultHasher`
/// may differ between Rust releases; that only busts caches once more.)
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut names: Vec<Cow<'static, str>> = Vendored::iter().collect();
    names.sort();
    let mut hasher = DefaultHasher::new();
    for name in names {
        if let Some(file) = Vendored::get(&name) {
            name.hash(&mut hasher);
            file.metadata.sha256_hash().hash(&mut hasher);
        }
    }
    BOOTSTRAP_JS.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
});

static PAGE: LazyLock<String> = LazyLock::new(|| {
    let assets = format!("{ASSETS_PATH}/{}", *VERSION);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="origin">

    <title>Switchyard GraphiQL</title>

    <style>
      body {{
        height: 100%;
        margin: 0;
        width: 100%;
        overflow: hidden;
      }}

      #graphiql {{
        height: 100vh;
      }}
    </style>
    <script src="{assets}/react.production.min.js"></script>
    <script src="{assets}/react-dom.production.min.js"></script>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{assets}/graphiql.min.css" />
  </head>

  <body>
    <div id="graphiql" data-endpoint="{GRAPHQL_ENDPOINT}">Loading...</div>
    <script src="{assets}/graphiql.min.js"></script>
    <script src="{assets}/{BOOTSTRAP_FILE}"></script>
  </body>
</html>
"#
    )
});

/// `GET /graphiql` and `GET /graphiql/assets/{version}/{file}`. Stateless: merge it into the
/// app after `with_state`.
pub fn router() -> Router {
    Router::new()
        .route(PAGE_PATH, get(page))
        .route(&format!("{ASSETS_PATH}/{{version}}/{{file}}"), get(asset))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE.as_str(),
    )
        .into_response()
}

async fn asset(Path((version, file)): Path<(String, String)>, request: HeaderMap) -> Response {
    let Some(content_type) = content_type(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let gzipped = if accepts_gzip(&request) {
        Vendored::get(&format!("{file}.gz"))
    } else {
        None
    };
    let (body, encoding): (Cow<'static, [u8]>, _) = if file == BOOTSTRAP_FILE {
        (Cow::Borrowed(BOOTSTRAP_JS.as_bytes()), None)
    } else if let Some(gzipped) = gzipped {
        (gzipped.data, Some("gzip"))
    } else if let Some(plain) = Vendored::get(&file) {
        (plain.data, None)
    } else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache_control = if version == *VERSION {
        IMMUTABLE
    } else {
        "no-cache"
    };

    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    response
}

/// The type of a servable file, `None` for anything else: `.gz` copies are an encoding, not a
/// file of their own, and names that could leave the folder (`..`, `/`) are never looked up.
fn content_type(file: &str) -> Option<&'static str> {
    let plain_name = !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !plain_name {
        None
    } else if file.ends_with(".js") {
        Some(JAVASCRIPT)
    } else if file.ends_with(".css") {
        Some(CSS)
    } else if file == "VERSIONS" || file.starts_with("LICENSE.") {
        Some(TEXT)
    } else {
        None
    }
}

/// Whether `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                .next()
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && quality > 0.0
        })
}

#[cfg(test)]
mod tests {
    use axum::{
        body::to_bytes,
        http::{Request, Response},
    };
    use tower::ServiceExt;

    use super::*;

    async fn get(uri: &str, accept_encoding: Option<&str>) -> Response<Body> {
        let mut request = Request::get(uri);
        if let Some(accept_encoding) = accept_encoding {
            request = request.header(header::ACCEPT_ENCODING, accept_encoding);
        }
        router()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    async fn body(response: Response<Body>) -> Vec<u8> {
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    fn header(response: &Response<Body>, name: header::HeaderName) -> &str {
        response
            .headers()
            .get(&name)
            .map(|value| value.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// Every `src="..."` and `href="..."` in the page.
    fn referenced_urls(html: &str) -> Vec<String> {
        ["src=\"", "href=\""]
            .iter()
            .flat_map(|attribute| html.split(attribute).skip(1))
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect()
    }

    async fn page_html() -> String {
        let response = get("/graphiql", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
        String::from_utf8(body(response).await).unwrap()
    }

    #[tokio::test]
    async fn page_references_only_local_urls() {
        let html = page_html().await;
        assert!(html.contains("<title>Switchyard GraphiQL</title>"));
        assert!(html.contains(r#"data-endpoint="/graphql""#));
        for text in [html.as_str(), BOOTSTRAP_JS] {
            assert!(!text.contains("http://"), "absolute URL in {text}");
            assert!(!text.contains("https://"), "absolute URL in {text}");
            assert!(!text.contains("//unpkg"), "CDN URL in {text}");
        }
        let urls = referenced_urls(&html);
        assert_eq!(urls.len(), 6, "{urls:?}");
        for url in urls {
            assert!(
                url == "data:," || url.starts_with(&format!("/graphiql/assets/{}/", *VERSION)),
                "non-local URL {url}"
            );
        }
    }

    #[tokio::test]
    async fn page_forbids_other_origins() {
        let response = get("/graphiql?query=%7B%20a%20%7D", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let csp = header(&response, header::CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'none'; script-src 'self';"));
        assert!(!csp.contains("http"), "{csp}");
    }

    #[tokio::test]
    async fn every_referenced_asset_is_served_with_its_type_and_cached_forever() {
        let html = page_html().await;
        let assets: Vec<String> = referenced_urls(&html)
            .into_iter()
            .filter(|url| url.starts_with("/graphiql/assets/"))
            .collect();
        assert_eq!(assets.len(), 5);
        for url in assets {
            let response = get(&url, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let expected = if url.ends_with(".css") {
                CSS
            } else {
                JAVASCRIPT
            };
            assert_eq!(header(&response, header::CONTENT_TYPE), expected, "{url}");
            assert_eq!(header(&response, header::CACHE_CONTROL), IMMUTABLE, "{url}");
            assert_eq!(header(&response, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
            assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
            let file = url.rsplit('/').next().unwrap();
            let expected = if file == BOOTSTRAP_FILE {
                BOOTSTRAP_JS.as_bytes().to_vec()
            } else {
                Vendored::get(file).unwrap().data.to_vec()
            };
            assert_eq!(body(response).await, expected, "{url}");
        }
    }

    #[tokio::test]
    async fn licenses_and_versions_are_plain_text() {
        for file in [
            "LICENSE.graphiql",
            "LICENSE.react",
            "LICENSE.react-dom",
            "VERSIONS",
        ] {
            let response = get(&format!("/graphiql/assets/{}/{file}", *VERSION), None).await;
            assert_eq!(response.status(), StatusCode::OK, "{file}");
            assert_eq!(header(&response, header::CONTENT_TYPE), TEXT, "{file}");
        }
    }

    #[tokio::test]
    async fn gzip_copy_is_sent_when_accepted() {
        let url = format!("/graphiql/assets/{}/graphiql.min.js", *VERSION);
        let response = get(&url, Some("gzip, deflate, br, zstd")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, header::CONTENT_ENCODING), "gzip");
        assert_eq!(header(&response, header::CONTENT_TYPE), JAVASCRIPT);
        assert_eq!(header(&response, header::VARY), "accept-encoding");
        let gzipped = body(response).await;
        assert_eq!(
            gzipped,
            Vendored::get("graphiql.min.js.gz").unwrap().data.to_vec()
        );
        assert_eq!(&gzipped[..2], &[0x1f, 0x8b]);

        for refused in ["gzip;q=0", "br", "identity", "gzip;q=0.000, br"] {
            let response = get(&url, Some(refused)).await;
            assert!(
                response.headers().get(header::CONTENT_ENCODING).is_none(),
                "{refused}"
            );
        }
        // The bootstrap script has no gzip copy: sent as is.
        let response = get(
            &format!("/graphiql/assets/{}/{BOOTSTRAP_FILE}", *VERSION),
            Some("gzip"),
        )
        .await;
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    }

    #[tokio::test]
    async fn another_version_gets_the_current_file_uncached() {
        let response = get("/graphiql/assets/0123456789abcdef/graphiql.min.css", None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, header::CACHE_CONTROL), "no-cache");
        assert_eq!(header(&response, header::CONTENT_TYPE), CSS);
    }

    #[tokio::test]
    async fn unknown_files_are_not_found() {
        for file in [
            "nope.js",
            "graphiql.min.js.gz",
            "graphiql.min.js.map",
            "index.html",
            "..%2F..%2FCargo.toml",
            "..%2Fgraphiql%2Fgraphiql.min.js",
            ".hidden.js",
        ] {
            let response = get(&format!("/graphiql/assets/{}/{file}", *VERSION), None).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{file}");
        }
        let response = get("/graphiql/assets/graphiql.min.js", None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn version_is_stable_and_short() {
        assert_eq!(VERSION.len(), 16);
        assert!(VERSION.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
