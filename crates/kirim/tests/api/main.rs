//! One integration test binary: every test drives the real app over HTTP on port 0.

mod agents;
mod auto_replies;
mod cli;
mod common;
mod compat_onsend;
mod contact_groups;
mod contacts;
mod crash;
mod files;
mod flows;
mod groups;
mod media;
mod messaging;
mod numbers;
mod rate_limits;
mod received_media;
mod receiver;
mod reminders;
mod reports;
mod sandbox;
mod sending;
mod stream;
mod tenancy;
mod usage;
mod validation;
mod webhooks;
