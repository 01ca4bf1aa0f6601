//! Per-client and per-user limits (docs/configuration.md#limits): request
//! rates, tasks and tombstones a user may keep, their database turns.

use super::*;

/// What one client address or one user may use.
#[derive(clap::Args, Debug, Clone)]
pub struct LimitSettings {
    /// Requests per second per client address (0: no limit).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_IP_PER_SECOND",
        default_value_t = 0
    )]
    pub rate_limit_ip_per_second: u32,
    /// Burst per client address (0: the per-second rate).
    #[arg(long, global = true, env = "RATE_LIMIT_IP_BURST", default_value_t = 0)]
    pub rate_limit_ip_burst: u32,
    /// Requests per second per user (0: no limit).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_USER_PER_SECOND",
        default_value_t = 0
    )]
    pub rate_limit_user_per_second: u32,
    /// Burst per user (0: the per-second rate).
    #[arg(
        long,
        global = true,
        env = "RATE_LIMIT_USER_BURST",
        default_value_t = 0
    )]
    pub rate_limit_user_burst: u32,
    /// Most tasks one user may have (creates beyond it are 409).
    #[arg(
        long,
        global = true,
        env = "MAX_TASKS_PER_USER",
        default_value_t = 100_000
    )]
    pub max_tasks_per_user: u32,
    /// Most database operations of one user at once; more wait their turn.
    #[arg(long, global = true, env = "USER_DB_CONCURRENCY", default_value_t = 4)]
    pub user_db_concurrency: u32,
    /// Tombstones kept per user for the changes feed; past it (and a tenth more) the oldest are forgotten, and a cursor older than them is 410.
    #[arg(
        long,
        global = true,
        env = "MAX_TOMBSTONES_PER_USER",
        default_value_t = 10_000
    )]
    pub max_tombstones_per_user: u32,
}

/// The limits resolved.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub user: crate::db::UserLimits,
    pub rate_ip: Option<Rate>,
    pub rate_user: Option<Rate>,
}

impl LimitSettings {
    pub fn resolve(&self) -> Result<Limits, ConfigError> {
        if self.user_db_concurrency == 0 {
            return Err(fail("USER_DB_CONCURRENCY", "must be at least 1"));
        }
        Ok(Limits {
            user: crate::db::UserLimits {
                concurrency: self.user_db_concurrency,
                max_tasks: self.max_tasks_per_user,
                wait: Duration::from_secs(5),
                max_tombstones: self.max_tombstones_per_user.max(1),
            },
            rate_ip: Rate::new(self.rate_limit_ip_per_second, self.rate_limit_ip_burst),
            rate_user: Rate::new(self.rate_limit_user_per_second, self.rate_limit_user_burst),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_turns_rates_off_and_concurrency_needs_one() {
        let mut s = Settings::default().limits;
        let l = s.resolve().unwrap();
        assert!(l.rate_ip.is_none() && l.rate_user.is_none());
        assert_eq!((l.user.concurrency, l.user.max_tasks), (4, 100_000));
        s.rate_limit_user_per_second = 5;
        s.max_tombstones_per_user = 0;
        let l = s.resolve().unwrap();
        assert!(l.rate_user.is_some() && l.rate_ip.is_none());
        assert_eq!(l.user.max_tombstones, 1);
        s.user_db_concurrency = 0;
        assert_eq!(s.resolve().unwrap_err().var, "USER_DB_CONCURRENCY");
    }
}
