//! The server's seal over the files of a link to several files: one set key (issued by KMS once
//! per link, under the link's context) seals every file's link-sealed data key, each bound to the
//! link and to its own file, so one KMS call releases the whole set.
//!
//! Format: that of [`crate::sealed`] (`0x01 ‖ nonce ‖ AES-256-GCM ‖ tag` under HKDF-SHA256(set
//! key, label ‖ id), AAD label ‖ 0 ‖ id) with label [`SET_LABEL`] and id `link id ‖ "/" ‖ file
//! id`: an item opens only for the link and the file it was sealed for. What it seals is already
//! sealed under the link key, which the server never holds, so the set key alone opens no file.

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::sealed;

/// The purpose label of a set item.
pub const SET_LABEL: &[u8] = b"cipherdrop/share-set/v1";

/// Length of a set key.
pub const SET_KEY_LEN: usize = 32;

fn id(share_id: &str, object_id: &str) -> String {
    format!("{share_id}/{object_id}")
}

fn key(set_key: &[u8]) -> Result<&[u8; SET_KEY_LEN]> {
    set_key
        .try_into()
        .map_err(|_| Error::InvalidArgument("a set key has 32 bytes"))
}

/// Seals `item` (a file's link-sealed data key) for file `object_id` of link `share_id`.
pub fn seal_item<R: rand_core::CryptoRng + ?Sized>(
    set_key: &[u8],
    share_id: &str,
    object_id: &str,
    item: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    Ok(sealed::seal(
        SET_LABEL,
        key(set_key)?,
        &id(share_id, object_id),
        item,
        rng,
    ))
}

/// Opens what [`seal_item`] made for the same link and file; any other key, link or file, or an
/// altered item, is [`Error::Authentication`].
pub fn open_item(
    set_key: &[u8],
    share_id: &str,
    object_id: &str,
    sealed_item: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    sealed::open(
        SET_LABEL,
        key(set_key)?,
        &id(share_id, object_id),
        sealed_item,
    )
    .map_err(|_| Error::Authentication)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_item_opens_only_for_its_link_file_and_key() {
        let key = [7u8; 32];
        let sealed = seal_item(&key, "link-a", "file-1", b"sealed key", &mut rand::rng()).unwrap();
        assert_eq!(
            &open_item(&key, "link-a", "file-1", &sealed).unwrap()[..],
            b"sealed key"
        );
        for (k, link, file) in [
            ([8u8; 32], "link-a", "file-1"),
            (key, "link-b", "file-1"),
            (key, "link-a", "file-2"),
            (key, "link-a/file-1", ""),
        ] {
            assert_eq!(
                open_item(&k, link, file, &sealed).unwrap_err(),
                Error::Authentication
            );
        }
        let mut altered = sealed.clone();
        if let Some(b) = altered.last_mut() {
            *b ^= 1;
        }
        assert_eq!(
            open_item(&key, "link-a", "file-1", &altered).unwrap_err(),
            Error::Authentication
        );
        assert!(seal_item(&key[..31], "l", "f", b"x", &mut rand::rng()).is_err());
    }
}
