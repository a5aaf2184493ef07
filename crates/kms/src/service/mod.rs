//! The KMS service: state, clock, key resolution and the helpers the operations share (the
//! operations themselves are in `ops`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cipherdrop_keyfile::Credentials;
use uuid::Uuid;

use crate::audit::{AuditLog, Event};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::store::{AliasRecord, Disk, KeyRecord, KeyState, key_id_text, parse_key_id};
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
    /// The services of the other regions this one replicates multi-Region keys to.
    peers: RwLock<BTreeMap<String, std::sync::Weak<Kms>>>,
    /// Outstanding GetParametersForImport answers (wrapping private keys), in memory only.
    pub(crate) imports: std::sync::Mutex<Vec<crate::wrapping::ImportParameters>>,
}

impl Kms {
    /// Opens (or creates) the service's data in `data_dir`, with the master key in
    /// `data_dir/master.key` (see [`open_with_master_key`](Self::open_with_master_key)).
    pub fn open(data_dir: &Path, region: &str, account: &str) -> std::io::Result<Self> {
        Self::open_with_master_key(
            data_dir,
            region,
            account,
            &data_dir.join(crate::master::MASTER_KEY_FILE),
        )
    }

    /// Opens (or creates) the service's data in `data_dir`; the backing keys are stored encrypted
    /// under the master key in the file `master_key`, which is made on first start.
    ///
    /// Fails, and makes nothing, if `master_key` does not exist while keys encrypted under a
    /// master key do, or if it is not the master key they were encrypted under. Key files of the
    /// older format (backing keys unencrypted) are rewritten encrypted.
    pub fn open_with_master_key(
        data_dir: &Path,
        region: &str,
        account: &str,
        master_key: &Path,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let (disk, (keys, aliases)) = Disk::open(data_dir, master_key)?;
        let credentials = Credentials::load_or_create(&data_dir.join("credentials.json"))?;
        Ok(Self {
            region: region.to_owned(),
            account: account.to_owned(),
            credentials,
            state: RwLock::new(State { keys, aliases }),
            disk,
            audit: AuditLog::open(&data_dir.join("audit.log"))?,
            clock_offset: AtomicI64::new(0),
            imports: std::sync::Mutex::new(Vec::new()),
            peers: RwLock::new(BTreeMap::new()),
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
        self.key_arn_in(&self.region, id)
    }

    /// The ARN of a key in `region` (a multi-Region key's primary or replicas).
    pub(crate) fn key_arn_in(&self, region: &str, id: Uuid) -> String {
        format!(
            "arn:aws:kms:{region}:{}:key/{}",
            self.account,
            key_id_text(id)
        )
    }

    /// Links the services of several regions (each its own `Kms`, data folder and listener), so
    /// that multi-Region keys can be replicated among them. Every service learns of every other.
    pub fn link_regions(services: &[std::sync::Arc<Kms>]) {
        for a in services {
            if let Ok(mut peers) = a.peers.write() {
                for b in services {
                    if b.region != a.region {
                        peers.insert(b.region.clone(), std::sync::Arc::downgrade(b));
                    }
                }
            }
        }
    }

    /// The service of another region, if linked and running.
    pub(crate) fn peer(&self, region: &str) -> Option<std::sync::Arc<Kms>> {
        self.peers.read().ok()?.get(region)?.upgrade()
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

    /// Applies what time has made due: deletions whose window has passed, automatic rotations,
    /// imported material whose `ValidTo` has passed (deleted: the key waits for its import).
    pub(crate) fn maintain(&self) -> KmsResult<()> {
        let now = self.now();
        let expired = |k: &KeyRecord| {
            !k.materials.is_empty()
                && k.import
                    .as_ref()
                    .and_then(|i| i.valid_to)
                    .is_some_and(|t| now >= t)
        };
        let due = |k: &KeyRecord| {
            (k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|d| now >= d))
                || expired(k)
                || (k.rotation_enabled
                    && k.key_spec.is_symmetric()
                    && k.multi_region
                        .as_ref()
                        .is_none_or(|m| m.primary == self.region)
                    && k.state == KeyState::Enabled
                    && k.next_rotation.is_some_and(|d| now >= d))
        };
        if !self.read()?.keys.values().any(due) {
            return Ok(());
        }
        let mut st = self.write()?;
        let ids: Vec<Uuid> = st.keys.values().filter(|k| due(k)).map(|k| k.id).collect();
        // Multi-Region keys whose other regions learn of the change once this lock is released.
        let mut rotated = Vec::new();
        let mut removed = Vec::new();
        for id in ids {
            let Some(rec) = st.keys.get_mut(&id) else {
                continue;
            };
            if rec.state == KeyState::PendingDeletion && rec.deletion_date.is_some_and(|d| now >= d)
            {
                self.disk.remove_key(id).map_err(KmsError::internal)?;
                if let Some(rec) = st.keys.remove(&id)
                    && rec.multi_region.is_some()
                {
                    removed.push(rec);
                }
                let before = st.aliases.len();
                st.aliases.retain(|_, a| a.target != id);
                if st.aliases.len() != before {
                    self.disk
                        .save_aliases(&st.aliases)
                        .map_err(KmsError::internal)?;
                }
            } else if expired(rec) {
                rec.drop_imported_material();
                let rec = rec.clone();
                self.persist(&rec)?;
            } else {
                rec.rotate(now, "AUTOMATIC");
                rec.next_rotation = Some(now + f64::from(rec.rotation_period_days) * DAY);
                let rec = rec.clone();
                self.persist(&rec)?;
                if rec.multi_region.is_some() {
                    rotated.push(rec);
                }
            }
        }
        drop(st);
        for rec in &rotated {
            self.sync_replicas(rec)?;
        }
        for rec in &removed {
            self.forget_replica(rec)?;
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
            parse_key_id(name).ok_or_else(not_found)?
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
            KeyState::PendingImport => Err(KmsError::new(
                ErrorCode::InvalidState,
                format!(
                    "{} is pending import: its key material was deleted, expired or never \
                     imported.",
                    self.key_arn(rec.id)
                ),
            )),
        }
    }

    /// Refuses a key whose `KeyUsage` is not `usage` (`ENCRYPT_DECRYPT` for the encryption
    /// operations, `SIGN_VERIFY` for Sign and Verify) with an InvalidKeyUsageException, as AWS
    /// KMS does.
    pub(crate) fn require_usage(&self, rec: &KeyRecord, usage: &str) -> KmsResult<()> {
        let actual = rec.key_spec.key_usage();
        if actual == usage {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorCode::InvalidKeyUsage,
            format!(
                "{} key usage is {actual} which is not valid for this operation; it needs \
                 {usage}.",
                self.key_arn(rec.id)
            ),
        ))
    }

    /// The UnsupportedOperationException for an operation the key does not allow (rotation of
    /// an asymmetric key, of a key of imported material or of a multi-Region replica, the public
    /// key of a symmetric one, the deletion of a primary that has replicas).
    pub(crate) fn unsupported_for(&self, rec: &KeyRecord) -> KmsError {
        let why = match (&rec.multi_region, rec.origin) {
            (Some(m), _) if m.primary != self.region => format!(
                "is a multi-Region replica key; rotation and the key's regions are managed \
                 through its primary key in {}",
                m.primary
            ),
            (Some(m), _) if !m.replicas.is_empty() && rec.key_spec.is_symmetric() => format!(
                "is a multi-Region primary key with replicas in {}: schedule their deletion \
                 first, or this operation is not valid for it",
                m.replicas.join(", ")
            ),
            (_, crate::store::Origin::External) => {
                "has imported key material (Origin EXTERNAL), which is not valid for this \
                 operation"
                    .to_owned()
            }
            _ => format!(
                "has KeySpec {}, which is not valid for this operation",
                rec.key_spec.as_str()
            ),
        };
        KmsError::new(
            ErrorCode::UnsupportedOperation,
            format!("{} {why}.", self.key_arn(rec.id)),
        )
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
        f(&mut updated).map_err(|code| match code {
            ErrorCode::UnsupportedOperation => self.unsupported_for(rec),
            _ => KmsError::new(
                code,
                format!(
                    "{arn} is {:?}; the operation is not valid in that state.",
                    rec.state
                ),
            ),
        })?;
        self.persist(&updated)?;
        *rec = updated;
        Ok(arn)
    }
}

#[cfg(test)]
mod tests;
