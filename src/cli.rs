//! The command line: `serve` (the default), `migrate`, `token`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::auth::{UserClaim, mint_access_token, mint_configured_token, mint_token, random_secret};
use crate::config::{Config, LogFormat, ServerSettings, Settings, log_filter};
use crate::db::MigrateCommand;
use crate::startup::{Application, connect_store};

#[derive(Parser, Debug)]
#[command(
    name = "todo-api",
    version,
    about = "A secure, fast, multi-user task API"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply, undo or list database migrations.
    Migrate {
        #[arg(value_enum)]
        action: MigrateAction,
    },
    /// Mint an HS256 token with BETTER_AUTH_SECRET.
    Token {
        /// The user id the token names.
        #[arg(long)]
        user: String,
        /// How long it is valid (30m, 1h, 7d, …).
        #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// The claim that carries the user id.
        #[arg(long, value_enum, default_value = "sub")]
        claim: UserClaim,
    },
    /// Print the OpenAPI 3.1 document (the same as GET /openapi.json).
    Openapi,
    /// Serve the MCP tools over stdio as one user (for a local agent).
    Mcp {
        /// The user id whose tasks the tools work on.
        #[arg(long)]
        user: String,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MigrateAction {
    Up,
    Down,
    Status,
}

/// The command line, where a variable that is set but blank (`API_PORT=` in a
/// `.env`, an empty variable from compose) counts as unset: its default
/// applies, rather than a parse error or an empty value.
fn parse() -> Cli {
    let blank = |name: &std::ffi::OsStr| {
        std::env::var_os(name).is_some_and(|v| v.to_str().is_some_and(|s| s.trim().is_empty()))
    };
    let command = Cli::command().mut_args(|arg| match arg.get_env() {
        Some(name) if blank(name) => arg.env(None),
        _ => arg,
    });
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Load `.env`, parse the command line, run it; errors become exit code 1.
pub async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::FAILURE;
    }
    let cli = parse();
    // Over stdio, stdout is the protocol's: the log goes to stderr.
    let to_stderr = matches!(cli.command, Some(Command::Mcp { .. }));
    let _log = init_logging(&cli.settings.server, to_stderr);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "fatal");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log goes to standard output (standard error for MCP over stdio)
/// through a thread of its own: a request only formats its line and queues
/// it; the thread writes what has queued in one system call. Past
/// `LOG_BUFFER_LINES` waiting lines, new ones are dropped (counted in
/// `log_lines_dropped_total`), so a slow log reader never holds up or
/// grows the server. The guard flushes what is queued when dropped.
fn init_logging(s: &ServerSettings, to_stderr: bool) -> WorkerGuard {
    let filter = EnvFilter::try_new(log_filter(&s.log_level)).unwrap_or_else(|_| {
        eprintln!("warning: LOG_LEVEL: not a level or tracing filter; using info");
        EnvFilter::new("info,sqlx=warn,rmcp=warn")
    });
    let json = match s.log_format {
        Some(LogFormat::Json) => true,
        Some(LogFormat::Text) => false,
        None => !std::io::stdout().is_terminal(),
    };
    let queue = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(s.log_buffer_lines as usize)
        .thread_name("log-writer");
    let (writer, guard) = if to_stderr {
        queue.finish(Box::new(std::io::BufWriter::new(std::io::stderr())) as Box<dyn Write + Send>)
    } else {
        queue.finish(Box::new(std::io::BufWriter::new(std::io::stdout())) as Box<dyn Write + Send>)
    };
    crate::telemetry::log_drops(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder
            .with_ansi(!to_stderr && std::io::stdout().is_terminal())
            .init();
    }
    guard
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Openapi) = cli.command {
        // Needs no configuration: it describes the API, not a deployment.
        let doc = crate::http::document(&cli.settings.conventions.resolve());
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let mut config = Config::from_settings(&cli.settings)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => {
            let cmd = match action {
                MigrateAction::Up => MigrateCommand::Up,
                MigrateAction::Down => MigrateCommand::Down,
                MigrateAction::Status => MigrateCommand::Status,
            };
            config.database.auto_migrate = false;
            let store = connect_store(&config).await?;
            let states = store.migrate(cmd).await.context("running migrations")?;
            for m in states {
                let mark = if m.applied { "applied" } else { "pending" };
                println!("{:>6}  {mark:<8} {}", m.version, m.description);
            }
            if let Some(tables) = store
                .distribution()
                .await
                .context("reading Citus metadata")?
            {
                for (table, distributed) in tables {
                    let state = if distributed {
                        "distributed by user"
                    } else {
                        "local (not distributed)"
                    };
                    println!("citus   {table}: {state}");
                }
            }
            store.close().await;
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
        Command::Token { user, ttl, claim } => {
            // With the configured iss/aud, so that this server accepts it.
            let token = mint_configured_token(&config.auth, &user, ttl, claim)
                .context("BETTER_AUTH_SECRET: not set; `todo-api token` signs with it")??;
            println!("{token}");
            Ok(())
        }
        Command::Mcp { user } => {
            let auth = &config.auth;
            let no_auth = auth.secret.is_none() && auth.jwks.is_none() && auth.sessions.is_none();
            if no_auth && !config.server.production {
                config.auth.secret = Some(random_secret());
            }
            // The identity as the server would verify it: a token for
            // `user`, signed with the configured secret.
            let token = mint_configured_token(
                &config.auth,
                &user,
                Duration::from_secs(3600),
                UserClaim::Sub,
            )
            .context(
                "BETTER_AUTH_SECRET: not set; `todo-api mcp` signs its user's identity with it",
            )??;
            // No listener is served: bind a free loopback port.
            config.server.host = "127.0.0.1".into();
            config.server.port = 0;
            let app = Application::build(config).await?;
            app.serve_mcp_stdio(&token).await
        }
    }
}

/// Whether the chat is served, and with which model (docs/chat.md#models).
fn chat_state(config: &Config) -> String {
    match &config.chat {
        None => "off".to_owned(),
        Some(chat) => match &chat.model {
            None => "no model (set OPENAI_API_KEY or another provider's key)".to_owned(),
            Some(m) => format!("{} {}", m.provider, m.model),
        },
    }
}

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let auth = &config.auth;
    let no_auth = auth.secret.is_none() && auth.jwks.is_none() && auth.sessions.is_none();
    let dev_secret = if no_auth && !config.server.production {
        let secret = random_secret();
        config.auth.secret = Some(secret.clone());
        Some(secret)
    } else {
        None
    };
    let app = Application::build(config.clone()).await?;
    // Before the line that says it listens: a SIGTERM from then on is a
    // graceful shutdown.
    let stop = crate::startup::shutdown_signal();
    let base = format!("http://{}:{}", config.server.host, app.port());
    tracing::info!(
        address = %base,
        shared_secret = config.auth.secret.is_some(),
        jwks = config.auth.jwks.as_ref().map(|j| crate::config::mask_url(&j.url)),
        session_tokens = config.auth.sessions.is_some(),
        chat = %chat_state(&config),
        "todo-api listening"
    );
    if let Some(secret) = dev_secret {
        tracing::warn!(
            "DEVELOPMENT AUTH: no BETTER_AUTH_SECRET, BETTER_AUTH_URL, JWKS_URL or session database is set, so this process \
             signs its own tokens with a random secret. Never use this in production."
        );
        let token = mint_token(
            &secret,
            "demo",
            Duration::from_secs(24 * 3600),
            UserClaim::Sub,
        )?;
        println!(
            "\n  Development auth: a token for user `demo`, valid 24 h:\n\n  {token}\n\n  \
             Try it:\n\n  curl -H 'Authorization: Bearer {token}' {base}/api/tasks\n"
        );
        if config.chat.as_ref().is_some_and(|c| c.model.is_some()) {
            println!(
                "  Chat ({}):\n\n  curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\\n    \
                 -d '{{\"message\": \"What is on my list?\"}}' {base}/api/chat\n",
                chat_state(&config)
            );
        }
        if let Some(mcp) = &config.mcp {
            // With MCP_RESOURCE_URL, /mcp takes access tokens for it only.
            let mcp_token = match &mcp.resource {
                Some(resource) => {
                    mint_access_token(&secret, "demo", Duration::from_secs(24 * 3600), resource)?
                }
                None => token.clone(),
            };
            let url = mcp
                .resource
                .clone()
                .unwrap_or_else(|| format!("{base}/mcp"));
            println!("{}", crate::mcp::client_configuration(&url, &mcp_token));
        }
    }
    app.run_until_stopped(stop).await
}
