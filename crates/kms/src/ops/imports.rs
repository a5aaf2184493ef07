//! Imported key material (bring your own key): GetParametersForImport hands out an RSA wrapping
//! public key and an import token, valid 24 hours; ImportKeyMaterial unwraps the material with
//! the matching private key and makes it the key's one backing key (the same material only, ever);
//! DeleteImportedKeyMaterial deletes it, and the key refuses every cryptographic operation until
//! the same material is imported again. As in AWS KMS, the key must have been made with
//! `Origin=EXTERNAL`; here only symmetric keys take imported material.
//!
//! The wrapping private keys (`wrapping`) live in memory only: after a restart, ask for new
//! parameters.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, DAY, Kms};
use crate::store::{Import, KeySpec, KeyState, Material, Origin};
use crate::wire::{
    DeleteImportedKeyMaterialRequest, Empty, GetParametersForImportRequest,
    GetParametersForImportResponse, ImportKeyMaterialRequest, ImportKeyMaterialResponse,
};
use crate::wrapping::{ImportParameters, key_size_of, material_digest, wrapping_of};

/// How long an import token and its public key are accepted.
const PARAMETERS_SECONDS: f64 = DAY;
/// The latest `ValidTo` accepted: 365 days from the request.
const MAX_VALID_TO_SECONDS: f64 = 365.0 * DAY;
/// Outstanding parameters kept (the oldest are forgotten first): each holds an RSA private key.
const MAX_OUTSTANDING: usize = 64;
/// `KEY_MATERIAL_EXPIRES`.
const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
/// `KEY_MATERIAL_DOES_NOT_EXPIRE`.
const DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

impl Kms {
    pub(super) fn get_parameters_for_import(
        &self,
        req: GetParametersForImportRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<GetParametersForImportResponse> {
        let key_id = req.key_id;
        let wrapping = wrapping_of(&req.wrapping_algorithm.get()?)?;
        let size = key_size_of(&req.wrapping_key_spec.get()?)?;
        let id = self.with_key(key_id, false, info, |rec| {
            self.require_external(rec)?;
            if rec.state != KeyState::PendingImport {
                return Err(self.invalid_state(rec.id, rec.state));
            }
            Ok(rec.id)
        })?;
        let private_key = PrivateDecryptingKey::generate(size).map_err(KmsError::internal)?;
        let public_key = private_key
            .public_key()
            .as_der()
            .map_err(KmsError::internal)?
            .as_ref()
            .to_vec();
        let mut token = [0u8; 32];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut token);
        let now = self.now();
        let valid_to = now + PARAMETERS_SECONDS;
        let mut outstanding = self
            .imports
            .lock()
            .map_err(|_| KmsError::internal("imports lock poisoned"))?;
        outstanding.retain(|p| p.valid_to > now);
        if outstanding.len() >= MAX_OUTSTANDING {
            outstanding.remove(0);
        }
        outstanding.push(ImportParameters {
            key: id,
            token,
            wrapping,
            private_key: OaepPrivateDecryptingKey::new(private_key).map_err(KmsError::internal)?,
            valid_to,
        });
        Ok(GetParametersForImportResponse {
            key_id: self.key_arn(id),
            import_token: token.to_vec(),
            public_key,
            parameters_valid_to: valid_to,
        })
    }

    pub(super) fn import_key_material(
        &self,
        req: ImportKeyMaterialRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<ImportKeyMaterialResponse> {
        let key_id = req.key_id.get()?;
        let token = req.import_token.get()?;
        let wrapped = req.encrypted_key_material.get()?;
        let valid_to = req.valid_to.get()?;
        let model = req
            .expiration_model
            .get()?
            .unwrap_or_else(|| EXPIRES.to_owned());
        let now = self.now();
        let valid_to = match (model.as_str(), valid_to) {
            (EXPIRES, Some(t)) if t > now && t <= now + MAX_VALID_TO_SECONDS => Some(t),
            (EXPIRES, Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "ValidTo must be in the future and at most 365 days from now",
                ));
            }
            (EXPIRES, None) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES (the \
                     default)",
                ));
            }
            (DOES_NOT_EXPIRE, None) => None,
            (DOES_NOT_EXPIRE, Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    "ValidTo must be omitted when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
                ));
            }
            (other, _) => {
                return Err(KmsError::new(
                    ErrorCode::Validation,
                    format!(
                        "1 validation error detected: Value '{other}' at 'expirationModel' \
                         failed to satisfy constraint: Member must satisfy enum value set: \
                         [{EXPIRES}, {DOES_NOT_EXPIRE}]"
                    ),
                ));
            }
        };

        let mut st = self.write()?;
        let id = self.resolve(&st, &key_id, false)?;
        info.key_arn = Some(self.key_arn(id));
        let rec = st
            .keys
            .get_mut(&id)
            .ok_or_else(|| KmsError::internal("resolved key vanished"))?;
        self.require_external(rec)?;
        if rec.state == KeyState::PendingDeletion {
            return Err(self.invalid_state(id, rec.state));
        }
        let material = self.unwrap_material(id, &token, &wrapped, now)?;
        let digest = material_digest(id, &material);
        if rec.import.as_ref().is_some_and(|i| i.digest != digest) {
            return Err(KmsError::new(
                ErrorCode::IncorrectKeyMaterial,
                format!(
                    "The key material is not the material {} was made for: a key of imported \
                     material takes only the same material again.",
                    self.key_arn(id)
                ),
            ));
        }
        let mut updated = rec.clone();
        updated.import = Some(Import {
            digest: digest.clone(),
            expiration_model: model,
            valid_to,
        });
        if updated.materials.is_empty() {
            updated.materials.push(Material {
                version: 1,
                created: now,
                rotation_type: None,
                key: material,
            });
        }
        if updated.state == KeyState::PendingImport {
            updated.state = KeyState::Enabled;
        }
        self.persist(&updated)?;
        *rec = updated;
        Ok(ImportKeyMaterialResponse {
            key_id: self.key_arn(id),
            key_material_id: digest,
        })
    }

    pub(super) fn delete_imported_key_material(
        &self,
        req: DeleteImportedKeyMaterialRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        self.set_state(req.key_id, info, |rec| {
            if rec.origin != Origin::External {
                return Err(ErrorCode::UnsupportedOperation);
            }
            rec.drop_imported_material();
            Ok(())
        })?;
        Ok(Empty {})
    }

    /// UnsupportedOperation for a key that was not made for imported material.
    fn require_external(&self, rec: &crate::store::KeyRecord) -> KmsResult<()> {
        if rec.origin == Origin::External && rec.key_spec == KeySpec::SymmetricDefault {
            return Ok(());
        }
        Err(KmsError::new(
            ErrorCode::UnsupportedOperation,
            format!(
                "{} has Origin {}: key material can be imported only into a key made with \
                 Origin EXTERNAL.",
                self.key_arn(rec.id),
                rec.origin.as_str()
            ),
        ))
    }

    /// KMSInvalidStateException naming the key's state.
    fn invalid_state(&self, id: Uuid, state: KeyState) -> KmsError {
        KmsError::new(
            ErrorCode::InvalidState,
            format!(
                "{} is {state:?}; the operation is not valid in that state.",
                self.key_arn(id)
            ),
        )
    }

    /// The 256-bit material `wrapped` holds, opened with the private key of `token`'s
    /// parameters, which must have been issued for key `id` and not have expired.
    fn unwrap_material(
        &self,
        id: Uuid,
        token: &[u8],
        wrapped: &[u8],
        now: f64,
    ) -> KmsResult<Zeroizing<[u8; 32]>> {
        let outstanding = self
            .imports
            .lock()
            .map_err(|_| KmsError::internal("imports lock poisoned"))?;
        let params = outstanding
            .iter()
            .find(|p| p.token.as_slice() == token && p.key == id)
            .ok_or_else(|| {
                KmsError::new(
                    ErrorCode::InvalidImportToken,
                    "The import token is not one issued for this key by GetParametersForImport \
                     (tokens are kept in memory: after a restart, ask for new parameters).",
                )
            })?;
        if now >= params.valid_to {
            return Err(KmsError::new(
                ErrorCode::ExpiredImportToken,
                "The import token has expired: its 24 hours have passed. Ask for new parameters.",
            ));
        }
        let opened = params.unwrap(wrapped).ok_or_else(|| {
            KmsError::new(
                ErrorCode::InvalidCiphertext,
                "The wrapped key material does not open with the import parameters' private \
                 key and wrapping algorithm.",
            )
        })?;
        let mut material = Zeroizing::new([0u8; 32]);
        if opened.len() != material.len() {
            return Err(KmsError::new(
                ErrorCode::IncorrectKeyMaterial,
                format!(
                    "The key material is {} bytes; a SYMMETRIC_DEFAULT key takes 256-bit (32-byte) \
                     material.",
                    opened.len()
                ),
            ));
        }
        material.copy_from_slice(&opened);
        Ok(material)
    }
}
