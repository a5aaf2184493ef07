"""Runs a batch of encrypt/decrypt jobs with the official AWS Encryption SDK for Python.

Used by the interop tests in tests/tests/interop_python.rs: one process per batch, so the
official SDK's import cost is paid once. Input: a JSON file with a list of jobs:
  {"op": "encrypt"|"decrypt", "in": path, "out": path,
   "keys": [{"namespace": str, "name": str, "key_hex": str}, ...],   # first key decrypts
   "suite": "0478"|"0578", "frame_length": int, "context": {str: str}}
Output: one line per job, "ok <out>" or "error <out> <message>"; exit status 0 iff all ok
unless the job says "expect_error": true.
"""
import json
import sys

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

SUITES = {
    "0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


class StaticRawAes(RawMasterKeyProvider):
    """A raw AES master key provider over fixed (namespace, name, key) entries."""

    def __init__(self, **kwargs):  # pylint: disable=unused-argument,super-init-not-called
        self._keys = {}

    def _get_raw_key(self, key_id):
        wrapping = {
            16: WrappingAlgorithm.AES_128_GCM_IV12_TAG16_NO_PADDING,
            24: WrappingAlgorithm.AES_192_GCM_IV12_TAG16_NO_PADDING,
            32: WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
        }
        key = self._keys[key_id]
        return WrappingKey(
            wrapping_algorithm=wrapping[len(key)],
            wrapping_key=key,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def provider(keys):
    """One provider per namespace; master keys added in order (the first generates the data key)."""
    root = None
    for k in keys:
        cls = type("Raw_" + k["namespace"].replace("-", "_"), (StaticRawAes,), {"provider_id": k["namespace"]})
        p = cls()
        p._keys[k["name"].encode()] = bytes.fromhex(k["key_hex"])  # pylint: disable=protected-access
        p.add_master_key(k["name"].encode())
        if root is None:
            root = p
        else:
            root.add_master_key_provider(p)
    return root


def main():
    jobs = json.load(open(sys.argv[1], encoding="utf-8"))
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    failures = 0
    for job in jobs:
        try:
            with open(job["in"], "rb") as f:
                data = f.read()
            if job["op"] == "encrypt":
                out, _ = client.encrypt(
                    source=data,
                    key_provider=provider(job["keys"]),
                    encryption_context=job.get("context", {}),
                    algorithm=SUITES[job["suite"]],
                    frame_length=job["frame_length"],
                )
            else:
                out, header = client.decrypt(source=data, key_provider=provider(job["keys"][:1]))
                for k, v in job.get("context", {}).items():
                    if header.encryption_context.get(k) != v:
                        raise ValueError("context mismatch on %r" % k)
            with open(job["out"], "wb") as f:
                f.write(out)
            print("ok", job["out"])
            if job.get("expect_error"):
                failures += 1
        except Exception as e:  # pylint: disable=broad-except
            kind = type(e).__module__ + "." + type(e).__name__
            print("error", job["out"], kind, str(e).replace("\n", " "))
            if not job.get("expect_error"):
                failures += 1
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
