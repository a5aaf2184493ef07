//! The Cipherdrop web app: client-side envelope encryption in the browser.
//!
//! The page gets a fresh KMS data key per file from the server, encrypts the file in the tab in
//! the AWS Encryption SDK v2 format (core does the format, WebCrypto the bulk AES-GCM), and PUTs
//! only ciphertext to S3 through presigned multipart URLs. Downloads come back the same way and
//! are decrypted in the tab. File names are encrypted too; the inspector shows what the server
//! and S3 hold.
//!
//! Layers, from the page down: `ui` → `upload` / `download` (one file's whole job) → `crypt`
//! (the encrypt and decrypt pipelines) → `stream` (reading), `parts` (packing), `s3` (presigned
//! PUTs and GETs), `subtle` and `workers` (the bulk cipher, in sealing workers where they
//! start), `resume` (this browser's record of uploads under way, in IndexedDB) and `api`
//! (the server); `error` is the one error type of uploads and
//! downloads (it wraps `api::ApiError`).

pub mod api;
pub mod bench;
pub mod browser;
pub mod crypt;
pub mod download;
pub mod error;
pub mod metadata;
pub mod parts;
pub mod resume;
pub mod s3;
pub mod stream;
pub mod subtle;
pub mod ui;
pub mod upload;
pub mod workers;
pub mod zip;

pub use ui::app::App;
