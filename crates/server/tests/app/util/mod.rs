//! Helpers shared by the in-process server tests.

mod test_app;

pub use test_app::{PASSWORD, TestApp};
