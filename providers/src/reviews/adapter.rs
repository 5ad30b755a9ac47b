//! Asks the reviews vendor for one page of a product's reviews and maps its answer (or refusal)
//! into the domain.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::{HeaderName, HeaderValue, StatusCode};

use super::wire;
use crate::capability::Reviews;
use crate::domain::{ProductId, Review, ReviewPage, ReviewPageRequest, ReviewSummary};
use crate::error::ProviderError;
use crate::transport::{Transport, UpstreamRequest, UpstreamResponse};

const ENDPOINT: &str = "GET /v1/products/{productId}/reviews";
const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
/// The vendor rejects limits outside `1..=20` with a 400; clamping keeps a frontend's page size
/// from turning into an error.
const MIN_LIMIT: u32 = 1;
const MAX_LIMIT: u32 = 20;

/// The third-party reviews vendor, reached through the gateway's [`Transport`].
pub struct ReviewsVendor {
    transport: Arc<dyn Transport>,
    api_key: String,
    /// `None` when the key cannot travel in a header; every call then fails as [`ProviderError::Auth`].
    api_key_header: Option<HeaderValue>,
}

impl ReviewsVendor {
    pub fn new(transport: Arc<dyn Transport>, api_key: String) -> Self {
        let api_key_header = HeaderValue::from_str(&api_key).ok().map(|mut value| {
            // Keeps the key out of HTTP/2 header compression tables and of header dumps.
            value.set_sensitive(true);
            value
        });
        ReviewsVendor {
            transport,
            api_key,
            api_key_header,
        }
    }

    fn request(&self, request: &ReviewPageRequest) -> Result<UpstreamRequest, ProviderError> {
        let key = self.api_key_header.clone().ok_or_else(|| {
            ProviderError::Auth("the configured API key is not a valid header value".into())
        })?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair(
            "limit",
            &request.limit.clamp(MIN_LIMIT, MAX_LIMIT).to_string(),
        );
        if let Some(cursor) = &request.cursor {
            query.append_pair("cursor", cursor);
        }
        let path = format!(
            "/v1/products/{}/reviews?{}",
            request.product,
            query.finish()
        );
        Ok(UpstreamRequest::get(ENDPOINT, path).header(API_KEY_HEADER, key))
    }

    fn failure(&self, response: &UpstreamResponse) -> ProviderError {
        let message = match serde_json::from_slice::<wire::ErrorBody>(&response.body) {
            Ok(body) => format!("{}: {}", body.error.code, body.error.message),
            Err(_) => response
                .status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_owned(),
        };
        let message = self.redact(message);
        // 401 maps to Auth, which the gateway never retries: a rejected key stays rejected.
        ProviderError::from_status(response.status, message, response.retry_after())
    }

    /// A vendor that echoes the key back in an error message must not leak it into ours.
    fn redact(&self, message: String) -> String {
        if self.api_key.is_empty() || !message.contains(&self.api_key) {
            return message;
        }
        message.replace(&self.api_key, "[redacted]")
    }
}

impl fmt::Debug for ReviewsVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewsVendor")
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Reviews for ReviewsVendor {
    async fn reviews(&self, request: &ReviewPageRequest) -> Result<ReviewPage, ProviderError> {
        let response = self.transport.send(self.request(request)?).await?;
        if response.status != StatusCode::OK {
            return Err(self.failure(&response));
        }
        let page: wire::ReviewsPage = serde_json::from_slice(&response.body)
            .map_err(|e| ProviderError::decode("reviews page", e))?;
        to_domain(request.product, page)
    }
}

fn to_domain(asked: ProductId, page: wire::ReviewsPage) -> Result<ReviewPage, ProviderError> {
    if page.product_id != asked.0 {
        return Err(ProviderError::BadResponse(format!(
            "asked for the reviews of product {asked}, got those of product {}",
            page.product_id
        )));
    }
    let reviews = page
        .data
        .into_iter()
        .map(review)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReviewPage {
        product: asked,
        summary: ReviewSummary {
            count: page.summary.count,
            // The contract says null for no reviews; an average of nothing must not reach the
            // frontend as 0 stars even if the vendor sends one.
            average: page.summary.average.filter(|_| page.summary.count > 0),
        },
        reviews,
        next_cursor: page.next_cursor,
    })
}

fn review(review: wire::Review) -> Result<Review, ProviderError> {
    if !(1..=5).contains(&review.rating) {
        return Err(ProviderError::BadResponse(format!(
            "review {} has rating {}, outside 1..=5",
            review.id, review.rating
        )));
    }
    Ok(Review {
        id: review.id,
        rating: review.rating,
        title: review.title,
        body: review.body,
        author: review.author.name,
        created_at: review.created_at,
        verified_purchase: review.verified_purchase,
    })
}
