//! Reads on a few shared, pipelined PostgreSQL connections (docs/benchmarks.md).
//!
//! Every statement that only reads, at a cost a page bounds
//! (`Statement::light`: a key, an index range), goes to one of
//! `DB_PIPELINE_CONNECTIONS` tokio-postgres clients, round-robin: queries
//! of concurrent requests on one client are written back to back without
//! waiting for each other's answers, so the database reads many per system
//! call. Writes stay on the sqlx pool ([`super::postgres::PgDriver`]), one
//! connection per transaction: a write waiting on a row lock holds only its
//! own connection, never a shared one with other users' reads behind it.
//! So does a read that may scan (a text search, a count): one connection
//! answers its statements in order, and a second-long scan would hold up
//! every read queued behind it.
//!
//! A pipelined connection is never left in an unknown state: a request
//! that gives up (its timeout, a client that hung up) only drops its wait
//! for an answer; the client reads and discards that answer when it comes.
//! A statement still unanswered well past `STATEMENT_TIMEOUT_MS` (the
//! database cancels it at the timeout itself) retires its connection: the
//! next read opens a new one. A closed connection is replaced the same way.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::BytesMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Row};

use super::sql::{Arg, Dialect, Statement};
use super::{
    ChangeTx, ConversationRow, Driver, KeyRow, MessageRow, MigrateCommand, MigrationState,
    PoolState, StatsRow, StoreError, TagRow, TaskRow,
};

/// Statements kept prepared per connection; beyond it a statement is
/// prepared for its one query and closed after it. The store has a few
/// dozen texts; a list's filters combine into more.
const PREPARED_PER_CONNECTION: usize = 256;

/// How much longer than the statement timeout a read may go unanswered
/// before its connection is given up on: the database cancels it at the
/// timeout, so this much later the connection itself is in doubt.
fn backstop(statement_timeout: Duration) -> Duration {
    statement_timeout
        + (statement_timeout / 5 + Duration::from_millis(50)).min(Duration::from_secs(1))
}

/// The TLS a connection is opened with, as the URL's `sslmode` says.
#[derive(Clone)]
enum Tls {
    Off,
    /// `prefer` / `require`: encrypted, the certificate not verified (as
    /// libpq and sqlx do without a root certificate).
    Unverified(tokio_postgres_rustls::MakeRustlsConnect),
}

/// One open connection and the statements prepared on it.
struct Conn {
    client: Client,
    prepared: Mutex<HashMap<String, tokio_postgres::Statement>>,
}

/// One shared connection, opened on first use and again after it closed.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Arc<Conn>>>,
    /// Held while (re)connecting: one connect at a time per slot.
    connecting: tokio::sync::Mutex<()>,
}

/// The shared read connections.
pub struct Pipeline {
    config: tokio_postgres::Config,
    tls: Tls,
    slots: Vec<Slot>,
    next: AtomicUsize,
    statement_timeout: Duration,
    connect_timeout: Duration,
}

impl Pipeline {
    /// `connections` shared connections to what `config` names, each with
    /// the statement timeout as a startup option.
    pub fn new(
        config: &tokio_postgres::Config,
        connections: usize,
        statement_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        let mut config = config.clone();
        // As sqlx: SCRAM without channel binding.
        config.channel_binding(tokio_postgres::config::ChannelBinding::Disable);
        config.connect_timeout(connect_timeout);
        let ms = statement_timeout.as_millis().max(1);
        // After the URL's own `options`, so that ours is the one that holds.
        let options = match config.get_options() {
            Some(given) if !given.trim().is_empty() => {
                format!("{given} -c statement_timeout={ms}")
            }
            _ => format!("-c statement_timeout={ms}"),
        };
        config.options(options);
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => Tls::Off,
            _ => Tls::Unverified(tokio_postgres_rustls::MakeRustlsConnect::new(unverified())),
        };
        Self {
            config,
            tls,
            slots: (0..connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            statement_timeout,
            connect_timeout,
        }
    }

    /// Open every connection once, so that start-up fails (and sqlx
    /// serves reads) when this client cannot connect where sqlx could.
    pub async fn open(&self) -> Result<(), StoreError> {
        for slot in &self.slots {
            self.conn(slot).await?;
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Conn, StoreError> {
        let connecting = async {
            match &self.tls {
                Tls::Off => {
                    let (client, connection) = self.config.connect(tokio_postgres::NoTls).await?;
                    tokio::spawn(connection);
                    Ok::<_, tokio_postgres::Error>(client)
                }
                Tls::Unverified(tls) => {
                    let (client, connection) = self.config.connect(tls.clone()).await?;
                    tokio::spawn(connection);
                    Ok(client)
                }
            }
        };
        let client = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| StoreError::ConnectTimeout)??;
        Ok(Conn {
            client,
            prepared: Mutex::new(HashMap::new()),
        })
    }

    /// The slot's open connection, opened now if it has none (or it closed).
    async fn conn(&self, slot: &Slot) -> Result<Arc<Conn>, StoreError> {
        if let Some(c) = open_in(slot) {
            return Ok(c);
        }
        let _one = slot.connecting.lock().await;
        if let Some(c) = open_in(slot) {
            return Ok(c);
        }
        let conn = Arc::new(self.connect().await?);
        *lock(&slot.current) = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Run one reading statement on the next connection; its rows.
    pub async fn query(&self, stmt: &Statement) -> Result<Vec<Row>, StoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[i];
        let conn = self.conn(slot).await?;
        let work = run(&conn, stmt);
        match tokio::time::timeout(backstop(self.statement_timeout), work).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => {
                if e.is_closed() {
                    retire(slot, &conn);
                }
                Err(StoreError::Postgres(e))
            }
            Err(_) => {
                // The database did not cancel it at the timeout: the
                // connection is in doubt. Dropping the client closes it.
                retire(slot, &conn);
                Err(StoreError::StatementTimedOut)
            }
        }
    }

    /// Connections open (all shared, so none is ever "idle").
    pub fn open_connections(&self) -> u32 {
        self.slots.iter().filter(|s| open_in(s).is_some()).count() as u32
    }

    pub fn close(&self) {
        for slot in &self.slots {
            lock(&slot.current).take();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_in(slot: &Slot) -> Option<Arc<Conn>> {
    lock(&slot.current)
        .as_ref()
        .filter(|c| !c.client.is_closed())
        .cloned()
}

/// Forget `conn` if it is still the slot's: the next read reconnects.
fn retire(slot: &Slot, conn: &Arc<Conn>) {
    let mut current = lock(&slot.current);
    if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
        *current = None;
    }
}

async fn run(conn: &Conn, stmt: &Statement) -> Result<Vec<Row>, tokio_postgres::Error> {
    let args: Vec<PgArg<'_>> = stmt.args.iter().map(PgArg).collect();
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let known = lock(&conn.prepared).get(&stmt.sql).cloned();
    let prepared = match known {
        Some(p) => p,
        None => {
            if lock(&conn.prepared).len() >= PREPARED_PER_CONNECTION {
                // Prepared for this query only, and closed after it.
                return conn.client.query(stmt.sql.as_str(), &params).await;
            }
            let p = conn.client.prepare(&stmt.sql).await?;
            lock(&conn.prepared).insert(stmt.sql.clone(), p.clone());
            p
        }
    };
    conn.client.query(&prepared, &params).await
}

/// An argument, encoded as the type the database inferred for its
/// placeholder (an integer fits any integer column it is compared with).
#[derive(Debug)]
struct PgArg<'a>(&'a Arg);

type EncodeError = Box<dyn StdError + Sync + Send>;

fn int(v: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, EncodeError> {
    match *ty {
        Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
        Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
        _ => v.to_sql(ty, out),
    }
}

impl ToSql for PgArg<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, EncodeError> {
        match self.0 {
            Arg::Int(v) => int(*v, ty, out),
            Arg::SmallInt(v) => int(i64::from(*v), ty, out),
            Arg::Bool(v) => v.to_sql(ty, out),
            Arg::Text(v) => v.to_sql(ty, out),
            Arg::OptText(v) => v.to_sql(ty, out),
            Arg::Time(v) => v.to_sql(ty, out),
            Arg::OptTime(v) => v.to_sql(ty, out),
            Arg::Seq => Err("a change number outside its change".into()),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A rustls client that encrypts without verifying the server's
/// certificate: what `sslmode=prefer` and `require` mean.
fn unverified() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn task_row(r: &Row) -> Result<TaskRow, tokio_postgres::Error> {
    Ok(TaskRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        title: r.try_get(2)?,
        description: r.try_get(3)?,
        completed: r.try_get(4)?,
        priority: r.try_get(5)?,
        category: r.try_get(6)?,
        due_date: r.try_get(7)?,
        version: r.try_get(8)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        tags: r.try_get(11)?,
        seq: r.try_get(12)?,
    })
}

fn decode<T>(
    rows: Vec<Row>,
    one: impl Fn(&Row) -> Result<T, tokio_postgres::Error>,
) -> Result<Vec<T>, StoreError> {
    rows.iter()
        .map(one)
        .collect::<Result<_, _>>()
        .map_err(StoreError::Postgres)
}

/// PostgreSQL with reads pipelined: every other operation is the sqlx
/// driver's.
pub struct Pipelined {
    writes: Arc<dyn Driver>,
    reads: Pipeline,
}

impl Pipelined {
    pub fn new(writes: Arc<dyn Driver>, reads: Pipeline) -> Self {
        Self { writes, reads }
    }
}

#[async_trait]
impl Driver for Pipelined {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn fetch_tasks(&self, stmt: Statement) -> Result<Vec<TaskRow>, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_tasks(stmt).await;
        }
        decode(self.reads.query(&stmt).await?, task_row)
    }

    async fn fetch_stats(&self, stmt: Statement) -> Result<Vec<StatsRow>, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_stats(stmt).await;
        }
        decode(self.reads.query(&stmt).await?, |r| {
            Ok(StatsRow {
                priority: r.try_get("priority")?,
                category: r.try_get("category")?,
                completed: r.try_get("completed")?,
                n: r.try_get("n")?,
            })
        })
    }

    /// Always a scan: on the sqlx driver.
    async fn fetch_tag_counts(&self, stmt: Statement) -> Result<Vec<TagRow>, StoreError> {
        self.writes.fetch_tag_counts(stmt).await
    }

    async fn fetch_count(&self, stmt: Statement) -> Result<i64, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_count(stmt).await;
        }
        decode(self.reads.query(&stmt).await?, |r| r.try_get::<_, i64>(0))?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("a count returned no row".into()))
    }

    async fn fetch_texts(&self, stmt: Statement) -> Result<Vec<String>, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_texts(stmt).await;
        }
        decode(self.reads.query(&stmt).await?, |r| r.try_get(0))
    }

    async fn fetch_key(&self, stmt: Statement) -> Result<Option<KeyRow>, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_key(stmt).await;
        }
        Ok(decode(self.reads.query(&stmt).await?, |r| {
            Ok(KeyRow {
                request_hash: r.try_get("request_hash")?,
                task_id: r.try_get("task_id")?,
                task_version: r.try_get("task_version")?,
                response_body: r.try_get("response_body")?,
            })
        })?
        .into_iter()
        .next())
    }

    async fn execute(&self, stmt: Statement) -> Result<u64, StoreError> {
        self.writes.execute(stmt).await
    }

    async fn change(&self, change: ChangeTx) -> Result<Option<(i64, TaskRow)>, StoreError> {
        self.writes.change(change).await
    }

    async fn execute_all(&self, stmts: Vec<Statement>) -> Result<(), StoreError> {
        self.writes.execute_all(stmts).await
    }

    async fn execute_all_or_none(&self, stmts: Vec<Statement>) -> Result<bool, StoreError> {
        self.writes.execute_all_or_none(stmts).await
    }

    async fn fetch_conversations(
        &self,
        stmt: Statement,
    ) -> Result<Vec<ConversationRow>, StoreError> {
        self.writes.fetch_conversations(stmt).await
    }

    async fn fetch_messages(&self, stmt: Statement) -> Result<Vec<MessageRow>, StoreError> {
        self.writes.fetch_messages(stmt).await
    }

    async fn fetch_ints(&self, stmt: Statement) -> Result<Vec<Vec<i64>>, StoreError> {
        if !(stmt.read_only && stmt.page_bounded) {
            return self.writes.fetch_ints(stmt).await;
        }
        decode(self.reads.query(&stmt).await?, |r| {
            (0..r.len()).map(|i| r.try_get::<_, i64>(i)).collect()
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.writes.ping().await
    }

    fn pool_state(&self) -> PoolState {
        let PoolState { open, idle } = self.writes.pool_state();
        PoolState {
            open: open + self.reads.open_connections(),
            idle,
        }
    }

    fn through_pooler(&self) -> bool {
        self.writes.through_pooler()
    }

    fn changes_at_once(&self) -> bool {
        self.writes.changes_at_once()
    }

    async fn migrate(&self, cmd: MigrateCommand) -> Result<Vec<MigrationState>, StoreError> {
        self.writes.migrate(cmd).await
    }

    async fn distribution(&self) -> Result<Option<Vec<(&'static str, bool)>>, StoreError> {
        self.writes.distribution().await
    }

    async fn close(&self) {
        self.reads.close();
        self.writes.close().await
    }
}
