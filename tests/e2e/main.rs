//! The end-to-end suite, one test binary of modules: the page in headless Chromium against a
//! `cipherdrop serve` process (`web_*`, `browser_smoke`; `web_keys`: the administrators' Keys panel), and our core against the official
//! Python ESDK (`interop_python`).
//!
//! Needs `cargo build -p cipherdrop-cli` (same profile), `trunk build` (for `dist/`), chromedriver
//! with Chromium, and the bootstrap's Python venv: `make test` does all of it.

mod browser_smoke;
mod interop_python;
mod web_e2e;
mod web_failures;
mod web_keys;
mod web_names;
mod web_preview;
mod web_renewal;
mod web_requests;
mod web_settings;
mod web_share;
mod web_workers;
