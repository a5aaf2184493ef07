//! Plain-language explanations: how Cipherdrop works and three questions people ask.

use yew::prelude::*;

/// How it works, and the three questions.
#[function_component(Learn)]
pub fn learn() -> Html {
    html! {
        <section aria-labelledby="learn-title" class="card">
            <h2 id="learn-title">{ "How it works" }</h2>
            <ol>
                <li>{ "The server asks AWS KMS for a fresh data key for each file, bound to an encryption context naming the file and its owner. KMS returns the key twice: in plaintext, and encrypted under a KMS key that never leaves KMS." }</li>
                <li>{ "Your browser encrypts the file with that data key, in the AWS Encryption SDK message format, and uploads only ciphertext straight to S3. The encrypted data key travels inside the file's header; the plaintext key is wiped from memory after use." }</li>
                <li>{ "To read a file, the server has KMS decrypt the stored data key (only for the owner; every release is logged) and your browser decrypts locally. Any official AWS Encryption SDK, or aws-encryption-cli, can decrypt the stored object too." }</li>
            </ol>
            <details>
                <summary>{ "Why not keep secrets in plaintext environment variables or in code?" }</summary>
                <p>{ "Anything in code ends up in version control, builds, images and backups, and is readable by everyone who can read those, forever: rotating it means finding every copy. Environment variables leak through process listings, crash reports, debug pages, logs and child processes. Keep secrets in a secrets store, fetch them at run time with a narrowly scoped role, and rotate them; for data, keep only ciphertext and let KMS hold the key, so that reading the data requires a logged, revocable permission rather than a copy of a string." }</p>
            </details>
            <details>
                <summary>{ "Parameter Store or Secrets Manager?" }</summary>
                <p>{ "Both store values encrypted with KMS and control access with IAM. SSM Parameter Store (SecureString) is simple and its standard tier costs nothing: good for configuration and secrets you rotate yourself. Secrets Manager costs per secret and per call but adds managed rotation (with Lambda rotation functions for databases and others), cross-account and cross-region replication, and versioned staging labels: use it for credentials that must rotate automatically. Neither encrypts your files: for data, use KMS data keys as this app does." }</p>
            </details>
            <details>
                <summary>{ "AWS offers server-side encryption: when is client-side encryption required?" }</summary>
                <p>{ "Server-side encryption (SSE-S3, SSE-KMS) protects disks and backups, but S3 decrypts for anyone whose request is authorised: a leaked credential, a wrong bucket policy or an insider with access reads plaintext. Encrypt on the client when the storage provider or its operators must never see plaintext (regulation, contracts, zero-trust designs), when data crosses systems you do not control, when you need the encryption bound to a context you choose and checked on every decryption, or when objects must stay encrypted wherever they are copied. The cost is that the client must do the work and keep keys safe, which is what this page shows." }</p>
            </details>
        </section>
    }
}
