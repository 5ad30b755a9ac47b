//! The shared entity caches, one per entity, and what their values weigh.

use std::sync::Arc;

use providers::domain::{
    Currency, Product, ProductId, ProductPage, ProductQuery, Rates, ReviewPage, ReviewPageRequest,
    Sku, Stock,
};

use crate::cache::entity::{CachePolicy, EntityCache};
use crate::cache::redis::{Invalidation, RedisTier};
use crate::cache::response::ResponseCache;
use crate::cache::tiered::{SharedKey, TieredCache};

/// The shared entity caches, one per entity (products, stock, review pages, rates).
pub struct Caches {
    pub pages: Arc<TieredCache<ProductQuery, ProductPage>>,
    pub products: Arc<TieredCache<ProductId, Product>>,
    pub stock: Arc<TieredCache<Sku, Stock>>,
    pub reviews: Arc<TieredCache<ReviewPageRequest, ReviewPage>>,
    pub rates: Arc<TieredCache<Currency, Rates>>,
    /// The Redis tier all of them share, when configured.
    pub redis: Option<Arc<RedisTier>>,
    /// Whole responses (this replica's memory only); emptied whenever an entity is invalidated.
    pub responses: ResponseCache,
}

impl Caches {
    /// One cache per entity, each bounded by `max_bytes` in memory, with its provider's policy,
    /// and backed by `redis` when given.
    pub fn new(
        max_bytes: u64,
        policy: impl Fn(&str) -> CachePolicy,
        redis: Option<Arc<RedisTier>>,
        responses: ResponseCache,
    ) -> Self {
        let policy = &policy;
        let tiered = Tiered {
            max_bytes,
            policy,
            redis: &redis,
        };
        Caches {
            pages: tiered.cache("pages", "catalog", "catalog:pages", weights::page),
            products: tiered.cache("products", "catalog", "catalog:products", weights::product),
            stock: tiered.cache("stock", "inventory", "inventory:stock", weights::stock),
            reviews: tiered.cache(
                "reviews",
                "reviews",
                "reviews:reviews",
                weights::review_page,
            ),
            rates: tiered.cache("rates", "frankfurter", "fx:rates", weights::rates),
            redis,
            responses,
        }
    }

    /// Another replica's invalidation, applied to this replica's memory.
    pub fn apply(&self, message: &Invalidation) {
        self.responses.clear();
        let scope = &message.scope;
        match message.namespace.as_str() {
            n if n == self.pages.namespace() => self.pages.apply(scope),
            n if n == self.products.namespace() => self.products.apply(scope),
            n if n == self.stock.namespace() => self.stock.apply(scope),
            n if n == self.reviews.namespace() => self.reviews.apply(scope),
            n if n == self.rates.namespace() => self.rates.apply(scope),
            other => tracing::debug!(namespace = other, "invalidation of an unknown namespace"),
        }
    }
}

/// What every entity cache is built with.
struct Tiered<'a> {
    max_bytes: u64,
    policy: &'a dyn Fn(&str) -> CachePolicy,
    redis: &'a Option<Arc<RedisTier>>,
}

impl Tiered<'_> {
    /// The cache of `entity`, with `provider`'s policy, under `namespace` in Redis.
    fn cache<K, V>(
        &self,
        entity: &'static str,
        provider: &str,
        namespace: &'static str,
        weigh: fn(&K, &V) -> u32,
    ) -> Arc<TieredCache<K, V>>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + SharedKey + 'static,
        V: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        let memory = EntityCache::new(entity, (self.policy)(provider), self.max_bytes, weigh);
        Arc::new(TieredCache::new(memory, self.redis.clone(), namespace))
    }
}

/// Keys as they appear in Redis (`switchyard:v1:<namespace>:<key>`).
impl SharedKey for ProductId {
    fn shared_key(&self) -> String {
        self.to_string()
    }
}

impl SharedKey for Sku {
    fn shared_key(&self) -> String {
        self.0.clone()
    }
}

impl SharedKey for Currency {
    fn shared_key(&self) -> String {
        self.code().to_owned()
    }
}

/// `<product>/<limit>/<cursor>`: a product's pages share the prefix `<product>/`.
impl SharedKey for ReviewPageRequest {
    fn shared_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.product,
            self.limit,
            self.cursor.as_deref().unwrap_or("")
        )
    }
}

impl SharedKey for ProductQuery {
    fn shared_key(&self) -> String {
        // The query's fields in a fixed order; any text they hold is escaped by JSON.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The key prefix of every cached review page of `product`.
pub fn reviews_prefix(product: ProductId) -> String {
    format!("{product}/")
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
