//! The page's Yew components: session and login, upload queue, file list, share links, the
//! link recipient's page, file requests (the owner's panel and the sender's page), inspector,
//! settings (API tokens, notifications and webhooks, the key for names). The explanation for
//! visitors is static HTML in `index.html`, painted before the app arrives.

pub mod app;
pub mod dropzone;
pub mod files;
pub mod format;
pub mod inspector;
pub mod keys;
pub mod login;
pub mod names_key;
pub mod notify;
pub mod preview;
pub mod qr;
pub mod recipient;
pub mod requests;
pub mod sender;
pub mod share;
pub mod tokens;
pub mod unfinished;
pub mod uploads;
pub mod webhooks;
