//! Services: the only layer that combines the store, the lanes and the connectors.
//! The native API and every compat layer call these, so behaviour is defined once.

pub mod devices;
pub mod messages;
pub mod tenants;
