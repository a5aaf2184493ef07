//! The KMS service: state, clock, key resolution and the helpers the operations share (the
//! operations themselves are in `ops`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::audit::{AuditLog, Event};
use crate::credentials::Credentials;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::store::{AliasRecord, Disk, KeyRecord, KeyState};
use crate::wire::{Req, field};

/// Seconds in a day.
pub(crate) const DAY: f64 = 86_400.0;

/// Keys and aliases, as loaded from the data folder and kept in step with it.
pub(crate) struct State {
    pub(crate) keys: BTreeMap<Uuid, KeyRecord>,
    pub(crate) aliases: BTreeMap<String, AliasRecord>,
}

/// What the audit log should say about a call besides its outcome.
#[derive(Default)]
pub struct AuditInfo {
    pub(crate) key_arn: Option<String>,
    pub(crate) context: Option<BTreeMap<String, String>>,
}

/// An embedded KMS: keys in a data folder, the AWS KMS operations, an audit trail.
pub struct Kms {
    region: String,
    account: String,
    credentials: Credentials,
    state: RwLock<State>,
    pub(crate) disk: Disk,
    audit: AuditLog,
    clock_offset: AtomicI64,
}

impl Kms {
    /// Opens (or creates) the service's data in `data_dir`.
    pub fn open(data_dir: &Path, region: &str, account: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let disk = Disk::open(data_dir)?;
        let credentials = Credentials::load_or_create(&data_dir.join("credentials.json"))?;
        let (keys, aliases) = disk.load()?;
        Ok(Self {
            region: region.to_owned(),
            account: account.to_owned(),
            credentials,
            state: RwLock::new(State { keys, aliases }),
            disk,
            audit: AuditLog::open(&data_dir.join("audit.log"))?,
            clock_offset: AtomicI64::new(0),
        })
    }

    /// The SigV4 credentials clients must sign with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The region in ARNs.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account in ARNs.
    pub(crate) fn account(&self) -> &str {
        &self.account
    }

    /// Moves the clock of key lifecycles (deletion windows, rotation schedules) for tests; the
    /// freshness of request signatures is always checked against the real clock.
    pub fn advance_clock(&self, seconds: i64) {
        self.clock_offset.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Seconds since the epoch, on the lifecycle clock.
    pub(crate) fn now(&self) -> f64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        real + self.clock_offset.load(Ordering::SeqCst) as f64
    }

    /// The secret for an access key, if it is ours.
    pub fn secret_for(&self, access_key: &str) -> Option<&str> {
        (access_key == self.credentials.access_key_id)
            .then_some(self.credentials.secret_access_key.as_str())
    }

    /// The ARN of a key.
    pub(crate) fn key_arn(&self, id: Uuid) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// The ARN of an alias (`name` is `alias/...`).
    pub(crate) fn alias_arn(&self, name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{name}", self.region, self.account)
    }

    /// Records a call in the audit log.
    pub fn audit(
        &self,
        access_key: Option<&str>,
        operation: &str,
        info: &AuditInfo,
        outcome: Result<(), &str>,
    ) {
        self.audit.record(&Event {
            access_key,
            operation,
            key_arn: info.key_arn.as_deref(),
            context: info.context.as_ref(),
            outcome,
        });
    }

    pub(crate) fn read(&self) -> KmsResult<std::sync::RwLockReadGuard<'_, State>> {
        self.state
            .read()
            .map_err(|_| KmsError::internal("state lock poisoned"))
    }

    pub(crate) fn write(&self) -> KmsResult<std::sync::RwLockWriteGuard<'_, State>> {
        self.state
            .write()
            .map_err(|_| KmsError::internal("state lock poisoned"))
    }

    pub(crate) fn persist(&self, rec: &KeyRecord) -> KmsResult<()> {
        self.disk.save_key(rec).map_err(KmsError::internal)
    }

    /// Applies what time has made due: deletions whose window has passed, automatic rotations.
    pub(crate) fn maintain(&self) -> KmsResult<()> {
        let now = self.now();
        let due = |k: &KeyRecord| {
            (k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|d| now >= d))
                || (k.rotation_enabled
                    && k.state == KeyState::Enabled
                    && k.next_rotation.is_some_and(|d| now >= d))
        };
        if !self.read()?.keys.values().any(due) {
            return Ok(());
        }
        let mut st = self.write()?;
        let ids: Vec<Uuid> = st.keys.values().filter(|k| due(k)).map(|k| k.id).collect();
        for id in ids {
            let Some(rec) = st.keys.get_mut(&id) else {
                continue;
            };
            if rec.state == KeyState::PendingDeletion {
                self.disk.remove_key(id).map_err(KmsError::internal)?;
                st.keys.remove(&id);
                let before = st.aliases.len();
                st.aliases.retain(|_, a| a.target != id);
                if st.aliases.len() != before {
                    self.disk
                        .save_aliases(&st.aliases)
                        .map_err(KmsError::internal)?;
                }
            } else {
                rec.rotate(now, "AUTOMATIC");
                rec.next_rotation = Some(now + f64::from(rec.rotation_period_days) * DAY);
                let rec = rec.clone();
                self.persist(&rec)?;
            }
        }
        Ok(())
    }

    /// Resolves a KeyId (key id, key ARN, and with `aliases` also alias name or alias ARN).
    pub(crate) fn resolve(&self, st: &State, key_id: &str, aliases: bool) -> KmsResult<Uuid> {
        let not_found = || KmsError::new(ErrorCode::NotFound, format!("Invalid keyId '{key_id}'"));
        let resource = if let Some(rest) = key_id.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_, service, region, account, resource] = parts.as_slice() else {
                return Err(not_found());
            };
            if *service != "kms" {
                return Err(not_found());
            }
            if *account != self.account {
                return Err(KmsError::new(
                    ErrorCode::AccessDenied,
                    format!("The caller may not use keys of account {account}"),
                ));
            }
            if *region != self.region {
                return Err(not_found());
            }
            (*resource).to_owned()
        } else if key_id.starts_with("alias/") {
            key_id.to_owned()
        } else {
            format!("key/{key_id}")
        };
        let id = if let Some(name) = resource.strip_prefix("key/") {
            Uuid::parse_str(name).map_err(|_| not_found())?
        } else if resource.starts_with("alias/") {
            if !aliases {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "this operation needs a key id or key ARN, not an alias",
                ));
            }
            st.aliases.get(&resource).map(|a| a.target).ok_or_else(|| {
                KmsError::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", self.alias_arn(&resource)),
                )
            })?
        } else {
            return Err(not_found());
        };
        if st.keys.contains_key(&id) {
            Ok(id)
        } else {
            Err(KmsError::new(
                ErrorCode::NotFound,
                format!("Key '{}' does not exist", self.key_arn(id)),
            ))
        }
    }

    /// Whether a key may be used for cryptography now.
    pub(crate) fn usable(&self, rec: &KeyRecord) -> KmsResult<()> {
        match rec.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::new(
                ErrorCode::Disabled,
                format!("{} is disabled.", self.key_arn(rec.id)),
            )),
            KeyState::PendingDeletion => Err(KmsError::new(
                ErrorCode::InvalidState,
                format!("{} is pending deletion.", self.key_arn(rec.id)),
            )),
        }
    }

    /// Runs `f` on the key a request's `KeyId` names (read lock).
    pub(crate) fn with_key<R>(
        &self,
        key_id: Req<field::KeyId>,
        aliases: bool,
        info: &mut AuditInfo,
        f: impl FnOnce(&KeyRecord) -> KmsResult<R>,
    ) -> KmsResult<R> {
        let st = self.read()?;
        let id = self.resolve(&st, &key_id.get()?, aliases)?;
        info.key_arn = Some(self.key_arn(id));
        let rec = st
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        f(rec)
    }

    /// Changes the key a request's `KeyId` names (no aliases) with `f`, which may refuse with an
    /// error code for the key's state; persists the change and returns the key ARN.
    pub(crate) fn set_state(
        &self,
        key_id: Req<field::KeyId>,
        info: &mut AuditInfo,
        f: impl FnOnce(&mut KeyRecord) -> Result<(), ErrorCode>,
    ) -> KmsResult<String> {
        let mut st = self.write()?;
        let id = self.resolve(&st, &key_id.get()?, false)?;
        info.key_arn = Some(self.key_arn(id));
        let arn = self.key_arn(id);
        let rec = st
            .keys
            .get_mut(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        let mut updated = rec.clone();
        f(&mut updated).map_err(|code| {
            KmsError::new(
                code,
                format!(
                    "{arn} is {:?}; the operation is not valid in that state.",
                    rec.state
                ),
            )
        })?;
        self.persist(&updated)?;
        *rec = updated;
        Ok(arn)
    }
}
