//! Streaming behaviour: round trips, chunking independence, bounded buffering, limits, refusals.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common::{keyring, materials, plaintext, rng};
use cipherdrop_core::{
    DataKey, DecryptLimits, Decryptor, EncryptedDataKey, EncryptionContext, EncryptionMaterials,
    Encryptor, Error, Event, FrameEncoder, MessageDecoder, RawAesKeyring, SigningKey, Suite,
    decrypt, encrypt, message_context,
};
use proptest::prelude::*;

fn encrypt_chunked(suite: Suite, frame: u32, pt: &[u8], chunks: &[usize], seed: u64) -> Vec<u8> {
    let mut r = rng(seed);
    let mut enc =
        Encryptor::<cipherdrop_core::AesGcmCipher>::new(materials(suite, &mut r), frame, &mut r)
            .unwrap();
    let mut out = Vec::new();
    let mut rest = pt;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks[i % chunks.len()].clamp(1, rest.len());
        enc.push(&rest[..n], &mut out).unwrap();
        rest = &rest[n..];
        i += 1;
    }
    enc.finish(&mut out).unwrap();
    out
}

fn decrypt_chunked(msg: &[u8], chunks: &[usize]) -> Result<Vec<u8>, Error> {
    let kr = keyring();
    let mut dec = Decryptor::<_>::new(&kr, DecryptLimits::default());
    let mut out = Vec::new();
    let mut rest = msg;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks[i % chunks.len()].clamp(1, rest.len());
        dec.push(&rest[..n], &mut out)?;
        rest = &rest[n..];
        i += 1;
    }
    dec.finish()?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_any_size_frame_and_chunking(
        len in 0usize..20_000,
        frame in prop_oneof![1u32..64, 64u32..5000],
        signed in any::<bool>(),
        enc_chunks in prop::collection::vec(1usize..9000, 1..6),
        dec_chunks in prop::collection::vec(1usize..9000, 1..6),
        seed in any::<u64>(),
    ) {
        let suite = if signed { Suite::CommitKeyEcdsaP384 } else { Suite::CommitKey };
        let pt = plaintext(len, seed);
        let whole = encrypt_chunked(suite, frame, &pt, &[usize::MAX], seed);
        let chunked = encrypt_chunked(suite, frame, &pt, &enc_chunks, seed);
        // ECDSA nonces are deterministic (RFC 6979), so even signed output must match.
        prop_assert_eq!(&whole, &chunked);
        // The predicted size is exact: header + framed body (+ footer for signed suites).
        let (header, body_start) = cipherdrop_core::Header::parse(&whole, &DecryptLimits::default()).unwrap();
        let body = cipherdrop_core::framed_body_len(len as u64, frame).unwrap();
        let footer = whole.len() as u64 - (body_start as u64 + 16) - body;
        prop_assert_eq!(footer == 0, !signed);
        prop_assert!(footer <= 2 + cipherdrop_core::MAX_SIGNATURE_LEN as u64);
        prop_assert_eq!(header.frame_length, frame);
        // Core's one size function agrees with the real encoder, byte for byte.
        prop_assert_eq!(header.encoded_len().unwrap(), body_start as u64 + 16);
        let size = cipherdrop_core::MessageLen::for_header(&header, len as u64).unwrap().unwrap();
        prop_assert!(size.written_by_us(whole.len() as u64));
        prop_assert!(size.admits(whole.len() as u64));
        prop_assert_eq!(size.is_exact(), !signed);
        if signed {
            prop_assert!(whole.len() as u64 <= size.max());
        } else {
            prop_assert_eq!(whole.len() as u64, size.max());
        }
        prop_assert_eq!(decrypt_chunked(&whole, &dec_chunks).unwrap(), pt.clone());
        prop_assert_eq!(decrypt_chunked(&whole, &[usize::MAX]).unwrap(), pt);
    }
}

#[test]
fn exact_multiples_of_the_frame_length_end_with_an_empty_final_frame() {
    for (len, frames) in [(0usize, 1usize), (4096, 2), (8192, 3), (4095, 1), (4097, 2)] {
        let mut r = rng(1);
        let msg = encrypt(
            materials(Suite::CommitKey, &mut r),
            4096,
            &plaintext(len, 2),
            &mut r,
        )
        .unwrap();
        let mut dec = MessageDecoder::new(DecryptLimits::default());
        let mut input = &msg[..];
        let mut seen = 0;
        loop {
            match dec.next(&mut input).unwrap() {
                Event::NeedDataKey => {
                    let key =
                        cipherdrop_core::KeyProvider::data_key(&keyring(), dec.header().unwrap())
                            .unwrap();
                    dec.set_data_key(&key).unwrap();
                }
                Event::Frame(f) => {
                    seen += 1;
                    assert_eq!(f.seq as usize, seen);
                }
                Event::Done => break,
                Event::NeedInput => panic!("whole message was given"),
            }
        }
        assert_eq!(seen, frames, "plaintext of {len} bytes");
    }
}

#[test]
fn decoder_buffers_at_most_one_frame() {
    // Feed one byte at a time: the decoder may only hold the current element.
    let mut r = rng(3);
    let pt = plaintext(50_000, 4);
    let msg = encrypt(
        materials(Suite::CommitKeyEcdsaP384, &mut r),
        1000,
        &pt,
        &mut r,
    )
    .unwrap();
    assert_eq!(decrypt_chunked(&msg, &[1]).unwrap(), pt);
    assert_eq!(decrypt_chunked(&msg, &[999, 1, 1033, 7]).unwrap(), pt);
}

#[test]
fn truncation_and_trailing_bytes_are_refused() {
    let mut r = rng(5);
    let pt = plaintext(10_000, 6);
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let msg = encrypt(materials(suite, &mut r), 4096, &pt, &mut r).unwrap();
        let kr = keyring();
        // Cut exactly after the last regular frame: final frame missing.
        let (_, body_len) =
            cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
        let header_len = body_len + 16;
        let cut = header_len + 2 * (4096 + 32);
        assert_eq!(
            decrypt(&kr, &msg[..cut], DecryptLimits::default()).unwrap_err(),
            Error::Truncated
        );
        let mut long = msg.clone();
        long.push(0);
        assert_eq!(
            decrypt(&kr, &long, DecryptLimits::default()).unwrap_err(),
            Error::TrailingData
        );
    }
}

#[test]
fn limits_are_enforced_before_buffering() {
    let mut r = rng(7);
    let kr = keyring();
    let edks: Vec<EncryptedDataKey> = (0..5)
        .map(|_| {
            kr.wrap(
                &DataKey::generate(&mut r),
                &crate::common::context(),
                &mut r,
            )
            .unwrap()
        })
        .collect();
    let key = DataKey::generate(&mut r);
    let mut all = vec![kr.wrap(&key, &crate::common::context(), &mut r).unwrap()];
    all.extend(edks);
    let m = EncryptionMaterials::new(Suite::CommitKey, crate::common::context(), key, all, None)
        .unwrap();
    let msg = encrypt(m, 1 << 20, &plaintext(100, 1), &mut r).unwrap();
    assert_eq!(
        decrypt(&kr, &msg, DecryptLimits::default()).unwrap().0,
        plaintext(100, 1)
    );

    let few = DecryptLimits {
        max_encrypted_data_keys: 5,
        ..Default::default()
    };
    assert!(matches!(
        decrypt(&kr, &msg, few),
        Err(Error::LimitExceeded {
            what: "encrypted data key count",
            ..
        })
    ));
    let small_frames = DecryptLimits {
        max_frame_len: 4096,
        ..Default::default()
    };
    assert!(matches!(
        decrypt(&kr, &msg, small_frames),
        Err(Error::LimitExceeded {
            what: "frame length",
            ..
        })
    ));
    let small_header = DecryptLimits {
        max_header_len: 200,
        ..Default::default()
    };
    assert!(matches!(
        decrypt(&kr, &msg, small_header),
        Err(Error::LimitExceeded {
            what: "header length",
            ..
        })
    ));
}

#[test]
fn hostile_lengths_do_not_allocate() {
    // A header claiming a 4 GiB frame length, and then a final frame claiming more than that.
    let mut r = rng(8);
    let msg = encrypt(materials(Suite::CommitKey, &mut r), 4096, b"x", &mut r).unwrap();
    let (_, body_len) = cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
    let mut evil = msg.clone();
    evil[body_len - 36..body_len - 32].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decrypt(keyring(), &evil, DecryptLimits::default()),
        Err(Error::LimitExceeded { .. })
    ));
    let lax = DecryptLimits {
        max_frame_len: u64::from(u32::MAX),
        ..Default::default()
    };
    // With the limit lifted the header tag no longer matches: an authentication error, no allocation.
    assert_eq!(
        decrypt(keyring(), &evil, lax).unwrap_err(),
        Error::Authentication
    );
}

#[test]
fn v1_and_non_committing_and_garbage_are_refused_clearly() {
    let mut r = rng(9);
    let msg = encrypt(materials(Suite::CommitKey, &mut r), 4096, b"hello", &mut r).unwrap();
    let mut v1 = msg.clone();
    v1[0] = 1;
    assert_eq!(
        decrypt(keyring(), &v1, DecryptLimits::default()).unwrap_err(),
        Error::UnsupportedVersion(1)
    );
    let mut nc = msg.clone();
    nc[1..3].copy_from_slice(&[0x01, 0x78]);
    assert!(matches!(
        decrypt(keyring(), &nc, DecryptLimits::default()),
        Err(Error::NonCommittingSuite(_))
    ));
    let msg_text = Error::NonCommittingSuite(cipherdrop_core::AlgorithmSuiteId(0x0178)).to_string();
    assert!(
        msg_text.contains("0x0178") && msg_text.contains("commit"),
        "{msg_text}"
    );
    assert!(matches!(
        decrypt(
            keyring(),
            b"%PDF-1.7 not a message",
            DecryptLimits::default()
        ),
        Err(Error::Malformed(_))
    ));
    assert_eq!(
        decrypt(keyring(), b"", DecryptLimits::default()).unwrap_err(),
        Error::Truncated
    );
}

#[test]
fn reserved_context_keys_and_mismatched_materials_are_refused() {
    let mut r = rng(10);
    let bad: EncryptionContext = [("aws-crypto-x", "1")].into_iter().collect();
    assert!(matches!(
        EncryptionMaterials::with_raw_aes(Suite::CommitKey, &bad, &[&keyring()], &mut r),
        Err(Error::InvalidContext(_))
    ));
    let sk = SigningKey::generate(&mut r);
    let other = SigningKey::generate(&mut r);
    let ctx = message_context(
        Suite::CommitKeyEcdsaP384,
        &crate::common::context(),
        Some(&sk),
    )
    .unwrap();
    assert_eq!(ctx.get("aws-crypto-public-key").unwrap().len(), 68);
    let key = DataKey::generate(&mut r);
    let edk = keyring().wrap(&key, &ctx, &mut r).unwrap();
    assert!(
        EncryptionMaterials::new(
            Suite::CommitKeyEcdsaP384,
            ctx.clone(),
            key.clone(),
            vec![edk.clone()],
            Some(other)
        )
        .is_err()
    );
    assert!(
        EncryptionMaterials::new(
            Suite::CommitKey,
            ctx.clone(),
            key.clone(),
            vec![edk.clone()],
            None
        )
        .is_err()
    );
    assert!(
        EncryptionMaterials::new(
            Suite::CommitKeyEcdsaP384,
            ctx.clone(),
            key.clone(),
            vec![],
            Some(sk.clone())
        )
        .is_err()
    );
    assert!(
        EncryptionMaterials::new(Suite::CommitKeyEcdsaP384, ctx, key, vec![edk], Some(sk)).is_ok()
    );
}

#[test]
fn kms_edks_are_plain_data() {
    let mut r = rng(11);
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let key = DataKey::generate(&mut r);
    let edk = EncryptedDataKey::aws_kms(arn, vec![9u8; 150]).unwrap();
    assert!(EncryptedDataKey::aws_kms("alias/cipherdrop", vec![1]).is_err());
    let m = EncryptionMaterials::new(
        Suite::CommitKey,
        crate::common::context(),
        key.clone(),
        vec![edk],
        None,
    )
    .unwrap();
    let msg = encrypt(m, 4096, b"kms", &mut r).unwrap();
    let (pt, header) = decrypt(key, &msg, DecryptLimits::default()).unwrap();
    assert_eq!(pt, b"kms");
    assert_eq!(header.encrypted_data_keys[0].kms_key_arn(), Some(arn));
    assert_eq!(header.encrypted_data_keys[0].provider_id, "aws-kms");
}

#[test]
fn outside_cipher_through_the_split_api_matches_the_builtin_path() {
    // Drive FrameEncoder by hand, sealing with a separately built cipher, as WebCrypto would.
    use cipherdrop_core::{AesGcmCipher, FrameCipher};
    let pt = plaintext(9000, 12);
    let mut r1 = rng(13);
    let builtin = encrypt(
        materials(Suite::CommitKeyEcdsaP384, &mut r1),
        4096,
        &pt,
        &mut r1,
    )
    .unwrap();
    let mut r2 = rng(13);
    let m = materials(Suite::CommitKeyEcdsaP384, &mut r2);
    let mut enc = FrameEncoder::new(m, 4096, &mut r2).unwrap();
    let mut cipher = AesGcmCipher::new(enc.frame_key());
    let mut out = enc.header().to_vec();
    for (i, chunk) in pt.chunks(4096).chain([&[][..]]).enumerate() {
        let is_final = i == 2;
        let spec = enc.begin_frame(chunk.len(), is_final).unwrap();
        let mut ct = vec![0; chunk.len()];
        let tag = cipher.seal(&spec.iv, spec.aad(), chunk, &mut ct).unwrap();
        enc.end_frame(&spec, &ct, &tag, &mut out).unwrap();
        if is_final {
            break;
        }
    }
    out.extend(enc.finish().unwrap());
    assert_eq!(out, builtin);
}

#[test]
fn external_sealing_with_only_prefixes_from_core_matches_the_builtin_path() {
    // WebCrypto returns ciphertext ‖ tag in one buffer that the caller writes out itself: core
    // hands out only each frame's prefix, and needs the sealed bytes only to sign.
    use cipherdrop_core::{AesGcmCipher, FrameCipher};
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let pt = plaintext(8192, 21);
        let mut r1 = rng(22);
        let builtin = encrypt(materials(suite, &mut r1), 4096, &pt, &mut r1).unwrap();
        let mut r2 = rng(22);
        let mut enc = FrameEncoder::new(materials(suite, &mut r2), 4096, &mut r2).unwrap();
        assert_eq!(enc.is_signed(), suite == Suite::CommitKeyEcdsaP384);
        let mut cipher = AesGcmCipher::new(enc.frame_key());
        let mut out = enc.header().to_vec();
        // 8192 bytes = two full frames, then an empty final frame.
        for (chunk, is_final) in [(&pt[..4096], false), (&pt[4096..], false), (&[][..], true)] {
            let spec = enc.begin_frame(chunk.len(), is_final).unwrap();
            let mut sealed = vec![0; chunk.len()];
            let tag = cipher
                .seal(&spec.iv, spec.aad(), chunk, &mut sealed)
                .unwrap();
            sealed.extend_from_slice(&tag);
            if !enc.is_signed() {
                // A wrong-length buffer is refused, and refusing leaves the frame open.
                assert!(
                    enc.end_frame_external(&spec, Some(&sealed[1..]), &mut out)
                        .is_err()
                );
            }
            let given = enc.is_signed().then_some(&sealed[..]);
            enc.end_frame_external(&spec, given, &mut out).unwrap();
            out.extend_from_slice(&sealed);
        }
        out.extend(enc.finish().unwrap());
        assert_eq!(out, builtin, "{suite:?}");
    }
    // A signed message cannot end a frame without its bytes.
    let mut r = rng(23);
    let mut enc =
        FrameEncoder::new(materials(Suite::CommitKeyEcdsaP384, &mut r), 4096, &mut r).unwrap();
    let spec = enc.begin_frame(0, true).unwrap();
    assert!(
        enc.end_frame_external(&spec, None, &mut Vec::new())
            .is_err()
    );
}

#[test]
fn frames_may_be_begun_ahead_but_must_be_ended_in_order() {
    use cipherdrop_core::{AesGcmCipher, FrameCipher};
    let pt = plaintext(3 * 4096 + 5, 24);
    let mut r1 = rng(25);
    let builtin = encrypt(materials(Suite::CommitKey, &mut r1), 4096, &pt, &mut r1).unwrap();
    let mut r2 = rng(25);
    let mut enc = FrameEncoder::new(materials(Suite::CommitKey, &mut r2), 4096, &mut r2).unwrap();
    let mut cipher = AesGcmCipher::new(enc.frame_key());
    // Begin all four frames first, as a pipelined asynchronous cipher does.
    let chunks: Vec<&[u8]> = pt.chunks(4096).collect();
    let specs: Vec<_> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| enc.begin_frame(c.len(), i == 3).unwrap())
        .collect();
    assert!(
        enc.begin_frame(0, true).is_err(),
        "nothing follows the final frame"
    );
    let mut sealed = Vec::new();
    for (spec, chunk) in specs.iter().zip(&chunks) {
        let mut ct = vec![0; chunk.len()];
        let tag = cipher.seal(&spec.iv, spec.aad(), chunk, &mut ct).unwrap();
        sealed.push((ct, tag));
    }
    let mut out = enc.header().to_vec();
    let mut scratch = Vec::new();
    assert!(
        enc.end_frame(&specs[1], &sealed[1].0, &sealed[1].1, &mut scratch)
            .is_err(),
        "frame 2 cannot end before frame 1"
    );
    let mut dummy = Vec::new();
    assert!(
        enc.seal_frame(&mut cipher, &[0; 4096], false, &mut dummy)
            .is_err()
    );
    for (spec, (ct, tag)) in specs.iter().zip(&sealed) {
        enc.end_frame(spec, ct, tag, &mut out).unwrap();
    }
    assert!(
        enc.end_frame(&specs[3], &sealed[3].0, &sealed[3].1, &mut scratch)
            .is_err()
    );
    out.extend(enc.finish().unwrap());
    assert_eq!(out, builtin);
}

#[test]
fn raw_keyring_supports_128_192_256_bit_wrapping_keys_and_several_edks() {
    let mut r = rng(14);
    let rings: Vec<RawAesKeyring> = [16usize, 24, 32]
        .iter()
        .map(|&n| RawAesKeyring::new("ns", &format!("k{n}"), &vec![n as u8; n]).unwrap())
        .collect();
    let refs: Vec<&RawAesKeyring> = rings.iter().collect();
    let m = EncryptionMaterials::with_raw_aes(
        Suite::CommitKey,
        &crate::common::context(),
        &refs,
        &mut r,
    )
    .unwrap();
    let msg = encrypt(m, 128, b"several keys", &mut r).unwrap();
    for ring in &rings {
        assert_eq!(
            decrypt(ring, &msg, DecryptLimits::default()).unwrap().0,
            b"several keys"
        );
    }
    assert!(RawAesKeyring::new("ns", "k", &[0; 20]).is_err());
    assert!(RawAesKeyring::new("aws-kms", "k", &[0; 32]).is_err());
}

#[test]
fn signed_final_frame_is_held_back_until_the_signature_verifies() {
    let mut r = rng(15);
    let pt = plaintext(10_000, 16);
    let msg = encrypt(
        materials(Suite::CommitKeyEcdsaP384, &mut r),
        4096,
        &pt,
        &mut r,
    )
    .unwrap();
    let kr = keyring();
    // Everything but the last footer byte: the final frame is complete, its signature is not.
    let mut dec = Decryptor::<_>::new(&kr, DecryptLimits::default());
    let mut out = Vec::new();
    dec.push(&msg[..msg.len() - 1], &mut out).unwrap();
    assert_eq!(out, pt[..8192], "only the two regular frames may be out");
    // A bad signature: the final frame's plaintext never appears.
    let mut bad = msg.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut dec = Decryptor::<_>::new(&kr, DecryptLimits::default());
    let mut out = Vec::new();
    assert_eq!(dec.push(&bad, &mut out).unwrap_err(), Error::Authentication);
    assert_eq!(out, pt[..8192]);
    assert_eq!(dec.finish().unwrap_err(), Error::Authentication);
}

#[test]
fn a_failed_frame_poisons_the_decryptor() {
    let mut r = rng(17);
    let pt = plaintext(10_000, 18);
    let mut msg = encrypt(materials(Suite::CommitKey, &mut r), 4096, &pt, &mut r).unwrap();
    let (_, body_len) = cipherdrop_core::Header::parse(&msg, &DecryptLimits::default()).unwrap();
    msg[body_len + 16 + 4 + 12 + 5] ^= 1; // inside frame 1's ciphertext
    let kr = keyring();
    let mut dec = Decryptor::<_>::new(&kr, DecryptLimits::default());
    let mut out = Vec::new();
    dec.push(&msg[..2000], &mut out).unwrap();
    assert_eq!(
        dec.push(&msg[2000..], &mut out).unwrap_err(),
        Error::Authentication
    );
    assert!(out.is_empty());
    assert_eq!(dec.push(&[], &mut out).unwrap_err(), Error::Authentication);
    assert_eq!(dec.finish().unwrap_err(), Error::Authentication);
}
