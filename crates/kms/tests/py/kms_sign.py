"""boto3 against a KMS (the embedded one, or moto): asymmetric signing keys (ECC_NIST_P384,
SIGN_VERIFY). Creates a key, signs RAW and DIGEST messages, verifies them in KMS and locally with
`cryptography` over GetPublicKey's DER, and records the error codes of wrong uses.

The endpoint and the credentials come from the standard AWS environment variables
(AWS_ENDPOINT_URL_KMS, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), as for AWS
KMS. Prints one JSON object; the answer of every call that may fail is {"ok": value} or
{"error": "<AWS error code>"}, so that two peers can be compared field by field.
"""
import hashlib
import json

import boto3
import botocore.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

ALG = "ECDSA_SHA_384"


def call(fn):
    try:
        return {"ok": fn()}
    except botocore.exceptions.ClientError as e:
        return {"error": e.response["Error"]["Code"]}


def refused(fn):
    """The error code of a call that should fail, or "succeeded"."""
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "succeeded"


def is_der(signature):
    try:
        utils.decode_dss_signature(signature)
        return True
    except ValueError:
        return False


def verifies(public_key, signature, data, prehashed):
    hashing = utils.Prehashed(hashes.SHA384()) if prehashed else hashes.SHA384()
    try:
        public_key.verify(signature, data, ec.ECDSA(hashing))
        return True
    except InvalidSignature:
        return False


def main():
    kms = boto3.client("kms")
    out = {}
    created = kms.create_key(
        KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY", Description="checkpoints"
    )["KeyMetadata"]
    arn, key_id = created["Arn"], created["KeyId"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    out["metadata"] = {
        k: meta.get(k)
        for k in (
            "KeySpec",
            "CustomerMasterKeySpec",
            "KeyUsage",
            "SigningAlgorithms",
            "EncryptionAlgorithms",
            "KeyState",
        )
    }

    pk = kms.get_public_key(KeyId=key_id)
    der = pk["PublicKey"]
    public = serialization.load_der_public_key(der)
    out["public_key"] = {
        "key_id_is_arn": pk["KeyId"] == arn,
        "curve": public.curve.name,
        "der_is_spki": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == der,
        **{
            k: pk.get(k)
            for k in (
                "KeySpec",
                "CustomerMasterKeySpec",
                "KeyUsage",
                "SigningAlgorithms",
                "EncryptionAlgorithms",
            )
        },
    }

    message = b"checkpoint 42: 0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    signed = kms.sign(KeyId=arn, Message=message, MessageType="RAW", SigningAlgorithm=ALG)
    sig = signed["Signature"]
    tampered = sig[:-1] + bytes([sig[-1] ^ 1])

    def kms_verify(msg, signature, message_type="RAW"):
        return call(
            lambda: kms.verify(
                KeyId=key_id,
                Message=msg,
                MessageType=message_type,
                Signature=signature,
                SigningAlgorithm=ALG,
            )["SignatureValid"]
        )

    out["raw"] = {
        "key_id_is_arn": signed["KeyId"] == arn,
        "SigningAlgorithm": signed["SigningAlgorithm"],
        "der": is_der(sig),
        "verifies_locally": verifies(public, sig, message, False),
        "kms_verify": kms_verify(message, sig),
        "kms_verify_tampered_message": kms_verify(b"checkpoint 43", sig),
        "kms_verify_tampered_signature": kms_verify(message, tampered),
    }

    digest = hashlib.sha384(b"another checkpoint").digest()
    signed = call(
        lambda: kms.sign(
            KeyId=key_id,
            Message=digest,
            MessageType="DIGEST",
            SigningAlgorithm=ALG,
        )["Signature"]
    )
    dsig = signed.get("ok")
    out["digest"] = {
        "signed": "ok" in signed,
        "verifies_locally_as_digest": dsig is not None and verifies(public, dsig, digest, True),
        "kms_verify": kms_verify(digest, dsig, "DIGEST") if dsig else None,
    }

    sym = kms.create_key(Description="symmetric")["KeyMetadata"]["KeyId"]
    out["errors"] = {
        "sign_with_symmetric_key": refused(
            lambda: kms.sign(KeyId=sym, Message=message, SigningAlgorithm=ALG)
        ),
        "public_key_of_symmetric_key": refused(lambda: kms.get_public_key(KeyId=sym)),
        "encrypt_with_signing_key": refused(lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x")),
        "data_key_with_signing_key": refused(
            lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        ),
        "ecc_key_for_encryption": refused(
            lambda: kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="ENCRYPT_DECRYPT")
        ),
        "wrong_algorithm": refused(
            lambda: kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ECDSA_SHA_256")
        ),
        "short_digest": refused(
            lambda: kms.sign(
                KeyId=key_id, Message=digest[:32], MessageType="DIGEST", SigningAlgorithm=ALG
            )
        ),
        "rotation_of_signing_key": refused(lambda: kms.enable_key_rotation(KeyId=key_id)),
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
