//! The adapter against the sandbox, over HTTP.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;

use super::{page, start};
use crate::capability::Catalog;
use crate::catalog::{DummyJson, QUOTA_LIMIT, RATE_LIMITED_MESSAGE};
use crate::domain::{Availability, Category, Currency, ProductId, ProductQuery, Sku};
use crate::error::ProviderError;
use crate::sandbox::{FaultPlan, SandboxHandle};
use crate::transport::http_testing::HttpTransport;

async fn adapter_on_sandbox() -> (DummyJson, SandboxHandle) {
    let (base, handle) = start().await;
    (DummyJson::new(Arc::new(HttpTransport::new(base))), handle)
}

#[tokio::test]
async fn sandbox_lists_the_whole_catalogue() {
    let (catalog, _) = adapter_on_sandbox().await;
    let page = catalog.products(&page(0, 500)).await.unwrap();

    assert_eq!(page.total, 194);
    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, (1..=194).collect::<Vec<_>>());
    assert_eq!(
        page.products.iter().filter(|p| p.brand.is_none()).count(),
        92
    );
    let count = |a| page.products.iter().filter(|p| p.availability == a).count();
    assert_eq!(count(Availability::InStock), 176);
    assert_eq!(count(Availability::LowStock), 14);
    assert_eq!(count(Availability::OutOfStock), 4);
    assert!(
        page.products
            .iter()
            .all(|p| p.price_currency == Currency::USD)
    );
}

#[tokio::test]
async fn sandbox_serves_page_two() {
    let (catalog, _) = adapter_on_sandbox().await;
    let page = catalog.products(&page(10, 10)).await.unwrap();
    assert_eq!(page.total, 194);
    assert_eq!(page.offset, 10);
    let ids: Vec<u64> = page.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, (11..=20).collect::<Vec<_>>());
    assert_eq!(page.products[0].title, "Annibale Colombo Bed");
    assert_eq!(
        page.products[0].price,
        "1899.99".parse::<Decimal>().unwrap()
    );
}

#[tokio::test]
async fn sandbox_searches_and_filters_by_category() {
    let (catalog, _) = adapter_on_sandbox().await;

    let search = ProductQuery {
        search: Some("phone".into()),
        ..page(0, 50)
    };
    let found = catalog.products(&search).await.unwrap();
    assert_eq!(found.total, 23);
    assert_eq!(found.products.len(), 23);
    assert_eq!(found.products[0].id, ProductId(101));

    let category = ProductQuery {
        category: Some("SmartPhones".into()),
        ..page(0, 5)
    };
    let phones = catalog.products(&category).await.unwrap();
    assert_eq!(phones.total, 16);
    assert_eq!(phones.products.len(), 5);
    assert_eq!(phones.products[0].id, ProductId(121));
    assert_eq!(phones.products[0].title, "iPhone 5s");

    let both = ProductQuery {
        search: Some("iphone".into()),
        category: Some("smartphones".into()),
        ..page(0, 10)
    };
    let iphones = catalog.products(&both).await.unwrap();
    assert_eq!(iphones.total, 4);
    let ids: Vec<u64> = iphones.products.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [121, 122, 123, 124]);

    let unknown = ProductQuery {
        category: Some("spaceships".into()),
        ..page(0, 5)
    };
    let none = catalog.products(&unknown).await.unwrap();
    assert_eq!(none.total, 0);
    assert!(none.products.is_empty());
}

#[tokio::test]
async fn sandbox_serves_categories_and_products_by_id() {
    let (catalog, handle) = adapter_on_sandbox().await;

    let categories = catalog.categories().await.unwrap();
    assert_eq!(categories.len(), 24);
    assert_eq!(
        categories[0],
        Category {
            slug: "beauty".into(),
            name: "Beauty".into()
        }
    );

    let product = catalog.product(ProductId(1)).await.unwrap().unwrap();
    assert_eq!(product.title, "Essence Mascara Lash Princess");
    assert_eq!(product.sku, Sku("BEA-ESS-ESS-001".into()));
    assert_eq!(product.availability, Availability::InStock);
    let sold_out = catalog.product(ProductId(117)).await.unwrap().unwrap();
    assert_eq!(sold_out.availability, Availability::OutOfStock);
    assert_eq!(catalog.product(ProductId(0)).await, Ok(None));
    assert_eq!(catalog.product(ProductId(9999)).await, Ok(None));

    let counters = handle.counters();
    assert_eq!(counters.get("GET /products/categories"), Some(&1));
    assert_eq!(counters.get("GET /products/{id}"), Some(&4));
}

#[tokio::test]
async fn sandbox_quota_reaches_the_adapter_as_rate_limited() {
    let (catalog, handle) = adapter_on_sandbox().await;
    for _ in 0..QUOTA_LIMIT {
        catalog.product(ProductId(1)).await.unwrap();
    }
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: RATE_LIMITED_MESSAGE.into(),
            retry_after: Some(Duration::from_secs(10)),
        }
    );
    handle.reset();
    assert!(catalog.product(ProductId(1)).await.unwrap().is_some());
}

#[tokio::test]
async fn sandbox_faults_reach_the_adapter_in_dummyjsons_format() {
    let (catalog, handle) = adapter_on_sandbox().await;

    handle.set_faults(FaultPlan {
        outage: true,
        ..FaultPlan::default()
    });
    let err = catalog.product(ProductId(1)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::Unavailable {
            status: Some(503),
            message: "Service Unavailable".into(),
            retry_after: None,
        }
    );

    handle.set_faults(FaultPlan {
        rate_limited_retry_after_s: Some(3),
        ..FaultPlan::default()
    });
    let err = catalog.products(&page(0, 5)).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::RateLimited {
            message: RATE_LIMITED_MESSAGE.into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );

    handle.set_faults(FaultPlan {
        malformed_body: true,
        ..FaultPlan::default()
    });
    let err = catalog.categories().await.unwrap_err();
    assert_eq!(err.code(), "UPSTREAM_BAD_RESPONSE");
}
