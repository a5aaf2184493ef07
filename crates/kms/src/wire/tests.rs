//! Unit tests of the wire structs: the errors of bad fields, base64, secrets, and the exact bytes
//! of the responses.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::*;
use crate::error::ErrorCode;

fn err<T>(r: KmsResult<T>) -> (ErrorCode, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.code, e.message),
    }
}

fn validation(msg: &str) -> (ErrorCode, String) {
    (ErrorCode::Validation, msg.to_owned())
}

fn serialization(msg: &str) -> (ErrorCode, String) {
    (ErrorCode::Serialization, msg.to_owned())
}

#[test]
fn a_missing_or_null_required_field_is_a_validation_error_naming_it() {
    for body in [json!({}), json!({ "KeyId": null }), json!({ "Other": "x" })] {
        let req: DescribeKeyRequest = parse(&body).unwrap();
        assert_eq!(err(req.key_id.get()), validation("KeyId is required"));
    }
    let req: EncryptRequest = parse(&json!({ "KeyId": "k" })).unwrap();
    assert_eq!(
        err(req.plaintext.get()),
        validation("Plaintext is required")
    );
    let req: ReEncryptRequest = parse(&json!({ "CiphertextBlob": "AA==" })).unwrap();
    assert_eq!(
        err(req.destination_key_id.get()),
        validation("DestinationKeyId is required")
    );
    let req: CreateAliasRequest = parse(&json!({ "AliasName": "alias/a" })).unwrap();
    assert_eq!(
        err(req.target_key_id.get()),
        validation("TargetKeyId is required")
    );
    let req: SignRequest = parse(&json!({ "KeyId": "k" })).unwrap();
    assert_eq!(err(req.message.get()), validation("Message is required"));
    assert_eq!(
        err(req.signing_algorithm.get()),
        validation("SigningAlgorithm is required")
    );
    let req: VerifyRequest = parse(&json!({ "Message": "AA==", "Signature": "!!" })).unwrap();
    assert_eq!(
        err(req.signature.get()),
        serialization("Signature is not base64")
    );
    assert_eq!(req.message_type.get().unwrap(), None, "RAW by default");
}

#[test]
fn a_field_of_the_wrong_type_is_a_serialization_error_naming_it() {
    for v in [json!(5), json!(true), json!([]), json!({}), json!(["k"])] {
        let req: DescribeKeyRequest = parse(&json!({ "KeyId": v })).unwrap();
        assert_eq!(
            err(req.key_id.get()),
            serialization("KeyId must be a string")
        );
        let req: DecryptRequest = parse(&json!({ "CiphertextBlob": v, "KeyId": v })).unwrap();
        assert_eq!(
            err(req.ciphertext_blob.get()),
            serialization("CiphertextBlob must be a string")
        );
        assert_eq!(
            err(req.key_id.get()),
            serialization("KeyId must be a string")
        );
    }
    let req: ListKeysRequest = parse(&json!({ "Marker": 2 })).unwrap();
    assert_eq!(
        err(req.marker.get()),
        serialization("Marker must be a string")
    );
    let req: CreateKeyRequest = parse(&json!({ "Description": 5 })).unwrap();
    assert_eq!(
        err(req.description.get()),
        serialization("Description must be a string")
    );
}

#[test]
fn a_blob_that_is_not_base64_is_refused_and_a_good_one_decodes() {
    for bad in ["!!", "aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "===="] {
        let req: EncryptRequest = parse(&json!({ "Plaintext": bad })).unwrap();
        assert_eq!(
            err(req.plaintext.get()),
            serialization("Plaintext is not base64"),
            "{bad}"
        );
        let req: DecryptRequest = parse(&json!({ "CiphertextBlob": bad })).unwrap();
        assert_eq!(
            err(req.ciphertext_blob.get()),
            serialization("CiphertextBlob is not base64")
        );
    }
    let req: EncryptRequest = parse(&json!({ "Plaintext": "aGVsbG8=" })).unwrap();
    assert_eq!(req.plaintext.get().unwrap().as_slice(), b"hello");
    // Empty is valid base64 (the handler refuses an empty plaintext by its length).
    let req: EncryptRequest = parse(&json!({ "Plaintext": "" })).unwrap();
    assert!(req.plaintext.get().unwrap().is_empty());
}

#[test]
fn contexts_are_maps_of_strings_and_absent_means_empty() {
    let req: DecryptRequest =
        parse(&json!({ "EncryptionContext": { "b": "2", "a": "1" } })).unwrap();
    let ctx = req.encryption_context.get_or_default().unwrap();
    assert_eq!(
        ctx.into_iter().collect::<Vec<_>>(),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    for body in [json!({}), json!({ "EncryptionContext": null })] {
        let req: EncryptRequest = parse(&body).unwrap();
        assert!(req.encryption_context.get_or_default().unwrap().is_empty());
    }
    for v in [json!(5), json!("a"), json!([]), json!([["a", "b"]])] {
        let req: ReEncryptRequest = parse(&json!({ "SourceEncryptionContext": v })).unwrap();
        assert_eq!(
            err(req.source_encryption_context.get_or_default()),
            serialization("SourceEncryptionContext must be a map")
        );
    }
    let req: GenerateDataKeyRequest =
        parse(&json!({ "EncryptionContext": { "a": "b", "c": 1 } })).unwrap();
    assert_eq!(
        err(req.encryption_context.get_or_default()),
        serialization("EncryptionContext values must be strings")
    );
}

#[test]
fn counts_are_range_checked_whatever_their_type_and_null_is_absent_except_for_number_of_bytes() {
    let limit = |v: Value| {
        parse::<ListKeysRequest>(&json!({ "Limit": v }))
            .unwrap()
            .limit
    };
    assert_eq!(limit(json!(5)).within("Limit", 1..=1000, 100).unwrap(), 5);
    assert_eq!(
        limit(Value::Null).within("Limit", 1..=1000, 100).unwrap(),
        100
    );
    assert_eq!(
        parse::<ListKeysRequest>(&json!({})).unwrap().limit,
        Count::Absent
    );
    for v in [
        json!(0),
        json!(1001),
        json!("5"),
        json!(5.0),
        json!(-1),
        json!([5]),
    ] {
        assert_eq!(
            err(limit(v).within("Limit", 1..=1000, 100)),
            validation("Limit must be between 1 and 1000")
        );
    }
    let n = |body: Value| {
        parse::<GenerateDataKeyRequest>(&body)
            .unwrap()
            .number_of_bytes
    };
    assert_eq!(n(json!({})), Count::Absent);
    assert_eq!(n(json!({ "NumberOfBytes": null })), Count::Given(None));
    assert_eq!(n(json!({ "NumberOfBytes": 32 })), Count::Given(Some(32)));
}

#[test]
fn create_key_reads_its_lenient_fields_as_it_always_has() {
    let req: CreateKeyRequest = parse(&json!({
        "KeyUsage": 5,
        "KeySpec": "X",
        "CustomerMasterKeySpec": null,
        "Tags": [{ "TagKey": "a", "TagValue": "b" }, { "TagKey": "a" }, 5, { "TagKey": "a", "TagValue": 1 }],
    }))
    .unwrap();
    assert_eq!(req.key_usage, None);
    assert_eq!(req.key_spec.as_deref(), Some("X"));
    assert_eq!(req.customer_master_key_spec, None);
    let tag = Tag {
        key: "a".into(),
        value: "b".into(),
    };
    assert_eq!(req.tags, [Some(tag), None, None, None]);
    for tags in [json!(5), json!({ "TagKey": "a" }), Value::Null] {
        assert!(
            parse::<CreateKeyRequest>(&json!({ "Tags": tags }))
                .unwrap()
                .tags
                .is_empty()
        );
    }
}

#[test]
fn reading_never_fails_on_fields_and_unknown_fields_are_ignored() {
    let everything_wrong = json!({
        "KeyId": 1, "AliasName": 1, "TargetKeyId": 1, "Description": 1, "KeySpec": 1,
        "EncryptionAlgorithm": 1, "Marker": 1, "SourceKeyId": 1, "DestinationKeyId": 1,
        "Plaintext": 1, "CiphertextBlob": 1, "EncryptionContext": 1, "SourceEncryptionContext": 1,
        "DestinationEncryptionContext": 1, "Limit": "x", "NumberOfBytes": "x", "Tags": 1,
        "PendingWindowInDays": "x", "RotationPeriodInDays": "x", "GrantTokens": ["t"], "DryRun": true,
        "Message": 1, "MessageType": 1, "Signature": 1, "SigningAlgorithm": 1,
    });
    for body in [json!({}), everything_wrong] {
        parse::<CreateKeyRequest>(&body).unwrap();
        parse::<KeyRequest>(&body).unwrap();
        parse::<ListKeysRequest>(&body).unwrap();
        parse::<ScheduleKeyDeletionRequest>(&body).unwrap();
        parse::<EnableKeyRotationRequest>(&body).unwrap();
        parse::<ListKeyRotationsRequest>(&body).unwrap();
        parse::<CreateAliasRequest>(&body).unwrap();
        parse::<DeleteAliasRequest>(&body).unwrap();
        parse::<ListAliasesRequest>(&body).unwrap();
        parse::<GenerateDataKeyRequest>(&body).unwrap();
        parse::<EncryptRequest>(&body).unwrap();
        parse::<DecryptRequest>(&body).unwrap();
        parse::<ReEncryptRequest>(&body).unwrap();
        parse::<SignRequest>(&body).unwrap();
        parse::<VerifyRequest>(&body).unwrap();
    }
}

/// The bytes the service wrote before responses were structs: a `serde_json::Value`, whose maps
/// sort their keys.
fn as_value_wrote(resp: &impl Serialize) -> String {
    serde_json::to_value(resp).unwrap().to_string()
}

fn assert_same_bytes(resp: &impl Serialize) -> String {
    let body = to_body(resp).unwrap();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(text, as_value_wrote(resp));
    text
}

fn metadata(deleting: bool) -> KeyMetadata {
    KeyMetadata {
        aws_account_id: "111122223333".into(),
        arn: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
        creation_date: 1_700_000_000.25,
        customer_master_key_spec: "SYMMETRIC_DEFAULT",
        deletion_date: deleting.then_some(1_700_086_400.0),
        description: "d".into(),
        enabled: !deleting,
        encryption_algorithms: Some(["SYMMETRIC_DEFAULT"]),
        expiration_model: None,
        key_id: "k".into(),
        key_manager: "CUSTOMER",
        key_spec: "SYMMETRIC_DEFAULT",
        key_state: if deleting {
            "PendingDeletion"
        } else {
            "Enabled"
        }
        .into(),
        key_usage: "ENCRYPT_DECRYPT",
        multi_region: false,
        multi_region_configuration: None,
        origin: "AWS_KMS",
        pending_deletion_window_in_days: deleting.then_some(Some(7)),
        signing_algorithms: None,
        valid_to: None,
    }
}

/// A key of imported material that expires.
fn imported_metadata() -> KeyMetadata {
    KeyMetadata {
        expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
        origin: "EXTERNAL",
        valid_to: Some(1_700_172_800.5),
        ..metadata(false)
    }
}

fn signing_metadata() -> KeyMetadata {
    KeyMetadata {
        customer_master_key_spec: "ECC_NIST_P384",
        encryption_algorithms: None,
        key_spec: "ECC_NIST_P384",
        key_usage: "SIGN_VERIFY",
        signing_algorithms: Some(["ECDSA_SHA_384"]),
        ..metadata(false)
    }
}

#[test]
fn responses_are_written_field_for_field_as_before() {
    assert_eq!(assert_same_bytes(&Empty {}), "{}");
    assert_same_bytes(&KeyMetadataResponse {
        key_metadata: metadata(false),
    });
    let text = assert_same_bytes(&KeyMetadataResponse {
        key_metadata: imported_metadata(),
    });
    assert!(text.contains("\"ValidTo\":1700172800.5"), "{text}");
    let text = assert_same_bytes(&KeyMetadataResponse {
        key_metadata: metadata(true),
    });
    assert!(text.contains("\"PendingDeletionWindowInDays\":7"), "{text}");
    let mut m = metadata(true);
    m.pending_deletion_window_in_days = Some(None);
    let text = assert_same_bytes(&m);
    assert!(
        text.ends_with("\"PendingDeletionWindowInDays\":null}"),
        "{text}"
    );
    let text = assert_same_bytes(&signing_metadata());
    assert!(
        text.ends_with("\"Origin\":\"AWS_KMS\",\"SigningAlgorithms\":[\"ECDSA_SHA_384\"]}")
            && !text.contains("EncryptionAlgorithms"),
        "{text}"
    );
    let text = assert_same_bytes(&metadata(false));
    assert!(
        text.contains("\"EncryptionAlgorithms\":[\"SYMMETRIC_DEFAULT\"]")
            && !text.contains("SigningAlgorithms"),
        "{text}"
    );
    let key = KeyListEntry {
        key_arn: "arn".into(),
        key_id: "k".into(),
    };
    for next_marker in [None, Some("2".to_owned())] {
        let truncated = next_marker.is_some();
        assert_same_bytes(&ListKeysResponse {
            keys: vec![key.clone(); 2],
            next_marker: next_marker.clone(),
            truncated,
        });
        let alias = AliasListEntry {
            alias_arn: "arn".into(),
            alias_name: "alias/a".into(),
            creation_date: 1.5,
            last_updated_date: 2.0,
            target_key_id: "k".into(),
        };
        assert_same_bytes(&ListAliasesResponse {
            aliases: vec![alias],
            next_marker: next_marker.clone(),
            truncated,
        });
        let rotation = RotationListEntry {
            key_id: "arn".into(),
            rotation_date: 3.0,
            rotation_type: "ON_DEMAND".into(),
        };
        assert_same_bytes(&ListKeyRotationsResponse {
            next_marker,
            rotations: vec![rotation],
            truncated,
        });
    }
    assert_same_bytes(&KeyIdResponse {
        key_id: "arn".into(),
    });
    assert_same_bytes(&ScheduleKeyDeletionResponse {
        deletion_date: 4.0,
        key_id: "arn".into(),
        key_state: "PendingDeletion",
        pending_window_in_days: 30,
    });
    for on in [false, true] {
        assert_same_bytes(&GetKeyRotationStatusResponse {
            key_id: "arn".into(),
            key_rotation_enabled: on,
            next_rotation_date: on.then_some(Some(5.0)),
            rotation_period_in_days: on.then_some(90),
        });
    }
    let secret = || Zeroizing::new(b"hello".to_vec());
    let text = assert_same_bytes(&GenerateDataKeyResponse {
        ciphertext_blob: vec![1, 2, 3],
        key_id: "arn".into(),
        plaintext: Some(secret()),
    });
    assert_eq!(
        text,
        r#"{"CiphertextBlob":"AQID","KeyId":"arn","Plaintext":"aGVsbG8="}"#
    );
    let text = assert_same_bytes(&GenerateDataKeyResponse {
        ciphertext_blob: vec![1, 2, 3],
        key_id: "arn".into(),
        plaintext: None,
    });
    assert_eq!(text, r#"{"CiphertextBlob":"AQID","KeyId":"arn"}"#);
    assert_same_bytes(&EncryptResponse {
        ciphertext_blob: vec![1],
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        key_id: "arn".into(),
    });
    assert_same_bytes(&DecryptResponse {
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        key_id: "arn".into(),
        plaintext: secret(),
    });
    let text = assert_same_bytes(&SignResponse {
        key_id: "arn".into(),
        signature: vec![0x30, 2],
        signing_algorithm: "ECDSA_SHA_384",
    });
    assert_eq!(
        text,
        r#"{"KeyId":"arn","Signature":"MAI=","SigningAlgorithm":"ECDSA_SHA_384"}"#
    );
    assert_same_bytes(&VerifyResponse {
        key_id: "arn".into(),
        signature_valid: true,
        signing_algorithm: "ECDSA_SHA_384",
    });
    assert_same_bytes(&GetPublicKeyResponse {
        customer_master_key_spec: "ECC_NIST_P384",
        key_id: "arn".into(),
        key_spec: "ECC_NIST_P384",
        key_usage: "SIGN_VERIFY",
        public_key: vec![0x30, 0x76],
        signing_algorithms: ["ECDSA_SHA_384"],
    });
    assert_same_bytes(&ReEncryptResponse {
        ciphertext_blob: vec![1],
        destination_encryption_algorithm: "SYMMETRIC_DEFAULT",
        key_id: "arn".into(),
        source_encryption_algorithm: "SYMMETRIC_DEFAULT",
        source_key_id: "arn2".into(),
    });
}

#[test]
fn a_body_carrying_the_largest_secret_fits_its_buffer_and_requests_are_scrubbed() {
    let body = to_body(&DecryptResponse {
        encryption_algorithm: "SYMMETRIC_DEFAULT",
        key_id: format!(
            "arn:aws:kms:us-east-1:111122223333:key/{}",
            uuid::Uuid::nil()
        ),
        plaintext: Zeroizing::new(vec![0xA5; crate::blob::MAX_PLAINTEXT]),
    })
    .unwrap();
    assert!(body.capacity() == BODY_CAPACITY && body.len() < BODY_CAPACITY);
    let mut req =
        json!({ "Plaintext": "c2VjcmV0", "EncryptionContext": { "k": "v" }, "L": ["x"], "N": 1 });
    scrub(&mut req);
    assert_eq!(
        req,
        json!({ "Plaintext": "", "EncryptionContext": { "k": "" }, "L": [""], "N": 1 })
    );
}
