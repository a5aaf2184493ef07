"""Streaming encrypt/decrypt throughput of the official AWS Encryption SDK for Python.

Usage: esdk_python.py DATA_FILE OUT_JSON. Same data, frame lengths and suite (0x0478) as the Rust
benchmark; the data is held in memory (BytesIO) so neither side measures disk reads. Median of 3
runs after a warm-up, MB/s = 10^6 bytes/s. Reads the stream in frame-length pieces (at least 64 KiB).
"""
import io
import json
import statistics
import sys
import time

import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.identifiers import Algorithm, EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider


class Bench(RawMasterKeyProvider):
    provider_id = "bench"

    def _get_raw_key(self, key_id):
        return WrappingKey(
            wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
            wrapping_key=b"\x09" * 32,
            wrapping_key_type=EncryptionKeyType.SYMMETRIC,
        )


def run(client, mode, source, frame, provider):
    read = max(frame, 65536)
    kwargs = dict(mode=mode, source=io.BytesIO(source), key_provider=provider)
    if mode == "e":
        kwargs.update(frame_length=frame, algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
                      encryption_context={"bench": "1"})
    out = io.BytesIO()
    with client.stream(**kwargs) as s:
        while True:
            chunk = s.read(read)
            if not chunk:
                break
            out.write(chunk)
    return out.getvalue()


def main():
    data = open(sys.argv[1], "rb").read()
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = Bench()
    provider.add_master_key(b"k")
    results = {}
    for frame in (4096, 65536, 1 << 20):
        figures = {}
        msg = run(client, "e", data, frame, provider)
        for mode, src in (("encrypt", data), ("decrypt", msg)):
            times = []
            for _ in range(4):
                t = time.perf_counter()
                out = run(client, mode[0], src, frame, provider)
                times.append(time.perf_counter() - t)
            if mode == "decrypt":
                assert out == data
            figures[mode] = len(data) / statistics.median(times[1:]) / 1e6
        results[str(frame)] = figures
        print(frame, figures, file=sys.stderr)
    json.dump(results, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
