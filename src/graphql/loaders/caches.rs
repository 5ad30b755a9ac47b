//! The shared entity caches, one per entity, and what their values weigh.

use std::sync::Arc;

use providers::domain::{
    Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage, ReviewPageRequest,
    Sku, Stock,
};

use crate::cache::entity::{CachePolicy, EntityCache};

/// The shared entity caches, one per entity (products, stock, review pages, rates).
pub struct Caches {
    pub pages: Arc<EntityCache<ProductQuery, ProductPage>>,
    pub products: Arc<EntityCache<ProductId, Product>>,
    pub stock: Arc<EntityCache<Sku, Stock>>,
    pub reviews: Arc<EntityCache<ReviewPageRequest, ReviewPage>>,
    pub rates: Arc<EntityCache<Currency, Rates>>,
}

impl Caches {
    /// One cache per entity, each bounded by `max_bytes`, with its provider's policy.
    pub fn new(max_bytes: u64, policy: impl Fn(&str) -> CachePolicy) -> Self {
        Caches {
            pages: Arc::new(EntityCache::new(
                "pages",
                policy("catalog"),
                max_bytes,
                weights::page,
            )),
            products: Arc::new(EntityCache::new(
                "products",
                policy("catalog"),
                max_bytes,
                weights::product,
            )),
            stock: Arc::new(EntityCache::new(
                "stock",
                policy("inventory"),
                max_bytes,
                weights::stock,
            )),
            reviews: Arc::new(EntityCache::new(
                "reviews",
                policy("reviews"),
                max_bytes,
                weights::review_page,
            )),
            rates: Arc::new(EntityCache::new(
                "rates",
                policy("frankfurter"),
                max_bytes,
                weights::rates,
            )),
        }
    }
}

/// Approximate heap and inline bytes of cached values, for the caches' memory bound.
mod weights {
    use std::mem::size_of;

    use providers::domain::{
        Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage,
        ReviewPageRequest, Sku, Stock,
    };
    use rust_decimal::Decimal;

    fn bytes(n: usize) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    pub fn product(_: &ProductId, p: &Product) -> u32 {
        let strings = p.title.len()
            + p.description.len()
            + p.category.len()
            + p.brand.as_ref().map_or(0, String::len)
            + p.sku.0.len()
            + p.thumbnail.len()
            + p.images
                .iter()
                .map(|i| i.len() + size_of::<String>())
                .sum::<usize>();
        bytes(size_of::<Product>() + strings)
    }

    pub fn page(query: &ProductQuery, page: &ProductPage) -> u32 {
        let products: u32 = page
            .products
            .iter()
            .map(|p| product(&p.id, p))
            .fold(0, u32::saturating_add);
        let query = query.category.as_ref().map_or(0, String::len)
            + query.search.as_ref().map_or(0, String::len);
        products.saturating_add(bytes(size_of::<ProductPage>() + query))
    }

    pub fn stock(sku: &Sku, s: &Stock) -> u32 {
        bytes(size_of::<Stock>() + sku.0.len() + s.sku.0.len() + s.warehouse.len())
    }

    pub fn review_page(_: &ReviewPageRequest, page: &ReviewPage) -> u32 {
        let reviews: usize = page
            .reviews
            .iter()
            .map(|r| {
                size_of::<providers::domain::Review>()
                    + r.id.len()
                    + r.title.as_ref().map_or(0, String::len)
                    + r.body.len()
                    + r.author.len()
            })
            .sum();
        bytes(size_of::<ReviewPage>() + reviews + page.next_cursor.as_ref().map_or(0, String::len))
    }

    pub fn rates(_: &Currency, r: &Rates) -> u32 {
        bytes(size_of::<Rates>() + r.rates.len() * size_of::<(Currency, Decimal)>())
    }
}
