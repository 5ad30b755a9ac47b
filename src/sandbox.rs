//! The built-in simulated upstreams, started together: by `switchyard sandbox` on fixed ports,
//! or by a gateway on ephemeral ports for the providers whose `base_url` is `"sandbox"`.

use std::net::{IpAddr, SocketAddr};

use providers::sandbox::{Sandbox, SandboxHandle, serve};
use tokio::task::JoinHandle;

use crate::config::SandboxPorts;

/// The provider names, in the order the sandboxes start.
pub const PROVIDERS: [&str; 5] = ["catalog", "frankfurter", "erapi", "inventory", "reviews"];

/// One running simulator.
#[derive(Debug)]
pub struct RunningSandbox {
    pub provider: &'static str,
    pub addr: SocketAddr,
    pub handle: SandboxHandle,
    task: JoinHandle<()>,
}

impl RunningSandbox {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running simulators, by provider name.
#[derive(Debug, Default)]
pub struct Sandboxes {
    pub running: Vec<RunningSandbox>,
}

impl Sandboxes {
    /// Starts the simulators of `providers` on `host`; each on its port from `ports`, or on an
    /// ephemeral port when `ports` is `None`.
    pub async fn start(
        host: IpAddr,
        ports: Option<&SandboxPorts>,
        providers: &[&'static str],
    ) -> anyhow::Result<Sandboxes> {
        let mut running = Vec::new();
        for &provider in providers {
            let sandbox = simulator(provider)?;
            let port = ports.map_or(0, |p| port_of(p, provider));
            let (addr, task) = serve(sandbox.router, SocketAddr::new(host, port))
                .await
                .map_err(|e| {
                    anyhow::anyhow!("sandbox {provider}: cannot listen on {host}:{port}: {e}")
                })?;
            running.push(RunningSandbox {
                provider,
                addr,
                handle: sandbox.handle,
                task,
            });
        }
        Ok(Sandboxes { running })
    }

    pub fn get(&self, provider: &str) -> Option<&RunningSandbox> {
        self.running.iter().find(|s| s.provider == provider)
    }
}

fn simulator(provider: &str) -> anyhow::Result<Sandbox> {
    Ok(match provider {
        "catalog" => providers::catalog::sandbox(),
        "frankfurter" => providers::fx::frankfurter::sandbox(),
        "erapi" => providers::fx::erapi::sandbox(),
        "inventory" => providers::inventory::sandbox(),
        "reviews" => providers::reviews::sandbox(),
        other => anyhow::bail!("no sandbox for provider {other}"),
    })
}

fn port_of(ports: &SandboxPorts, provider: &str) -> u16 {
    match provider {
        "catalog" => ports.catalog,
        "frankfurter" => ports.frankfurter,
        "erapi" => ports.erapi,
        "inventory" => ports.inventory,
        "reviews" => ports.reviews,
        _ => 0,
    }
}
