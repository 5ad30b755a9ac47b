//! Stock levels from the inventory service.

use async_graphql::Object;
use providers::domain;

pub struct Stock(pub domain::Stock);

#[Object]
impl Stock {
    /// Units that can be sold now.
    async fn available(&self) -> u32 {
        self.0.available
    }

    /// Units held for orders not yet shipped.
    async fn reserved(&self) -> u32 {
        self.0.reserved
    }

    async fn in_stock(&self) -> bool {
        self.0.available > 0
    }

    /// The warehouse that holds the stock (e.g. `FRA-1`).
    async fn warehouse(&self) -> &str {
        &self.0.warehouse
    }

    /// When the inventory last counted this SKU (RFC 3339).
    async fn updated_at(&self) -> String {
        self.0.updated_at.to_rfc3339()
    }
}
