//! Reviews from the reviews vendor.

use async_graphql::{Object, SimpleObject};
use providers::domain;

use super::connection::PageInfo;

pub struct Review(pub domain::Review);

#[Object]
impl Review {
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// 1 to 5 stars.
    async fn rating(&self) -> u8 {
        self.0.rating
    }

    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The reviewer's display name.
    async fn author(&self) -> &str {
        &self.0.author
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.0.created_at.to_rfc3339()
    }

    async fn verified_purchase(&self) -> bool {
        self.0.verified_purchase
    }
}

#[derive(SimpleObject)]
pub struct ReviewSummary {
    /// Number of reviews of the product.
    pub count: u32,
    /// Mean rating; null when there are no reviews.
    pub average: Option<f64>,
}

impl From<&domain::ReviewSummary> for ReviewSummary {
    fn from(s: &domain::ReviewSummary) -> Self {
        ReviewSummary {
            count: s.count,
            average: s.average,
        }
    }
}

pub struct ReviewEdge(domain::Review);

#[Object]
impl ReviewEdge {
    async fn node(&self) -> Review {
        Review(self.0.clone())
    }
}

/// A page of a product's reviews, newest first. The vendor pages by an opaque cursor per page,
/// so the page (not each edge) carries the cursor: pass `pageInfo.endCursor` as `after`.
pub struct ReviewConnection {
    pub page: domain::ReviewPage,
    /// Whether this page was asked for with an `after` cursor.
    pub after_cursor: bool,
}

#[Object]
impl ReviewConnection {
    async fn edges(&self) -> Vec<ReviewEdge> {
        self.page.reviews.iter().cloned().map(ReviewEdge).collect()
    }

    async fn nodes(&self) -> Vec<Review> {
        self.page.reviews.iter().cloned().map(Review).collect()
    }

    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.next_cursor.is_some(),
            has_previous_page: self.after_cursor,
            start_cursor: None,
            end_cursor: self.page.next_cursor.clone(),
        }
    }

    /// Number of reviews of the product, over all pages.
    async fn total_count(&self) -> u32 {
        self.page.summary.count
    }
}
