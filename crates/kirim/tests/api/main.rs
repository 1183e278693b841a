//! One integration test binary: every test drives the real app over HTTP on port 0.

mod cli;
mod common;
mod contact_groups;
mod contacts;
mod crash;
mod files;
mod flows;
mod media;
mod messaging;
mod receiver;
mod sandbox;
mod stream;
mod tenancy;
mod validation;
mod webhooks;
