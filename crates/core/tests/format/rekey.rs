//! Re-keying a message without touching its body (`Rekey`, `Resigner`, `rekey_message`): the new
//! message opens with the new key only, keeps its message id and every body byte, and for a
//! signed suite carries a new public key and a new footer that verifies; a wrong data key, a
//! tampered header or body, a cut or lengthened message are refused and write nothing.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common::{keyring, materials, plaintext, rng};
use cipherdrop_core::{
    DataKey, DecryptLimits, Error, Header, KeyProvider, PUBLIC_KEY_FIELD, RawAesKeyring, Rekey,
    SigningKey, Suite, decrypt, encrypt, rekey_message,
};

fn other_keyring() -> RawAesKeyring {
    RawAesKeyring::new("cipherdrop-tests", "key-2", &[9u8; 32]).unwrap()
}

fn header_of(msg: &[u8]) -> (Header, usize) {
    let (h, body) = Header::parse(msg, &DecryptLimits::default()).unwrap();
    (h, body + 16)
}

fn signing_for(suite: Suite, seed: u64) -> Option<SigningKey> {
    suite
        .is_signed()
        .then(|| SigningKey::generate(&mut rng(seed)))
}

/// `msg` moved from `keyring()` to `other_keyring()`.
fn rekeyed(msg: &[u8], suite: Suite, seed: u64) -> Result<Vec<u8>, Error> {
    let (header, _) = header_of(msg);
    let data_key = keyring().data_key(&header)?;
    rekey_message(
        msg,
        &data_key,
        signing_for(suite, seed),
        DecryptLimits::default(),
        |ctx| {
            Ok(vec![other_keyring().wrap(
                &data_key,
                ctx,
                &mut rng(seed),
            )?])
        },
    )
}

#[test]
fn a_rekeyed_message_opens_with_the_new_key_only_and_keeps_its_body() {
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        // Empty, one byte, exactly one frame, several frames, several and a part.
        for len in [0usize, 1, 4096, 3 * 4096, 3 * 4096 + 77] {
            let pt = plaintext(len, len as u64);
            let mut r = rng(len as u64 + 1);
            let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
            let new = rekeyed(&msg, suite, 5).unwrap();
            let (old_h, old_len) = header_of(&msg);
            let (new_h, new_len) = header_of(&new);

            let (out, h) = decrypt(other_keyring(), &new, DecryptLimits::default()).unwrap();
            assert_eq!(out, pt, "{suite:?} {len}");
            assert_eq!(h.message_id, old_h.message_id);
            assert_eq!(h.commitment, old_h.commitment);
            assert_eq!(h.frame_length, old_h.frame_length);
            assert!(matches!(
                decrypt(keyring(), &new, DecryptLimits::default()),
                Err(Error::NoMatchingKey)
            ));
            assert_eq!(new_h.encrypted_data_keys.len(), 1);
            assert_ne!(
                new_h.encrypted_data_keys, old_h.encrypted_data_keys,
                "the EDKs moved"
            );

            let old_pk = old_h.encryption_context.get(PUBLIC_KEY_FIELD);
            let new_pk = new_h.encryption_context.get(PUBLIC_KEY_FIELD);
            if suite.is_signed() {
                // A new public key, the same caller context, the same frames; a new footer.
                assert!(old_pk.is_some() && new_pk.is_some() && old_pk != new_pk);
                let old_body = &msg[old_len..];
                let new_body = &new[new_len..];
                let frames = frames_len(&pt, 4096);
                assert_eq!(&new_body[..frames], &old_body[..frames], "{suite:?} {len}");
                assert_ne!(&new_body[frames..], &old_body[frames..], "a new signature");
            } else {
                assert_eq!(&new[new_len..], &msg[old_len..], "{suite:?} {len}");
                assert_eq!(new_h.encryption_context, old_h.encryption_context);
            }
            for (k, v) in old_h.encryption_context.iter() {
                if k != PUBLIC_KEY_FIELD {
                    assert_eq!(new_h.encryption_context.get(k), Some(v));
                }
            }
        }
    }
}

/// Bytes of the frames of a message of `pt` at frame length `frame` (no footer).
fn frames_len(pt: &[u8], frame: usize) -> usize {
    let regular = pt.len() / frame;
    let last = pt.len() % frame;
    regular * (4 + 12 + frame + 16) + (4 + 4 + 12 + 4 + last + 16)
}

#[test]
fn a_wrong_key_a_tampered_header_or_a_cut_header_get_no_new_header() {
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt = plaintext(5000, 3);
        let mut r = rng(4);
        let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
        let (header, header_len) = header_of(&msg);
        let key = keyring().data_key(&header).unwrap();

        let wrong = DataKey::generate(&mut rng(8));
        let err = Rekey::new(
            &msg,
            &wrong,
            signing_for(suite, 1),
            DecryptLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err, Error::Authentication, "{suite:?}");

        // Each byte of the header body after the version, flipped (the tag or a field).
        for at in [3, 40, header_len - 20, header_len - 1] {
            let mut bad = msg.clone();
            bad[at] ^= 1;
            assert!(
                Rekey::new(&bad, &key, signing_for(suite, 1), DecryptLimits::default()).is_err(),
                "{suite:?} byte {at}"
            );
        }
        assert_eq!(
            Rekey::new(
                &msg[..header_len - 1],
                &key,
                signing_for(suite, 1),
                DecryptLimits::default()
            )
            .unwrap_err(),
            Error::Truncated
        );
        // The signing key must match the suite: none for a signed one, one for an unsigned one.
        let wrong_signing = if suite.is_signed() {
            None
        } else {
            Some(SigningKey::generate(&mut rng(1)))
        };
        assert!(matches!(
            Rekey::new(&msg, &key, wrong_signing, DecryptLimits::default()),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn a_signed_body_that_does_not_verify_is_not_signed_again() {
    let suite = Suite::CommitKeyEcdsaP384;
    let pt = plaintext(3 * 4096 + 5, 6);
    let mut r = rng(7);
    let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
    let (_, header_len) = header_of(&msg);
    // A body byte, a tag byte, the signature; the message cut short; a byte after the end.
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (what, at) in [
        ("ciphertext", header_len + 100),
        ("tag", header_len + 4 + 12 + 4096 + 3),
        ("signature", msg.len() - 3),
    ] {
        let mut bad = msg.clone();
        bad[at] ^= 1;
        cases.push((what, bad));
    }
    cases.push(("cut", msg[..msg.len() - 10].to_vec()));
    let mut longer = msg.clone();
    longer.push(0);
    cases.push(("longer", longer));
    for (what, bad) in cases {
        // The ciphertext and tag are not opened (no decryption), but the old signature covers
        // them: the re-key is refused all the same.
        let got = rekeyed(&bad, suite, 9);
        assert!(got.is_err(), "{what}: {got:?}");
    }
}

#[test]
fn a_signed_body_read_in_any_chunks_gives_the_same_footer() {
    let suite = Suite::CommitKeyEcdsaP384;
    let pt = plaintext(2 * 4096 + 9, 10);
    let mut r = rng(11);
    let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
    let (header, _) = header_of(&msg);
    let key = keyring().data_key(&header).unwrap();
    let whole = rekeyed(&msg, suite, 12).unwrap();
    for chunk in [1usize, 7, 4096, 5000, msg.len()] {
        let rekey =
            Rekey::new(&msg, &key, signing_for(suite, 12), DecryptLimits::default()).unwrap();
        let body = &msg[rekey.old_header_len()..];
        let edks = vec![
            other_keyring()
                .wrap(&key, rekey.context(), &mut rng(12))
                .unwrap(),
        ];
        let (mut out, resigner) = rekey.finish(edks).unwrap();
        let mut resigner = resigner.unwrap();
        for piece in body.chunks(chunk) {
            resigner.push(piece).unwrap();
        }
        let (body_len, footer) = resigner.finish().unwrap();
        out.extend_from_slice(&body[..body_len as usize]);
        out.extend_from_slice(&footer);
        // The same signing key over the same bytes: the same (RFC 6979) signature.
        assert_eq!(out, whole, "chunks of {chunk}");
        let (got, _) = decrypt(other_keyring(), &out, DecryptLimits::default()).unwrap();
        assert_eq!(got, pt, "chunks of {chunk}");
    }
}
