//! Connectors: the networks devices speak through, behind `kirim_core::connector::Connector`.

pub mod sandbox;
