//! `cipherdrop user`: accounts (add, reset a password, quotas) and their API tokens, worked on
//! the data folder's database, with or without a running server.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use crate::database::{DbArgs, database_path};
use crate::parse::parse_size;
use crate::process::runtime;

/// `cipherdrop user`.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add an account; prints a one-time login link unless --password-stdin is given.
    Add {
        /// Account name.
        name: String,
        /// Make it an administrator (may read the audit log).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        common: UserArgs,
    },
    /// An account's API tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show an account's own quotas, or set them (`default`: the server's, from `serve` flags).
    Quota {
        /// Account name.
        name: String,
        /// Unfinished uploads at once (a number, or `default`).
        #[arg(long, value_name = "N|default", value_parser = parse_count_limit)]
        pending_uploads: Option<Limit>,
        /// Bytes unfinished uploads may declare together (a size such as 10G, or `default`).
        #[arg(long, value_name = "SIZE|default", value_parser = parse_size_limit)]
        pending_bytes: Option<Limit>,
        /// Bytes stored, unfinished uploads included (a size such as 1T, or `default`).
        #[arg(long, value_name = "SIZE|default", value_parser = parse_size_limit)]
        stored_bytes: Option<Limit>,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Give an account its own KMS key for new data keys (its uploads, metadata key and file
    /// requests), or show the one it has. Files stored before stay under their key until
    /// `cipherdrop rekey --account NAME` moves them.
    Key {
        /// Account name.
        name: String,
        /// A key id, ARN or alias; `default` for the server's --kms-key-id again.
        #[arg(long, value_name = "KEY|default")]
        kms_key_id: Option<String>,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Reset an account's password (ends its sessions); prints a one-time login link unless
    /// --password-stdin is given.
    ResetPassword {
        /// Account name.
        name: String,
        #[command(flatten)]
        common: UserArgs,
    },
}

/// `cipherdrop user key`: sets (or shows) an account's own KMS key.
fn account_key(name: &str, key: Option<&str>, data_dir: &Path, db: &DbArgs) -> Result<()> {
    runtime()?.block_on(async {
        let db = db.open(data_dir).await?;
        use cipherdrop_server::admin::{account_key, set_account_key};
        match key {
            None => match account_key(&db, name).await? {
                Some(k) => println!("{name}: new data keys under {k} (its own key)"),
                None => println!("{name}: new data keys under the server's --kms-key-id"),
            },
            Some("default") => {
                set_account_key(&db, "system", name, None).await?;
                println!("{name}: new data keys under the server's --kms-key-id from now on");
            }
            Some(k) => {
                set_account_key(&db, "system", name, Some(k)).await?;
                println!(
                    "{name}: new data keys under {k} from now on; move its stored files with \
                     `cipherdrop rekey --account {name} --from OLD --to {k}`"
                );
            }
        }
        Ok(())
    })
}

/// `cipherdrop user token`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token; prints its secret (shown only this once).
    Create {
        /// Account name.
        name: String,
        /// What the token is for.
        #[arg(long = "name", value_name = "LABEL")]
        label: String,
        /// A scope: read (list, download), write (upload, delete), share (links). Repeatable.
        #[arg(long = "scope", required = true, value_parser = ["read", "write", "share"])]
        scopes: Vec<String>,
        /// Lifetime in days (1 to 365).
        #[arg(long, default_value_t = cipherdrop_api::TOKEN_DEFAULT_DAYS)]
        expires_days: u32,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// List an account's tokens (never their secrets).
    List {
        /// Account name.
        name: String,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Revoke a token by id.
    Revoke {
        /// Account name.
        name: String,
        /// The token's id (from `list`).
        id: String,
        /// The server's data folder.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

/// `cipherdrop user token …`.
fn user_token(cmd: TokenCommand) -> Result<()> {
    let data_dir = match &cmd {
        TokenCommand::Create { data_dir, .. }
        | TokenCommand::List { data_dir, .. }
        | TokenCommand::Revoke { data_dir, .. } => data_dir.clone(),
    };
    runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&database_path(&data_dir)).await?;
        let done = async {
            match cmd {
                TokenCommand::Create {
                    name,
                    label,
                    scopes,
                    expires_days,
                    ..
                } => {
                    let req = cipherdrop_api::CreateTokenRequest {
                        name: label,
                        scopes,
                        expires_in_days: Some(expires_days),
                    };
                    let (token, secret) =
                        cipherdrop_server::admin::create_token(&db, &name, &req).await?;
                    println!(
                        "API token {} for {name} ({}; expires at unix {}), shown only now:\n  {}",
                        token.id,
                        token.scopes.join(", "),
                        token.expires_at,
                        secret.as_str()
                    );
                }
                TokenCommand::List { name, .. } => {
                    for t in cipherdrop_server::admin::tokens(&db, &name).await? {
                        let state = if t.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "live"
                        };
                        println!(
                            "{}  {:<24} {:<18} expires {}  last used {}  {state}",
                            t.id,
                            t.name,
                            t.scopes.join(","),
                            t.expires_at,
                            t.last_used_at.map_or("never".to_owned(), |u| u.to_string())
                        );
                    }
                }
                TokenCommand::Revoke { name, id, .. } => {
                    cipherdrop_server::admin::revoke_token(&db, &name, &id).await?;
                    println!("token {id} of {name} revoked");
                }
            }
            Ok::<_, cipherdrop_server::ApiError>(())
        }
        .await;
        db.close().await;
        done.map_err(|e| anyhow::anyhow!("{}", e.message))
    })
}

/// Options shared by the `user` commands.
#[derive(Args, Debug)]
pub struct UserArgs {
    /// The server's data folder.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The app's URL, for the printed link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    public_url: String,
    #[command(flatten)]
    db: DbArgs,
}

/// A quota setting of `cipherdrop user quota`: a value, or `default`.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// Back to the server's default.
    Default,
    /// The account's own limit.
    Value(u64),
}

impl Limit {
    fn column(self) -> Option<i64> {
        match self {
            Limit::Default => None,
            Limit::Value(v) => Some(i64::try_from(v).unwrap_or(i64::MAX)),
        }
    }
}

fn parse_size_limit(s: &str) -> Result<Limit, String> {
    if s == "default" {
        Ok(Limit::Default)
    } else {
        parse_size(s).map(Limit::Value)
    }
}

fn parse_count_limit(s: &str) -> Result<Limit, String> {
    if s == "default" {
        Ok(Limit::Default)
    } else {
        s.parse::<u64>()
            .map(Limit::Value)
            .map_err(|_| format!("{s:?} is neither a number nor \"default\""))
    }
}

fn read_password(stdin: bool) -> Result<Option<zeroize::Zeroizing<String>>> {
    if !stdin {
        return Ok(None);
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().read_line(&mut line)?;
    let p = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Some(p))
}

/// `cipherdrop user quota`: sets what is given, then prints the account's own quotas.
fn user_quota(name: &str, data_dir: &Path, settings: [Option<Limit>; 3]) -> Result<()> {
    runtime()?.block_on(async {
        let db = cipherdrop_server::db::open(&database_path(data_dir)).await?;
        let mut o = cipherdrop_server::admin::quota(&db, name).await?;
        let [uploads, pending, stored] = settings;
        if settings.iter().any(Option::is_some) {
            if let Some(l) = uploads {
                o.quota_pending_uploads = l.column();
            }
            if let Some(l) = pending {
                o.quota_pending_bytes = l.column();
            }
            if let Some(l) = stored {
                o.quota_stored_bytes = l.column();
            }
            cipherdrop_server::admin::set_quota(&db, name, o).await?;
        }
        let text = |v: Option<i64>| v.map_or("the server's default".to_owned(), |n| n.to_string());
        println!(
            "{name}: pending uploads {}; pending bytes {}; stored bytes {}",
            text(o.quota_pending_uploads),
            text(o.quota_pending_bytes),
            text(o.quota_stored_bytes)
        );
        db.close().await;
        Ok(())
    })
}

/// `cipherdrop user ...`.
pub fn run(cmd: UserCommand) -> Result<()> {
    let (name, admin, common, add) = match cmd {
        UserCommand::Token(cmd) => return user_token(cmd),
        UserCommand::Quota {
            name,
            pending_uploads,
            pending_bytes,
            stored_bytes,
            data_dir,
        } => {
            return user_quota(
                &name,
                &data_dir,
                [pending_uploads, pending_bytes, stored_bytes],
            );
        }
        UserCommand::Key {
            name,
            kms_key_id,
            data_dir,
            db,
        } => return account_key(&name, kms_key_id.as_deref(), &data_dir, &db),
        UserCommand::Add {
            name,
            admin,
            common,
        } => (name, admin, common, true),
        UserCommand::ResetPassword { name, common } => (name, false, common, false),
    };
    let password = read_password(common.password_stdin)?;
    runtime()?.block_on(async {
        let db = common.db.open(&common.data_dir).await?;
        let pw = password.as_deref().map(String::as_str);
        let token = if add {
            cipherdrop_server::admin::add_user(&db, &name, pw, admin).await?
        } else {
            cipherdrop_server::admin::reset_password(&db, &name, pw).await?
        };
        match token {
            Some(t) => println!(
                "one-time login link for {name} (valid 24 hours):\n  {}",
                login_link(&common.public_url, &t)
            ),
            None => println!("{name}: password set"),
        }
        db.close().await;
        Ok(())
    })
}

/// The one-time login link printed for an account.
pub fn login_link(public_url: &str, token: &str) -> String {
    // In the fragment: browsers never send it to the server, so no log line can hold it.
    format!("{}/#login={token}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_is_a_size_a_count_or_the_default() {
        assert!(matches!(parse_size_limit("default"), Ok(Limit::Default)));
        assert!(matches!(parse_size_limit("10G"), Ok(Limit::Value(v)) if v == 10 << 30));
        assert!(matches!(parse_count_limit("7"), Ok(Limit::Value(7))));
        assert!(parse_count_limit("7G").is_err());
    }
}
