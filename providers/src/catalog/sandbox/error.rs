//! DummyJSON's answers: JSON with its `content-type`, and errors as `{"message": ...}`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// DummyJSON's error answer: `{"message": ...}` with the status.
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: &str) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        json_response(self.status, body)
    }
}

pub(super) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_UTF8)], body).into_response()
}
