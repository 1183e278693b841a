//! Kirim, the app: configuration, HTTP API, services, workers and connectors wired together.

pub mod config;
pub mod connectors;
