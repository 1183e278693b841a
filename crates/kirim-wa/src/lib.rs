//! The WhatsApp Web multi-device connector: one whatsapp-rust client per linked device,
//! with its session state kept in Kirim's own store.

pub mod connector;
pub mod storage;

#[cfg(feature = "fake-server")]
pub mod fake;

/// Measurements for `kirim-bench wa`, over the fake server.
#[cfg(feature = "fake-server")]
pub mod bench;
