//! The `switchyard` command: serve the gateway, run the sandbox upstreams alone, check a
//! config, or print the schema.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use switchyard::app::{self, App};
use switchyard::config::Config;
use switchyard::sandbox::{PROVIDERS, Sandboxes};

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "One GraphQL API over many upstream HTTP providers"
)]
struct Cli {
    /// Config file (default: ./switchyard.toml if present, else the built-in defaults).
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL on `server.listen` (the default command).
    Serve,
    /// Run the simulated upstreams alone, each on its port from `[sandbox.ports]`.
    Sandbox,
    /// Validate a config file and exit: non-zero with the key's path when it is wrong.
    CheckConfig {
        /// The file to check (default: as for --config).
        file: Option<PathBuf>,
    },
    /// Print the GraphQL schema (SDL).
    PrintSchema,
}

/// mimalloc rather than the system allocator: with glibc's malloc the churn benchmark
/// (bench/RESULTS.md, 160k distinct searches on 32 connections) ended at 93 MiB resident; with
/// mimalloc (and the response cache weighing its entries' overhead) at 54 MiB, within the
/// caches' bounds plus the process's own.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", switchyard::graphql::sdl());
            Ok(())
        }
        Command::CheckConfig { file } => check_config(file.or(cli.config).as_deref()),
        Command::Serve => run(serve(cli.config)),
        Command::Sandbox => run(sandbox(cli.config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    // reqwest is built with rustls but no default crypto provider (ring is much cheaper to
    // build than aws-lc); install it once for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telemetry = switchyard::telemetry::init()?;
    let result = tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")
        .and_then(|runtime| runtime.block_on(task));
    // Outside the runtime: exporting the last spans blocks.
    telemetry.shutdown();
    result
}

fn config_path(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| {
        let local = PathBuf::from("switchyard.toml");
        local.exists().then_some(local)
    })
}

fn load(explicit: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = config_path(explicit);
    Config::load(path.as_deref()).map_err(|e| match &path {
        Some(p) => anyhow::anyhow!("invalid config {}:\n{e}", p.display()),
        None => anyhow::anyhow!("invalid config:\n{e}"),
    })
}

fn check_config(file: Option<&Path>) -> anyhow::Result<()> {
    let path = config_path(file.map(Path::to_path_buf));
    Config::load(path.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    match path {
        Some(p) => println!("{}: ok", p.display()),
        None => println!("built-in defaults: ok"),
    }
    Ok(())
}

async fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let app = App::build(&config).await?;
    for s in &app.sandboxes.running {
        tracing::info!(provider = s.provider, url = %s.base_url(), "sandbox upstream started");
    }
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("server.listen: cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!("GraphQL at http://{addr}/graphql");
    if config.graphiql() {
        tracing::info!("GraphiQL at http://{addr}/graphiql");
    }
    app::serve(app, listener, &config.server, shutdown_signal()).await
}

async fn sandbox(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let sandboxes =
        Sandboxes::start(config.sandbox.host, Some(&config.sandbox.ports), &PROVIDERS).await?;
    for s in &sandboxes.running {
        println!("{:<12} {}", s.provider, s.base_url());
    }
    println!(
        "credentials: inventory client_id={} client_secret={}, reviews api_key={}",
        providers::inventory::SANDBOX_CLIENT_ID,
        providers::inventory::SANDBOX_CLIENT_SECRET,
        providers::reviews::SANDBOX_API_KEY
    );
    println!("admin API on each: /__sandbox/counters, /__sandbox/reset, /__sandbox/faults");
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}
