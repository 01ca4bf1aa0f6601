//! Rate limits (off by default): per client address before anything else,
//! per user once the token is verified. Token buckets (GCRA, `governor`),
//! per instance: N instances allow N times the rate. Over the limit: 429
//! with `Retry-After`.

use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::AppState;
use super::error::ApiError;

/// Requests per second and burst for one scope; `None` when off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second` 0 turns the limit off; a burst of 0 means `per_second`.
    pub fn new(per_second: u32, burst: u32) -> Option<Rate> {
        let per_second = NonZeroU32::new(per_second)?;
        Some(Rate {
            per_second,
            burst: NonZeroU32::new(burst).unwrap_or(per_second),
        })
    }
}

/// Forget idle keys every this many checks, so the maps stay small.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// Token buckets per key (a client address, a user), idle ones forgotten.
pub(crate) struct Limiter<K: Hash + Eq + Clone> {
    buckets: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
    scope: &'static str,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    fn new(rate: Rate, scope: &'static str) -> Self {
        Self::with_quota(
            Quota::per_second(rate.per_second).allow_burst(rate.burst),
            scope,
        )
    }

    /// `scope` labels the metric and the log line of a refusal.
    pub(crate) fn with_quota(quota: Quota, scope: &'static str) -> Self {
        Self {
            buckets: DefaultKeyedRateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
            scope,
        }
    }

    /// Take one from `key`'s bucket, or say how long until there is one.
    pub(crate) fn take(&self, key: &K) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            self.buckets.retain_recent();
            self.buckets.shrink_to_fit();
        }
        self.buckets.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            crate::telemetry::rate_limited(self.scope);
            tracing::warn!(
                scope = self.scope,
                wait_ms = wait.as_millis() as u64,
                "rate limited"
            );
            wait.max(Duration::from_secs(1))
        })
    }

    fn check(&self, key: &K) -> Result<(), ApiError> {
        self.take(key)
            .map_err(|retry_after| ApiError::TooManyRequests { retry_after })
    }
}

/// The configured limits of this instance.
pub struct RateLimits {
    per_ip: Option<Limiter<IpAddr>>,
    per_user: Option<Limiter<String>>,
}

impl RateLimits {
    pub fn new(per_ip: Option<Rate>, per_user: Option<Rate>) -> Self {
        Self {
            per_ip: per_ip.map(|r| Limiter::new(r, "client")),
            per_user: per_user.map(|r| Limiter::new(r, "user")),
        }
    }

    /// Whether a per-client-address limit is set (else [`per_client`] is
    /// not installed).
    pub fn limits_clients(&self) -> bool {
        self.per_ip.is_some()
    }

    /// Called by the `AuthUser` extractor once the token is verified.
    pub fn check_user(&self, user_id: &str) -> Result<(), ApiError> {
        match &self.per_user {
            Some(limiter) => limiter.check(&user_id.to_owned()),
            None => Ok(()),
        }
    }
}

/// Middleware: the per-client-address limit, before auth or parsing.
pub async fn per_client(State(s): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if let Some(limiter) = &s.limits.per_ip
        && let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>()
        && let Err(refused) = limiter.check(&addr.ip())
    {
        return refused.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_with_a_retry_after() {
        let limits = RateLimits::new(None, Rate::new(1, 3));
        for _ in 0..3 {
            assert!(limits.check_user("a").is_ok());
        }
        match limits.check_user("a") {
            Err(ApiError::TooManyRequests { retry_after }) => {
                assert!(retry_after >= Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            limits.check_user("b").is_ok(),
            "another user has its own bucket"
        );
        assert!(
            RateLimits::new(None, Rate::new(0, 5))
                .check_user("a")
                .is_ok()
        );
    }
}
