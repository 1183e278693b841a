//! Background work: per-device send lanes and periodic housekeeping. Each worker exposes a
//! public `step()` so tests can drive it deterministically.

pub mod housekeeping;
pub mod send;
