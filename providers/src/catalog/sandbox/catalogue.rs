//! The catalogue: the embedded products as the server stores them, the list envelope it pages
//! them into (sort, skip, limit, select, in the controller's order), and `select` itself.

use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::error::json_response;
use super::options::Options;
use super::{js, v8_sort};
use crate::catalog::wire;

/// Verbatim copy of upstream `database/products.json` (194 products).
const PRODUCTS_JSON: &str = include_str!("../../../data/dummyjson-products.json");

pub(super) struct Catalogue {
    pub(super) products: Vec<StoredProduct>,
    /// `GET /products/categories`, computed from the products like `getSluggedData`.
    pub(super) categories_json: String,
    /// `GET /products/category-list`.
    pub(super) category_list_json: String,
}

pub(super) struct StoredProduct {
    /// The product's own keys, in the file's order.
    fields: Map<String, Value>,
    /// `p.id.toString()`.
    pub(super) id: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) category: String,
    /// The whole product as the server writes it.
    pub(super) json: String,
}

impl Catalogue {
    pub(super) fn shared() -> Arc<Catalogue> {
        static CATALOGUE: OnceLock<Arc<Catalogue>> = OnceLock::new();
        CATALOGUE
            .get_or_init(|| Arc::new(Catalogue::load(PRODUCTS_JSON)))
            .clone()
    }

    fn load(source: &str) -> Catalogue {
        let products: Vec<Map<String, Value>> = match serde_json::from_str(source) {
            Ok(products) => products,
            Err(err) => {
                tracing::error!(%err, "the embedded DummyJSON catalogue does not parse");
                Vec::new()
            }
        };
        let text = |fields: &Map<String, Value>, key: &str| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let products: Vec<StoredProduct> = products
            .into_iter()
            .map(|fields| StoredProduct {
                id: fields
                    .get("id")
                    .map(js::value_to_string)
                    .unwrap_or_default(),
                title: text(&fields, "title"),
                description: text(&fields, "description"),
                category: text(&fields, "category"),
                json: Value::Object(fields.clone()).to_string(),
                fields,
            })
            .collect();

        let mut slugs: Vec<&str> = Vec::new();
        for p in &products {
            if !slugs.contains(&p.category.as_str()) {
                slugs.push(&p.category);
            }
        }
        let categories: Vec<Value> = slugs
            .iter()
            .map(|slug| {
                let mut entry = Map::new();
                entry.insert("slug".into(), Value::from(*slug));
                entry.insert("name".into(), Value::from(wire::category_name(slug)));
                entry.insert(
                    "url".into(),
                    Value::from(format!("https://dummyjson.com/products/category/{slug}")),
                );
                Value::Object(entry)
            })
            .collect();
        let categories_json = Value::Array(categories).to_string();
        let category_list_json = Value::from(slugs.clone()).to_string();

        Catalogue {
            products,
            categories_json,
            category_list_json,
        }
    }

    /// The list envelope for `matches` (indices into the catalogue): sort, skip, limit,
    /// select, in the controller's order.
    pub(super) fn page(&self, mut matches: Vec<usize>, options: &Options) -> Response {
        let total = matches.len();
        if let Some(sort) = &options.sort {
            let keys: Vec<js::SortKey> = self
                .products
                .iter()
                .map(|p| js::SortKey::of(p.fields.get(&sort.key)))
                .collect();
            v8_sort::sort(&mut matches, |a, b| {
                js::sort_array_compare(&keys[a], &keys[b], a == b, sort.ascending)
            });
        }
        // `if (skip > 0) products = products.slice(skip)`
        if options.skip > 0.0 {
            let start = js::relative_index(options.skip, matches.len());
            matches.drain(..start);
        }
        // `limit === 0 || limit > arr.length ? arr : arr.slice(0, limit)`
        if !(options.limit == 0.0 || options.limit > matches.len() as f64) {
            let end = js::relative_index(options.limit, matches.len());
            matches.truncate(end);
        }

        let mut body = String::from("{\"products\":[");
        for (n, &i) in matches.iter().enumerate() {
            if n > 0 {
                body.push(',');
            }
            let product = &self.products[i];
            match &options.select {
                Some(keys) => body.push_str(&product.select(keys)),
                None => body.push_str(&product.json),
            }
        }
        body.push_str(&format!(
            "],\"total\":{total},\"skip\":{},\"limit\":{}}}",
            js::number_to_json(options.skip),
            matches.len()
        ));
        json_response(StatusCode::OK, body)
    }
}

impl StoredProduct {
    /// `getObjectSubset`: the selected own keys in the order asked (first mention wins);
    /// keys the product lacks are `undefined` and vanish from the JSON.
    pub(super) fn select(&self, keys: &[String]) -> String {
        let mut subset = Map::new();
        for key in keys {
            if subset.contains_key(key) {
                continue;
            }
            if let Some(value) = self.fields.get(key) {
                subset.insert(key.clone(), value.clone());
            }
        }
        Value::Object(subset).to_string()
    }
}
