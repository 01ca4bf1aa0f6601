//! The JWKS cache (docs/auth.md): keys by `kid`, fetched with a short timeout,
//! refreshed periodically (honouring `Cache-Control: max-age`) and on an
//! unknown `kid` at most once per cooldown. When the JWKS server is down the
//! cached keys keep working; a key that cannot be found is a 401, never a hang.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use axum::http::header::CACHE_CONTROL;
use serde_json::Value;

use super::jwt::Alg;
use super::keys::PublicKey;

/// A JWKS response larger than this is refused.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Keys beyond this many in one set are ignored.
const MAX_KEYS: usize = 64;
/// A request with an unknown kid waits out a cooldown this close to its end
/// (and this is the cooldown while the set is empty).
const SHORT_WAIT: Duration = Duration::from_secs(1);
/// The longest a fetched set is trusted without a refresh, whatever max-age says.
const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 3600);

/// How the cache behaves; see docs/configuration.md.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub url: String,
    /// Whole-fetch timeout (connect, headers and body).
    pub timeout: Duration,
    /// Least time between two fetches a request can trigger; also the floor
    /// under the server's max-age.
    pub cooldown: Duration,
    /// Refresh period when the response carries no max-age.
    pub refresh: Duration,
}

/// The keys of the last good fetch.
#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<PublicKey>>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>, alg: Alg) -> Option<Arc<PublicKey>> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) && k.fits(alg))
                .cloned(),
            // Without a `kid`, only an unambiguous key will do.
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(only.clone()),
                    _ => None,
                }
            }
        }
    }
}

/// What a refresh did; the refresher schedules the next one from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// A new set is in place, valid for this long.
    Fetched { ttl: Duration },
    /// Skipped: another fetch happened within the cooldown.
    CoolingDown,
    /// The fetch failed; the cached keys stay.
    Failed,
}

/// Keys from one JWKS URL.
pub struct JwksCache {
    settings: JwksSettings,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When the last fetch started (success or not).
    last_attempt: Mutex<Option<Instant>>,
    /// One fetch at a time; requests that miss wait for it instead of piling on.
    fetching: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub fn new(settings: JwksSettings) -> Self {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("todo-api/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS backend is compiled in");
        Self {
            settings,
            client,
            keys: RwLock::new(Arc::default()),
            last_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().expect("key set lock").clone()
    }

    /// The key for a token, refetching the set once per cooldown when the
    /// `kid` is unknown. Bounded by the fetch timeout.
    pub async fn key(self: &Arc<Self>, kid: Option<&str>, alg: Alg) -> Option<Arc<PublicKey>> {
        if let Some(key) = self.current().find(kid, alg) {
            return Some(key);
        }
        // Whether this call fetches, waits for a fetch already under way, or
        // finds the cooldown still running, the set is then as fresh as it
        // will get. A cooldown about to end is waited out: a key minted just
        // after our last fetch (Better Auth mints its first key lazily) then
        // works at once. The fetch runs in its own task, so a client that
        // hangs up does not cut it short; the request waits one timeout at most.
        let cache = Arc::clone(self);
        let refresh = tokio::spawn(async move {
            let remaining = cache.cooldown_remaining();
            if remaining <= SHORT_WAIT {
                tokio::time::sleep(remaining).await;
            }
            cache.refresh(false).await
        });
        let _ = tokio::time::timeout(self.settings.timeout, refresh).await;
        self.current().find(kid, alg)
    }

    /// Whether this very key (not a re-fetched copy of it) is in the set.
    pub fn holds(&self, key: &Arc<PublicKey>) -> bool {
        self.current().keys.iter().any(|k| Arc::ptr_eq(k, key))
    }

    /// The cooldown in force: short while the set holds no key at all (a
    /// cold start, an outage, or an issuer that has not minted a key yet).
    fn cooldown(&self) -> Duration {
        if self.current().keys.is_empty() {
            self.settings.cooldown.min(SHORT_WAIT)
        } else {
            self.settings.cooldown
        }
    }

    fn cooldown_remaining(&self) -> Duration {
        let last = *self.last_attempt.lock().expect("attempt lock");
        last.map_or(Duration::ZERO, |t| {
            self.cooldown().saturating_sub(t.elapsed())
        })
    }

    /// Fetch the set now, unless `forced` is false and a fetch started within
    /// the cooldown. On failure the cached keys stay in place.
    pub async fn refresh(&self, forced: bool) -> Refresh {
        let _one_at_a_time = self.fetching.lock().await;
        {
            let mut last = self.last_attempt.lock().expect("attempt lock");
            if !forced && last.is_some_and(|t| t.elapsed() < self.cooldown()) {
                return Refresh::CoolingDown;
            }
            *last = Some(Instant::now());
        }
        match tokio::time::timeout(self.settings.timeout, self.fetch()).await {
            Ok(Ok((keys, max_age))) => {
                let ttl = max_age.unwrap_or(self.settings.refresh).clamp(
                    self.settings.cooldown,
                    MAX_AGE_CAP.max(self.settings.cooldown),
                );
                let count = keys.len();
                *self.keys.write().expect("key set lock") = Arc::new(KeySet { keys });
                tracing::info!(keys = count, ttl_secs = ttl.as_secs(), "JWKS refreshed");
                crate::telemetry::jwks_refresh("fetched");
                Refresh::Fetched { ttl }
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "JWKS fetch failed; keeping the cached keys");
                crate::telemetry::jwks_refresh("failed");
                Refresh::Failed
            }
            Err(_) => {
                crate::telemetry::jwks_refresh("failed");
                tracing::warn!(
                    timeout_ms = self.settings.timeout.as_millis() as u64,
                    "JWKS fetch timed out; keeping the cached keys"
                );
                Refresh::Failed
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<Arc<PublicKey>>, Option<Duration>), FetchError> {
        let mut response = self
            .client
            .get(&self.settings.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError(format!("request failed: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(FetchError(format!("status {}", response.status())));
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError(format!("body: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError("body over 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let doc: Value =
            serde_json::from_slice(&body).map_err(|e| FetchError(format!("not JSON: {e}")))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| FetchError("no \"keys\" array".into()))?;
        let mut keys = Vec::new();
        for entry in entries.iter().take(MAX_KEYS) {
            match PublicKey::from_jwk(entry) {
                Ok(key) => keys.push(Arc::new(key)),
                Err(reason) => {
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("");
                    let kid: String = kid.chars().take(64).collect();
                    tracing::warn!(kid, reason, "JWKS key skipped");
                }
            }
        }
        Ok((keys, max_age))
    }

    /// Refresh in the background for as long as the cache is in use: first at
    /// once (so a cold start does not wait for the first token), then when the
    /// set's max-age runs out, or after a cooldown when a fetch failed.
    pub fn spawn_refresher(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(cache) = weak.upgrade() else { return };
                let wait = match cache.refresh(true).await {
                    Refresh::Fetched { ttl } => ttl,
                    _ => cache.cooldown(),
                };
                drop(cache);
                tokio::time::sleep(wait).await;
            }
        });
    }
}

#[derive(Debug)]
struct FetchError(String);

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `max-age` from a Cache-Control value; `no-cache`/`no-store` count as 0.
fn max_age(header: &str) -> Option<Duration> {
    header.split(',').map(str::trim).find_map(|directive| {
        let directive = directive.to_ascii_lowercase();
        if directive == "no-cache" || directive == "no-store" {
            return Some(Duration::ZERO);
        }
        let secs = directive.strip_prefix("max-age=")?;
        secs.trim_matches('"')
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age("Max-Age=\"30\""), Some(Duration::from_secs(30)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=-1"), None);
    }
}
