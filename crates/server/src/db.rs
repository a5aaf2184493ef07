//! The database: an embedded SQLite file (the default) or a shared PostgreSQL (many replicas),
//! through sqlx's `Any` driver, so one query text serves both.
//!
//! Queries are written with `$1, $2, …` placeholders, which both back ends read; integers are
//! 64-bit and flags are 0/1 integers on both. Each back end has its own migrations
//! (`migrations/sqlite`, `migrations/postgres`) kept in step, version for version.
//!
//! [`Db`] is an executor like sqlx's pool, and more: when PostgreSQL refuses a new connection's
//! credentials (a password rotated in Secrets Manager), it asks its [`Credentials`] for the
//! current ones, points the pool at them and tries once more, so a rotation costs no request.
//! Connections already open keep working and drain as the pool recycles them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use either::Either;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use futures_util::TryStreamExt as _;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyQueryResult, AnyRow};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions as _, Execute, Executor, Transaction};

/// The migrations of each back end, embedded in the binary.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// See [`SQLITE_MIGRATOR`].
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a [`Db`] speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One process's file.
    Sqlite,
    /// Shared by every replica.
    Postgres,
}

/// Where fresh PostgreSQL credentials come from (Secrets Manager, Parameter Store).
pub trait Credentials: Send + Sync {
    /// The connect options with the credentials as they are now, first, and others worth
    /// trying after them when `refused` (the database has just refused the last ones: a source
    /// in the middle of a rotation adds the pending version). The error is a sentence that names
    /// the source, never a secret.
    fn current(&self, refused: bool) -> BoxFuture<'_, Result<Vec<AnyConnectOptions>, String>>;
}

/// A pool on either back end.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    credentials: Option<Arc<dyn Credentials>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How long a request waits for a connection before it is answered 503 (a database that is down
/// must not hold requests for the default 30 s).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) an SQLite database file and applies pending migrations.
pub async fn open(path: &Path) -> Result<Db, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rwc", url_path(path));
    let options = AnyConnectOptions::from_url(&url.parse().map_err(bad_url)?)?
        .disable_statement_logging()
        .clone();
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL + NORMAL: a commit survives a process crash; only an OS crash can lose the
                // last transactions, never corrupt the file.
                conn.execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    SQLITE_MIGRATOR.run(&pool).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(Db {
        pool,
        backend: Backend::Sqlite,
        credentials: None,
    })
}

/// How a PostgreSQL pool is sized.
#[derive(Clone, Copy, Debug)]
pub struct PoolSize {
    /// Most connections this replica opens.
    pub max: u32,
    /// A connection is closed (when next released, never mid-query) once this old, so a rotated
    /// password is in use everywhere soon after, and none outlives a second rotation.
    pub max_lifetime: Duration,
}

impl Default for PoolSize {
    fn default() -> Self {
        Self {
            max: 16,
            max_lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// Connects to PostgreSQL and applies pending migrations (one replica at a time: sqlx takes an
/// advisory lock around them). With `credentials`, the options come from there and are asked for
/// again whenever the database refuses them.
pub async fn connect_postgres(
    options: AnyConnectOptions,
    size: PoolSize,
    credentials: Option<Arc<dyn Credentials>>,
) -> Result<Db, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(size.max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .max_lifetime(size.max_lifetime)
        .connect_lazy_with(options.disable_statement_logging().clone());
    let db = Db {
        pool,
        backend: Backend::Postgres,
        credentials,
    };
    // Through `db`, so a refused first connection reads the credentials again.
    let conn = db.acquire().await?;
    drop(conn);
    POSTGRES_MIGRATOR.run(&db.pool).await?;
    Ok(db)
}

/// PostgreSQL connect options from a `postgres://` URL.
pub fn postgres_options(url: &str) -> Result<AnyConnectOptions, sqlx::Error> {
    sqlx::any::install_default_drivers();
    AnyConnectOptions::from_url(&url.parse().map_err(bad_url)?)
}

fn bad_url(e: impl std::fmt::Display) -> sqlx::Error {
    sqlx::Error::Configuration(format!("not a database URL: {e}").into())
}

/// `path` for an `sqlite://` URL: percent-encoded where a URL would misread it.
fn url_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the database refused a connection's credentials (SQLSTATE class 28).
pub fn credentials_refused(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("28")))
}

/// Whether the database could not be reached at all (down, restarting, out of connections):
/// answered 503, as opposed to a query that failed.
pub fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| matches!(&*c, "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

impl Db {
    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool underneath (for tests and the migrator).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A connection; if the database refused the credentials, the current ones are read and
    /// tried once more.
    pub async fn acquire(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        match self.pool.acquire().await {
            Err(e) if credentials_refused(&e) => {
                let Some(source) = &self.credentials else {
                    return Err(e);
                };
                tracing::warn!("the database refused its credentials; reading them again");
                let candidates = match source.current(true).await {
                    Ok(c) => c,
                    Err(why) => {
                        tracing::error!(error = %why, "could not read the database credentials");
                        return Err(e);
                    }
                };
                let mut last = e;
                for options in candidates {
                    self.pool
                        .set_connect_options(options.disable_statement_logging().clone());
                    match self.pool.acquire().await {
                        Err(e) if credentials_refused(&e) => last = e,
                        r => return r,
                    }
                }
                Err(last)
            }
            r => r,
        }
    }

    /// Reads the credentials again now (the timer's refresh) and uses them for new connections.
    pub async fn refresh_credentials(&self) -> Result<(), String> {
        if let Some(source) = &self.credentials
            && let Some(options) = source.current(false).await?.into_iter().next()
        {
            self.pool
                .set_connect_options(options.disable_statement_logging().clone());
        }
        Ok(())
    }

    /// Begins a transaction on a connection from [`Db::acquire`].
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        Transaction::begin(self.acquire().await?, None).await
    }

    /// Inside `tx`, holds the account's row until the transaction ends, so that a check of the
    /// account's usage and the insert it guards are one step across replicas. On SQLite, which
    /// runs one writer at a time, it takes the write lock now (a write that changes nothing,
    /// waiting its turn): a transaction that read first and wrote later could not upgrade its
    /// lock while another one read, and would fail with "database is locked".
    pub async fn lock_account(
        &self,
        tx: &mut Transaction<'static, Any>,
        user_id: &str,
    ) -> Result<(), sqlx::Error> {
        let statement = match self.backend {
            Backend::Postgres => "SELECT id FROM users WHERE id = $1 FOR UPDATE",
            Backend::Sqlite => "UPDATE users SET is_admin = is_admin WHERE id = $1",
        };
        sqlx::query(statement)
            .bind(user_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Takes the cluster-wide lock `key` if no one holds it: on PostgreSQL a session advisory
    /// lock on a connection of its own, released by [`Held::release`] or, if this process dies,
    /// by the database when the connection drops. SQLite has one process: always `Some`.
    pub async fn try_lock(&self, key: i64) -> Result<Option<Held>, sqlx::Error> {
        if self.backend == Backend::Sqlite {
            return Ok(Some(Held { conn: None, key }));
        }
        let mut conn = self.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        Ok(got.then_some(Held {
            conn: Some(conn),
            key,
        }))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A lock from [`Db::try_lock`].
pub struct Held {
    conn: Option<PoolConnection<Any>>,
    key: i64,
}

impl Held {
    /// Releases the lock and gives the connection back.
    pub async fn release(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(self.key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Never back into the pool still holding the lock: closing it releases it.
                drop(conn.detach());
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Not released (a panic, a cancelled task): close the connection, which releases it.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

impl<'d> Executor<'d> for &'_ Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let db = self.clone();
        Box::pin(sqlx_core::try_stream! {
            let mut conn = db.acquire().await?;
            let mut s = conn.fetch_many(query);
            while let Some(v) = s.try_next().await? {
                r#yield!(v);
            }
            Ok(())
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Any>,
    {
        let db = self.clone();
        Box::pin(async move { db.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::any::AnyTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::any::AnyStatement<'q>, sqlx::Error>> {
        let db = self.clone();
        Box::pin(async move { db.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<sqlx_core::describe::Describe<Any>, sqlx::Error>> {
        let db = self.clone();
        Box::pin(async move { db.acquire().await?.describe(sql).await })
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    now_ms() / 1000
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
