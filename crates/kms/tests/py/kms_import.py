"""boto3 against a KMS: imported key material (bring your own key), step by step as the AWS KMS
Developer Guide does it. A key made with Origin=EXTERNAL waits for its material; the material is
wrapped with `cryptography` under the RSA public key of GetParametersForImport (RSAES_OAEP_SHA_256,
or RSA_AES_KEY_WRAP_SHA_256: an AES-256 key under RSA-OAEP, then the material under AES key wrap
with padding) and imported; then deleted, and imported again. Records AWS's error codes for every
wrong use.

The endpoint and the credentials come from the standard AWS environment variables. Prints one JSON
object; a call that may fail is recorded as its AWS error code, or "succeeded".
"""
import datetime
import json
import os

import boto3
import botocore.exceptions
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding


def refused(fn):
    """The error code of a call that should fail, or "succeeded"."""
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "succeeded"


def oaep():
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    )


def wrap(params, material, algorithm):
    public = serialization.load_der_public_key(params["PublicKey"])
    if algorithm == "RSAES_OAEP_SHA_256":
        return public.encrypt(material, oaep())
    aes = os.urandom(32)
    return public.encrypt(aes, oaep()) + aes_key_wrap_with_padding(aes, material)


def params_for(kms, key_id, algorithm, spec):
    return kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec
    )


def state(kms, key_id):
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def main():
    kms = boto3.client("kms")
    out = {}
    in_a_month = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)

    created = kms.create_key(Origin="EXTERNAL", Description="byok")["KeyMetadata"]
    key = created["KeyId"]
    out["created"] = {k: created.get(k) for k in ("KeyState", "Origin", "Enabled", "KeySpec")}
    out["encrypt_before_import"] = refused(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))
    out["enable_before_import"] = refused(lambda: kms.enable_key(KeyId=key))
    out["rotation_of_imported"] = refused(lambda: kms.enable_key_rotation(KeyId=key))

    # Every wrapping key size, each algorithm.
    sizes = {}
    for algorithm, spec in [
        ("RSAES_OAEP_SHA_256", "RSA_2048"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_3072"),
        ("RSAES_OAEP_SHA_256", "RSA_4096"),
        ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
    ]:
        p = params_for(kms, key, algorithm, spec)
        public = serialization.load_der_public_key(p["PublicKey"])
        valid_hours = (p["ParametersValidTo"] - datetime.datetime.now(datetime.timezone.utc))
        sizes[f"{algorithm} {spec}"] = {
            "bits": public.key_size,
            "key_id_is_arn": p["KeyId"] == created["Arn"],
            "valid_about_24h": 23.9 < valid_hours.total_seconds() / 3600 <= 24.0,
            "token_bytes": len(p["ImportToken"]) > 0,
        }
    out["parameters"] = sizes

    material = os.urandom(32)
    other_material = os.urandom(32)
    p = params_for(kms, key, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
    # Wrong uses before the import.
    out["valid_to_missing"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"),
        )
    )
    out["valid_to_with_does_not_expire"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ValidTo=in_a_month,
        )
    )
    out["wrapped_with_the_other_algorithm"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p, material, "RSAES_OAEP_SHA_256"),
            ValidTo=in_a_month,
        )
    )
    out["forged_token"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=os.urandom(32),
            EncryptedKeyMaterial=wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"),
            ValidTo=in_a_month,
        )
    )
    other_key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    out["token_of_another_key"] = refused(
        lambda: kms.import_key_material(
            KeyId=other_key, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"),
            ValidTo=in_a_month,
        )
    )
    short = wrap(p, os.urandom(16), "RSA_AES_KEY_WRAP_SHA_256")
    out["material_of_128_bits"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p["ImportToken"], EncryptedKeyMaterial=short,
            ValidTo=in_a_month,
        )
    )
    out["state_after_wrong_uses"] = state(kms, key)

    # The import.
    kms.import_key_material(
        KeyId=key, ImportToken=p["ImportToken"],
        EncryptedKeyMaterial=wrap(p, material, "RSA_AES_KEY_WRAP_SHA_256"),
        ValidTo=in_a_month,
    )
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    out["imported"] = {
        "KeyState": meta["KeyState"],
        "Enabled": meta["Enabled"],
        "ExpirationModel": meta.get("ExpirationModel"),
        "ValidTo_is_the_one_given": abs((meta["ValidTo"] - in_a_month).total_seconds()) < 1,
    }
    blob = kms.encrypt(KeyId=key, Plaintext=b"imported", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    out["round_trip"] = (
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"imported"
    )
    out["different_material_while_imported"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p, other_material, "RSA_AES_KEY_WRAP_SHA_256"),
            ValidTo=in_a_month,
        )
    )
    out["parameters_while_imported"] = refused(
        lambda: params_for(kms, key, "RSAES_OAEP_SHA_256", "RSA_2048")
    )
    aws_key = kms.create_key()["KeyMetadata"]["KeyId"]
    out["parameters_for_an_aws_kms_key"] = refused(
        lambda: params_for(kms, aws_key, "RSAES_OAEP_SHA_256", "RSA_2048")
    )
    out["delete_material_of_an_aws_kms_key"] = refused(
        lambda: kms.delete_imported_key_material(KeyId=aws_key)
    )
    out["wrapping_spec_unknown"] = refused(
        lambda: params_for(kms, other_key, "RSAES_OAEP_SHA_256", "RSA_1024")
    )
    out["wrapping_pkcs1"] = refused(
        lambda: params_for(kms, other_key, "RSAES_PKCS1_V1_5", "RSA_2048")
    )

    # Deleted: every use fails, and the key waits for the same material.
    kms.delete_imported_key_material(KeyId=key)
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    out["deleted"] = {"KeyState": meta["KeyState"], "Enabled": meta["Enabled"],
                      "ValidTo": meta.get("ValidTo")}
    out["decrypt_after_delete"] = refused(
        lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    )
    out["encrypt_after_delete"] = refused(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))
    p2 = params_for(kms, key, "RSAES_OAEP_SHA_256", "RSA_4096")
    out["different_material_after_delete"] = refused(
        lambda: kms.import_key_material(
            KeyId=key, ImportToken=p2["ImportToken"],
            EncryptedKeyMaterial=wrap(p2, other_material, "RSAES_OAEP_SHA_256"),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    )
    out["state_after_different_material"] = state(kms, key)
    kms.import_key_material(
        KeyId=key, ImportToken=p2["ImportToken"],
        EncryptedKeyMaterial=wrap(p2, material, "RSAES_OAEP_SHA_256"),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    meta = kms.describe_key(KeyId=key)["KeyMetadata"]
    out["reimported"] = {"KeyState": meta["KeyState"],
                         "ExpirationModel": meta.get("ExpirationModel"),
                         "ValidTo": meta.get("ValidTo")}
    out["old_ciphertext_after_reimport"] = (
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"imported"
    )

    # Scheduled for deletion with its material gone, then cancelled: it waits for the import.
    kms.delete_imported_key_material(KeyId=key)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key)
    out["cancelled_without_material"] = state(kms, key)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
