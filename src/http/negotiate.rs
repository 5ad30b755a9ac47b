//! Media types of GraphQL over HTTP: which response type a client accepts, whether a POST body
//! is one the gateway reads, and the status code each response type gives a request that
//! failed before execution.

use axum::http::{HeaderMap, StatusCode, header};
use mime::Mime;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: status codes say what went wrong.
    GraphqlResponse,
    /// `application/json`: the legacy type; every well-formed request gets 200.
    Json,
}

impl ResponseType {
    pub fn content_type(self) -> &'static str {
        match self {
            ResponseType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            ResponseType::Json => "application/json; charset=utf-8",
        }
    }

    /// Status of a response whose request failed parsing or validation (no `data`).
    pub fn request_error_status(self) -> StatusCode {
        match self {
            ResponseType::GraphqlResponse => StatusCode::BAD_REQUEST,
            ResponseType::Json => StatusCode::OK,
        }
    }
}

/// The response type for the request's `Accept` header; `None` when it accepts neither type
/// in UTF-8 (406).
///
/// Each type gets the quality of the most specific range that matches it (RFC 9110 §12.5.1),
/// so `application/graphql-response+json;q=0, */*` rules the GraphQL type out. When both are
/// equally acceptable (`*/*`, or both listed with one q), the GraphQL type wins: the spec names
/// it the preferred one. Without an `Accept` header the answer is `application/json`: the
/// spec leaves that choice to the server, and clients that send none predate the new type.
pub fn response_type(headers: &HeaderMap) -> Option<ResponseType> {
    let mut ranges = Vec::new();
    let mut absent = true;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else {
            absent = false;
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        absent = false;
        // Media ranges hold no commas outside quoted parameters, which no client sends here.
        ranges.extend(text.split(',').filter_map(Range::parse));
    }
    if absent {
        return Some(ResponseType::Json);
    }
    let graphql = quality(&ranges, GRAPHQL_RESPONSE_JSON);
    let json = quality(&ranges, JSON);
    if graphql <= 0.0 && json <= 0.0 {
        None
    } else if graphql >= json {
        Some(ResponseType::GraphqlResponse)
    } else {
        Some(ResponseType::Json)
    }
}

/// One media range of an `Accept` header with its quality.
struct Range {
    media: Mime,
    q: f32,
}

impl Range {
    /// `None` for what does not parse, including a quality outside 0..=1.
    fn parse(item: &str) -> Option<Range> {
        let media: Mime = item.trim().parse().ok()?;
        let q = match media.get_param("q") {
            None => 1.0,
            Some(q) => q
                .as_str()
                .parse::<f32>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))?,
        };
        Some(Range { media, q })
    }

    /// How specifically this range names `essence` (an `application/…` type) if it matches
    /// it: 3 with parameters, 2 the type alone, 1 `application/*`, 0 `*/*`. A range asking for
    /// a charset other than UTF-8 matches nothing: the gateway answers in UTF-8 only.
    fn specificity(&self, essence: &str) -> Option<u8> {
        if self
            .media
            .get_param(mime::CHARSET)
            .is_some_and(|charset| !is_utf8(charset.as_str()))
        {
            return None;
        }
        let (ty, subtype) = (self.media.type_(), self.media.subtype());
        if self.media.essence_str().eq_ignore_ascii_case(essence) {
            let with_params = self.media.params().any(|(name, _)| name != "q");
            Some(if with_params { 3 } else { 2 })
        } else if ty == mime::APPLICATION && subtype == mime::STAR {
            Some(1)
        } else if ty == mime::STAR && subtype == mime::STAR {
            Some(0)
        } else {
            None
        }
    }
}

/// The quality `ranges` give `essence`: that of the most specific range matching it, 0 when
/// none does.
fn quality(ranges: &[Range], essence: &str) -> f32 {
    ranges
        .iter()
        .filter_map(|range| range.specificity(essence).map(|s| (s, range.q)))
        .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map_or(0.0, |(_, q)| q)
}

fn is_utf8(charset: &str) -> bool {
    charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
}

/// Why a POST body is not read as a GraphQL request (415).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsupportedBody {
    /// No `Content-Type` at all.
    Undeclared,
    /// Another media type than `application/json`: forms and `text/plain` would let any web
    /// page post to the gateway without a CORS preflight (CSRF).
    NotJson,
    /// `application/json` in another charset than UTF-8.
    NotUtf8,
}

impl UnsupportedBody {
    /// What the client is told.
    pub fn message(self) -> &'static str {
        match self {
            UnsupportedBody::Undeclared => {
                "POST bodies must say `Content-Type: application/json`; this one has no Content-Type"
            }
            UnsupportedBody::NotJson => "POST bodies must be application/json",
            UnsupportedBody::NotUtf8 => "POST bodies must be application/json in UTF-8",
        }
    }
}

/// Checks that a POST body is declared `application/json` in UTF-8 (no charset means UTF-8,
/// as the spec says).
pub fn json_body(headers: &HeaderMap) -> Result<(), UnsupportedBody> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(UnsupportedBody::Undeclared);
    };
    let media: Mime = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or(UnsupportedBody::NotJson)?;
    if !media.essence_str().eq_ignore_ascii_case(JSON) {
        return Err(UnsupportedBody::NotJson);
    }
    match media.get_param(mime::CHARSET) {
        Some(charset) if !is_utf8(charset.as_str()) => Err(UnsupportedBody::NotUtf8),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<ResponseType> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        response_type(&h)
    }

    fn content_type(value: &str) -> Result<(), UnsupportedBody> {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, value.parse().unwrap());
        json_body(&h)
    }

    #[test]
    fn negotiates_per_the_spec() {
        use ResponseType::{GraphqlResponse, Json};
        assert_eq!(response_type(&HeaderMap::new()), Some(Json));
        assert_eq!(accept(""), Some(Json));
        assert_eq!(accept("application/json"), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json;q=0.5"),
            Some(Json)
        );
        assert_eq!(accept("*/*"), Some(GraphqlResponse));
        assert_eq!(accept("application/*"), Some(GraphqlResponse));
        assert_eq!(
            accept("application/graphql-response+json;q=0, */*"),
            Some(Json)
        );
        assert_eq!(accept("text/html, */*;q=0.1"), Some(GraphqlResponse));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
        assert_eq!(accept("application/json;q=2"), None);
        assert_eq!(accept("not a media type"), None);
    }

    #[test]
    fn answers_in_utf8_only() {
        use ResponseType::{GraphqlResponse, Json};
        assert_eq!(
            accept("application/graphql-response+json; charset=utf-8"),
            Some(GraphqlResponse)
        );
        assert_eq!(accept("application/json; charset=UTF-8"), Some(Json));
        assert_eq!(
            accept("application/graphql-response+json; charset=iso-8859-1"),
            None
        );
        assert_eq!(
            accept("application/graphql-response+json; charset=iso-8859-1, application/json"),
            Some(Json)
        );
    }

    #[test]
    fn reads_json_bodies_in_utf8_only() {
        assert_eq!(
            json_body(&HeaderMap::new()),
            Err(UnsupportedBody::Undeclared)
        );
        assert_eq!(content_type("application/json"), Ok(()));
        assert_eq!(content_type("Application/JSON; charset=\"UTF-8\""), Ok(()));
        assert_eq!(
            content_type("application/json; charset=iso-8859-1"),
            Err(UnsupportedBody::NotUtf8)
        );
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/graphql",
            "application/graphql-response+json",
            "json",
        ] {
            assert_eq!(
                content_type(other),
                Err(UnsupportedBody::NotJson),
                "{other}"
            );
        }
    }
}
