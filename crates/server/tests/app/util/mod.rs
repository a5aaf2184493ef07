//! Helpers shared by the in-process server tests.

mod test_app;

pub use test_app::{PASSWORD, TestApp};

/// The operations anyone may call (no session, no token).
pub const PUBLIC_OPERATIONS: [&str; 11] = [
    "/api/openapi.json",
    "/api/login",
    "/api/login/link",
    "/api/logout",
    "/api/share",
    "/api/share/key",
    "/api/request",
    "/api/request/uploads",
    "/api/request/uploads/{id}/parts",
    "/api/request/uploads/{id}/complete",
    "/api/request/uploads/{id}/abort",
];
