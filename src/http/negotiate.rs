//! Media types of GraphQL over HTTP: which one a client accepts, and the status code each one
//! gives a request that failed before execution.

use axum::http::{HeaderMap, StatusCode, header};

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

/// The response type for the request's `Accept` header, preferring the GraphQL media type
/// when the client accepts both equally; `None` when it accepts neither (406).
pub fn response_type(headers: &HeaderMap) -> Option<ResponseType> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        // The spec: no Accept header means application/json.
        return Some(ResponseType::Json);
    };
    let mut best: Option<(f32, ResponseType)> = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => ResponseType::GraphqlResponse,
            JSON => ResponseType::Json,
            "application/*" | "*/*" => ResponseType::GraphqlResponse,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, bt)) => {
                q > bq || (q == bq && bt == ResponseType::Json && candidate != bt && media != "*/*")
            }
        };
        if better {
            best = Some((q, candidate));
        }
    }
    best.map(|(_, t)| t)
}

/// Whether a POST body is declared as JSON (`application/json`, any parameters).
pub fn is_json_body(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<ResponseType> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        response_type(&h)
    }

    #[test]
    fn negotiates_per_the_spec() {
        assert_eq!(response_type(&HeaderMap::new()), Some(ResponseType::Json));
        assert_eq!(accept("application/json"), Some(ResponseType::Json));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(
            accept("application/json, application/graphql-response+json"),
            Some(ResponseType::GraphqlResponse)
        );
        assert_eq!(accept("*/*"), Some(ResponseType::GraphqlResponse));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }
}
