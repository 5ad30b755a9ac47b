//! Switchyard: one GraphQL API over many upstream HTTP providers. See ARCHITECTURE.md for the
//! map of the code.

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod sandbox;
pub mod telemetry;
pub mod upstream;
