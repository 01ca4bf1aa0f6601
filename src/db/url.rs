//! `DATABASE_URL` (and any other database URL): parsed and normalised, its
//! password never printed.

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// A database URL that cannot be used: which variable, and why (with the
/// password masked).
#[derive(Debug, thiserror::Error)]
#[error("{var}: {msg}")]
pub struct UrlError {
    pub var: &'static str,
    pub msg: String,
}

/// A parsed `DATABASE_URL`.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(SqliteConnectOptions),
    /// sqlx's options, and the same for tokio-postgres (the pipelined
    /// reads, `db::pipeline`) when it can connect as the URL asks: `None`
    /// for a verified certificate (`verify-ca`, `verify-full`,
    /// `sslrootcert`) or a client certificate, which only sqlx does.
    Postgres(PgConnectOptions, Option<Box<tokio_postgres::Config>>),
}

/// Never prints the password the options hold.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(o) => write!(f, "Sqlite({})", o.get_filename().display()),
            DatabaseUrl::Postgres(o, _) => write!(
                f,
                "Postgres({}@{}:{}/{})",
                o.get_username(),
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
        }
    }
}

/// Query parameters sqlx understands; others (Neon's `channel_binding`,
/// libpq's `connect_timeout`, …) are dropped rather than breaking start-up.
const PG_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// The URL with any password replaced by `****`, for messages.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" {
                        "****".into()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            if !pairs.is_empty() {
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

impl DatabaseUrl {
    /// Parse and normalise: SQLAlchemy schemes (`postgresql+asyncpg`,
    /// `+psycopg2`, `+psycopg`) become `postgres`, asyncpg's `ssl=` becomes
    /// `sslmode=`, unknown libpq parameters are dropped.
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        Self::parse_for("DATABASE_URL", raw)
    }

    /// Parse a database URL given in `var`.
    pub fn parse_for(var: &'static str, raw: &str) -> Result<Self, UrlError> {
        let raw = raw.trim();
        let bad = |why: &str| UrlError {
            var,
            msg: format!("{why} (in {})", mask_url(raw)),
        };
        if raw.starts_with("sqlite:") {
            return SqliteConnectOptions::from_str(raw)
                .map(DatabaseUrl::Sqlite)
                .map_err(|_| bad("not a valid SQLite URL"));
        }
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or_else(|| bad("expected postgres://… or sqlite://…"))?;
        let base = scheme.split('+').next().unwrap_or(scheme);
        if !matches!(base, "postgres" | "postgresql") {
            return Err(bad(&format!("unsupported scheme '{scheme}'")));
        }
        let mut url = url::Url::parse(&format!("postgres://{rest}"))
            .map_err(|e| bad(&format!("invalid URL: {e}")))?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter_map(|(k, v)| {
                let k = if k == "ssl" {
                    "sslmode".into()
                } else {
                    k.into_owned()
                };
                if PG_PARAMS.contains(&k.as_str()) {
                    Some((k, v.into_owned()))
                } else {
                    tracing::debug!(parameter = %k, "ignoring database URL parameter");
                    None
                }
            })
            .collect();
        url.set_query(None);
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        let sqlx = PgConnectOptions::from_str(url.as_str()).map_err(|e| {
            bad(&format!(
                "invalid PostgreSQL URL: {}",
                e.to_string().replace(raw, "…")
            ))
        })?;
        let pipelined = tokio_postgres::Config::from_str(url.as_str())
            .ok()
            .filter(|_| {
                use sqlx::postgres::PgSslMode::{Disable, Prefer, Require};
                matches!(sqlx.get_ssl_mode(), Disable | Prefer | Require)
                    && !url
                        .query_pairs()
                        .any(|(k, _)| matches!(&*k, "sslrootcert" | "sslcert" | "sslkey"))
            })
            .map(Box::new);
        Ok(DatabaseUrl::Postgres(sqlx, pipelined))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(..))
    }
}
