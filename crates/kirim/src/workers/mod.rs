//! Background work: per-device send lanes, the scheduler and periodic housekeeping. Each worker exposes a
//! public `step()` so tests can drive it deterministically.

pub mod housekeeping;
pub mod jobs;
pub mod reminders;
pub mod schedule;
pub mod send;
