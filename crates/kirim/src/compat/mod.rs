//! The reference products' own API shapes, mapped onto Kirim's model. Translation only: what
//! a mapping produces goes through the same services (and the same validation) as the native API.

/// `Ok(v)` → `v`; `Err(response)` → that response, answered at once. Compat handlers answer
/// in their product's shape at every step, so each step's failure is already a response.
macro_rules! or_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

pub mod body;
pub mod laravel;
pub mod onebloc;
pub mod onsend;
pub mod propops;
pub mod wa_gateway;
pub mod wablas;

use axum::Router;

use crate::app::AppState;
use crate::config::Config;

/// Adds each switched-on layer at its configured prefix (the root when it is empty).
pub fn mount(mut router: Router<AppState>, config: &Config) -> Router<AppState> {
    let layers = [
        (config.compat.onsend.as_ref(), (|_| onsend::router()) as fn(&Config) -> Router<AppState>),
        (config.compat.wa_gateway.as_ref(), |_| wa_gateway::router()),
        (config.compat.onebloc.as_ref(), |_| onebloc::router()),
        (config.compat.propops.as_ref(), |_| propops::router()),
        (config.compat.wablas.as_ref(), wablas::router),
    ];
    for (prefix, layer) in layers {
        router = match prefix {
            None => router,
            Some(p) if p.0.is_empty() => router.merge(layer(config)),
            Some(p) => router.nest(&p.0, layer(config)),
        };
    }
    router
}
