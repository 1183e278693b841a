//! The conformance suite's machinery: scenarios are sequences of calls on an
//! `Arc<dyn Backend>` that record what they observe (and assert the values they know), so the
//! same scenario run on the library's `InMemoryBackend` and on another backend must leave the
//! same record. Scenarios are functions of the backend only, so any backend can be run
//! through them; `restart` and `isolation` take a `SessionStore`, for any session store.

#![allow(dead_code)]

pub mod app_sync;
pub mod device;
pub mod isolation;
pub mod messages;
pub mod protocol;
pub mod restart;
pub mod signal;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Once;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, MutexGuard};
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::time::{TimeProvider, set_time_provider};

/// What a scenario saw, in call order: (what was asked, what came back, as `Debug`).
#[derive(Default)]
pub struct Log(Vec<(String, String)>);

impl Log {
    /// Records `value` under `what` and hands it back for assertions.
    pub fn see<T: Debug>(&mut self, what: &str, value: T) -> T {
        self.0.push((what.to_owned(), format!("{value:?}")));
        value
    }

    /// Panics at the first step where `other` saw something else.
    pub fn assert_same(&self, other: &Log, subject: &str) {
        for (i, (want, got)) in self.0.iter().zip(&other.0).enumerate() {
            assert_eq!(want.0, got.0, "step {i}: the scenario is not deterministic");
            assert_eq!(want.1, got.1, "step {i} ({}): the reference saw the left, {subject} the right", want.0);
        }
        assert_eq!(self.0.len(), other.0.len(), "{subject} took a different number of steps");
        assert!(!self.0.is_empty(), "the scenario observed nothing");
    }

    /// Panics at the first step where `other` saw the same: no step of `self` is vacuous.
    pub fn assert_all_differ(&self, other: &Log) {
        assert_eq!(self.0.len(), other.0.len());
        for (want, got) in self.0.iter().zip(&other.0) {
            assert_ne!(want.1, got.1, "step {} cannot tell the two states apart", want.0);
        }
    }
}

/// Results the library returns unordered (or ordered by a hash map), made comparable.
pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

/// A hash state with its map in key order.
pub fn hash_state(state: &HashState) -> (u64, Vec<u8>, BTreeMap<String, Vec<u8>>, bool) {
    (state.version, state.hash.to_vec(), state.index_value_map.clone().into_iter().collect(), state.mac_mismatch_fatal)
}

static OFFSET_MS: AtomicI64 = AtomicI64::new(0);
static CLOCK: Mutex<()> = Mutex::const_new(());

/// The library's clock, as wall time plus an offset the tests can advance.
struct OffsetClock;

impl TimeProvider for OffsetClock {
    fn now_millis(&self) -> i64 {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        wall + OFFSET_MS.load(Ordering::SeqCst)
    }
}

/// Installs the test clock (before anything reads the library's clock) and takes the clock
/// lock, so a scenario that advances the clock runs alone. Every test calls this first.
pub async fn clock() -> MutexGuard<'static, ()> {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| set_time_provider(OffsetClock).expect("the test clock is installed before the first clock read"));
    CLOCK.lock().await
}

/// Moves the library's clock forward; only under the guard of [`clock`].
pub fn advance_secs(secs: i64) {
    OFFSET_MS.fetch_add(secs * 1000, Ordering::SeqCst);
}
