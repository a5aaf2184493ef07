//! Accounts: argon2id password hashes, one-time login links and sessions.
//!
//! Session and link tokens are 256-bit random values; the database keeps only their SHA-256, so
//! a copy of the database does not log anyone in.

use std::time::Duration;

use crate::db::Db;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use sha2::{Digest as _, Sha256};
use sqlx::Row as _;
use zeroize::Zeroizing;

use crate::db::now;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// How long a one-time login link lasts.
pub const LINK_TTL: Duration = Duration::from_secs(24 * 3600);

/// An account.
#[derive(Clone, Debug)]
pub struct User {
    /// Opaque id.
    pub id: String,
    /// Name.
    pub username: String,
    /// May read the audit log.
    pub is_admin: bool,
}

/// Errors of account administration.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Name taken.
    #[error("an account named {0:?} already exists")]
    Exists(String),
    /// No such account.
    #[error("no account named {0:?}")]
    NoSuchUser(String),
    /// Name not acceptable.
    #[error("account names are 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName,
    /// Password too short.
    #[error("passwords need at least {MIN_PASSWORD_LEN} characters")]
    WeakPassword,
    /// Hashing failed.
    #[error("password hashing failed")]
    Hash,
    /// A setting out of its bounds, in words.
    #[error("{0}")]
    Invalid(String),
    /// Database.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (argon2id, random salt) off the async threads (the CLI's way; the server
/// runs [`hash_password_now`] on its hashing threads, see `limiter::HashGate`).
pub async fn hash_password(password: &str) -> Result<String, AccountError> {
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || hash_password_now(&password))
        .await
        .map_err(|_| AccountError::Hash)?
}

/// Hashes a password on this thread, after the length rule.
pub fn hash_password_now(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::WeakPassword);
    }
    hash_secret_now(password)
}

thread_local! {
    /// This thread's argon2 working memory (19 MiB), allocated on its first check and reused by
    /// every later one. Allocating it per check let glibc's heap keep freed blocks (its mmap
    /// threshold grows to their size), so a burst of checks on two threads left the process
    /// 400 MiB larger; with one buffer per hashing thread the peak is two buffers.
    static WORK: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `pwd` and `salt` into `out`, in this thread's reusable memory, wiped afterwards.
fn argon2_into(a: &Argon2<'_>, pwd: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    WORK.with(|work| {
        let Ok(mut work) = work.try_borrow_mut() else {
            return false;
        };
        let need = a.params().block_count();
        if work.len() != need {
            *work = vec![argon2::Block::default(); need];
        }
        let ok = a
            .hash_password_into_with_memory(pwd, salt, out, &mut work[..])
            .is_ok();
        work.fill(argon2::Block::default());
        ok
    })
}

/// Hashes any secret (a share passphrase) like a password, without the length rule, on this
/// thread: a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_secret_now(password: &str) -> Result<String, AccountError> {
    use argon2::password_hash::{Output, ParamsString, PasswordHash};
    let mut salt = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
    let a = argon2();
    let mut out = Zeroizing::new([0u8; 32]);
    if !argon2_into(&a, password.as_bytes(), &salt, &mut out[..]) {
        return Err(AccountError::Hash);
    }
    let salt = SaltString::encode_b64(&salt).map_err(|_| AccountError::Hash)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(u32::from(Version::V0x13)),
        params: ParamsString::try_from(a.params()).map_err(|_| AccountError::Hash)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out[..]).map_err(|_| AccountError::Hash)?),
    };
    Ok(phc.to_string())
}

/// A hash of a random password, checked when the account is unknown so that a login for an
/// unknown name costs the same as one for a known name.
static DUMMY_HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Checks `password` against `hash` (or, with `None`, a dummy hash, so that an unknown account
/// costs the same) on this thread.
pub fn verify_now(password: &str, hash: Option<&str>) -> bool {
    let (hash, real) = match hash {
        Some(h) => (h, true),
        None => (
            DUMMY_HASH
                .get_or_init(|| hash_secret_now("not-a-password-of-anyone").unwrap_or_default())
                .as_str(),
            false,
        ),
    };
    matches_hash(password, hash) && real
}

/// Whether `password` gives the argon2 PHC string `hash` (its own algorithm, version, parameters
/// and salt), compared in constant time.
fn matches_hash(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    argon2_into(
        &Argon2::new(algorithm, version, params),
        password.as_bytes(),
        salt,
        &mut out,
    ) && bool::from(subtle::ConstantTimeEq::ct_eq(&out[..], expected.as_bytes()))
}

/// A fresh random token (256 bits, URL-safe base64).
pub fn new_token() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes[..]);
    Zeroizing::new(B64URL.encode(&bytes[..]))
}

/// SHA-256 of a token: what the database stores.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn user_from_row(r: &sqlx::any::AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        is_admin: r.try_get::<i64, _>("is_admin")? != 0,
    })
}

/// Longest account name.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` could be an account's name (1 to 64 letters, digits, '.', '_' or '-').
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_name(name: &str) -> Result<(), AccountError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(AccountError::BadName)
    }
}

/// Creates an account with an optional password hash.
pub async fn create_user(
    pool: &Db,
    username: &str,
    password_hash: Option<&str>,
    is_admin: bool,
) -> Result<User, AccountError> {
    check_name(username)?;
    let id = uuid::Uuid::new_v4().to_string();
    let result = sqlx::query(
        "INSERT INTO users (id, username, password_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(username)
    .bind(password_hash)
    .bind(i64::from(is_admin))
    .bind(now())
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(User {
            id,
            username: username.to_owned(),
            is_admin,
        }),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Err(AccountError::Exists(username.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The account named `username` and its password hash.
pub async fn find_user(
    pool: &Db,
    username: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, username, is_admin, password_hash FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
        .transpose()
}

/// Sets (or, with `None`, clears) a password, ends every session of the account and deletes
/// its outstanding one-time login links.
pub async fn set_password(pool: &Db, user_id: &str, hash: Option<&str>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM login_links WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Whether any account exists.
pub async fn any_user(pool: &Db) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

/// Makes a one-time login link token for an account.
pub async fn create_login_link(pool: &Db, user_id: &str) -> Result<Zeroizing<String>, sqlx::Error> {
    let token = new_token();
    sqlx::query("INSERT INTO login_links (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(now() + secs(LINK_TTL))
        .execute(pool)
        .await?;
    Ok(token)
}

/// Redeems a link token (once): the account it was for, if valid and unexpired.
pub async fn redeem_login_link(pool: &Db, token: &str) -> Result<Option<User>, sqlx::Error> {
    let row =
        sqlx::query("DELETE FROM login_links WHERE token_hash = $1 RETURNING user_id, expires_at")
            .bind(token_hash(token))
            .fetch_optional(pool)
            .await?;
    let Some(row) = row else { return Ok(None) };
    let expires_at: i64 = row.try_get("expires_at")?;
    if expires_at < now() {
        return Ok(None);
    }
    let user_id: String = row.try_get("user_id")?;
    user_by_id(pool, &user_id).await
}

/// The account with id `id`.
pub async fn user_by_id(pool: &Db, id: &str) -> Result<Option<User>, sqlx::Error> {
    let row = sqlx::query("SELECT id, username, is_admin FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| user_from_row(&r)).transpose()
}

/// Starts a session; returns its token (for the cookie).
pub async fn create_session(
    pool: &Db,
    user_id: &str,
    via_link: bool,
) -> Result<Zeroizing<String>, sqlx::Error> {
    let token = new_token();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, via_link) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash(&token))
    .bind(user_id)
    .bind(now())
    .bind(now() + secs(SESSION_TTL))
    .bind(i64::from(via_link))
    .execute(pool)
    .await?;
    Ok(token)
}

/// The session's account and whether it came from a one-time link without a password set yet.
pub async fn session_user(pool: &Db, token: &str) -> Result<Option<(User, bool)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.username, u.is_admin, CASE WHEN u.password_hash IS NULL THEN 1 ELSE 0 END AS no_password
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now())
    .fetch_optional(pool)
    .await?;
    row.map(|r| Ok((user_from_row(&r)?, r.try_get::<i64, _>("no_password")? != 0)))
        .transpose()
}

/// Ends a session.
pub async fn end_session(pool: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes expired sessions and links.
pub async fn purge_expired(pool: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now())
        .execute(pool)
        .await?;
    sqlx::query("DELETE FROM login_links WHERE expires_at <= $1")
        .bind(now())
        .execute(pool)
        .await?;
    Ok(())
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Gives an account its own KMS key for new data keys (`None`: the server's again); audited.
/// The key is checked with KMS when it is first used; files already stored stay under the
/// key they have until a `cipherdrop rekey --account` moves them.
pub async fn set_account_key(
    db: &Db,
    actor: &str,
    username: &str,
    key_id: Option<&str>,
) -> Result<(), AccountError> {
    if let Some(k) = key_id
        && (k.is_empty()
            || k.len() > 2048
            || k.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(AccountError::Invalid(
            "a KMS key id, ARN or alias is 1 to 2048 characters without spaces".into(),
        ));
    }
    let Some((user, _)) = find_user(db, username).await? else {
        return Err(AccountError::NoSuchUser(username.to_owned()));
    };
    sqlx::query("UPDATE users SET kms_key_id = $1 WHERE id = $2")
        .bind(key_id)
        .bind(&user.id)
        .execute(db)
        .await?;
    let detail = format!(
        "{username}: new data keys under {}",
        key_id.unwrap_or("the server's key")
    );
    crate::audit::AuditLog::new(db.clone())
        .append(&crate::audit::Event {
            actor,
            action: "user.key_set",
            outcome: "ok",
            detail: &detail,
            ..Default::default()
        })
        .await
        .map_err(|e| AccountError::Invalid(format!("the audit log refused the change: {e}")))?;
    Ok(())
}

/// An account's own KMS key, if it has one.
pub async fn account_key(db: &Db, username: &str) -> Result<Option<String>, AccountError> {
    let Some((user, _)) = find_user(db, username).await? else {
        return Err(AccountError::NoSuchUser(username.to_owned()));
    };
    Ok(
        sqlx::query_scalar::<_, Option<String>>("SELECT kms_key_id FROM users WHERE id = $1")
            .bind(&user.id)
            .fetch_one(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[test]
    fn hashes_are_the_argon2_crates_own_in_both_directions() {
        // Ours verify with the crate's verifier, and the crate's (every stored hash so far)
        // verify with ours; wrong passwords fail both ways.
        let ours = hash_secret_now("correct horse battery").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        assert!(argon2().verify_password(b"wrong", &parsed).is_err());
        let salt = SaltString::encode_b64(&[9u8; 16]).unwrap();
        let theirs = argon2()
            .hash_password(b"correct horse battery", &salt)
            .unwrap()
            .to_string();
        assert!(verify_now("correct horse battery", Some(&theirs)));
        assert!(!verify_now("correct horse batterz", Some(&theirs)));
        assert!(
            !verify_now("correct horse battery", None),
            "unknown accounts never match"
        );
        assert!(!verify_now("x", Some("not a hash")));
    }
}
