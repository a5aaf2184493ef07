//! Multi-Region keys: CreateKey with `MultiRegion=true` makes a primary key (id `mrk-…`);
//! ReplicateKey copies it, with the same key id and backing keys, into the service of another
//! region (linked with [`Kms::link_regions`]); UpdatePrimaryRegion makes a replica the primary.
//! Every region's record lists the same primary and replicas. Rotation belongs to the primary and
//! its new backing keys are copied to the replicas, so a ciphertext of any of them opens in each.
//!
//! A change that spans regions takes one region's lock at a time (never two), replica first:
//! an interruption leaves at worst a replica its primary does not list yet, as AWS's own
//! replication is not atomic either.

use uuid::Uuid;

use super::{description_of, tags_of};
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, Kms};
use crate::store::{KeyRecord, KeyState, MultiRegion};
use crate::wire::{
    Empty, ReplicateKeyRequest, ReplicateKeyResponse, Req, TagEntry, UpdatePrimaryRegionRequest,
    field,
};

impl Kms {
    pub(super) fn replicate_key(
        &self,
        req: ReplicateKeyRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<ReplicateKeyResponse> {
        let key_id = req.key_id;
        let region = req.replica_region.get()?;
        check_region(&region, "replicaRegion")?;
        let description = description_of(req.description.get()?)?;
        let tags = tags_of(req.tags)?;
        let (rec, regions) = self.primary_record(key_id, info)?;
        if region == self.region() {
            return Err(KmsError::new(
                ErrorCode::Validation,
                format!(
                    "{} is in {region} already: a replica goes to another region",
                    self.key_arn(rec.id)
                ),
            ));
        }
        if regions.replicas.contains(&region) {
            return Err(KmsError::new(
                ErrorCode::AlreadyExists,
                format!("{} exists already", self.key_arn_in(&region, rec.id)),
            ));
        }
        let peer = self.linked(&region)?;
        let others = regions
            .replicas
            .iter()
            .map(|r| self.linked(r))
            .collect::<KmsResult<Vec<_>>>()?;

        let mut after = regions.clone();
        after.replicas.push(region.clone());
        let replica = KeyRecord {
            description: description.unwrap_or_else(|| rec.description.clone()),
            created: self.now(),
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            tags: tags.clone(),
            multi_region: Some(after.clone()),
            ..rec.clone()
        };
        peer.insert_replica(&replica)?;
        self.set_regions(rec.id, &after)?;
        for other in &others {
            other.set_regions(rec.id, &after)?;
        }
        Ok(ReplicateKeyResponse {
            replica_key_metadata: peer.metadata(&replica),
            replica_policy: default_policy(self.account()),
            replica_tags: tags
                .into_iter()
                .map(|(tag_key, tag_value)| TagEntry { tag_key, tag_value })
                .collect(),
        })
    }

    pub(super) fn update_primary_region(
        &self,
        req: UpdatePrimaryRegionRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        let key_id = req.key_id;
        let region = req.primary_region.get()?;
        check_region(&region, "primaryRegion")?;
        let (rec, regions) = self.primary_record(key_id, info)?;
        if region == self.region() {
            return Ok(Empty {});
        }
        if !regions.replicas.contains(&region) {
            return Err(KmsError::new(
                ErrorCode::NotFound,
                format!(
                    "{} has no replica in {region}: replicate it there first",
                    self.key_arn(rec.id)
                ),
            ));
        }
        let mut replicas: Vec<String> = regions
            .replicas
            .iter()
            .filter(|r| **r != region)
            .cloned()
            .collect();
        replicas.push(self.region().to_owned());
        let after = MultiRegion {
            primary: region.clone(),
            replicas,
        };
        let peers = regions
            .replicas
            .iter()
            .map(|r| self.linked(r))
            .collect::<KmsResult<Vec<_>>>()?;
        // The new primary first: until this region's record changes, both say PRIMARY, never
        // neither.
        for peer in peers.iter().filter(|p| p.region() == region) {
            peer.set_regions(rec.id, &after)?;
        }
        for peer in peers.iter().filter(|p| p.region() != region) {
            peer.set_regions(rec.id, &after)?;
        }
        self.set_regions(rec.id, &after)?;
        Ok(Empty {})
    }

    /// The record and regions of the primary key a request's `KeyId` names (in this region).
    fn primary_record(
        &self,
        key_id: Req<field::KeyId>,
        info: &mut AuditInfo,
    ) -> KmsResult<(KeyRecord, MultiRegion)> {
        self.with_key(key_id, false, info, |rec| {
            let regions = self.primary_of(rec)?.clone();
            Ok((rec.clone(), regions))
        })
    }

    /// The regions of a multi-Region key whose primary is in this region; UnsupportedOperation
    /// for another key (a single-Region key, or a replica).
    pub(crate) fn primary_of<'a>(&self, rec: &'a KeyRecord) -> KmsResult<&'a MultiRegion> {
        match &rec.multi_region {
            Some(m) if m.primary == self.region() => Ok(m),
            Some(m) => Err(KmsError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "{} is a replica key: this operation is for its primary key, in {}",
                    self.key_arn(rec.id),
                    m.primary
                ),
            )),
            None => Err(KmsError::new(
                ErrorCode::UnsupportedOperation,
                format!("{} is not a multi-Region key", self.key_arn(rec.id)),
            )),
        }
    }

    /// The linked service of `region`, or UnsupportedOperation.
    fn linked(&self, region: &str) -> KmsResult<std::sync::Arc<Kms>> {
        self.peer(region).ok_or_else(|| {
            KmsError::new(
                ErrorCode::UnsupportedOperation,
                format!(
                    "this KMS does not serve region {region}: start it with that region linked \
                     (cipherdrop kms serve --replica-region {region}=ADDRESS)"
                ),
            )
        })
    }

    /// Adds a replica record made in another region.
    fn insert_replica(&self, rec: &KeyRecord) -> KmsResult<()> {
        let mut st = self.write()?;
        if st.keys.contains_key(&rec.id) {
            return Err(KmsError::new(
                ErrorCode::AlreadyExists,
                format!("{} exists already", self.key_arn(rec.id)),
            ));
        }
        self.persist(rec)?;
        st.keys.insert(rec.id, rec.clone());
        Ok(())
    }

    /// Records a multi-Region key's new set of regions in this region's record.
    fn set_regions(&self, id: Uuid, regions: &MultiRegion) -> KmsResult<()> {
        self.update_replica(id, |rec| rec.multi_region = Some(regions.clone()))
    }

    /// Changes this region's record of a multi-Region key with `f` and persists it (a key this
    /// region no longer holds is left alone).
    fn update_replica(&self, id: Uuid, f: impl FnOnce(&mut KeyRecord)) -> KmsResult<()> {
        let mut st = self.write()?;
        let Some(rec) = st.keys.get_mut(&id) else {
            return Ok(());
        };
        let mut updated = rec.clone();
        f(&mut updated);
        self.persist(&updated)?;
        *rec = updated;
        Ok(())
    }

    /// Copies a primary key's backing keys and rotation schedule to its replicas (after a
    /// rotation), so that every region opens what any of them sealed.
    pub(crate) fn sync_replicas(&self, rec: &KeyRecord) -> KmsResult<()> {
        let Some(regions) = rec
            .multi_region
            .as_ref()
            .filter(|m| m.primary == self.region())
        else {
            return Ok(());
        };
        for region in &regions.replicas {
            if let Some(peer) = self.peer(region) {
                peer.update_replica(rec.id, |r| {
                    r.materials = rec.materials.clone();
                    r.rotation_enabled = rec.rotation_enabled;
                    r.rotation_period_days = rec.rotation_period_days;
                    r.next_rotation = rec.next_rotation;
                })?;
            }
        }
        Ok(())
    }

    /// After this region's replica of a multi-Region key was deleted: the other regions' records
    /// stop listing it.
    pub(crate) fn forget_replica(&self, rec: &KeyRecord) -> KmsResult<()> {
        let Some(regions) = rec.multi_region.as_ref() else {
            return Ok(());
        };
        let after = MultiRegion {
            primary: regions.primary.clone(),
            replicas: regions
                .replicas
                .iter()
                .filter(|r| r.as_str() != self.region())
                .cloned()
                .collect(),
        };
        for region in regions.regions().filter(|r| *r != self.region()) {
            if let Some(peer) = self.peer(region) {
                peer.set_regions(rec.id, &after)?;
            }
        }
        Ok(())
    }
}

/// A region name as AWS writes them (`us-east-1`, `eu-west-2`, `ap-southeast-3`, ...).
fn check_region(region: &str, field: &str) -> KmsResult<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = match parts.split_last() {
        Some((last, rest)) => {
            region.len() <= 32
                && rest.len() >= 2
                && parts.iter().all(|p| !p.is_empty())
                && rest
                    .iter()
                    .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
                && last.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(KmsError::new(
            ErrorCode::Validation,
            format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
                 Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
            ),
        ))
    }
}

/// The default key policy AWS gives a key (and a replica): the account's IAM policies decide.
fn default_policy(account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
    .to_string()
}
