//! Core's integration suite, one test binary of modules: the official ESDK vectors, streaming
//! encryption and decryption against the one-shot API, and exhaustive tampering.

mod common;
mod positions;
mod rekey;
mod stream;
mod tamper;
mod vectors;
