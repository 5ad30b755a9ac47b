//! The sandbox's reviews, derived from the real DummyJSON catalogue: each product's three real
//! reviews, plus generated older ones for some products so that cursor paging has pages to
//! walk. Everything is deterministic, so tests and benchmarks see the same reviews every run.
//!
//! How many reviews a product has (see [`extra_reviews`]):
//! * product 1: 3, no extras, so its summary is the OpenAPI example's (`count: 3, average: 4.0`);
//! * product 7: 9, more than the default page of 5;
//! * product 13: 15, the most a product gets from the `0..=12` extras;
//! * products 50, 100 and 150 ("bestsellers"): 33, more than one full page of 20.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::wire;

const CATALOGUE: &str = include_str!("../../data/dummyjson-products.json");

/// A product's reviews as the vendor serves them.
#[derive(Debug)]
pub(crate) struct ProductReviews {
    /// Covers all of `newest_first`, whichever page is asked for.
    pub summary: wire::Summary,
    pub newest_first: Vec<wire::Review>,
}

static REVIEWS: LazyLock<BTreeMap<u64, ProductReviews>> = LazyLock::new(|| {
    // The catalogue is compiled in, not outside input: if it does not parse, the build is
    // broken, and the data tests say so.
    let products: Vec<CatalogueProduct> =
        serde_json::from_str(CATALOGUE).expect("the embedded DummyJSON catalogue parses");
    build(&products)
});

/// The reviews of `product`, or `None` when the catalogue has no such product.
pub(crate) fn of_product(product: u64) -> Option<&'static ProductReviews> {
    REVIEWS.get(&product)
}

/// How many generated reviews `product` gets on top of its three real ones: `(id - 1) % 13`
/// (0..=12, none for product 1), except every 50th product, a "bestseller" with 30, because
/// no product could otherwise fill more than one page of 20.
pub(crate) fn extra_reviews(product: u64) -> u64 {
    if product.is_multiple_of(50) {
        30
    } else {
        product.saturating_sub(1) % 13
    }
}

#[derive(Deserialize)]
struct CatalogueProduct {
    id: u64,
    reviews: Vec<CatalogueReview>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CatalogueReview {
    rating: u8,
    comment: String,
    date: DateTime<Utc>,
    reviewer_name: String,
}

fn build(products: &[CatalogueProduct]) -> BTreeMap<u64, ProductReviews> {
    // Generated reviews reuse real (rating, comment) pairs so that a 1-star review never says
    // "Highly impressed!", and real reviewer names.
    let pool: Vec<&CatalogueReview> = products.iter().flat_map(|p| &p.reviews).collect();
    products
        .iter()
        .map(|product| (product.id, product_reviews(product, &pool)))
        .collect()
}

fn product_reviews(product: &CatalogueProduct, pool: &[&CatalogueReview]) -> ProductReviews {
    let id = product.id;
    let mut numbered: Vec<(u64, wire::Review)> = Vec::new();
    for (n, real) in (1..).zip(&product.reviews) {
        numbered.push((
            n,
            review(
                id,
                n,
                real.rating,
                &real.comment,
                &real.reviewer_name,
                real.date,
            ),
        ));
    }
    let oldest_real = product.reviews.iter().map(|r| r.date).min();
    let first_extra = numbered.len() as u64 + 1;
    if let (Some(oldest_real), false) = (oldest_real, pool.is_empty()) {
        for k in 0..extra_reviews(id) {
            let n = first_extra + k;
            let source = pool[pick(id * 31 + n * 17, pool.len())];
            let author = pool[pick(id * 13 + n * 7 + 5, pool.len())];
            // Days apart, so each extra is strictly older than the one before it and than
            // every real review.
            let created_at = oldest_real
                - Duration::days(4 * (k as i64 + 1))
                - Duration::hours(((id + n) % 24) as i64);
            numbered.push((
                n,
                review(
                    id,
                    n,
                    source.rating,
                    &source.comment,
                    &author.reviewer_name,
                    created_at,
                ),
            ));
        }
    }
    // DummyJSON gives a product's reviews one timestamp; the later-listed counts as newer, which
    // puts `rev_1_3` first as in the OpenAPI example.
    numbered.sort_by(|(n_a, a), (n_b, b)| b.created_at.cmp(&a.created_at).then(n_b.cmp(n_a)));
    let newest_first: Vec<wire::Review> = numbered.into_iter().map(|(_, r)| r).collect();
    ProductReviews {
        summary: summary(&newest_first),
        newest_first,
    }
}

fn pick(seed: u64, len: usize) -> usize {
    (seed % len as u64) as usize
}

fn review(
    product: u64,
    n: u64,
    rating: u8,
    comment: &str,
    author: &str,
    created_at: DateTime<Utc>,
) -> wire::Review {
    wire::Review {
        id: format!("rev_{product}_{n}"),
        rating,
        title: None,
        body: comment.to_owned(),
        author: wire::Author {
            name: author.to_owned(),
        },
        created_at,
        // Every third review is unverified: deterministic, and both kinds occur on most pages.
        verified_purchase: !(product + n).is_multiple_of(3),
    }
}

fn summary(reviews: &[wire::Review]) -> wire::Summary {
    let count = reviews.len() as u32;
    let average = (count > 0).then(|| {
        let sum: u32 = reviews.iter().map(|r| u32::from(r.rating)).sum();
        // Two decimals, as a vendor shows stars.
        (f64::from(sum) / f64::from(count) * 100.0).round() / 100.0
    });
    wire::Summary { count, average }
}
