//! The KMS service: state, key resolution, and one method per AWS KMS operation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::RwLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit::{AuditLog, Event};
use crate::blob::{self, MAX_PLAINTEXT};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::store::{AliasRecord, Disk, KeyRecord, KeyState, Material, fresh_key, write_atomic};

const DAY: f64 = 86_400.0;

/// The service's SigV4 credentials (generated on first start, stored with mode 0600).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl Credentials {
    /// Reads the credentials stored at `path`, or makes fresh random ones and stores them there
    /// (atomically, mode 0600).
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let c = Credentials {
                    access_key_id: format!(
                        "AKIA{}",
                        random_token(16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                    ),
                    secret_access_key: random_token(
                        40,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                    ),
                };
                let bytes =
                    Zeroizing::new(serde_json::to_vec_pretty(&c).map_err(std::io::Error::other)?);
                write_atomic(path, &bytes)?;
                Ok(c)
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Credentials {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_access_key);
    }
}

struct State {
    keys: BTreeMap<Uuid, KeyRecord>,
    aliases: BTreeMap<String, AliasRecord>,
}

/// What the audit log should say about a call besides its outcome.
#[derive(Default)]
pub struct AuditInfo {
    key_arn: Option<String>,
    context: Option<BTreeMap<String, String>>,
}

/// An embedded KMS: keys in a data folder, the AWS KMS operations, an audit trail.
pub struct Kms {
    region: String,
    account: String,
    credentials: Credentials,
    state: RwLock<State>,
    disk: Disk,
    audit: AuditLog,
    clock_offset: AtomicI64,
}

fn random_token(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes
        .iter()
        .filter_map(|b| {
            alphabet
                .get(usize::from(*b) % alphabet.len())
                .copied()
                .map(char::from)
        })
        .collect()
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

    /// Moves the clock of key lifecycles (deletion windows, rotation schedules) for tests; the
    /// freshness of request signatures is always checked against the real clock.
    pub fn advance_clock(&self, seconds: i64) {
        self.clock_offset.fetch_add(seconds, Ordering::SeqCst);
    }

    fn now(&self) -> f64 {
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

    fn key_arn(&self, id: Uuid) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    fn alias_arn(&self, name: &str) -> String {
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

    fn read(&self) -> KmsResult<std::sync::RwLockReadGuard<'_, State>> {
        self.state
            .read()
            .map_err(|_| KmsError::internal("state lock poisoned"))
    }

    fn write(&self) -> KmsResult<std::sync::RwLockWriteGuard<'_, State>> {
        self.state
            .write()
            .map_err(|_| KmsError::internal("state lock poisoned"))
    }

    fn persist(&self, rec: &KeyRecord) -> KmsResult<()> {
        self.disk.save_key(rec).map_err(KmsError::internal)
    }

    /// Applies what time has made due: deletions whose window has passed, automatic rotations.
    fn maintain(&self) -> KmsResult<()> {
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
    fn resolve(&self, st: &State, key_id: &str, aliases: bool) -> KmsResult<Uuid> {
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

    fn usable(&self, rec: &KeyRecord) -> KmsResult<()> {
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

    fn metadata(&self, rec: &KeyRecord) -> Value {
        let mut m = json!({
            "AWSAccountId": self.account,
            "KeyId": rec.id.to_string(),
            "Arn": self.key_arn(rec.id),
            "CreationDate": rec.created,
            "Enabled": rec.state == KeyState::Enabled,
            "Description": rec.description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeyState": format!("{:?}", rec.state),
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "MultiRegion": false,
        });
        if let (Some(obj), Some(date)) = (m.as_object_mut(), rec.deletion_date) {
            obj.insert("DeletionDate".into(), json!(date));
            obj.insert(
                "PendingDeletionWindowInDays".into(),
                json!(rec.pending_window_days),
            );
        }
        m
    }

    /// Runs one operation on a parsed JSON request.
    pub fn call(&self, operation: &str, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        self.maintain()?;
        match operation {
            "CreateKey" => self.create_key(req, info),
            "DescribeKey" => self.with_key(req, true, info, |_, rec| Ok(json!({ "KeyMetadata": self.metadata(rec) }))),
            "ListKeys" => self.list_keys(req),
            "CreateAlias" => self.put_alias(req, info, true),
            "UpdateAlias" => self.put_alias(req, info, false),
            "DeleteAlias" => self.delete_alias(req, info),
            "ListAliases" => self.list_aliases(req),
            "GenerateDataKey" => self.generate_data_key(req, info, true),
            "GenerateDataKeyWithoutPlaintext" => self.generate_data_key(req, info, false),
            "Encrypt" => self.encrypt(req, info),
            "Decrypt" => self.decrypt(req, info),
            "ReEncrypt" => self.re_encrypt(req, info),
            "EnableKey" => self.set_state(req, info, |rec| match rec.state {
                KeyState::PendingDeletion => Err(ErrorCode::InvalidState),
                _ => {
                    rec.state = KeyState::Enabled;
                    Ok(json!({}))
                }
            }),
            "DisableKey" => self.set_state(req, info, |rec| match rec.state {
                KeyState::PendingDeletion => Err(ErrorCode::InvalidState),
                _ => {
                    rec.state = KeyState::Disabled;
                    Ok(json!({}))
                }
            }),
            "ScheduleKeyDeletion" => self.schedule_deletion(req, info),
            "CancelKeyDeletion" => {
                self.set_state(req, info, |rec| match rec.state {
                    KeyState::PendingDeletion => {
                        rec.state = KeyState::Disabled;
                        rec.deletion_date = None;
                        rec.pending_window_days = None;
                        Ok(json!({}))
                    }
                    _ => Err(ErrorCode::InvalidState),
                })?;
                Ok(json!({ "KeyId": info.key_arn }))
            }
            "EnableKeyRotation" => self.enable_rotation(req, info),
            "DisableKeyRotation" => self.set_state(req, info, |rec| {
                if rec.state == KeyState::PendingDeletion {
                    return Err(ErrorCode::InvalidState);
                }
                rec.rotation_enabled = false;
                rec.next_rotation = None;
                Ok(json!({}))
            }),
            "GetKeyRotationStatus" => self.with_key(req, false, info, |_, rec| {
                let mut v = json!({ "KeyRotationEnabled": rec.rotation_enabled, "KeyId": self.key_arn(rec.id) });
                if rec.rotation_enabled
                    && let Some(o) = v.as_object_mut()
                {
                    o.insert("RotationPeriodInDays".into(), json!(rec.rotation_period_days));
                    o.insert("NextRotationDate".into(), json!(rec.next_rotation));
                }
                Ok(v)
            }),
            "RotateKeyOnDemand" => self.rotate_on_demand(req, info),
            "ListKeyRotations" => self.with_key(req, false, info, |_, rec| {
                let rotations: Vec<Value> = rec
                    .materials
                    .iter()
                    .filter_map(|m: &Material| {
                        let kind = m.rotation_type.as_ref()?;
                        Some(json!({ "KeyId": self.key_arn(rec.id), "RotationDate": m.created, "RotationType": kind }))
                    })
                    .collect();
                page(&rotations, req, "Rotations")
            }),
            other => Err(KmsError::new(ErrorCode::UnknownOperation, format!("Unknown operation {other}"))),
        }
    }

    fn with_key(
        &self,
        req: &Value,
        aliases: bool,
        info: &mut AuditInfo,
        f: impl FnOnce(&State, &KeyRecord) -> KmsResult<Value>,
    ) -> KmsResult<Value> {
        let st = self.read()?;
        let id = self.resolve(&st, required_str(req, "KeyId")?, aliases)?;
        info.key_arn = Some(self.key_arn(id));
        let rec = st
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        f(&st, rec)
    }

    fn set_state(
        &self,
        req: &Value,
        info: &mut AuditInfo,
        f: impl FnOnce(&mut KeyRecord) -> Result<Value, ErrorCode>,
    ) -> KmsResult<Value> {
        let mut st = self.write()?;
        let id = self.resolve(&st, required_str(req, "KeyId")?, false)?;
        info.key_arn = Some(self.key_arn(id));
        let arn = self.key_arn(id);
        let rec = st
            .keys
            .get_mut(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        let mut updated = rec.clone();
        let out = f(&mut updated).map_err(|code| {
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
        Ok(out)
    }

    fn create_key(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        if let Some(usage) = req.get("KeyUsage").and_then(Value::as_str)
            && usage != "ENCRYPT_DECRYPT"
        {
            return Err(KmsError::new(
                ErrorCode::Validation,
                "only KeyUsage ENCRYPT_DECRYPT is supported",
            ));
        }
        for field in ["KeySpec", "CustomerMasterKeySpec"] {
            if let Some(spec) = req.get(field).and_then(Value::as_str)
                && spec != "SYMMETRIC_DEFAULT"
            {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "only SYMMETRIC_DEFAULT keys are supported",
                ));
            }
        }
        let description = optional_str(req, "Description")?
            .unwrap_or_default()
            .to_owned();
        if description.len() > 8192 {
            return Err(KmsError::new(
                ErrorCode::Validation,
                "Description is longer than 8192 characters",
            ));
        }
        let mut tags = Vec::new();
        for t in req
            .get("Tags")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let (Some(k), Some(v)) = (
                t.get("TagKey").and_then(Value::as_str),
                t.get("TagValue").and_then(Value::as_str),
            ) else {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "a tag needs TagKey and TagValue",
                ));
            };
            tags.push((k.to_owned(), v.to_owned()));
        }
        let now = self.now();
        let rec = KeyRecord {
            id: Uuid::new_v4(),
            description,
            created: now,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            rotation_enabled: false,
            rotation_period_days: 365,
            next_rotation: None,
            tags,
            materials: vec![Material {
                version: 1,
                created: now,
                rotation_type: None,
                key: fresh_key(),
            }],
        };
        info.key_arn = Some(self.key_arn(rec.id));
        let mut st = self.write()?;
        self.persist(&rec)?;
        let out = json!({ "KeyMetadata": self.metadata(&rec) });
        st.keys.insert(rec.id, rec);
        Ok(out)
    }

    fn list_keys(&self, req: &Value) -> KmsResult<Value> {
        let st = self.read()?;
        let keys: Vec<Value> = st
            .keys
            .keys()
            .map(|id| json!({ "KeyId": id.to_string(), "KeyArn": self.key_arn(*id) }))
            .collect();
        page(&keys, req, "Keys")
    }

    fn put_alias(&self, req: &Value, info: &mut AuditInfo, create: bool) -> KmsResult<Value> {
        let name = required_str(req, "AliasName")?;
        validate_alias(name)?;
        let mut st = self.write()?;
        let target = self.resolve(&st, required_str(req, "TargetKeyId")?, false)?;
        info.key_arn = Some(self.key_arn(target));
        let now = self.now();
        let mut aliases = st.aliases.clone();
        match (create, aliases.get_mut(name)) {
            (true, Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "An alias with the name {} already exists",
                        self.alias_arn(name)
                    ),
                ));
            }
            (true, None) => {
                aliases.insert(
                    name.to_owned(),
                    AliasRecord {
                        target,
                        created: now,
                        updated: now,
                    },
                );
            }
            (false, Some(a)) => {
                a.target = target;
                a.updated = now;
            }
            (false, None) => {
                return Err(KmsError::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", self.alias_arn(name)),
                ));
            }
        }
        self.disk
            .save_aliases(&aliases)
            .map_err(KmsError::internal)?;
        st.aliases = aliases;
        Ok(json!({}))
    }

    fn delete_alias(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let name = required_str(req, "AliasName")?;
        let mut st = self.write()?;
        let mut aliases = st.aliases.clone();
        let Some(old) = aliases.remove(name) else {
            return Err(KmsError::new(
                ErrorCode::NotFound,
                format!("Alias {} is not found.", self.alias_arn(name)),
            ));
        };
        info.key_arn = Some(self.key_arn(old.target));
        self.disk
            .save_aliases(&aliases)
            .map_err(KmsError::internal)?;
        st.aliases = aliases;
        Ok(json!({}))
    }

    fn list_aliases(&self, req: &Value) -> KmsResult<Value> {
        let st = self.read()?;
        let filter = match optional_str(req, "KeyId")? {
            Some(k) => Some(self.resolve(&st, k, false)?),
            None => None,
        };
        let aliases: Vec<Value> = st
            .aliases
            .iter()
            .filter(|(_, a)| filter.is_none_or(|f| f == a.target))
            .map(|(name, a)| {
                json!({
                    "AliasName": name,
                    "AliasArn": self.alias_arn(name),
                    "TargetKeyId": a.target.to_string(),
                    "CreationDate": a.created,
                    "LastUpdatedDate": a.updated,
                })
            })
            .collect();
        page(&aliases, req, "Aliases")
    }

    /// Encrypts `plaintext` with the current backing key of `key_id`, checking state.
    fn seal_with(
        &self,
        st: &State,
        key_id: &str,
        plaintext: &[u8],
        ctx: &BTreeMap<String, String>,
    ) -> KmsResult<(Uuid, Vec<u8>)> {
        let id = self.resolve(st, key_id, true)?;
        let rec = st
            .keys
            .get(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        self.usable(rec)?;
        let m = rec
            .current()
            .ok_or_else(|| KmsError::internal("key without material"))?;
        Ok((id, blob::seal(id, m.version, &m.key, plaintext, ctx)))
    }

    /// Decrypts a blob, checking the optional KeyId, the key's state and the context.
    fn open_blob(
        &self,
        st: &State,
        blob_bytes: &[u8],
        key_id: Option<&str>,
        ctx: &BTreeMap<String, String>,
    ) -> KmsResult<(Uuid, Zeroizing<Vec<u8>>)> {
        let invalid = || {
            KmsError::new(
                ErrorCode::InvalidCiphertext,
                "The ciphertext is invalid, was modified, or its encryption context does not match.",
            )
        };
        let head = blob::header(blob_bytes).ok_or_else(invalid)?;
        if let Some(k) = key_id {
            let named = self.resolve(st, k, true)?;
            if named != head.key_id {
                return Err(KmsError::new(
                    ErrorCode::IncorrectKey,
                    "The key ID in the request does not identify the key that encrypted the ciphertext.",
                ));
            }
        }
        let rec = st.keys.get(&head.key_id).ok_or_else(invalid)?;
        self.usable(rec)?;
        let m = rec.material(head.material_version).ok_or_else(invalid)?;
        let pt = blob::open(blob_bytes, &m.key, ctx).ok_or_else(invalid)?;
        Ok((head.key_id, pt))
    }

    fn generate_data_key(
        &self,
        req: &Value,
        info: &mut AuditInfo,
        with_plaintext: bool,
    ) -> KmsResult<Value> {
        let ctx = context(req, "EncryptionContext")?;
        info.context = Some(ctx.clone());
        let n = match (req.get("NumberOfBytes"), optional_str(req, "KeySpec")?) {
            (Some(_), Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "Specify NumberOfBytes or KeySpec, not both",
                ));
            }
            (Some(n), None) => {
                let n = n
                    .as_u64()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| {
                        KmsError::new(
                            ErrorCode::Validation,
                            "NumberOfBytes must be between 1 and 1024",
                        )
                    })?;
                n as usize
            }
            (None, Some("AES_256")) => 32,
            (None, Some("AES_128")) => 16,
            (None, Some(other)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    format!("KeySpec {other} is not AES_256 or AES_128"),
                ));
            }
            (None, None) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "Specify NumberOfBytes or KeySpec",
                ));
            }
        };
        let mut data_key = Zeroizing::new(vec![0u8; n]);
        rand::Rng::fill_bytes(&mut rand::rng(), &mut data_key[..]);
        let st = self.read()?;
        let (id, blob) = self.seal_with(&st, required_str(req, "KeyId")?, &data_key, &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        let mut out = json!({ "CiphertextBlob": B64.encode(&blob), "KeyId": self.key_arn(id) });
        if with_plaintext && let Some(o) = out.as_object_mut() {
            o.insert("Plaintext".into(), json!(B64.encode(&data_key[..])));
        }
        Ok(out)
    }

    fn encrypt(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let ctx = context(req, "EncryptionContext")?;
        info.context = Some(ctx.clone());
        let plaintext = Zeroizing::new(required_blob(req, "Plaintext")?);
        if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT {
            return Err(KmsError::new(
                ErrorCode::Validation,
                "Plaintext must be 1 to 4096 bytes",
            ));
        }
        let st = self.read()?;
        let (id, blob) = self.seal_with(&st, required_str(req, "KeyId")?, &plaintext, &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        Ok(
            json!({ "CiphertextBlob": B64.encode(&blob), "KeyId": self.key_arn(id), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" }),
        )
    }

    fn decrypt(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let ctx = context(req, "EncryptionContext")?;
        info.context = Some(ctx.clone());
        check_algorithm(req, "EncryptionAlgorithm")?;
        let blob = required_blob(req, "CiphertextBlob")?;
        let st = self.read()?;
        let (id, pt) = self.open_blob(&st, &blob, optional_str(req, "KeyId")?, &ctx)?;
        info.key_arn = Some(self.key_arn(id));
        Ok(
            json!({ "KeyId": self.key_arn(id), "Plaintext": B64.encode(&pt[..]), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" }),
        )
    }

    fn re_encrypt(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let src_ctx = context(req, "SourceEncryptionContext")?;
        let dst_ctx = context(req, "DestinationEncryptionContext")?;
        info.context = Some(dst_ctx.clone());
        let blob = required_blob(req, "CiphertextBlob")?;
        let st = self.read()?;
        let (src, pt) = self.open_blob(&st, &blob, optional_str(req, "SourceKeyId")?, &src_ctx)?;
        let (dst, out) =
            self.seal_with(&st, required_str(req, "DestinationKeyId")?, &pt, &dst_ctx)?;
        info.key_arn = Some(self.key_arn(dst));
        Ok(json!({
            "CiphertextBlob": B64.encode(&out),
            "SourceKeyId": self.key_arn(src),
            "KeyId": self.key_arn(dst),
            "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        }))
    }

    fn schedule_deletion(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let days = number_in(req, "PendingWindowInDays", 7..=30, 30)? as u32;
        let now = self.now();
        let deletion = now + f64::from(days) * DAY;
        self.set_state(req, info, |rec| match rec.state {
            KeyState::PendingDeletion => Err(ErrorCode::InvalidState),
            _ => {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date = Some(deletion);
                rec.pending_window_days = Some(days);
                Ok(json!({}))
            }
        })?;
        Ok(json!({
            "KeyId": info.key_arn,
            "DeletionDate": deletion,
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": days,
        }))
    }

    fn enable_rotation(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let period = number_in(req, "RotationPeriodInDays", 90..=2560, 365)? as u32;
        let now = self.now();
        self.set_state(req, info, |rec| {
            require_enabled(rec)?;
            rec.rotation_enabled = true;
            rec.rotation_period_days = period;
            rec.next_rotation = Some(now + f64::from(period) * DAY);
            Ok(json!({}))
        })
    }

    fn rotate_on_demand(&self, req: &Value, info: &mut AuditInfo) -> KmsResult<Value> {
        let now = self.now();
        self.set_state(req, info, |rec| {
            require_enabled(rec)?;
            rec.rotate(now, "ON_DEMAND");
            Ok(json!({}))
        })?;
        Ok(json!({ "KeyId": info.key_arn }))
    }
}

/// Rotation needs an enabled key: Disabled for a disabled one, KMSInvalidState otherwise.
fn require_enabled(rec: &KeyRecord) -> Result<(), ErrorCode> {
    match rec.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(ErrorCode::Disabled),
        KeyState::PendingDeletion => Err(ErrorCode::InvalidState),
    }
}

/// An optional whole-number field within `range`, or `default` when absent.
fn number_in(
    req: &Value,
    field: &str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> KmsResult<u64> {
    match req.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
            KmsError::new(
                ErrorCode::Validation,
                format!(
                    "{field} must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            )
        }),
    }
}

fn validate_alias(name: &str) -> KmsResult<()> {
    let body = name.strip_prefix("alias/").unwrap_or("");
    let ok = !body.is_empty()
        && name.len() <= 256
        && !name.starts_with("alias/aws/")
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(KmsError::new(
            ErrorCode::Validation,
            "AliasName must be alias/ followed by letters, digits, /, _ or -, and not start with alias/aws/",
        ))
    }
}

fn required_str<'a>(req: &'a Value, field: &str) -> KmsResult<&'a str> {
    optional_str(req, field)?
        .ok_or_else(|| KmsError::new(ErrorCode::Validation, format!("{field} is required")))
}

fn optional_str<'a>(req: &'a Value, field: &str) -> KmsResult<Option<&'a str>> {
    match req.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KmsError::new(
            ErrorCode::Serialization,
            format!("{field} must be a string"),
        )),
    }
}

fn required_blob(req: &Value, field: &str) -> KmsResult<Vec<u8>> {
    let text = required_str(req, field)?;
    B64.decode(text)
        .map_err(|_| KmsError::new(ErrorCode::Serialization, format!("{field} is not base64")))
}

fn check_algorithm(req: &Value, field: &str) -> KmsResult<()> {
    match optional_str(req, field)? {
        None | Some("SYMMETRIC_DEFAULT") => Ok(()),
        Some(other) => Err(KmsError::new(
            ErrorCode::Validation,
            format!("{field} {other} is not supported"),
        )),
    }
}

fn context(req: &Value, field: &str) -> KmsResult<BTreeMap<String, String>> {
    match req.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(KmsError::new(
                    ErrorCode::Serialization,
                    format!("{field} values must be strings"),
                )),
            })
            .collect(),
        Some(_) => Err(KmsError::new(
            ErrorCode::Serialization,
            format!("{field} must be a map"),
        )),
    }
}

/// `Limit` / `Marker` paging over a list (the marker is the index of the next item).
fn page(items: &[Value], req: &Value, field: &str) -> KmsResult<Value> {
    let limit = number_in(req, "Limit", 1..=1000, 100)? as usize;
    let start = match optional_str(req, "Marker")? {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= items.len())
            .ok_or_else(|| KmsError::new(ErrorCode::Validation, "Invalid Marker"))?,
    };
    let end = (start + limit).min(items.len());
    let mut out =
        json!({ field: items.get(start..end).unwrap_or_default(), "Truncated": end < items.len() });
    if end < items.len()
        && let Some(o) = out.as_object_mut()
    {
        o.insert("NextMarker".into(), json!(end.to_string()));
    }
    Ok(out)
}
