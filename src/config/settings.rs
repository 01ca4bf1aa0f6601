//! The settings as clap reads them from flags and the environment: one
//! group per concern (in the files named after them), one field a
//! variable, each with its default (docs/configuration.md;
//! `tests/configuration.rs` checks the two agree).

use super::*;

/// The raw settings as given by flags or environment (clap reads both),
/// one group per concern; each group resolves (and tests) itself.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    #[command(flatten)]
    pub server: ServerSettings,
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub limits: LimitSettings,
    #[command(flatten)]
    pub conventions: ConventionSettings,
    #[command(flatten)]
    pub mcp: McpSettings,
    #[command(flatten)]
    pub live: LiveSettings,
    #[command(flatten)]
    pub chat: ChatSettings,
}

/// The defaults are clap's (its `default_value`s above), read with no flags
/// and no environment, so they are written once.
impl Default for Settings {
    fn default() -> Self {
        use clap::{Args, FromArgMatches};
        let command =
            Settings::augment_args(clap::Command::new("defaults")).mut_args(|arg| arg.env(None));
        let matches = command
            .try_get_matches_from(["defaults"])
            .expect("every setting has a default or is optional");
        Settings::from_arg_matches(&matches).expect("the defaults are valid settings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_clap_s_without_flags_or_environment() {
        let d = Settings::default();
        assert_eq!(d.database.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(
            (d.server.api_host.as_str(), d.server.api_port),
            (DEFAULT_HOST, DEFAULT_PORT)
        );
        assert_eq!(
            (d.database.db_pool_size, d.database.db_max_overflow),
            (10, 20)
        );
        assert_eq!(
            (d.database.statement_timeout_ms, d.limits.max_tasks_per_user),
            (5_000, 100_000)
        );
        assert!(d.auth.better_auth_secret.is_none() && d.auth.jwt_user_claim.is_none());
        assert!(d.database.auto_migrate && !d.auth.better_auth_sessions);
        assert!(d.mcp.mcp_enabled);
    }
}
