//! One integration test binary: every test drives the real app over HTTP on port 0.

mod common;
mod cli;
mod crash;
mod flows;
mod tenancy;
mod validation;
