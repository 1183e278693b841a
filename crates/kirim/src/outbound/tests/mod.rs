//! Tests of the outbound guard and client. Nothing leaves the machine: servers listen on
//! 127.0.0.1, and refused addresses are refused before any connection is made.

mod client;
mod guard;
mod urls;

use std::net::IpAddr;

use super::{Guard, IpNet};

/// A guard allowing `ranges` ("127.0.0.1/32").
fn guard(ranges: &[&str]) -> Guard {
    Guard::new(ranges.iter().map(|r| r.parse::<IpNet>().unwrap()))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}
