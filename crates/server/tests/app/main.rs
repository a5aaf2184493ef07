//! The server in process: one test binary (so the AWS SDK, s3s and sqlx are linked once) whose
//! tests each start a [`util::TestApp`]: the server's router, the embedded KMS and the embedded
//! S3, every one on `127.0.0.1:0` in this process, with a temporary database.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

mod abuse;
mod assets;
mod audit;
mod audit_push;
mod complete;
mod docs;
mod endpoints;
mod erasure;
mod health;
mod limits;
mod mail;
mod metadata;
mod modules;
mod notify;
mod postgres;
mod presigned;
mod quotas;
mod regions;
mod rekey;
mod requests;
mod resume;
mod sessions;
mod shares;
mod sweeper;
mod tokens;
mod upstream;
mod util;
