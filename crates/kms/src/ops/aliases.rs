//! The alias operations: create, update (re-point), delete, list.

use super::page;
use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, Kms};
use crate::store::{AliasRecord, KeyState};
use crate::wire::{
    AliasListEntry, CreateAliasRequest, DeleteAliasRequest, Empty, ListAliasesRequest,
    ListAliasesResponse, UpdateAliasRequest,
};

impl Kms {
    pub(super) fn create_alias(
        &self,
        req: CreateAliasRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        self.put_alias(req, info, true)
    }

    pub(super) fn update_alias(
        &self,
        req: UpdateAliasRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        self.put_alias(req, info, false)
    }

    /// Creates (`create`) or re-points an alias; its target may not be pending deletion, and a
    /// re-pointed alias keeps to keys of one spec.
    fn put_alias(
        &self,
        req: CreateAliasRequest,
        info: &mut AuditInfo,
        create: bool,
    ) -> KmsResult<Empty> {
        let name = req.alias_name.get()?;
        validate_alias(&name)?;
        let mut st = self.write()?;
        let target = self.resolve(&st, &req.target_key_id.get()?, false)?;
        info.key_arn = Some(self.key_arn(target));
        // As AWS: no alias is made for, or moved to, a key that is pending deletion.
        if st
            .keys
            .get(&target)
            .is_some_and(|k| k.state == KeyState::PendingDeletion)
        {
            return Err(KmsError::new(
                ErrorCode::InvalidState,
                format!("{} is pending deletion.", self.key_arn(target)),
            ));
        }
        let now = self.now();
        let mut aliases = st.aliases.clone();
        match (create, aliases.get_mut(&name)) {
            (true, Some(_)) => {
                return Err(KmsError::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "An alias with the name {} already exists",
                        self.alias_arn(&name)
                    ),
                ));
            }
            (true, None) => {
                aliases.insert(
                    name,
                    AliasRecord {
                        target,
                        created: now,
                        updated: now,
                    },
                );
            }
            (false, Some(a)) => {
                // As AWS: the new key must be of the same kind (symmetric or asymmetric) and
                // usage as the current one, so code that uses the alias keeps working.
                let spec = |id| st.keys.get(id).map(|k| k.key_spec);
                if let (Some(now_spec), Some(new_spec)) = (spec(&a.target), spec(&target))
                    && now_spec != new_spec
                {
                    return Err(KmsError::new(
                        ErrorCode::Validation,
                        format!(
                            "{} points at a {} ({}) key; {} is a {} ({}) key. Delete the alias \
                             and create it again to point it at another kind of key.",
                            self.alias_arn(&name),
                            now_spec.as_str(),
                            now_spec.key_usage(),
                            self.key_arn(target),
                            new_spec.as_str(),
                            new_spec.key_usage()
                        ),
                    ));
                }
                a.target = target;
                a.updated = now;
            }
            (false, None) => {
                return Err(KmsError::new(
                    ErrorCode::NotFound,
                    format!("Alias {} is not found.", self.alias_arn(&name)),
                ));
            }
        }
        self.disk
            .save_aliases(&aliases)
            .map_err(KmsError::internal)?;
        st.aliases = aliases;
        Ok(Empty {})
    }

    pub(super) fn delete_alias(
        &self,
        req: DeleteAliasRequest,
        info: &mut AuditInfo,
    ) -> KmsResult<Empty> {
        let name = req.alias_name.get()?;
        let mut st = self.write()?;
        let mut aliases = st.aliases.clone();
        let Some(old) = aliases.remove(&name) else {
            return Err(KmsError::new(
                ErrorCode::NotFound,
                format!("Alias {} is not found.", self.alias_arn(&name)),
            ));
        };
        info.key_arn = Some(self.key_arn(old.target));
        self.disk
            .save_aliases(&aliases)
            .map_err(KmsError::internal)?;
        st.aliases = aliases;
        Ok(Empty {})
    }

    pub(super) fn list_aliases(
        &self,
        req: ListAliasesRequest,
        _info: &mut AuditInfo,
    ) -> KmsResult<ListAliasesResponse> {
        let st = self.read()?;
        let filter = match req.key_id.get()? {
            Some(k) => Some(self.resolve(&st, &k, false)?),
            None => None,
        };
        let aliases = st
            .aliases
            .iter()
            .filter(|(_, a)| filter.is_none_or(|f| f == a.target))
            .map(|(name, a)| AliasListEntry {
                alias_arn: self.alias_arn(name),
                alias_name: name.clone(),
                creation_date: a.created,
                last_updated_date: a.updated,
                target_key_id: crate::store::key_id_text(a.target),
            })
            .collect();
        let p = page(aliases, req.limit, req.marker)?;
        Ok(ListAliasesResponse {
            aliases: p.items,
            next_marker: p.next_marker,
            truncated: p.truncated,
        })
    }
}

/// `alias/` followed by letters, digits, `/`, `_` or `-`; at most 256 bytes; not `alias/aws/`.
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
