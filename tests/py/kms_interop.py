"""boto3 and the official AWS Encryption SDK (AWS KMS keyring) against the embedded KMS.

The endpoint comes from AWS_ENDPOINT_URL_KMS and the credentials from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION, exactly as for AWS KMS. Commands:
  boto3                               operations and error codes through boto3; prints JSON
  encrypt KEY_ARN SUITE IN OUT CTX    ESDK encrypt with a strict KMS master key provider
  decrypt KEY_ARN IN OUT              ESDK decrypt with the same provider
  decrypt-mrk REGION ACCOUNT IN OUT   ESDK decrypt with the multi-Region-aware discovery provider of
                                      REGION, trusting keys of ACCOUNT only
  setup BUCKET                        make a KMS key and an S3 bucket (AWS_ENDPOINT_URL_S3); prints the key ARN
"""
import json
import os
import sys

import boto3
import botocore.exceptions

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm
from aws_encryption_sdk.key_providers.kms import DiscoveryFilter, MRKAwareDiscoveryAwsKmsMasterKeyProvider

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def boto3_checks():
    kms = boto3.client("kms")
    key = kms.create_key(Description="boto3", Tags=[{"TagKey": "t", "TagValue": "v"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/boto3", TargetKeyId=key["KeyId"])
    dk = kms.generate_data_key(KeyId="alias/boto3", KeySpec="AES_256", EncryptionContext={"a": "b"})
    out = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"a": "b"})
    enc = kms.encrypt(KeyId=key["Arn"], Plaintext=b"hello")
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], KeyId=key["KeyId"])
    result = {
        "arn": key["Arn"],
        "data_key_round_trip": out["Plaintext"] == dk["Plaintext"] and len(dk["Plaintext"]) == 32,
        "key_id_is_arn": dk["KeyId"] == key["Arn"] and out["KeyId"] == key["Arn"],
        "encrypt_round_trip": dec["Plaintext"] == b"hello",
        "aliases": [a["AliasName"] for a in kms.list_aliases()["Aliases"]],
        "context_mismatch": error_code(lambda: kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"a": "c"})),
        "not_found": error_code(lambda: kms.describe_key(KeyId="alias/missing")),
        "validation": error_code(lambda: kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=5000)),
    }
    kms.disable_key(KeyId=key["KeyId"])
    result["disabled"] = error_code(lambda: kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256"))
    bad = boto3.client("kms", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                       aws_secret_access_key="not-the-secret-not-the-secret-not-the-se")
    result["bad_signature"] = error_code(lambda: bad.list_keys())
    print(json.dumps(result))


def client():
    return aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)


def provider(arn):
    return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[arn])


def main():
    cmd = sys.argv[1]
    if cmd == "boto3":
        boto3_checks()
    elif cmd == "encrypt":
        arn, suite, src, dst, ctx = sys.argv[2:7]
        with open(src, "rb") as f:
            data = f.read()
        out, _ = client().encrypt(source=data, key_provider=provider(arn), algorithm=SUITES[suite],
                                  encryption_context=json.loads(ctx), frame_length=4096)
        with open(dst, "wb") as f:
            f.write(out)
    elif cmd == "decrypt":
        arn, src, dst = sys.argv[2:5]
        with open(src, "rb") as f:
            data = f.read()
        out, _ = client().decrypt(source=data, key_provider=provider(arn))
        with open(dst, "wb") as f:
            f.write(out)
    elif cmd == "decrypt-mrk":
        region, account, src, dst = sys.argv[2:6]
        with open(src, "rb") as f:
            data = f.read()
        discovery = MRKAwareDiscoveryAwsKmsMasterKeyProvider(
            discovery_region=region,
            discovery_filter=DiscoveryFilter(account_ids=[account], partition="aws"),
        )
        out, _ = client().decrypt(source=data, key_provider=discovery)
        with open(dst, "wb") as f:
            f.write(out)
    elif cmd == "create-key":
        print(boto3.client("kms").create_key(Description="cipherdrop test")["KeyMetadata"]["Arn"])
    elif cmd == "setup":
        arn = boto3.client("kms").create_key(Description="cipherdrop test")["KeyMetadata"]["Arn"]
        boto3.client("s3").create_bucket(Bucket=sys.argv[2])
        print(arn)
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
