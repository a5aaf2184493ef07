//! How a run ends: the exit codes scripts rely on (also in `cipherdrop help`), the error that
//! carries one, and an error with its causes in one line.
//!
//! 0 ok, 1 other errors, 2 usage (clap's), 3 authentication or permission (token missing,
//! expired, revoked, wrong scope), 4 not found (no such file, link gone), 5 integrity (the
//! ciphertext failed verification), 6 network or service unavailable, 130 interrupted.

/// Exit code: authentication or permission.
pub const EXIT_AUTH: u8 = 3;
/// Exit code: not found or gone.
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit code: the ciphertext failed verification.
pub const EXIT_INTEGRITY: u8 = 5;
/// Exit code: network or service unavailable.
pub const EXIT_UNAVAILABLE: u8 = 6;
/// Exit code of a `put` interrupted by Ctrl-C (the shell's 128 + SIGINT); the upload is kept for
/// `put --resume`.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A failure with the exit code a script can rely on.
#[derive(Debug)]
pub struct Failure {
    /// The process's exit code.
    pub code: u8,
    /// What happened, in words.
    pub message: String,
    /// What a request met, when the failure is a request's (no answer, or an HTTP status): what
    /// the upload policy of `cipherdrop_api::transfer` decides on.
    pub met: Option<cipherdrop_api::transfer::Failure>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error that exits with `code`.
pub fn fail(code: u8, message: impl Into<String>) -> anyhow::Error {
    Failure {
        code,
        message: message.into(),
        met: None,
    }
    .into()
}

/// The exit code an error asks for, if it names one.
pub fn code_of(e: &anyhow::Error) -> Option<u8> {
    e.downcast_ref::<Failure>().map(|f| f.code)
}

/// What the request that failed with `e` met, if `e` is a request's failure.
pub fn met_of(e: &anyhow::Error) -> Option<cipherdrop_api::transfer::Failure> {
    e.downcast_ref::<Failure>().and_then(|f| f.met)
}

/// An error and every error under it, in one line.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
