//! Kirim, the app: configuration, HTTP API, services, workers and connectors wired together.

pub mod app;
pub mod cli;
pub mod compat;
pub mod config;
pub mod connectors;
pub mod http;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod runtime;
pub mod services;
pub mod telemetry;
pub mod webhooks;
pub mod workers;
