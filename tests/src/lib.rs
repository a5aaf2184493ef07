//! The end-to-end suite's own harness, shared by its tests (`e2e/`) and benchmarks (`benches/`):
//! headless Chromium over WebDriver. The server side of the kit is `cipherdrop-testkit`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

pub mod browser;
