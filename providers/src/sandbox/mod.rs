//! What every simulated upstream shares: request counters, run-time fault injection and the
//! small admin API that scripts them, plus the quota counters the simulators enforce.
//!
//! A provider's `sandbox.rs` builds an axum `Router` that speaks its wire format and wraps it
//! with [`SandboxApp::new`]; [`serve`] binds it to a port. Admin routes live under
//! `/__sandbox/` so they never collide with a provider's own paths.

mod admin;
mod app;
mod faults;
mod quota;

pub use app::{Arrival, ErrorRenderer, SandboxApp, SandboxHandle, serve};
pub use faults::FaultPlan;
pub use quota::FixedWindow;

/// A provider's simulator, ready to serve: its routes (wrapped by [`SandboxApp`]) and the
/// handle to its counters and faults.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub router: axum::Router,
    pub handle: SandboxHandle,
}
