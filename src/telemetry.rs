//! Logging: `RUST_LOG`-style filtering (default `info`), human-readable or JSON lines
//! (`SWITCHYARD_LOG_FORMAT=json`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("SWITCHYARD_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (e.g. by a test harness): keep the existing subscriber.
    let _ = result;
}
