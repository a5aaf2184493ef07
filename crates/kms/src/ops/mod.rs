//! The operations: the `X-Amz-Target` name, the typed request it is read into, the typed method
//! that serves it, and the JSON answer. The methods are grouped by concern in the submodules.

mod aliases;
mod crypto;
mod imports;
mod keys;
mod regions;
mod sign;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorCode, KmsError, KmsResult};
use crate::service::{AuditInfo, Kms};
use crate::wire::{self, Body, Count, Opt, field};

/// Declares the operations: the enum, its names, and the dispatch from a name to a method.
macro_rules! operations {
    ($($op:ident => $method:ident),* $(,)?) => {
        /// The operations this service implements, named as in `X-Amz-Target: TrentService.<Op>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($op), "`")]
                $op,
            )*
        }

        impl Operation {
            /// Every operation.
            #[cfg(test)]
            pub const ALL: &[Operation] = &[$(Operation::$op),*];

            /// The operation's name.
            #[cfg(test)]
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op),)*
                }
            }

            /// The operation of that name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }
        }

        impl Kms {
            /// Serves one operation: reads the request into the operation's struct, calls its
            /// method, and serializes the answer.
            fn dispatch(&self, op: Operation, req: &Value, info: &mut AuditInfo) -> KmsResult<Body> {
                match op {
                    $(Operation::$op => run(req, |r| self.$method(r, info)),)*
                }
            }
        }
    };
}

operations! {
    CreateKey => create_key,
    DescribeKey => describe_key,
    ListKeys => list_keys,
    CreateAlias => create_alias,
    UpdateAlias => update_alias,
    DeleteAlias => delete_alias,
    ListAliases => list_aliases,
    GenerateDataKey => generate_data_key,
    GenerateDataKeyWithoutPlaintext => generate_data_key_without_plaintext,
    Encrypt => encrypt,
    Decrypt => decrypt,
    ReEncrypt => re_encrypt,
    EnableKey => enable_key,
    DisableKey => disable_key,
    ScheduleKeyDeletion => schedule_key_deletion,
    CancelKeyDeletion => cancel_key_deletion,
    EnableKeyRotation => enable_key_rotation,
    DisableKeyRotation => disable_key_rotation,
    GetKeyRotationStatus => get_key_rotation_status,
    RotateKeyOnDemand => rotate_key_on_demand,
    ListKeyRotations => list_key_rotations,
    Sign => sign,
    Verify => verify,
    GetPublicKey => get_public_key,
    GetParametersForImport => get_parameters_for_import,
    ImportKeyMaterial => import_key_material,
    DeleteImportedKeyMaterial => delete_imported_key_material,
    ReplicateKey => replicate_key,
    UpdatePrimaryRegion => update_primary_region,
}

impl Kms {
    /// Runs one operation on a parsed JSON request (an object) and answers the JSON body. Time's
    /// due work (deletions, automatic rotations) is applied first.
    pub fn call(&self, operation: &str, req: &Value, info: &mut AuditInfo) -> KmsResult<Body> {
        self.maintain()?;
        let op = Operation::from_name(operation).ok_or_else(|| {
            KmsError::new(
                ErrorCode::UnknownOperation,
                format!("Unknown operation {operation}"),
            )
        })?;
        self.dispatch(op, req, info)
    }
}

/// Reads the request, serves it, serializes the answer.
fn run<Q: DeserializeOwned, R: Serialize>(
    req: &Value,
    serve: impl FnOnce(Q) -> KmsResult<R>,
) -> KmsResult<Body> {
    wire::to_body(&serve(wire::parse(req)?)?)
}

/// A key's description as CreateKey and ReplicateKey take it: at most 8192 bytes.
fn description_of(d: Option<String>) -> KmsResult<Option<String>> {
    match d {
        Some(d) if d.len() > 8192 => Err(KmsError::new(
            ErrorCode::Validation,
            "Description is longer than 8192 characters",
        )),
        d => Ok(d),
    }
}

/// Tags as CreateKey and ReplicateKey take them: each needs `TagKey` and `TagValue`.
fn tags_of(tags: Vec<Option<wire::Tag>>) -> KmsResult<Vec<(String, String)>> {
    tags.into_iter()
        .map(|t| {
            t.map(|t| (t.key, t.value)).ok_or_else(|| {
                KmsError::new(ErrorCode::Validation, "a tag needs TagKey and TagValue")
            })
        })
        .collect()
}

/// One page of a list.
struct Page<T> {
    items: Vec<T>,
    next_marker: Option<String>,
    truncated: bool,
}

/// `Limit` (1 to 1000, default 100) items from `Marker` (the index of the next item). A marker
/// that is not one this service hands out is an InvalidMarkerException, as AWS answers.
fn page<T>(items: Vec<T>, limit: Count, marker: Opt<field::Marker>) -> KmsResult<Page<T>> {
    let limit = limit.within("Limit", 1..=1000, 100)? as usize;
    let total = items.len();
    let start = match marker.get()? {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .ok()
            .filter(|s| *s <= total)
            .ok_or_else(|| KmsError::new(ErrorCode::InvalidMarker, "Invalid Marker"))?,
    };
    let end = start.saturating_add(limit).min(total);
    Ok(Page {
        items: items.into_iter().skip(start).take(limit).collect(),
        next_marker: (end < total).then(|| end.to_string()),
        truncated: end < total,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_found_by_its_name_and_nothing_else_is() {
        assert_eq!(Operation::ALL.len(), 29);
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(*op));
        }
        for name in [
            "",
            "listkeys",
            "TrentService.ListKeys",
            "FlyToTheMoon",
            "ListKeys ",
        ] {
            assert_eq!(Operation::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn pages_follow_limit_and_marker() {
        let marker = |m: &str| -> Opt<field::Marker> {
            wire::parse::<wire::ListKeysRequest>(&serde_json::json!({ "Marker": m }))
                .unwrap()
                .marker
        };
        let p = page((0..5).collect(), Count::Given(Some(2)), Opt::default()).unwrap();
        assert_eq!(
            (p.items, p.next_marker, p.truncated),
            (vec![0, 1], Some("2".into()), true)
        );
        let p = page((0..5).collect(), Count::Absent, marker("4")).unwrap();
        assert_eq!(
            (p.items, p.next_marker, p.truncated),
            (vec![4], None, false)
        );
        let p = page((0..5).collect::<Vec<i32>>(), Count::Absent, marker("5")).unwrap();
        assert!(p.items.is_empty() && !p.truncated);
        for bad in ["6", "x", "-1", "", " 1", "1.0", "99999999999999999999999"] {
            let e = page((0..5).collect::<Vec<i32>>(), Count::Absent, marker(bad))
                .err()
                .unwrap();
            assert_eq!(
                (e.code, e.message.as_str()),
                (ErrorCode::InvalidMarker, "Invalid Marker")
            );
        }
        let e = page(vec![1], Count::Given(Some(0)), Opt::default())
            .err()
            .unwrap();
        assert_eq!(e.message, "Limit must be between 1 and 1000");
    }
}
