//! A file opened in the tab: progress while it downloads and verifies, then the browser's own
//! viewer for it, with what was verified and, for a view-only link, what that option can and
//! cannot promise.

use std::rc::Rc;

use yew::prelude::*;

use super::format;
use crate::preview::{Kind, MAX_TEXT_BYTES, Shown};

/// Where opening a file stands.
#[derive(Clone, PartialEq)]
pub enum Viewing {
    /// Ciphertext bytes read of all.
    Loading(u64, u64),
    /// Verified and ready.
    Ready(Rc<Shown>),
    /// Why not.
    Failed(String),
}

impl Viewing {
    /// How opening a file ended.
    pub fn of(result: Result<Shown, crate::error::TransferError>) -> Self {
        match result {
            Ok(shown) => Self::Ready(Rc::new(shown)),
            Err(e) => Self::Failed(e.to_string()),
        }
    }
}

/// Props of [`Preview`].
#[derive(Properties, PartialEq)]
pub struct PreviewProps {
    /// The file's name.
    pub name: String,
    /// Whether the message is signed (0x0578).
    pub signed: bool,
    /// Where opening it stands.
    pub viewing: Viewing,
    /// Closes the viewer (and frees what it holds).
    pub on_close: Callback<()>,
    /// Opened through a view-only link.
    #[prop_or_default]
    pub view_only: bool,
}

/// The viewer.
#[function_component(Preview)]
pub fn preview(p: &PreviewProps) -> Html {
    let close = {
        let f = p.on_close.clone();
        Callback::from(move |_: MouseEvent| f.emit(()))
    };
    let state = match &p.viewing {
        Viewing::Loading(..) => "loading",
        Viewing::Ready(_) => "ready",
        Viewing::Failed(_) => "failed",
    };
    let body = match &p.viewing {
        Viewing::Loading(done, total) => html! {
            <p role="status">{ format!(
                "Downloading and decrypting: {} of {} (shown once all of it verified)",
                format::size(*done),
                format::size(*total)
            ) }</p>
        },
        Viewing::Failed(e) => {
            html! { <p class="error" role="alert" id="preview-error">{ format!("It cannot be shown: {e}") }</p> }
        }
        Viewing::Ready(shown) => match &**shown {
            Shown::Media(Kind::Image, url) => {
                html! { <img id="preview-image" class="preview-media" src={url.as_str().to_owned()} alt={p.name.clone()} /> }
            }
            Shown::Media(Kind::Pdf, url) => {
                html! { <iframe id="preview-pdf" class="preview-frame" src={url.as_str().to_owned()} title={p.name.clone()}></iframe> }
            }
            Shown::Media(Kind::Video, url) => {
                html! { <video id="preview-video" class="preview-media" controls=true src={url.as_str().to_owned()}></video> }
            }
            Shown::Media(Kind::Audio, url) => {
                html! { <audio id="preview-audio" controls=true src={url.as_str().to_owned()}></audio> }
            }
            Shown::Media(Kind::Text, _) => html! {},
            Shown::Text(text, more) => html! {
                <>
                <pre id="preview-text" class="preview-text">{ text }</pre>
                if *more { <p class="muted">{ format!("Only the first {} is shown.", format::size(MAX_TEXT_BYTES)) }</p> }
                </>
            },
        },
    };
    html! {
        <section id="preview" class="card preview" data-state={state} aria-labelledby="preview-title">
            <div class="section-head">
                <h2 id="preview-title">{ &p.name }</h2>
                <button id="preview-close" type="button" class="secondary" onclick={close}>{ "Close" }</button>
            </div>
            { body }
            <p class="muted">{ if p.signed {
                "Decrypted in this tab, never written to disk; every frame and the message's signature (0x0578) verified before anything was shown."
            } else {
                "Decrypted in this tab, never written to disk; every frame verified (AES-GCM with the file's key) before anything was shown."
            } }</p>
            if p.view_only {
                <p class="muted" id="view-only-note">{ "The sender asked that this file be viewed, not saved, so this page offers no save button. Anything shown on a screen can still be captured: it is a request, not a lock." }</p>
            }
        </section>
    }
}
