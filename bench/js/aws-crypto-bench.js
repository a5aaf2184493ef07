// Browser benchmark harness around the official AWS Encryption SDK for JavaScript
// (@aws-crypto/client-browser). scripts/bench-js.sh bundles this file (plus an injected
// `Buffer` from the npm `buffer` package, which the SDK expects as a Node-style global) into
// one classic IIFE script, target/bench-js/aws-crypto-bench.bundle.js, that a WebDriver test
// injects with execute_script(<bundle>) into any page that is a secure context: http://127.0.0.1,
// https or file:// all are; the WebDriver start page data:, is not (crypto.subtle is undefined there).
// The SDK is bundle-local: no Buffer or other global besides awsCryptoBench is added to the page.
//
// After injection:
//   const { ms, ciphertextLength } = await awsCryptoBench.encrypt(bytes, 1048576, '0x0478')
//   const { ms, plaintextLength } = await awsCryptoBench.decrypt(ciphertext)
//   awsCryptoBench.lastCiphertext / lastPlaintext hold the outputs of the last call.
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringWebCrypto,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-browser'
import { version as clientVersion } from '@aws-crypto/client-browser/package.json'

const { encrypt: esdkEncrypt, decrypt: esdkDecrypt } = buildClient(
  CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
)

const SUITES = {
  '0x0478': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  '0x0578': AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}

const ENCRYPTION_CONTEXT = { purpose: 'bench' }

// One keyring per page: created on first use, shared by encrypt and decrypt.
let keyringPromise = null
function keyring() {
  if (!keyringPromise) {
    keyringPromise = (async () => {
      if (!globalThis.crypto || !globalThis.crypto.subtle) {
        throw new Error(
          `awsCryptoBench: crypto.subtle is unavailable (isSecureContext=${globalThis.isSecureContext}, ` +
            `page ${globalThis.location && globalThis.location.href}); inject into an http://127.0.0.1, ` +
            'https or file:// page, not the WebDriver start page data:,',
        )
      }
      // The SDK rejects extractable wrapping keys, so generate a non-extractable AES-256-GCM key.
      const masterKey = await globalThis.crypto.subtle.generateKey(
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      )
      return new RawAesKeyringWebCrypto({
        keyName: 'bench-key',
        keyNamespace: 'bench',
        wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
        masterKey,
      })
    })()
    // Do not cache a failure (e.g. no crypto.subtle outside a secure context).
    keyringPromise.catch(() => {
      keyringPromise = null
    })
  }
  return keyringPromise
}

// The SDK's encrypt cuts frames with new Uint8Array(plaintext.buffer, (seq - 1) * frameLength, ...),
// ignoring byteOffset, so a view that does not start at offset 0 of its buffer would be encrypted
// from the wrong bytes. Such views are copied here, before the clock starts.
function asBytes(data, what) {
  let bytes
  if (data instanceof ArrayBuffer) bytes = new Uint8Array(data)
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  else throw new TypeError(`awsCryptoBench: ${what} must be a Uint8Array`)
  return bytes.byteOffset === 0 ? bytes : bytes.slice()
}

const bench = {
  version: clientVersion,
  suites: Object.keys(SUITES),
  lastCiphertext: null,
  lastPlaintext: null,

  async encrypt(plaintext, frameLength, suite = '0x0478') {
    const suiteId = SUITES[suite]
    if (suiteId === undefined) {
      throw new RangeError(`awsCryptoBench: unknown suite ${suite}; use one of ${Object.keys(SUITES)}`)
    }
    const bytes = asBytes(plaintext, 'plaintext')
    const kr = await keyring()
    const t0 = performance.now()
    const { result } = await esdkEncrypt(kr, bytes, {
      encryptionContext: ENCRYPTION_CONTEXT,
      frameLength,
      suiteId,
    })
    const ms = performance.now() - t0
    bench.lastCiphertext = result
    return { ms, ciphertextLength: result.byteLength }
  },

  async decrypt(ciphertext) {
    const bytes = asBytes(ciphertext, 'ciphertext')
    const kr = await keyring()
    const t0 = performance.now()
    const { plaintext, messageHeader } = await esdkDecrypt(kr, bytes)
    const ms = performance.now() - t0
    if (messageHeader.encryptionContext.purpose !== ENCRYPTION_CONTEXT.purpose) {
      throw new Error('awsCryptoBench: encryption context mismatch after decrypt')
    }
    bench.lastPlaintext = plaintext
    return { ms, plaintextLength: plaintext.byteLength }
  },
}

globalThis.awsCryptoBench = bench
