//! Private file metadata: the name and type, sealed by `cipherdrop-core` (the CLI reads and
//! writes the same form) under the account's metadata key, which this tab asks for once (one KMS
//! call) and keeps only in memory until logout. Names sealed the old way, under each file's data
//! key, are opened with that key once and sealed again under the account key.

use std::cell::RefCell;
use std::collections::HashMap;

pub use cipherdrop_core::metadata::{FileMeta, MetaError, SECRET_TEXT_TYPE, open};
use cipherdrop_core::metadata::{SealedUnder, open_for_account, seal_for_account, sealed_under};
use zeroize::Zeroizing;

use crate::api::{self, ApiError};

/// Encrypts `meta` for object `object_id` under `data_key` (a share link's key); returns the
/// stored string.
pub fn seal(meta: &FileMeta, data_key: &[u8; 32], object_id: &str) -> String {
    cipherdrop_core::metadata::seal(meta, data_key, object_id, &mut rand::rng())
}

/// The versions of the account's metadata key this tab was given, and the newest one.
#[derive(Default)]
struct Keys {
    current: Option<u32>,
    by_version: HashMap<u32, Zeroizing<[u8; 32]>>,
}

thread_local! {
    static KEYS: RefCell<Keys> = RefCell::default();
}

/// Forgets every metadata key (logout, another account).
pub fn forget() {
    KEYS.with(|k| *k.borrow_mut() = Keys::default());
}

/// Keeps a released version (and what the server says is newest) for the rest of the session.
fn remember(version: u32, current: u32, key: Zeroizing<[u8; 32]>) {
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        k.current = Some(k.current.map_or(current, |c| c.max(current)));
        k.by_version.insert(version, key);
    });
}

fn cached(version: Option<u32>) -> Option<(u32, Zeroizing<[u8; 32]>)> {
    KEYS.with(|k| {
        let k = k.borrow();
        let v = version.or(k.current)?;
        k.by_version.get(&v).map(|key| (v, key.clone()))
    })
}

/// Version `version` of the account's key (`None`: the newest), from this tab's memory or, the
/// first time, from the server.
async fn key(version: Option<u32>) -> Result<(u32, Zeroizing<[u8; 32]>), ApiError> {
    if let Some(found) = cached(version) {
        return Ok(found);
    }
    let (v, current, key) = api::metadata_key(version).await?;
    remember(v, current, key.clone());
    match version {
        Some(_) => Ok((v, key)),
        // The newest, as the server says (it may be another version than the one sent).
        None => match cached(Some(current)) {
            Some(found) => Ok(found),
            None => Ok((v, key)),
        },
    }
}

/// Makes a new version of the account's key; new names, and old ones as the list reads them, are
/// sealed under it. Returns the new version.
pub async fn rotate() -> Result<u32, ApiError> {
    let (version, current, key) = api::rotate_metadata_key().await?;
    remember(version, current, key);
    Ok(version)
}

fn current() -> Option<u32> {
    KEYS.with(|k| k.borrow().current)
}

/// Seals `meta` for object `object_id` under the account's newest metadata key.
pub async fn seal_for_owner(meta: &FileMeta, object_id: &str) -> Result<String, ApiError> {
    let (version, key) = key(None).await?;
    Ok(seal_for_account(
        meta,
        &key,
        version,
        object_id,
        &mut rand::rng(),
    ))
}

/// A listed file's name and type. An old-form name costs its data key's release once: it is
/// sealed again under the account key and stored, so the next visit needs no such call.
pub async fn open_listed(stored: &str, object_id: &str) -> Result<FileMeta, String> {
    match sealed_under(stored).map_err(|e| e.to_string())? {
        SealedUnder::AccountKey(version) => {
            let (_, key) = key(Some(version)).await.map_err(|e| e.to_string())?;
            let meta =
                open_for_account(stored, &key, version, object_id).map_err(|e| e.to_string())?;
            // Sealed under a version older than the newest (a rotation): move it on.
            if current().is_some_and(|c| c > version) {
                reseal(&meta, object_id).await;
            }
            Ok(meta)
        }
        SealedUnder::FileKey => {
            let data_key = api::release_key(object_id)
                .await
                .map_err(|e| e.to_string())?;
            let meta = open(stored, data_key.as_bytes(), object_id).map_err(|e| e.to_string())?;
            drop(data_key);
            reseal(&meta, object_id).await;
            Ok(meta)
        }
    }
}

/// Stores `meta` sealed under the newest key. Best effort: if it fails, the next visit tries
/// again.
async fn reseal(meta: &FileMeta, object_id: &str) {
    if let Ok(sealed) = seal_for_owner(meta, object_id).await {
        let _ = api::set_metadata(object_id, sealed).await;
    }
}
