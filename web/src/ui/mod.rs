//! The page's components: session, upload queue, file list, inspector and explanations.

pub mod app;
pub mod files;
pub mod format;
pub mod inspector;
pub mod learn;
pub mod login;
pub mod recipient;
pub mod share;
pub mod uploads;
