//! Criterion micro-benchmarks of three hot paths of a request:
//!
//! * `entity_cache/*`: [`EntityCache`] lookups (hit, miss) and inserts, for stock by SKU and
//!   products by id, with the weights the gateway uses (the caches of [`Caches::new`]) and
//!   values the real adapters decoded from the sandboxes (the whole DummyJSON catalogue).
//! * `dataloader/*`: one execution step in which 20 fields each ask a DataLoader for one key
//!   and the batch closes on the [`ExecutionTick`] (`loaders::on_tick`). `trivial_loader`
//!   answers from a `HashMap` at once (the DataLoader and tick machinery alone);
//!   `stock_loader_warm_cache` is the gateway's own `StockLoader` with every SKU fresh in the
//!   entity cache (adds the read-through, request memo and stale report). Each iteration
//!   is a new request: a new tick and loaders (built outside the timing), then the tracked
//!   step awaited inline in a task on one of the runtime's workers, as the HTTP handler's task
//!   awaits it; the batch runs in the task `on_tick` spawns.
//! * `serialize/*`: the JSON of `schema/operations/storefront.graphql` (20 products with price,
//!   stock, review summary and 3 reviews). The real schema is executed once against the
//!   sandboxes through the real adapters and policy stack, as `src/http/graphql.rs` does, and
//!   the `async_graphql::Response` it returned is serialized: `to_vec` directly (what the
//!   handler does for every response with data), and `to_value` + `to_string` (what it did
//!   before, five times slower; now only for requests that fail before execution).
//!
//! Run: `cargo bench --bench hot_paths` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! short run). Dev builds compile tokio with `test-util` (a dev-dependency of the tests), so
//! `tokio::time::Instant::now()` checks for a paused clock: a few ns on every cache lookup that
//! a release binary does not pay.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_graphql::dataloader::Loader;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use providers::catalog::DummyJson;
use providers::domain::{Product, ProductId, ProductQuery, Sku, Stock};
use providers::fx::{ErApi, Failover, Frankfurter};
use providers::inventory::{self, Warehouse};
use providers::reviews::{self, ReviewsVendor};
use switchyard::cache::entity::{CachePolicy, EntityCache, Lookup};
use switchyard::cache::response::ResponseCache;
use switchyard::config::{Config, ProviderConfig};
use switchyard::graphql::loaders::{Caches, Loaders, on_tick};
use switchyard::graphql::tick::ExecutionTick;
use switchyard::graphql::{Providers, StorefrontSchema, build_schema};
use switchyard::sandbox::{PROVIDERS, Sandboxes};
use switchyard::upstream::deadline::Deadline;
use switchyard::upstream::{Upstreams, transport_for};
use tokio::runtime::Runtime;

const STOREFRONT: &str = include_str!("../schema/operations/storefront.graphql");
/// Fields per execution step in the dataloader benchmarks (one storefront page's products).
const FIELDS: usize = 20;

/// The gateway's providers over its sandboxes, and what they answered.
struct Fixture {
    rt: Runtime,
    providers: Providers,
    schema: StorefrontSchema,
    /// The whole catalogue, as the catalog adapter decoded it.
    products: Vec<Product>,
    /// Every catalogue SKU's stock, as the inventory adapter decoded it.
    stock: HashMap<Sku, Stock>,
    _sandboxes: Sandboxes,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    // As in production (`src/main.rs`): a multi-threaded runtime, one worker per core.
    let rt = Runtime::new().expect("runtime");
    let (providers, sandboxes, products, stock) = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = Config::default();
        let (providers, sandboxes) = wire(&config).await;
        let mut products = Vec::new();
        loop {
            let page = providers
                .catalog
                .products(&ProductQuery {
                    offset: products.len(),
                    limit: 50,
                    category: None,
                    search: None,
                })
                .await
                .expect("catalogue page");
            let done =
                page.products.is_empty() || products.len() + page.products.len() >= page.total;
            products.extend(page.products);
            if done {
                break;
            }
        }
        let skus: Vec<Sku> = products.iter().map(|p| p.sku.clone()).collect();
        let mut stock = HashMap::new();
        for chunk in skus.chunks(providers.inventory.max_batch().max(1)) {
            stock.extend(providers.inventory.stock(chunk).await.expect("stock"));
        }
        (providers, sandboxes, products, stock)
    });
    assert!(
        products.len() >= 100,
        "catalogue: {} products",
        products.len()
    );
    assert!(!stock.is_empty(), "no stock");
    Fixture {
        schema: build_schema(providers.clone(), &Default::default()),
        rt,
        providers,
        products,
        stock,
        _sandboxes: sandboxes,
    }
});

/// What `App::build` (`src/app.rs`) wires, with every provider on its sandbox and no Redis.
async fn wire(config: &Config) -> (Providers, Sandboxes) {
    let sandboxes = Sandboxes::start(config.sandbox.host, None, &PROVIDERS)
        .await
        .expect("sandboxes start");
    let mut upstreams = Upstreams::default();
    let mut transport = |name: &'static str, provider: &ProviderConfig| {
        let url = sandboxes.get(name).expect("sandbox").base_url();
        let (transport, health) = transport_for(name, &url, provider).expect("transport");
        upstreams.providers.push(health);
        transport
    };
    let p = &config.providers;
    let catalog = Arc::new(DummyJson::new(transport("catalog", &p.catalog)));
    let fx = Arc::new(Failover::new(
        Arc::new(Frankfurter::new(transport("frankfurter", &p.frankfurter))),
        Arc::new(ErApi::new(transport("erapi", &p.erapi))),
    ));
    let inventory = Arc::new(Warehouse::new(
        transport("inventory", &p.inventory),
        inventory::Credentials {
            client_id: inventory::SANDBOX_CLIENT_ID.to_owned(),
            client_secret: inventory::SANDBOX_CLIENT_SECRET.to_owned(),
        },
    ));
    let reviews = Arc::new(ReviewsVendor::new(
        transport("reviews", &p.reviews),
        reviews::SANDBOX_API_KEY.to_owned(),
    ));
    let providers = Providers {
        catalog,
        inventory,
        reviews,
        fx,
        catalog_fan_out: p.catalog.max_in_flight,
        reviews_fan_out: p.reviews.max_in_flight,
        in_flight: Arc::default(),
        caches: Arc::new(caches(config)),
        upstreams: Arc::new(upstreams),
        optional_fields: Arc::new(config.server.optional_fields.iter().cloned().collect()),
    };
    (providers, sandboxes)
}

/// The gateway's entity caches (its weights), with each provider's configured policy.
fn caches(config: &Config) -> Caches {
    let policy = |name: &str| {
        let c = &config.providers.get(name).expect("provider").cache;
        CachePolicy {
            enabled: c.enabled,
            ttl: Duration::from_secs(c.ttl_s),
            swr: Duration::from_secs(c.swr_s),
            max_stale: Duration::from_secs(c.max_stale_s),
            negative_ttl: Duration::from_secs(30),
        }
    };
    let responses = ResponseCache::new(config.cache.response_max_bytes);
    Caches::new(config.cache.max_bytes, policy, None, responses)
}

/// Hit, miss and insert on one warm cache; keys are visited in turn.
fn cache_group<K, V>(
    c: &mut Criterion,
    name: &str,
    cache: &EntityCache<K, V>,
    entries: &[(K, V)],
    missing: &[K],
) where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    for (k, v) in entries {
        cache.insert(k.clone(), v.clone(), None);
    }
    cache.run_pending_tasks();
    assert!(matches!(cache.lookup(&entries[0].0), Lookup::Fresh(_)));
    assert!(matches!(cache.lookup(&missing[0]), Lookup::Miss));
    let mut group = c.benchmark_group(format!("entity_cache/{name}"));
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    // A hit clones the value out (and the benchmark drops it), as a loader does.
    group.bench_function("lookup_hit", |b| {
        b.iter(|| {
            i = (i + 1) % entries.len();
            cache.lookup(black_box(&entries[i].0))
        })
    });
    let mut i = 0;
    group.bench_function("lookup_miss", |b| {
        b.iter(|| {
            i = (i + 1) % missing.len();
            cache.lookup(black_box(&missing[i]))
        })
    });
    // Over keys already held (a refresh), as the loaders do on every fetched value.
    let mut i = 0;
    group.bench_function("insert", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % entries.len();
                entries[i].clone()
            },
            |(k, v)| cache.insert(k, v, None),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn entity_cache(c: &mut Criterion) {
    let f = &*FIXTURE;
    let caches = caches(&Config::default());

    let stock: Vec<(Sku, Stock)> = f
        .stock
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let missing: Vec<Sku> = (0..1024).map(|i| Sku(format!("NOPE-{i:05}"))).collect();
    cache_group(c, "stock", caches.stock.memory(), &stock, &missing);

    let products: Vec<(ProductId, Product)> =
        f.products.iter().map(|p| (p.id, p.clone())).collect();
    let missing: Vec<ProductId> = (0..1024).map(|i| ProductId(1_000_000 + i)).collect();
    cache_group(c, "product", caches.products.memory(), &products, &missing);
}

/// Answers every key from memory, at once; counts the batches it was asked.
struct MemoryLoader {
    table: Arc<HashMap<Sku, Stock>>,
    batches: Arc<AtomicUsize>,
}

impl Loader<Sku> for MemoryLoader {
    type Value = Stock;
    type Error = Infallible;

    async fn load(&self, keys: &[Sku]) -> Result<HashMap<Sku, Stock>, Infallible> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        Ok(keys
            .iter()
            .filter_map(|k| self.table.get(k).map(|v| (k.clone(), v.clone())))
            .collect())
    }
}

/// Times `iters` execution steps, each of a new request, on one of the runtime's workers, as
/// the HTTP handler runs them (the tracked execution awaited inline in the request's task; the
/// batch is a task `on_tick` spawns). `request` builds the request's state (not timed) and
/// returns its step.
async fn time_steps<S, F>(iters: u64, request: S) -> Duration
where
    S: Fn() -> F + Send + 'static,
    F: Future<Output = usize> + Send + 'static,
{
    tokio::spawn(async move {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let step = request();
            let start = Instant::now();
            let answered = step.await;
            total += start.elapsed();
            assert_eq!(answered, FIELDS);
        }
        total
    })
    .await
    .expect("benchmark task")
}

fn dataloader(c: &mut Criterion) {
    let f = &*FIXTURE;
    let skus: Arc<Vec<Sku>> = Arc::new(
        f.products
            .iter()
            .take(FIELDS)
            .map(|p| p.sku.clone())
            .collect(),
    );
    let table = Arc::new(f.stock.clone());
    let batches = Arc::new(AtomicUsize::new(0));
    // Every SKU fresh in the entity cache.
    for (sku, s) in &f.stock {
        f.providers
            .caches
            .stock
            .insert(sku.clone(), s.clone(), None);
    }

    let trivial = {
        let (skus, table, batches) = (skus.clone(), table.clone(), batches.clone());
        move || {
            let tick = ExecutionTick::default();
            let loader = on_tick(
                MemoryLoader {
                    table: table.clone(),
                    batches: batches.clone(),
                },
                &tick,
            );
            let skus = skus.clone();
            tick.track(async move {
                let answers = join_all(skus.iter().map(|sku| loader.load_one(sku.clone()))).await;
                answers.iter().filter(|a| matches!(a, Ok(Some(_)))).count()
            })
        }
    };
    let warm_stock = {
        let skus = skus.clone();
        move || {
            let tick = ExecutionTick::default();
            let loaders = Loaders::new(&f.providers, &tick);
            let skus = skus.clone();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            Deadline::scope(
                deadline,
                tick.track(async move {
                    let answers =
                        join_all(skus.iter().map(|sku| loaders.stock.load_one(sku.clone()))).await;
                    answers
                        .iter()
                        .filter(|a| matches!(a, Ok(Some(Ok(_)))))
                        .count()
                }),
            )
        }
    };
    // One step is one batch: the 20 keys close together.
    f.rt.block_on(time_steps(1, trivial.clone()));
    assert_eq!(batches.load(Ordering::Relaxed), 1, "20 keys, one batch");

    let mut group = c.benchmark_group("dataloader");
    group.throughput(Throughput::Elements(FIELDS as u64));
    group.bench_function("trivial_loader_20_keys", |b| {
        b.to_async(&f.rt)
            .iter_custom(|iters| time_steps(iters, trivial.clone()))
    });
    group.bench_function("stock_loader_warm_cache_20_keys", |b| {
        b.to_async(&f.rt)
            .iter_custom(|iters| time_steps(iters, warm_stock.clone()))
    });
    group.finish();
}

/// Executes the storefront operation as the HTTP handler does (tick, loaders, deadline).
fn storefront_response(f: &Fixture) -> async_graphql::Response {
    let tick = ExecutionTick::default();
    let request = async_graphql::Request::new(STOREFRONT).data(Loaders::new(&f.providers, &tick));
    let schema = f.schema.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    f.rt.block_on(async move {
        let step = Deadline::scope(
            deadline,
            tick.track(async move { schema.execute(request).await }),
        );
        tokio::spawn(step).await.expect("execution")
    })
}

fn serialize(c: &mut Criterion) {
    let f = &*FIXTURE;
    let response = storefront_response(f);
    assert!(response.errors.is_empty(), "errors: {:?}", response.errors);
    let json = serde_json::to_value(&response).expect("json");
    let edges = json["data"]["products"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 20);
    for edge in edges {
        let node = &edge["node"];
        for field in ["price", "stock", "reviewSummary", "reviews"] {
            assert!(!node[field].is_null(), "{field} is null in {node}");
        }
        assert_eq!(node["reviews"]["nodes"].as_array().map(Vec::len), Some(3));
    }
    let bytes = serde_json::to_vec(&response).expect("bytes").len();

    let mut group = c.benchmark_group("serialize/storefront");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(&response)).expect("json"))
    });
    group.bench_function("to_value_to_string", |b| {
        b.iter(|| {
            serde_json::to_value(black_box(&response))
                .expect("json")
                .to_string()
        })
    });
    group.finish();
    eprintln!("serialize/storefront: {bytes} bytes of JSON");
}

criterion_group!(benches, entity_cache, dataloader, serialize);
criterion_main!(benches);
