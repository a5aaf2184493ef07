//! The key operations: create (symmetric, or `ECC_NIST_P384` signing keys), describe, list;
//! enable, disable; schedule and cancel deletion; automatic rotation, rotation on demand, and the
//! list of rotations (symmetric keys only, as in AWS KMS).

use uuid::Uuid;

use super::{description_of, page, tags_of};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, DAY, Kms};
use crate::signing::PrivateKey;
use crate::store::{
    KeyRecord, KeySpec, KeyState, Material, MultiRegion, Origin, fresh_key, key_id_text, new_mrk_id,
};
use crate::wire::{
    CancelKeyDeletionRequest, CreateKeyRequest, DescribeKeyRequest, DisableKeyRequest,
    DisableKeyRotationRequest, Empty, EnableKeyRequest, EnableKeyRotationRequest,
    GetKeyRotationStatusRequest, GetKeyRotationStatusResponse, KeyIdResponse, KeyListEntry,
    KeyMetadata, KeyMetadataResponse, ListKeyRotationsRequest, ListKeyRotationsResponse,
    ListKeysRequest, ListKeysResponse, MultiRegionConfiguration, MultiRegionKey,
    RotateKeyOnDemandRequest, RotationListEntry, ScheduleKeyDeletionRequest,
    ScheduleKeyDeletionResponse,
};

impl Kms {
    /// A key's metadata as DescribeKey answers it.
    pub(super) fn metadata(&self, rec: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.account().to_owned(),
            arn: self.key_arn(rec.id),
            creation_date: rec.created,
            customer_master_key_spec: rec.key_spec.as_str(),
            deletion_date: rec.deletion_date,
            description: rec.description.clone(),
            enabled: rec.state == KeyState::Enabled,
            encryption_algorithms: rec.key_spec.encryption_algorithms(),
            expiration_model: rec.import.as_ref().map(|i| i.expiration_model.clone()),
            key_id: key_id_text(rec.id),
            key_manager: "CUSTOMER",
            key_spec: rec.key_spec.as_str(),
            key_state: format!("{:?}", rec.state),
            key_usage: rec.key_spec.key_usage(),
            multi_region: rec.multi_region.is_some(),
            multi_region_configuration: rec.multi_region.as_ref().map(|m| {
                let key = |region: &str| MultiRegionKey {
                    arn: self.key_arn_in(region, rec.id),
                    region: region.to_owned(),
                };
                MultiRegionConfiguration {
                    multi_region_key_type: if m.primary == self.region() {
                        "PRIMARY"
                    } else {
                        "REPLICA"
                    },
                    primary_key: key(&m.primary),
                    replica_keys: m.replicas.iter().map(|r| key(r)).collect(),
                }
            }),
            origin: rec.origin.as_str(),
            pending_deletion_window_in_days: rec.deletion_date.map(|_| rec.pending_window_days),
            signing_algorithms: rec.key_spec.signing_algorithms(),
            valid_to: rec
                .import
                .as_ref()
                .and_then(|i| i.valid_to)
                .filter(|_| !rec.materials.is_empty()),
        }
    }

    pub(super) fn create_key(
        &self,
        req: CreateKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<KeyMetadataResponse> {
        let spec = key_spec_of(
            req.key_spec.as_deref(),
            req.customer_master_key_spec.as_deref(),
            req.key_usage.as_deref(),
        )?;
        let origin = origin_of(req.origin.as_deref(), spec)?;
        if req.multi_region && origin == Origin::External {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperation,
                "a multi-Region key of imported material is not supported by this KMS",
            ));
        }
        let description = description_of(req.description.get()?)?.unwrap_or_default();
        let tags = tags_of(req.tags)?;
        let now = self.now();
        let rec = KeyRecord {
            id: if req.multi_region {
                new_mrk_id()
            } else {
                Uuid::new_v4()
            },
            description,
            created: now,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            rotation_enabled: false,
            rotation_period_days: 365,
            next_rotation: None,
            tags,
            materials: Vec::new(),
            key_spec: spec,
            private_key: None,
            origin: Origin::AwsKms,
            import: None,
            multi_region: req.multi_region.then(|| MultiRegion {
                primary: self.region().to_owned(),
                replicas: Vec::new(),
            }),
        };
        let rec = match spec {
            KeySpec::SymmetricDefault if origin == Origin::External => KeyRecord {
                state: KeyState::PendingImport,
                origin,
                ..rec
            },
            KeySpec::SymmetricDefault => KeyRecord {
                materials: vec![Material {
                    version: 1,
                    created: now,
                    rotation_type: None,
                    key: fresh_key(),
                }],
                ..rec
            },
            KeySpec::EccNistP384 => KeyRecord {
                private_key: Some(PrivateKey::generate()),
                ..rec
            },
        };
        info.key_arn = Some(self.key_arn(rec.id));
        let mut st = self.write()?;
        self.persist(&rec)?;
        let out = KeyMetadataResponse {
            key_metadata: self.metadata(&rec),
        };
        st.keys.insert(rec.id, rec);
        Ok(out)
    }

    /// Copies the rotation state of the key `arn` names to its replicas, if it is a
    /// multi-Region primary.
    fn sync_replicas_of(&self, arn: &str) -> KmsResult<()> {
        let rec = {
            let st = self.read()?;
            let id = self.resolve(&st, arn, false)?;
            st.keys.get(&id).cloned()
        };
        match rec {
            Some(rec) => self.sync_replicas(&rec),
            None => Ok(()),
        }
    }

    pub(super) fn describe_key(
        &self,
        req: DescribeKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<KeyMetadataResponse> {
        self.with_key(req.key_id, true, info, |rec| {
            Ok(KeyMetadataResponse {
                key_metadata: self.metadata(rec),
            })
        })
    }

    pub(super) fn list_keys(
        &self,
        req: ListKeysRequest,
        _info: &mut AuditInfo,
    ) -> KmsResult<ListKeysResponse> {
        let st = self.read()?;
        let keys = st
            .keys
            .keys()
            .map(|id| KeyListEntry {
                key_arn: self.key_arn(*id),
                key_id: key_id_text(*id),
            })
            .collect();
        let p = page(keys, req.limit, req.marker)?;
        Ok(ListKeysResponse {
            keys: p.items,
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }

    pub(super) fn enable_key(
        &self,
        req: EnableKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        self.set_state(req.key_id, info, |rec| match rec.state {
            KeyState::PendingDeletion | KeyState::PendingImport => Err(ErrorCode::InvalidState),
            _ => {
                rec.state = KeyState::Enabled;
                Ok(())
            }
        })?;
        Ok(Empty {})
    }

    pub(super) fn disable_key(
        &self,
        req: DisableKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        self.set_state(req.key_id, info, |rec| match rec.state {
            KeyState::PendingDeletion | KeyState::PendingImport => Err(ErrorCode::InvalidState),
            _ => {
                rec.state = KeyState::Disabled;
                Ok(())
            }
        })?;
        Ok(Empty {})
    }

    pub(super) fn schedule_key_deletion(
        &self,
        req: ScheduleKeyDeletionRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<ScheduleKeyDeletionResponse> {
        let days = req
            .pending_window_in_days
            .within("PendingWindowInDays", 7..=30, 30)? as u32;
        let now = self.now();
        let deletion = now + f64::from(days) * DAY;
        let region = self.region().to_owned();
        let arn = self.set_state(req.key_id, info, |rec| match rec.state {
            KeyState::PendingDeletion => Err(ErrorCode::InvalidState),
            _ if rec
                .multi_region
                .as_ref()
                .is_some_and(|m| m.primary == region && !m.replicas.is_empty()) =>
            {
                Err(ErrorCode::UnsupportedOperation)
            }
            _ => {
                rec.state = KeyState::PendingDeletion;
                rec.deletion_date = Some(deletion);
                rec.pending_window_days = Some(days);
                Ok(())
            }
        })?;
        Ok(ScheduleKeyDeletionResponse {
            deletion_date: deletion,
            key_id: arn,
            key_state: "PendingDeletion",
            pending_window_in_days: days,
        })
    }

    pub(super) fn cancel_key_deletion(
        &self,
        req: CancelKeyDeletionRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<KeyIdResponse> {
        let arn = self.set_state(req.key_id, info, |rec| match rec.state {
            KeyState::PendingDeletion => {
                // A key of imported material whose material is gone waits for it again.
                rec.state = if rec.origin == Origin::External && rec.materials.is_empty() {
                    KeyState::PendingImport
                } else {
                    KeyState::Disabled
                };
                rec.deletion_date = None;
                rec.pending_window_days = None;
                Ok(())
            }
            _ => Err(ErrorCode::InvalidState),
        })?;
        Ok(KeyIdResponse { key_id: arn })
    }

    pub(super) fn enable_key_rotation(
        &self,
        req: EnableKeyRotationRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        let period = req
            .rotation_period_in_days
            .within("RotationPeriodInDays", 90..=2560, 365)? as u32;
        let now = self.now();
        let region = self.region().to_owned();
        self.set_state(req.key_id, info, |rec| {
            require_symmetric(rec)?;
            require_not_replica(rec, &region)?;
            require_enabled(rec)?;
            rec.rotation_enabled = true;
            rec.rotation_period_days = period;
            rec.next_rotation = Some(now + f64::from(period) * DAY);
            Ok(())
        })
        .and_then(|arn| self.sync_replicas_of(&arn))?;
        Ok(Empty {})
    }

    pub(super) fn disable_key_rotation(
        &self,
        req: DisableKeyRotationRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        let region = self.region().to_owned();
        self.set_state(req.key_id, info, |rec| {
            require_symmetric(rec)?;
            require_not_replica(rec, &region)?;
            if rec.state == KeyState::PendingDeletion {
                return Err(ErrorCode::InvalidState);
            }
            rec.rotation_enabled = false;
            rec.next_rotation = None;
            Ok(())
        })
        .and_then(|arn| self.sync_replicas_of(&arn))?;
        Ok(Empty {})
    }

    pub(super) fn get_key_rotation_status(
        &self,
        req: GetKeyRotationStatusRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<GetKeyRotationStatusResponse> {
        self.with_key(req.key_id, false, info, |rec| {
            let on = rec.rotation_enabled;
            Ok(GetKeyRotationStatusResponse {
                key_id: self.key_arn(rec.id),
                key_rotation_enabled: on,
                next_rotation_date: on.then_some(rec.next_rotation),
                rotation_period_in_days: on.then_some(rec.rotation_period_days),
            })
        })
    }

    pub(super) fn rotate_key_on_demand(
        &self,
        req: RotateKeyOnDemandRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<KeyIdResponse> {
        let now = self.now();
        let region = self.region().to_owned();
        let arn = self.set_state(req.key_id, info, |rec| {
            require_symmetric(rec)?;
            require_not_replica(rec, &region)?;
            require_enabled(rec)?;
            rec.rotate(now, "ON_DEMAND");
            Ok(())
        })?;
        self.sync_replicas_of(&arn)?;
        Ok(KeyIdResponse { key_id: arn })
    }

    pub(super) fn list_key_rotations(
        &self,
        req: ListKeyRotationsRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<ListKeyRotationsResponse> {
        self.with_key(req.key_id, false, info, |rec| {
            if !rec.key_spec.is_symmetric() {
                return Err(self.unsupported_for(rec));
            }
            let rotations = rec
                .materials
                .iter()
                .filter_map(|m| {
                    Some(RotationListEntry {
                        key_id: self.key_arn(rec.id),
                        rotation_date: m.created,
                        rotation_type: m.rotation_type.clone()?,
                    })
                })
                .collect();
            let p = page(rotations, req.limit, req.marker)?;
            Ok(ListKeyRotationsResponse {
                next_marker: p.next_marker,
                rotations: p.items,
                truncated: p.truncated,
            })
        })
    }
}

/// Rotation is for symmetric keys of material made here only: UnsupportedOperation for another
/// (a signing key, a key of imported material), whatever its state.
fn require_symmetric(rec: &KeyRecord) -> Result<(), ErrorCode> {
    if rec.key_spec.is_symmetric() && rec.origin == Origin::AwsKms {
        Ok(())
    } else {
        Err(ErrorCode::UnsupportedOperation)
    }
}

/// The AWS key specs that this service does not make (valid in a request to AWS KMS, so an
/// UnsupportedOperationException here rather than a ValidationException).
const OTHER_AWS_KEY_SPECS: &[&str] = &[
    "ECC_NIST_EDWARDS25519",
    "ECC_NIST_P256",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ML_KEM_1024",
    "ML_KEM_512",
    "ML_KEM_768",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "SM2",
];

/// Every `KeyUsage` AWS KMS knows.
const AWS_KEY_USAGES: &[&str] = &[
    "ENCAPSULATE_DECAPSULATE",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "SIGN_VERIFY",
];

/// CreateKey's spec and usage, checked as AWS KMS checks them: `KeySpec` or the deprecated
/// `CustomerMasterKeySpec` (not both), `SYMMETRIC_DEFAULT` by default; a value AWS does not know
/// is a ValidationException, one it knows but this service does not make an
/// UnsupportedOperationException. A symmetric key's usage is `ENCRYPT_DECRYPT` (the default); an
/// `ECC_NIST_P384` key must say `SIGN_VERIFY` (`KEY_AGREEMENT`, valid in AWS, is unsupported here).
fn key_spec_of(
    key_spec: Option<&str>,
    customer_master_key_spec: Option<&str>,
    usage: Option<&str>,
) -> KmsResult<KeySpec> {
    let validation = |m: String| Err(KmsError::new(ErrorCode::Validation, m));
    let (field, name) = match (key_spec, customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
                 CustomerMasterKeySpec is deprecated."
                    .into(),
            );
        }
        (Some(s), None) => ("keySpec", s),
        (None, Some(s)) => ("customerMasterKeySpec", s),
        (None, None) => ("keySpec", "SYMMETRIC_DEFAULT"),
    };
    let spec = match name {
        "SYMMETRIC_DEFAULT" => KeySpec::SymmetricDefault,
        "ECC_NIST_P384" => KeySpec::EccNistP384,
        other if OTHER_AWS_KEY_SPECS.contains(&other) => {
            return Err(KmsError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "KeySpec {other} is not supported by this KMS: it makes SYMMETRIC_DEFAULT and \
                     ECC_NIST_P384 keys"
                ),
            ));
        }
        other => {
            let mut all: Vec<&str> = OTHER_AWS_KEY_SPECS.to_vec();
            all.extend(["ECC_NIST_P384", "SYMMETRIC_DEFAULT"]);
            all.sort_unstable();
            return validation(format!(
                "1 validation error detected: Value '{other}' at '{field}' failed to satisfy \
                 constraint: Member must satisfy enum value set: [{}]",
                all.join(", ")
            ));
        }
    };
    if let Some(u) = usage.filter(|u| !AWS_KEY_USAGES.contains(u)) {
        return validation(format!(
            "1 validation error detected: Value '{u}' at 'keyUsage' failed to satisfy constraint: \
             Member must satisfy enum value set: [{}]",
            AWS_KEY_USAGES.join(", ")
        ));
    }
    match (spec, usage) {
        (KeySpec::SymmetricDefault, None | Some("ENCRYPT_DECRYPT"))
        | (KeySpec::EccNistP384, Some("SIGN_VERIFY")) => Ok(spec),
        (KeySpec::EccNistP384, None) => validation(
            "You must specify a KeyUsage value for an asymmetric KMS key: SIGN_VERIFY for \
             ECC_NIST_P384"
                .into(),
        ),
        (KeySpec::EccNistP384, Some("KEY_AGREEMENT")) => Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            "KeyUsage KEY_AGREEMENT is not supported by this KMS: ECC_NIST_P384 keys are \
             SIGN_VERIFY",
        )),
        (_, Some(u)) => validation(format!(
            "KeyUsage {u} is not compatible with KeySpec {}",
            spec.as_str()
        )),
    }
}

/// CreateKey's `Origin`: `AWS_KMS` (the default) or, for a symmetric key, `EXTERNAL`; the
/// other AWS origins (a CloudHSM or external key store) are UnsupportedOperation here.
fn origin_of(origin: Option<&str>, spec: KeySpec) -> KmsResult<Origin> {
    match origin {
        None | Some("AWS_KMS") => Ok(Origin::AwsKms),
        Some("EXTERNAL") if spec == KeySpec::SymmetricDefault => Ok(Origin::External),
        Some("EXTERNAL") => Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "Origin EXTERNAL is supported by this KMS for SYMMETRIC_DEFAULT keys only, not {}",
                spec.as_str()
            ),
        )),
        Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            format!("Origin {o} is not supported by this KMS: it has no custom key stores"),
        )),
        Some(other) => Err(KmsError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value '{other}' at 'origin' failed to satisfy \
                 constraint: Member must satisfy enum value set: [AWS_CLOUDHSM, AWS_KMS, \
                 EXTERNAL, EXTERNAL_KEY_STORE]"
            ),
        )),
    }
}

/// Rotation belongs to a multi-Region key's primary: UnsupportedOperation for a replica.
fn require_not_replica(rec: &KeyRecord, region: &str) -> Result<(), ErrorCode> {
    match &rec.multi_region {
        Some(m) if m.primary != region => Err(ErrorCode::UnsupportedOperation),
        _ => Ok(()),
    }
}

/// Rotation needs an enabled key: Disabled for a disabled one, KMSInvalidState otherwise.
fn require_enabled(rec: &KeyRecord) -> Result<(), ErrorCode> {
    match rec.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(ErrorCode::Disabled),
        KeyState::PendingDeletion | KeyState::PendingImport => Err(ErrorCode::InvalidState),
    }
}
