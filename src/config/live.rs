//! Live updates (docs/live-updates.md): the LISTEN connection, event
//! streams and their tickets, and how long the changes feed remembers
//! deleted tasks.

use super::*;

/// Event streams and the changes feed.
#[derive(clap::Args, Debug, Clone)]
pub struct LiveSettings {
    /// A direct PostgreSQL URL for the LISTEN connection of live updates, when DATABASE_URL goes through a transaction pooler (PgBouncer, Neon's pooled host). Default: DATABASE_URL.
    #[arg(
        long,
        global = true,
        env = "LISTEN_DATABASE_URL",
        hide_env_values = true
    )]
    pub listen_database_url: Option<String>,
    /// Days a deleted task's tombstone is kept for the changes feed; a cursor older than the oldest forgotten one is 410.
    #[arg(
        long,
        global = true,
        env = "TOMBSTONE_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub tombstone_retention_days: u32,
    /// How often tombstones past their retention (and expired event tickets) are swept, in seconds (0: never).
    #[arg(
        long,
        global = true,
        env = "TOMBSTONE_SWEEP_SECONDS",
        default_value_t = 3600
    )]
    pub tombstone_sweep_seconds: u64,
    /// Event streams (GET /api/events) one user may have open on an instance.
    #[arg(long, global = true, env = "EVENTS_MAX_PER_USER", default_value_t = 10)]
    pub events_max_per_user: usize,
    /// Event streams an instance holds open at once.
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_STREAMS",
        default_value_t = 10_000
    )]
    pub events_max_streams: usize,
    /// Changes a stream may fall behind by; past that it gets `event: reset` and is closed (the client re-syncs from the changes feed).
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_BACKLOG",
        default_value_t = 1000
    )]
    pub events_max_backlog: i64,
    /// Seconds between heartbeat comments on an idle event stream.
    #[arg(
        long,
        global = true,
        env = "EVENTS_HEARTBEAT_SECONDS",
        default_value_t = 15
    )]
    pub events_heartbeat_seconds: u64,
    /// Unused event tickets one user may hold; a new one past it replaces their oldest.
    #[arg(
        long,
        global = true,
        env = "EVENTS_MAX_TICKETS_PER_USER",
        default_value_t = 16
    )]
    pub events_max_tickets_per_user: i64,
    /// Signs event tickets; instances behind one address need the same one. Default: derived from BETTER_AUTH_SECRET, else drawn at start-up.
    #[arg(
        long,
        global = true,
        env = "EVENTS_TICKET_SECRET",
        hide_env_values = true
    )]
    pub events_ticket_secret: Option<Secret>,
}

/// The live-update settings resolved.
#[derive(Debug, Clone)]
pub struct Live {
    /// Event streams an instance holds.
    pub streams: crate::db::StreamLimits,
    /// How an event stream behaves.
    pub events: crate::http::events::EventsConfig,
    /// Where the LISTEN connection goes (PostgreSQL only; `None` on SQLite).
    pub listen_database: Option<sqlx::postgres::PgConnectOptions>,
    /// `LISTEN_DATABASE_URL` was given (else `listen_database` is
    /// `DATABASE_URL`'s, unusable when that is a transaction pooler).
    pub listen_given: bool,
    /// How long tombstones are kept.
    pub tombstone_retention: Duration,
    /// How often tombstones and expired tickets are swept (`None`: never).
    pub tombstone_sweep: Option<Duration>,
}

impl LiveSettings {
    /// `database`: where LISTEN goes by default; `auth_secret`: what
    /// tickets are signed with by default.
    pub fn resolve(
        &self,
        database: &DatabaseUrl,
        auth_secret: Option<&Secret>,
    ) -> Result<Live, ConfigError> {
        let listen_database = match (database, given(&self.listen_database_url)) {
            (DatabaseUrl::Sqlite(_), _) => None,
            (DatabaseUrl::Postgres(opts, _), None) => Some(opts.clone()),
            (DatabaseUrl::Postgres(..), Some(url)) => {
                match DatabaseUrl::parse_for("LISTEN_DATABASE_URL", url)? {
                    DatabaseUrl::Postgres(opts, _) => Some(opts),
                    DatabaseUrl::Sqlite(_) => {
                        return Err(fail(
                            "LISTEN_DATABASE_URL",
                            "must be a PostgreSQL URL (the database DATABASE_URL names, directly)",
                        ));
                    }
                }
            }
        };
        Ok(Live {
            streams: crate::db::StreamLimits {
                per_user: self.events_max_per_user.max(1),
                per_instance: self.events_max_streams.max(1),
            },
            events: crate::http::events::EventsConfig {
                max_backlog: self.events_max_backlog.max(1),
                heartbeat: Duration::from_secs(self.events_heartbeat_seconds.max(1)),
                max_tickets_per_user: self.events_max_tickets_per_user.max(1),
                ticket_key: self.ticket_key(auth_secret),
            },
            listen_database,
            listen_given: given(&self.listen_database_url).is_some(),
            tombstone_retention: Duration::from_secs(
                u64::from(self.tombstone_retention_days.max(1)) * 86_400,
            ),
            tombstone_sweep: (self.tombstone_sweep_seconds > 0)
                .then(|| Duration::from_secs(self.tombstone_sweep_seconds)),
        })
    }

    /// What event tickets are signed with: `EVENTS_TICKET_SECRET`, else a key
    /// derived from `BETTER_AUTH_SECRET` (so that instances sharing it redeem
    /// each other's tickets), else one of this process.
    fn ticket_key(&self, auth_secret: Option<&Secret>) -> crate::http::events::TicketKey {
        use crate::http::events::TicketKey;
        [self.events_ticket_secret.as_ref(), auth_secret]
            .into_iter()
            .flatten()
            .find(|sec| !sec.expose().is_empty())
            .map_or_else(TicketKey::random, |sec| TicketKey::derive(sec.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LiveSettings {
        fn default_key(secret: &Secret) -> crate::http::events::TicketKey {
            Settings::default().live.ticket_key(Some(secret))
        }
    }

    #[test]
    fn listen_follows_the_database_unless_named() {
        let mut s = Settings::default().live;
        let sqlite = DatabaseUrl::parse("sqlite::memory:").unwrap();
        let pg = DatabaseUrl::parse("postgres://u@pooler:6432/app").unwrap();
        assert!(s.resolve(&sqlite, None).unwrap().listen_database.is_none());
        let live = s.resolve(&pg, None).unwrap();
        assert!(!live.listen_given);
        assert_eq!(live.listen_database.unwrap().get_port(), 6432);
        s.listen_database_url = Some("postgres://u@direct:5432/app".into());
        let live = s.resolve(&pg, None).unwrap();
        assert!(live.listen_given);
        assert_eq!(live.listen_database.unwrap().get_host(), "direct");
        s.listen_database_url = Some("sqlite://x.db".into());
        assert_eq!(s.resolve(&pg, None).unwrap_err().var, "LISTEN_DATABASE_URL");
    }

    #[test]
    fn tickets_are_signed_alike_by_instances_sharing_a_secret() {
        let mut s = Settings::default().live;
        let shared = Secret::new("x".repeat(32));
        assert!(s.ticket_key(Some(&shared)) == s.ticket_key(Some(&shared)));
        // Without any secret, each process draws its own.
        assert!(s.ticket_key(None) != s.ticket_key(None));
        // EVENTS_TICKET_SECRET comes first.
        s.events_ticket_secret = Some(Secret::new("y".repeat(32)));
        assert!(s.ticket_key(Some(&shared)) != LiveSettings::default_key(&shared));
        assert!(s.ticket_key(None) == s.ticket_key(Some(&shared)));
    }
}
