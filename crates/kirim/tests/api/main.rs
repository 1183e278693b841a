//! One integration test binary: every test drives the real app over HTTP on port 0.

mod auto_replies;
mod cli;
mod common;
mod contact_groups;
mod contacts;
mod crash;
mod flows;
mod messaging;
mod receiver;
mod reminders;
mod sandbox;
mod stream;
mod tenancy;
mod validation;
mod webhooks;
