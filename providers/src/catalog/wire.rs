//! DummyJSON's own JSON shapes (WIRE-FORMATS §1.2, §1.3) and its search rule.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// The list envelope `{"products":[...],"total":N,"skip":S,"limit":L}`.
///
/// `limit` is the number of products returned, not the number asked for, and `skip` echoes
/// whatever the server parsed (it is `null` for an empty `skip=`), so neither is read.
#[derive(Debug, Deserialize)]
pub(crate) struct ProductList {
    pub products: Vec<Product>,
    /// Matches before paging.
    pub total: u64,
}

/// One product, restricted to the fields the adapter asks for with `select=`; everything else
/// the server sends (reviews, dimensions, discountPercentage ...) is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Product {
    pub id: u64,
    pub title: String,
    pub description: String,
    pub category: String,
    /// The key is absent (not `null`) for about half the catalogue.
    #[serde(default)]
    pub brand: Option<String>,
    pub sku: String,
    /// A JSON number, integer or fractional; read from its text so that `9.99` stays exact.
    #[serde(deserialize_with = "exact_decimal")]
    pub price: Decimal,
    pub rating: f64,
    #[serde(default)]
    pub images: Vec<String>,
    pub thumbnail: String,
    pub availability_status: String,
}

/// `availabilityStatus` values in the current dataset.
pub(crate) const IN_STOCK: &str = "In Stock";
pub(crate) const LOW_STOCK: &str = "Low Stock";
pub(crate) const OUT_OF_STOCK: &str = "Out of Stock";

/// An entry of `GET /products/categories`: `{"slug","name","url"}` since the 2024 dataset, a
/// bare slug string before it (some mirrors still answer that way).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Category {
    Entry { slug: String, name: String },
    Slug(String),
}

/// Every DummyJSON error body: `{"message": "..."}` (plus `details` on a few).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub message: String,
}

fn exact_decimal<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    let text = raw.get();
    let parsed = if text.contains(['e', 'E']) {
        Decimal::from_scientific(text)
    } else {
        text.parse::<Decimal>()
    };
    parsed.map_err(|_| serde::de::Error::custom(format!("`{text}` is not a decimal number")))
}

/// `GET /products/search`'s matching rule (src/controllers/product.js and the query cleaning
/// in src/middleware/clean-request.js): the query is trimmed, lower-cased and its `-` read as
/// spaces; a product matches when its lower-cased title or description contains it.
pub(crate) fn normalize_search(q: &str) -> String {
    q.trim_matches(is_js_whitespace)
        .to_lowercase()
        .replace('-', " ")
}

/// Whether a product matches an already normalized search text.
pub(crate) fn search_matches(normalized: &str, title: &str, description: &str) -> bool {
    title.to_lowercase().contains(normalized) || description.to_lowercase().contains(normalized)
}

/// The name DummyJSON derives from a category slug (`capitalizeWords`): each `-`-separated
/// word with its first letter upper-cased, joined by spaces (`home-decoration` is
/// `Home Decoration`).
pub(crate) fn category_name(slug: &str) -> String {
    slug.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// JavaScript's `String.prototype.trim` set (WhiteSpace + LineTerminator), which differs from
/// Unicode `White_Space` (it includes U+FEFF and excludes U+0085).
pub(crate) fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}
