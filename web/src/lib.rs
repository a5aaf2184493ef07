//! The Cipherdrop web app: client-side envelope encryption in the browser.
//!
//! The page gets a fresh KMS data key per file from the server, encrypts the file in the tab in
//! the AWS Encryption SDK v2 format (core does the format, WebCrypto the bulk AES-GCM), and PUTs
//! only ciphertext to S3 through presigned multipart URLs. Downloads come back the same way and
//! are decrypted in the tab. File names are encrypted too; the inspector shows what the server
//! and S3 hold.
//!
//! Layers, from the page down: `ui` → `transfer` (uploads: a pipeline of one file per stage,
//! read → seal → held parts → record → put, and the one endpoint channel every server call of
//! an upload goes through) and `download` (one file's download) → `crypt` (the decrypt pipeline;
//! it reads through `transfer::read`) → `subtle` and `workers` (the bulk cipher, in sealing
//! workers where they start) and `api` (the server); `error` is the one error type of uploads
//! and downloads (it wraps `api::ApiError`).

pub mod api;
pub mod bench;
pub mod browser;
pub mod crypt;
pub mod download;
pub mod error;
pub mod metadata;
pub mod preview;
pub mod subtle;
pub mod transfer;
pub mod ui;
pub mod workers;
pub mod zip;

pub use ui::app::App;
