//! Authentication (docs/auth.md): the shared secret, Better Auth's JWKS and
//! session tables, which claims name the user, and what production demands.

use super::*;

/// How tokens are verified.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthSettings {
    /// Shared secret for HS256/HS384/HS512 tokens.
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SECRET",
        hide_env_values = true
    )]
    pub better_auth_secret: Option<Secret>,
    /// Better Auth base URL (JWKS at {url}/api/auth/jwks; expected iss and aud).
    #[arg(long, global = true, env = "BETTER_AUTH_URL")]
    pub better_auth_url: Option<String>,
    /// Explicit JWKS location.
    #[arg(long, global = true, env = "JWKS_URL")]
    pub jwks_url: Option<String>,
    /// Accepted issuers (comma list).
    #[arg(long, global = true, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Accepted audiences (comma list).
    #[arg(long, global = true, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Claims tried in order for the user id (default: user_id,sub for HS*
    /// tokens, sub for JWKS-verified ones; when set, for every token).
    #[arg(long, global = true, env = "JWT_USER_CLAIM")]
    pub jwt_user_claim: Option<String>,
    /// Least seconds between JWKS fetches triggered by unknown kids (also the
    /// floor under the JWKS server's max-age).
    #[arg(
        long,
        global = true,
        env = "JWKS_COOLDOWN_SECONDS",
        default_value_t = 10
    )]
    pub jwks_cooldown_seconds: u64,
    /// JWKS refresh period when its response carries no max-age, in seconds.
    #[arg(
        long,
        global = true,
        env = "JWKS_REFRESH_SECONDS",
        default_value_t = 300
    )]
    pub jwks_refresh_seconds: u64,
    /// Accept Better Auth session tokens, looked up in DATABASE_URL's `session` table.
    #[arg(long, global = true, env = "BETTER_AUTH_SESSIONS", default_value_t = false, action = clap::ArgAction::Set)]
    pub better_auth_sessions: bool,
    /// Accept Better Auth session tokens, looked up in this database's `session` table.
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SESSION_DB_URL",
        hide_env_values = true
    )]
    pub better_auth_session_db_url: Option<String>,
    /// Seconds a session lookup is cached (0 turns the cache off).
    #[arg(
        long,
        global = true,
        env = "BETTER_AUTH_SESSION_CACHE_SECONDS",
        default_value_t = 30
    )]
    pub better_auth_session_cache_seconds: u64,
    /// Clock skew allowed on exp and nbf, in seconds.
    #[arg(long, global = true, env = "JWT_LEEWAY_SECONDS", default_value_t = 30)]
    pub jwt_leeway_seconds: u64,
    /// Verified JWTs remembered until their exp, so a token's signature is
    /// checked once (0 turns the cache off).
    #[arg(
        long,
        global = true,
        env = "TOKEN_CACHE_SIZE",
        default_value_t = 10_000
    )]
    pub token_cache_size: u64,
}

impl AuthSettings {
    /// `database`: where `BETTER_AUTH_SESSIONS` looks sessions up;
    /// `production`: weak or missing auth is refused.
    pub fn resolve(
        &self,
        database: &DatabaseUrl,
        production: bool,
    ) -> Result<AuthConfig, ConfigError> {
        let secret = self.secret().cloned();
        let jwks = self.jwks_url()?.map(|url| JwksSettings {
            url,
            timeout: JWKS_TIMEOUT,
            cooldown: Duration::from_secs(self.jwks_cooldown_seconds.max(1)),
            refresh: Duration::from_secs(self.jwks_refresh_seconds.max(1)),
        });
        let sessions = self.sessions(database)?;
        if production {
            match &secret {
                Some(sec) if sec.expose().len() < MIN_SECRET_BYTES => {
                    return Err(fail(
                        "BETTER_AUTH_SECRET",
                        format!("must be at least {MIN_SECRET_BYTES} bytes in production"),
                    ));
                }
                None if jwks.is_none() && sessions.is_none() => {
                    return Err(fail(
                        "BETTER_AUTH_SECRET",
                        "no authentication configured in production: set BETTER_AUTH_SECRET, BETTER_AUTH_URL/JWKS_URL or BETTER_AUTH_SESSION_DB_URL",
                    ));
                }
                _ => {}
            }
        }
        // Blank counts as unset, as for every setting here.
        let (user_claims, jwks_user_claims) = match given(&self.jwt_user_claim) {
            Some(list) => {
                let claims = comma_list(Some(list));
                if claims.is_empty() {
                    return Err(fail("JWT_USER_CLAIM", "names no claim"));
                }
                (claims.clone(), claims)
            }
            None => (
                comma_list(Some(DEFAULT_USER_CLAIMS)),
                comma_list(Some(DEFAULT_JWKS_USER_CLAIMS)),
            ),
        };
        Ok(AuthConfig {
            secret,
            issuers: self.issuers(),
            // Blank (`JWT_AUDIENCE=` in a .env) is unset: the check stays on
            // with BETTER_AUTH_URL's default rather than turning off.
            audiences: match given(&self.jwt_audience) {
                Some(list) => comma_list(Some(list)),
                None => self.better_auth_identities(),
            },
            user_claims,
            jwks_user_claims,
            leeway: Duration::from_secs(self.jwt_leeway_seconds),
            token_cache_size: self.token_cache_size,
            jwks,
            sessions,
        })
    }

    /// `BETTER_AUTH_SECRET`, unless blank.
    pub fn secret(&self) -> Option<&Secret> {
        self.better_auth_secret
            .as_ref()
            .filter(|sec| !sec.expose().is_empty())
    }

    /// `BETTER_AUTH_URL` without its trailing slash, unless blank.
    pub fn better_auth_base(&self) -> Option<String> {
        given(&self.better_auth_url).map(|u| u.trim().trim_end_matches('/').to_owned())
    }

    /// The issuers accepted: `JWT_ISSUER`, else Better Auth's base URL.
    pub fn issuers(&self) -> Vec<String> {
        match given(&self.jwt_issuer) {
            Some(list) => comma_list(Some(list)),
            None => self.better_auth_identities(),
        }
    }

    /// `iss` and `aud` expected by default: Better Auth's base URL
    /// (docs/configuration.md), with or without a trailing slash.
    fn better_auth_identities(&self) -> Vec<String> {
        match self.better_auth_base() {
            Some(base) => vec![base.clone(), format!("{base}/")],
            None => Vec::new(),
        }
    }

    /// The JWKS location: `JWKS_URL`, else Better Auth's `{url}/api/auth/jwks`.
    fn jwks_url(&self) -> Result<Option<String>, ConfigError> {
        let (var, url) = match (given(&self.jwks_url), self.better_auth_base()) {
            (Some(explicit), _) => ("JWKS_URL", explicit.trim().to_owned()),
            (None, Some(base)) => {
                let url = if base.ends_with("/api/auth") {
                    format!("{base}/jwks")
                } else {
                    format!("{base}/api/auth/jwks")
                };
                ("BETTER_AUTH_URL", url)
            }
            (None, None) => return Ok(None),
        };
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(Some(url)),
            _ => Err(fail(var, "must be an http:// or https:// URL")),
        }
    }

    /// Where Better Auth's sessions are looked up, if they are.
    fn sessions(&self, database: &DatabaseUrl) -> Result<Option<SessionSettings>, ConfigError> {
        let (var, url) = match (
            given(&self.better_auth_session_db_url),
            self.better_auth_sessions,
        ) {
            (Some(url), _) => (
                "BETTER_AUTH_SESSION_DB_URL",
                DatabaseUrl::parse_for("BETTER_AUTH_SESSION_DB_URL", url)?,
            ),
            (None, true) => ("BETTER_AUTH_SESSIONS", database.clone()),
            (None, false) => return Ok(None),
        };
        match url {
            DatabaseUrl::Postgres(opts, _) => Ok(Some(SessionSettings {
                database: opts,
                cache_ttl: Duration::from_secs(self.better_auth_session_cache_seconds),
            })),
            DatabaseUrl::Sqlite(_) => Err(fail(
                var,
                "session tokens are looked up in Better Auth's PostgreSQL database; this URL is SQLite",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite() -> DatabaseUrl {
        DatabaseUrl::parse("sqlite::memory:").unwrap()
    }

    fn auth(
        production: bool,
        tweak: impl FnOnce(&mut AuthSettings),
    ) -> Result<AuthConfig, ConfigError> {
        let mut s = Settings::default().auth;
        tweak(&mut s);
        s.resolve(&sqlite(), production)
    }

    #[test]
    fn production_refuses_weak_or_missing_auth() {
        assert_eq!(auth(true, |_| {}).unwrap_err().var, "BETTER_AUTH_SECRET");
        let e = auth(true, |s| s.better_auth_secret = Some(Secret::new("short"))).unwrap_err();
        assert!(!e.to_string().contains("short"));
        assert!(
            auth(true, |s| s.better_auth_secret =
                Some(Secret::new("x".repeat(32))))
            .is_ok()
        );
        // Development: none at all is development auth.
        assert!(auth(false, |_| {}).unwrap().secret.is_none());
    }

    #[test]
    fn better_auth_url_sets_the_jwks_issuer_and_audience() {
        let c = auth(false, |s| {
            s.better_auth_url = Some("https://app.example.com/".into())
        })
        .unwrap();
        assert_eq!(c.jwks.unwrap().url, "https://app.example.com/api/auth/jwks");
        assert_eq!(
            c.issuers,
            ["https://app.example.com", "https://app.example.com/"]
        );
        assert_eq!(c.audiences, c.issuers);
        let c = auth(false, |s| {
            s.better_auth_url = Some("https://app.example.com/api/auth".into());
            s.jwt_audience = Some("api-a, api-b".into());
        })
        .unwrap();
        assert_eq!(c.jwks.unwrap().url, "https://app.example.com/api/auth/jwks");
        assert_eq!(c.audiences, ["api-a", "api-b"]);
        let e = auth(false, |s| {
            s.better_auth_url = Some("https://app.example.com".into());
            s.jwks_url = Some("ftp://keys".into());
        });
        assert_eq!(e.unwrap_err().var, "JWKS_URL");
        // Blank values (an empty variable from compose or .env) are unset.
        let c = auth(false, |s| {
            s.better_auth_url = Some(" ".into());
            s.jwks_url = Some(String::new());
            s.better_auth_session_db_url = Some(String::new());
        })
        .unwrap();
        assert!(c.jwks.is_none() && c.sessions.is_none() && c.issuers.is_empty());
    }

    #[test]
    fn user_claims_default_by_token_kind_unless_named() {
        let c = auth(false, |_| {}).unwrap();
        assert_eq!(
            (c.user_claims.as_slice(), c.jwks_user_claims.as_slice()),
            (
                &["user_id".to_owned(), "sub".to_owned()][..],
                &["sub".to_owned()][..]
            )
        );
        let c = auth(false, |s| s.jwt_user_claim = Some("uid, sub".into())).unwrap();
        assert_eq!(c.user_claims, ["uid", "sub"]);
        assert_eq!(c.jwks_user_claims, c.user_claims);
        let e = auth(false, |s| s.jwt_user_claim = Some(" , ".into())).unwrap_err();
        assert_eq!(e.var, "JWT_USER_CLAIM");
    }

    #[test]
    fn session_lookups_need_postgresql() {
        let e = auth(false, |s| s.better_auth_sessions = true).unwrap_err();
        assert_eq!(e.var, "BETTER_AUTH_SESSIONS");
        let c = auth(true, |s| {
            s.better_auth_session_db_url = Some("postgres://u:hunter2@db/auth?bad=1".into())
        })
        .expect("session lookups are an auth method");
        assert!(c.sessions.is_some() && c.secret.is_none());
        let e = auth(false, |s| {
            s.better_auth_session_db_url = Some("mysql://u:hunter2@db/auth".into())
        })
        .unwrap_err();
        assert_eq!(e.var, "BETTER_AUTH_SESSION_DB_URL");
        assert!(!e.to_string().contains("hunter2"));
        // BETTER_AUTH_SESSIONS uses DATABASE_URL when that is PostgreSQL.
        let pg = DatabaseUrl::parse("postgres://u@db/app").unwrap();
        let mut s = Settings::default().auth;
        s.better_auth_sessions = true;
        assert!(s.resolve(&pg, false).unwrap().sessions.is_some());
    }
}
