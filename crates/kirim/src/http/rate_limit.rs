//! Request rate limits per credential (API key or device token) and per tenant.
//!
//! Fixed windows that open with a bucket's first request (the way Laravel's limiter counts,
//! which OnSend's clients already see): `limit` requests, then `429` until the window ends.
//! A refused request does not count. Buckets are keyed by the credential that authenticated,
//! never by a client address a proxy could spoof. The counters live in this process: with
//! several nodes behind a balancer each node counts its own share.
//!
//! Authenticating extractors call [`enforce`]; the [`headers`] middleware then writes
//! `X-RateLimit-Limit` / `X-RateLimit-Remaining` and the IETF draft's `RateLimit-Policy` /
//! `RateLimit` on whatever the handler answered, `429`s included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use kirim_core::id::{DevicePk, KeyPk, TenantPk};
use tokio::time::Instant;

use super::auth::Principal;
use super::error::ApiError;
use crate::app::AppState;
use crate::config::RateLimitsConfig;

/// One limit: `quota` requests per `window`. A quota of 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub quota: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bucket {
    Key(KeyPk),
    Device(DevicePk),
    Tenant(TenantPk),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    used: u32,
}

/// How one bucket stands after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// `"key"` (the credential's own bucket) or `"tenant"`.
    pub policy: &'static str,
    pub quota: Quota,
    pub remaining: u32,
    /// Until the window ends and the full quota is back.
    pub reset: Duration,
}

/// What [`RateLimiter::check`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    /// Every limit that applies, the credential's first.
    pub standings: Vec<Standing>,
}

impl Verdict {
    /// The limit closest to running out: the one `X-RateLimit-*` reports.
    fn tightest(&self) -> Option<&Standing> {
        self.standings.iter().min_by_key(|s| (s.remaining, std::cmp::Reverse(s.reset)))
    }
}

/// How many buckets may pile up before windows that ended are swept out.
const SWEEP_AT: usize = 4_096;

pub struct RateLimiter {
    per_credential: Quota,
    per_tenant: Quota,
    windows: Mutex<HashMap<Bucket, Window>>,
    /// Limits of single endpoints that a reference API promises (PropOps: 20 sends a
    /// minute per user), per credential and on top of the general ones.
    endpoints: Mutex<HashMap<(&'static str, Bucket), Window>>,
}

impl RateLimiter {
    pub fn new(config: &RateLimitsConfig) -> Self {
        let window = Duration::from_secs(config.window_secs);
        Self {
            per_credential: Quota { quota: config.per_key, window },
            per_tenant: Quota { quota: config.per_tenant, window },
            windows: Mutex::default(),
            endpoints: Mutex::default(),
        }
    }

    /// Counts a request to the endpoint `name` against its own `quota` for this credential;
    /// `Err(wait)` when it is used up (the request is then not counted).
    pub fn check_endpoint(&self, name: &'static str, principal: &Principal, quota: Quota) -> Result<(), Duration> {
        let own = match principal {
            Principal::Admin => return Ok(()),
            Principal::Tenant { key, .. } => Bucket::Key(*key),
            Principal::Device { device, .. } => Bucket::Device(*device),
        };
        let now = Instant::now();
        let mut windows = self.endpoints.lock().expect("rate limit lock");
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, w| now.duration_since(w.opened) < quota.window);
        }
        let w = windows.entry((name, own)).or_insert(Window { opened: now, used: 0 });
        if now.duration_since(w.opened) >= quota.window {
            *w = Window { opened: now, used: 0 };
        }
        if w.used >= quota.quota {
            return Err(quota.window.saturating_sub(now.duration_since(w.opened)));
        }
        w.used += 1;
        Ok(())
    }

    /// Counts a request of this principal if every limit allows it. `None` for the operator,
    /// who is not limited, and when no limit is set.
    pub fn check(&self, principal: &Principal) -> Option<Verdict> {
        let (own, tenant) = match principal {
            Principal::Admin => return None,
            Principal::Tenant { tenant, key } => (Bucket::Key(*key), tenant.pk),
            Principal::Device { tenant, device, .. } => (Bucket::Device(*device), tenant.pk),
        };
        let limits: Vec<(&'static str, Bucket, Quota)> =
            [("key", own, self.per_credential), ("tenant", Bucket::Tenant(tenant), self.per_tenant)]
                .into_iter()
                .filter(|(_, _, q)| q.quota > 0)
                .collect();
        if limits.is_empty() {
            return None;
        }
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limit lock");
        if windows.len() >= SWEEP_AT {
            let longest = self.per_credential.window.max(self.per_tenant.window);
            windows.retain(|_, w| now.duration_since(w.opened) < longest);
        }
        let mut current: Vec<Window> = limits
            .iter()
            .map(|(_, bucket, quota)| match windows.get(bucket) {
                Some(w) if now.duration_since(w.opened) < quota.window => *w,
                _ => Window { opened: now, used: 0 },
            })
            .collect();
        let allowed = limits.iter().zip(&current).all(|((_, _, quota), w)| w.used < quota.quota);
        if allowed {
            for ((_, bucket, _), w) in limits.iter().zip(current.iter_mut()) {
                w.used += 1;
                windows.insert(*bucket, *w);
            }
        }
        drop(windows);
        let standings = limits
            .iter()
            .zip(&current)
            .map(|((policy, _, quota), w)| Standing {
                policy,
                quota: *quota,
                remaining: quota.quota.saturating_sub(w.used),
                reset: quota.window.saturating_sub(now.duration_since(w.opened)),
            })
            .collect();
        Some(Verdict { allowed, standings })
    }
}

/// Where an extractor leaves its verdict for the [`headers`] middleware.
#[derive(Clone, Default)]
struct Slot(Arc<OnceLock<Verdict>>);

/// Counts the request against the principal's limits and records the outcome for the
/// response headers; `429` when a limit is used up. Every extractor that authenticates a
/// tenant calls this (compat layers too), once per request.
pub fn enforce(state: &AppState, parts: &Parts, principal: &Principal) -> Result<(), ApiError> {
    let Some(verdict) = state.rate_limiter.check(principal) else { return Ok(()) };
    let refusal = (!verdict.allowed).then(|| refusal(&verdict));
    if let Some(slot) = parts.extensions.get::<Slot>() {
        let _ = slot.0.set(verdict);
    }
    refusal.map_or(Ok(()), Err)
}

fn refusal(verdict: &Verdict) -> ApiError {
    let spent = verdict.standings.iter().filter(|s| s.remaining == 0).max_by_key(|s| s.reset);
    let (what, quota, wait) = match spent {
        Some(s) if s.policy == "tenant" => ("this account", s.quota, s.reset),
        Some(s) => ("this credential", s.quota, s.reset),
        None => ("this credential", Quota { quota: 0, window: Duration::ZERO }, Duration::ZERO),
    };
    let secs = ceil_secs(wait);
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "{what} may make {} requests every {} s and has used them; try again in {secs} s (send several messages in one request with POST /v1/messages/batch)",
            quota.quota,
            quota.window.as_secs()
        ),
    );
    error.retry_after_secs = Some(secs);
    error
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Adds the rate-limit headers to the response of every request whose credential was counted.
pub async fn headers(State(_state): State<AppState>, mut request: Request, next: Next) -> Response {
    let slot = Slot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(verdict) = slot.0.get() {
        write_headers(response.headers_mut(), verdict);
    }
    response
}

fn write_headers(headers: &mut axum::http::HeaderMap, verdict: &Verdict) {
    let Some(tightest) = verdict.tightest() else { return };
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-ratelimit-limit", tightest.quota.quota.to_string());
    put("x-ratelimit-remaining", tightest.remaining.to_string());
    let policies: Vec<String> =
        verdict.standings.iter().map(|s| format!("\"{}\";q={};w={}", s.policy, s.quota.quota, s.quota.window.as_secs())).collect();
    put("ratelimit-policy", policies.join(", "));
    put("ratelimit", format!("\"{}\";r={};t={}", tightest.policy, tightest.remaining, ceil_secs(tightest.reset)));
}

#[cfg(test)]
mod tests {
    use kirim_core::tenant::Tenant;

    use super::*;

    fn limiter(per_key: u32, per_tenant: u32) -> RateLimiter {
        RateLimiter::new(&RateLimitsConfig { per_key, per_tenant, window_secs: 60 })
    }

    fn tenant(pk: i64) -> Tenant {
        Tenant {
            pk: TenantPk(pk),
            id: kirim_core::TenantId::generate(),
            name: "t".into(),
            created_at: chrono::Utc::now(),
            daily_token_limit: None,
        }
    }

    fn key(tenant_pk: i64, key: i64) -> Principal {
        Principal::Tenant { tenant: tenant(tenant_pk), key: KeyPk(key) }
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_gets_its_quota_per_window_and_refusals_do_not_count() {
        let l = limiter(3, 0);
        let p = key(1, 1);
        let remaining: Vec<u32> = (0..3).map(|_| l.check(&p).unwrap().standings[0].remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = l.check(&p).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.standings[0].reset, Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!l.check(&p).unwrap().allowed, "still the same window");
        tokio::time::advance(Duration::from_secs(1)).await;
        let fresh = l.check(&p).unwrap();
        assert!(fresh.allowed);
        assert_eq!(fresh.standings[0].remaining, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tenant_limit_spans_its_keys_and_spares_other_tenants() {
        let l = limiter(10, 2);
        assert!(l.check(&key(1, 1)).unwrap().allowed);
        assert!(l.check(&key(1, 2)).unwrap().allowed);
        let third = l.check(&key(1, 3)).unwrap();
        assert!(!third.allowed, "two keys used the tenant's two requests");
        assert_eq!(third.tightest().unwrap().policy, "tenant");
        assert!(l.check(&key(2, 4)).unwrap().allowed, "another tenant has its own quota");
        // The refused key's own bucket was not charged.
        let l2 = limiter(1, 1);
        assert!(l2.check(&key(1, 1)).unwrap().allowed);
        assert!(!l2.check(&key(1, 1)).unwrap().allowed);
    }

    #[test]
    fn the_operator_and_unlimited_setups_are_not_counted() {
        assert_eq!(limiter(5, 5).check(&Principal::Admin), None);
        assert_eq!(limiter(0, 0).check(&key(1, 1)), None);
    }

    #[tokio::test(start_paused = true)]
    async fn headers_report_the_tightest_limit_and_every_policy() {
        let l = limiter(5, 100);
        let verdict = l.check(&key(1, 1)).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        write_headers(&mut headers, &verdict);
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-remaining"], "4");
        assert_eq!(headers["ratelimit-policy"], "\"key\";q=5;w=60, \"tenant\";q=100;w=60");
        assert_eq!(headers["ratelimit"], "\"key\";r=4;t=60");
    }

    #[tokio::test(start_paused = true)]
    async fn ended_windows_are_swept_once_many_buckets_pile_up() {
        let l = limiter(1, 0);
        for k in 0..SWEEP_AT as i64 {
            l.check(&key(1, k));
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        l.check(&key(1, -1));
        assert_eq!(l.windows.lock().unwrap().len(), 1);
    }
}
