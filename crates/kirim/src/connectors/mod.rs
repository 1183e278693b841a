//! Connectors: the networks devices speak through, behind `kirim_core::connector::Connector`,
//! and the sink through which they report back.

pub mod sandbox;
pub mod sink;

use std::collections::HashMap;
use std::sync::Arc;

use kirim_core::connector::Connector;
use kirim_core::device::ConnectorKind;

/// The connectors this server runs, by kind.
#[derive(Default)]
pub struct Connectors {
    by_kind: HashMap<ConnectorKind, Arc<dyn Connector>>,
}

impl Connectors {
    pub fn add(&mut self, connector: Arc<dyn Connector>) {
        self.by_kind.insert(connector.kind(), connector);
    }

    pub fn get(&self, kind: ConnectorKind) -> Option<Arc<dyn Connector>> {
        self.by_kind.get(&kind).cloned()
    }

    pub fn kinds(&self) -> Vec<ConnectorKind> {
        self.by_kind.keys().copied().collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.by_kind.values()
    }
}
