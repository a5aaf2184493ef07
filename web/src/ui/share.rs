//! The owner's share panel for one file: make a link (expiry, download limit, passphrase, note,
//! delete after the last download), see the file's links, extend, change the limit, revoke, and
//! read each link's access history.
//!
//! The link is `/s/#t={token}&k={link key}`: browsers never send the fragment, so no server or
//! proxy sees either. Making a link releases the file's data key to this page, which seals it
//! under a fresh link key for a fresh link id (`cipherdrop_core::seal_for_link`) and sends the
//! server only the sealed key (kept encrypted by KMS) and the file's name sealed under the link
//! key. The token lets the server count a download and release the sealed key; only the link key
//! opens it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cipherdrop_api::{
    AuditEntry, CreateShareRequest, ShareItemRequest, ShareSummary, UpdateShareRequest,
};
use cipherdrop_core::{LinkKey, LinkSecret, seal_for_link};
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use super::qr::Qr;
use crate::api;
use crate::metadata::{self, FileMeta};

/// Props of [`Share`].
#[derive(Properties, PartialEq)]
pub struct ShareProps {
    /// The file.
    pub id: String,
    /// Its name and type, if decrypted.
    pub meta: Option<FileMeta>,
    /// Closes the panel.
    pub on_close: Callback<()>,
    /// More files for one link to several files (after `id`, in this order).
    #[prop_or_default]
    pub others: Vec<(String, Option<FileMeta>)>,
}

pub(crate) fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// A fresh link id: a random (version 4) UUID, lowercase and hyphenated.
fn new_link_id() -> String {
    let mut b = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// Makes a link for file `id`: the data key sealed for a fresh link, the name sealed under the
/// link key; returns the whole link, to be shown once.
async fn make_link(
    id: &str,
    meta: &FileMeta,
    settings: CreateShareRequest,
) -> Result<String, String> {
    let data_key = api::release_key(id).await.map_err(|e| e.to_string())?;
    let link_key = LinkKey::generate(&mut rand::rng());
    let share_id = new_link_id();
    let sealed = seal_for_link(&data_key, &link_key, &share_id, &mut rand::rng())
        .map_err(|e| e.to_string())?;
    let req = CreateShareRequest {
        items: Vec::new(),
        metadata: metadata::seal(meta, link_key.as_bytes(), &share_id),
        id: share_id,
        sealed_key: B64.encode(sealed),
        ..settings
    };
    let created = api::create_share(id, &req)
        .await
        .map_err(|e| e.to_string())?;
    Ok(whole_link(created.token, link_key))
}

/// The link the owner is shown once: everything secret (token, link key) after the `#`.
fn whole_link(token: String, key: LinkKey) -> String {
    let secret = LinkSecret {
        token: zeroize::Zeroizing::new(token),
        key,
    };
    format!("{}/s/#{}", origin(), secret.fragment().as_str())
}

/// Makes one link to several files: each data key sealed under one fresh link key, each name
/// (a relative path, for a folder) sealed under the link key and bound to its file; returns the
/// whole link, to be shown once.
async fn make_set_link(
    files: &[(String, FileMeta)],
    settings: CreateShareRequest,
) -> Result<String, String> {
    let link_key = LinkKey::generate(&mut rand::rng());
    let share_id = new_link_id();
    let mut items = Vec::with_capacity(files.len());
    for (id, meta) in files {
        let data_key = api::release_key(id).await.map_err(|e| e.to_string())?;
        let sealed = seal_for_link(&data_key, &link_key, &share_id, &mut rand::rng())
            .map_err(|e| e.to_string())?;
        items.push(ShareItemRequest {
            object_id: id.clone(),
            sealed_key: B64.encode(sealed),
            metadata: metadata::seal(meta, link_key.as_bytes(), id),
        });
    }
    let req = CreateShareRequest {
        items,
        id: share_id,
        sealed_key: String::new(),
        delete_after_last: false,
        ..settings
    };
    let created = api::create_share_set(&req)
        .await
        .map_err(|e| e.to_string())?;
    Ok(whole_link(created.token, link_key))
}

/// The share panel.
#[function_component(Share)]
pub fn share(props: &ShareProps) -> Html {
    let shares = use_state(|| None::<Result<Vec<ShareSummary>, String>>);
    let reload = use_state(|| 0u32);
    let link = use_state(|| None::<String>);
    let error = use_state(|| None::<String>);
    let history = use_state(|| None::<(String, Result<Vec<AuditEntry>, String>)>);
    let (expiry, limit, passphrase, note, burn) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    let view_only = use_node_ref();
    {
        let shares = shares.clone();
        use_effect_with((props.id.clone(), *reload), move |(id, _)| {
            let id = id.clone();
            spawn_local(async move {
                let listed = api::shares(&id).await;
                // Shown now, so no longer new (the list keeps this visit's "new" marks).
                if listed
                    .as_ref()
                    .is_ok_and(|l| l.shares.iter().any(|s| s.new_downloads > 0))
                {
                    let _ = api::shares_seen(&id).await;
                }
                shares.set(Some(listed.map(|l| l.shares).map_err(|e| e.to_string())));
            });
        });
    }
    let create = {
        let (id, meta, others) = (props.id.clone(), props.meta.clone(), props.others.clone());
        let (link, error, reload) = (link.clone(), error.clone(), reload.clone());
        let (expiry, limit, passphrase, note, burn) = (
            expiry.clone(),
            limit.clone(),
            passphrase.clone(),
            note.clone(),
            burn.clone(),
        );
        let view_only = view_only.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let secs = expiry
                .cast::<HtmlSelectElement>()
                .and_then(|s| s.value().parse::<i64>().ok());
            let max = limit
                .cast::<HtmlInputElement>()
                .and_then(|i| i.value().trim().parse::<u32>().ok());
            let pass = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .filter(|p| !p.is_empty());
            let note = note
                .cast::<HtmlTextAreaElement>()
                .map(|t| t.value())
                .filter(|n| !n.trim().is_empty());
            let burn = burn.cast::<HtmlInputElement>().is_some_and(|c| c.checked());
            let view_only = view_only
                .cast::<HtmlInputElement>()
                .is_some_and(|c| c.checked());
            let meta = meta.clone().unwrap_or(FileMeta {
                name: "shared file".into(),
                media_type: String::new(),
                sender: None,
            });
            let settings = CreateShareRequest {
                items: Vec::new(),
                expires_in_secs: secs,
                max_downloads: max,
                passphrase: pass,
                note,
                delete_after_last: burn,
                view_only,
                ..CreateShareRequest::default()
            };
            let (id, link, error, reload) =
                (id.clone(), link.clone(), error.clone(), reload.clone());
            let set: Vec<(String, FileMeta)> = if others.is_empty() {
                Vec::new()
            } else {
                std::iter::once((id.clone(), meta.clone()))
                    .chain(others.iter().enumerate().map(|(n, (id, m))| {
                        let m = m.clone().unwrap_or(FileMeta {
                            name: format!("file-{}.bin", n + 2),
                            media_type: String::new(),
                            sender: None,
                        });
                        (id.clone(), m)
                    }))
                    .collect()
            };
            spawn_local(async move {
                let made = if set.is_empty() {
                    make_link(&id, &meta, settings).await
                } else {
                    make_set_link(&set, settings).await
                };
                match made {
                    Ok(l) => {
                        error.set(None);
                        link.set(Some(l));
                        reload.set(*reload + 1);
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    let act = {
        let (error, reload) = (error.clone(), reload.clone());
        move |share_id: String, action: &'static str| {
            let (error, reload) = (error.clone(), reload.clone());
            Callback::from(move |_: MouseEvent| {
                let (share_id, error, reload) = (share_id.clone(), error.clone(), reload.clone());
                spawn_local(async move {
                    let result = match action {
                        "revoke" => api::revoke_share(&share_id).await.map(drop),
                        "limit" => {
                            // The row's own input: empty means no limit.
                            let value = web_sys::window()
                                .and_then(|w| w.document())
                                .and_then(|d| {
                                    d.query_selector(&format!(
                                        "tr.share[data-id=\"{share_id}\"] .limit-input"
                                    ))
                                    .ok()
                                    .flatten()
                                })
                                .and_then(|e| {
                                    wasm_bindgen::JsCast::dyn_into::<HtmlInputElement>(e).ok()
                                })
                                .map(|i| i.value())
                                .unwrap_or_default();
                            let req = match value.trim().parse::<u32>() {
                                Ok(n) => UpdateShareRequest {
                                    max_downloads: Some(n),
                                    ..UpdateShareRequest::default()
                                },
                                Err(_) => UpdateShareRequest {
                                    unlimited: true,
                                    ..UpdateShareRequest::default()
                                },
                            };
                            api::update_share(&share_id, &req).await.map(drop)
                        }
                        _ => {
                            let req = UpdateShareRequest {
                                expires_in_secs: Some(cipherdrop_api::SHARE_DEFAULT_SECS),
                                ..UpdateShareRequest::default()
                            };
                            api::update_share(&share_id, &req).await.map(drop)
                        }
                    };
                    match result {
                        Ok(()) => reload.set(*reload + 1),
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            })
        }
    };
    let show_history = {
        let history = history.clone();
        move |share_id: String| {
            let history = history.clone();
            Callback::from(move |_: MouseEvent| {
                let (share_id, history) = (share_id.clone(), history.clone());
                spawn_local(async move {
                    let r = api::share_history(&share_id)
                        .await
                        .map(|p| p.entries)
                        .map_err(|e| e.to_string());
                    history.set(Some((share_id, r)));
                });
            })
        }
    };
    let copy = {
        let link = link.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(l) = (*link).clone() {
                spawn_local(async move {
                    let _ = crate::browser::copy_text(&l).await;
                });
            }
        })
    };
    let close = {
        let c = props.on_close.clone();
        Callback::from(move |_: MouseEvent| c.emit(()))
    };
    let title = if props.others.is_empty() {
        props
            .meta
            .as_ref()
            .map_or(props.id.clone(), |m| m.name.clone())
    } else {
        format!("{} files with one link", props.others.len() + 1)
    };
    let list = match &*shares {
        None => html! { <p class="muted">{ "Loading links…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(list)) if list.is_empty() => html! { <p class="muted">{ "No links yet." }</p> },
        Some(Ok(list)) => html! {
            <table class="files" id="share-list">
                <thead><tr><th scope="col">{ "Made" }</th><th scope="col">{ "Expires" }</th><th scope="col">{ "Downloads" }</th><th scope="col">{ "Last used" }</th><th scope="col">{ "State" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for list.iter().map(|s| {
                    let state = if s.revoked_at.is_some() { "revoked" }
                        else if s.retired { "retired" }
                        else if s.expires_at <= (js_sys::Date::now() / 1000.0) as i64 { "expired" }
                        else if s.max_downloads.is_some_and(|m| s.downloads >= m) { "used up" }
                        else { "active" };
                    let downloads = match s.max_downloads {
                        Some(m) => format!("{} of {m} ({} left)", s.downloads, m.saturating_sub(s.downloads)),
                        None => format!("{} (no limit)", s.downloads),
                    };
                    let last_used = s.last_used_at.map_or_else(|| "never".to_owned(), format::date);
                    html! {
                        <tr class="share" data-id={s.id.clone()} data-state={state}>
                            <td>{ format::date(s.created_at) }</td>
                            <td>{ format::date(s.expires_at) }</td>
                            <td class="downloads">{ downloads }{ if s.files > 1 { format!(" · {} files", s.files) } else { String::new() } }{ if s.has_passphrase { " · passphrase" } else { "" } }{ if s.delete_after_last { " · deletes the file" } else { "" } }{ if s.view_only { " · view only" } else { "" } }
                                if s.new_downloads > 0 { <span class="badge new">{ format!("{} new", s.new_downloads) }</span> }
                            </td>
                            <td class="last-used">{ last_used }</td>
                            <td>{ state }</td>
                            <td class="actions">
                                if state != "revoked" && state != "retired" {
                                    <input class="limit-input" type="number" min="1" max="1000"
                                           value={s.max_downloads.map(|m| m.to_string()).unwrap_or_default()}
                                           aria-label="Download limit (empty: none)" />
                                    <button type="button" class="secondary set-limit" onclick={act(s.id.clone(), "limit")}>{ "Set limit" }</button>
                                    <button type="button" class="secondary extend" onclick={act(s.id.clone(), "extend")}>{ "7 more days" }</button>
                                    <button type="button" class="secondary danger revoke" onclick={act(s.id.clone(), "revoke")}>{ "Revoke" }</button>
                                }
                                <button type="button" class="secondary history" onclick={show_history(s.id.clone())}>{ "History" }</button>
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        },
    };
    let history_view = match &*history {
        None => html! {},
        Some((_, Err(e))) => html! { <p class="error" role="alert">{ e }</p> },
        Some((id, Ok(entries))) => html! {
            <div id="share-history">
                <h4>{ format!("Access history of link {}", id.get(..8).unwrap_or(id)) }</h4>
                <table class="files">
                    <thead><tr><th scope="col">{ "Time" }</th><th scope="col">{ "What" }</th><th scope="col">{ "From" }</th><th scope="col">{ "Outcome" }</th></tr></thead>
                    <tbody>
                    { for entries.iter().map(|e| html! {
                        <tr class="access">
                            <td>{ format::date(e.time_ms / 1000) }</td>
                            <td>{ format!("{} {}", e.action, e.detail) }</td>
                            <td>{ e.ip.clone().unwrap_or_default() }</td>
                            <td>{ &e.outcome }</td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            </div>
        },
    };
    html! {
        <section id="share" class="card" aria-labelledby="share-title">
            <div class="section-head">
                <h2 id="share-title">{ format!("Share {title}") }</h2>
                <button id="share-close" type="button" class="secondary" onclick={close}>{ "Close" }</button>
            </div>
            <p class="muted">{ "Whoever has the whole link can download and decrypt the file until it expires, is used up or is revoked. Its secret is all after the #, which browsers never send: the server, proxies and link scanners see only /s/, and the server alone cannot decrypt the file. Every download is one KMS call, counted and logged; revoking works even against someone who already has the encrypted file." }</p>
            <form id="share-form" onsubmit={create}>
                <div class="options">
                    <label for="share-expiry">{ "Expires after" }</label>
                    <select id="share-expiry" ref={expiry}>
                        <option value="3600">{ "1 hour" }</option>
                        <option value="86400">{ "1 day" }</option>
                        <option value="604800" selected=true>{ "7 days" }</option>
                        <option value="2592000">{ "30 days" }</option>
                    </select>
                    <label for="share-limit">{ "Download limit (empty: none)" }</label>
                    <input id="share-limit" ref={limit} type="number" min="1" max="1000" />
                    <label for="share-passphrase">{ "Passphrase (optional, 8+ characters)" }</label>
                    <input id="share-passphrase" ref={passphrase} type="password" autocomplete="new-password" minlength="8" />
                    <label for="share-note">{ "Note for the recipient" }</label>
                    <textarea id="share-note" ref={note} rows="2" maxlength="1000" />
                </div>
                if props.others.is_empty() {
                    <label class="check"><input id="share-burn" ref={burn} type="checkbox" />{ " Delete the file after the last allowed download (with a limit of 1: burn after reading)" }</label>
                }
                if props.others.is_empty() && props.meta.as_ref().is_some_and(|m| crate::preview::kind_of(&m.media_type, &m.name).is_some()) {
                    <label class="check"><input id="share-view-only" ref={view_only} type="checkbox" />{ " View only: the recipient's page opens it and offers no save button (a request, not a lock: what is on a screen can be captured)" }</label>
                }
                <button id="share-create" type="submit">{ "Make link" }</button>
            </form>
            <div aria-live="polite">
                if let Some(e) = &*error { <p class="error" role="alert">{ e }</p> }
                if let Some(l) = &*link {
                    <p>{ "The link (shown only now; the part after # never leaves the browser):" }</p>
                    <input id="share-link" readonly=true value={l.clone()} aria-label="Share link" />
                    <button type="button" class="secondary" onclick={copy}>{ "Copy" }</button>
                    <Qr id="share-qr" text={l.clone()} label="QR code of the share link" />
                }
            </div>
            <h3>{ "Links to this file" }</h3>
            { list }
            { history_view }
        </section>
    }
}
