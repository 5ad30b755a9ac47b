//! What the server gets from Express and the packages under it: helmet's and CORS's headers,
//! `res.redirect`, `req.fresh` (the `fresh` package) for conditional GETs, the `etag` package's
//! weak ETag, and the `decodeURIComponent` it decodes route parameters with.

// `::` because this module has its own `fn sha1`.
use ::sha1::{Digest, Sha1};
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// What helmet 3.21, cors and the app set on every answer of the live capture.
pub(super) const COMMON_HEADERS: [(&str, &str); 9] = [
    ("x-dns-prefetch-control", "off"),
    ("x-frame-options", "SAMEORIGIN"),
    (
        "strict-transport-security",
        "max-age=15552000; includeSubDomains",
    ),
    ("x-download-options", "noopen"),
    ("x-content-type-options", "nosniff"),
    ("x-xss-protection", "1; mode=block"),
    ("access-control-allow-origin", "*"),
    ("x-powered-by", "Cats on Keyboards"),
    ("vary", "Accept-Encoding"),
];

/// Express's `res.redirect(301, ...)`: a plain-text body, no ETag.
pub(super) fn redirect(target: &str) -> Response {
    let location = HeaderValue::from_str(target).unwrap_or_else(|_| HeaderValue::from_static("/"));
    (
        StatusCode::MOVED_PERMANENTLY,
        [
            (header::LOCATION, location),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        format!("Moved Permanently. Redirecting to {target}"),
    )
        .into_response()
}

/// What `req.fresh` needs from the request (the `fresh` package Express uses).
pub(super) struct Conditional {
    safe_method: bool,
    if_none_match: Option<String>,
    if_modified_since: bool,
    no_cache: bool,
}

impl Conditional {
    pub(super) fn of(method: &Method, headers: &HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Conditional {
            safe_method: method == Method::GET || method == Method::HEAD,
            if_none_match: text(header::IF_NONE_MATCH),
            if_modified_since: headers.contains_key(header::IF_MODIFIED_SINCE),
            no_cache: text(header::CACHE_CONTROL)
                .is_some_and(|v| v.split(',').any(|d| d.trim() == "no-cache")),
        }
    }

    fn is_fresh(&self, status: StatusCode, etag: &str) -> bool {
        if !self.safe_method || !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
            return false;
        }
        if (self.if_none_match.is_none() && !self.if_modified_since) || self.no_cache {
            return false;
        }
        if let Some(none_match) = self.if_none_match.as_deref().filter(|v| *v != "*") {
            let matched = none_match
                .split([',', ' '])
                .filter(|t| !t.is_empty())
                .any(|t| t == etag || format!("W/{t}") == etag || t == format!("W/{etag}"));
            if !matched {
                return false;
            }
        }
        // No Last-Modified is ever sent, so `If-Modified-Since` alone never makes it fresh.
        !self.if_modified_since
    }
}

pub(super) async fn with_etag(response: Response, conditional: &Conditional) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let etag = weak_etag(&bytes);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        parts.headers.insert(header::ETAG, value);
    }
    if conditional.is_fresh(parts.status, &etag) {
        parts.status = StatusCode::NOT_MODIFIED;
        for name in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ] {
            parts.headers.remove(name);
        }
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The `etag` package's weak tag: body length in hex and the first 27 characters of the
/// base64 SHA-1 of the body.
fn weak_etag(body: &[u8]) -> String {
    let digest = base64::engine::general_purpose::STANDARD.encode(sha1(body));
    format!("W/\"{:x}-{}\"", body.len(), &digest[..27])
}

/// SHA-1 (FIPS 180-4), only for ETags: the `etag` package hashes with it.
fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// `decodeURIComponent`: `None` on a malformed escape or bytes that are not UTF-8.
pub(super) fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let high = char::from(*bytes.get(i + 1)?).to_digit(16)?;
            let low = char::from(*bytes.get(i + 2)?).to_digit(16)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::{sha1, weak_etag};

    #[test]
    fn sha1_matches_the_standard_vectors() {
        let hex = |d: [u8; 20]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex(sha1(two_blocks)),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(weak_etag(b""), "W/\"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk\"");
    }
}
