//! The recipient's page for a share link (`/s/#t={token}&k={link key}`), no account needed: what
//! the file is, when the link expires, how many downloads are left, then a counted download that
//! decrypts in the tab (or, for a secret text, shows the text with a copy button).
//!
//! The link's secrets are only in the fragment, which browsers never send. The page reads them
//! once, then removes them from the address bar and from this history entry, so neither a
//! reload, the history nor a screen share shows them; the server sees the token only in request
//! bodies and never sees the link key, which opens the data key the server releases sealed.

use std::cell::RefCell;
use std::rc::Rc;

use cipherdrop_api::{ShareInfo, ShareKeyResponse};
use cipherdrop_core::{DataKey, LinkSecret};
use wasm_bindgen::JsValue;
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use super::preview::{Preview, Viewing};
use crate::api;
use crate::browser::{SaveFile, has_save_picker};
use crate::download::{self, Destination};
use crate::error::{Cancel, TransferError};
use crate::metadata::{self, FileMeta, SECRET_TEXT_TYPE};
use crate::zip;

/// What the address held when the page opened.
enum Address {
    /// A link in the current form.
    Link(Rc<LinkSecret>),
    /// A link in the retired form `/s/{token}#k=…`.
    OldForm,
    /// No secret: the fragment is missing (for example after a reload).
    Missing,
}

/// Reads the link's secrets from the address once, and removes them from the address bar and
/// the history entry.
fn take_link() -> Address {
    let Some(window) = web_sys::window() else {
        return Address::Missing;
    };
    let location = window.location();
    let path = location.pathname().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let old_form = !path
        .strip_prefix("/s/")
        .unwrap_or_default()
        .trim_matches('/')
        .is_empty();
    if (!hash.is_empty() || old_form)
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some("/s/"));
    }
    match LinkSecret::parse(&hash) {
        Some(secret) if !old_form => Address::Link(Rc::new(secret)),
        _ if old_form => Address::OldForm,
        _ => Address::Missing,
    }
}

#[derive(Clone, PartialEq)]
enum Step {
    Ready,
    Working(u64, u64),
    Saved(crate::download::Saved),
    Secret(String),
    Failed(String),
}

/// One counted release of a link to several files, kept for this visit: every file's URL and
/// key (zeroized when the page drops it).
struct Released {
    answer: ShareKeyResponse,
    keys: Vec<DataKey>,
}

type ReleaseCell = Rc<RefCell<Option<Rc<Released>>>>;

/// The link's release for this visit: made once (one counted download for the whole set), then
/// reused by "download all" and each file's button.
async fn release_once(
    cell: &ReleaseCell,
    link: &LinkSecret,
    passphrase: Option<String>,
) -> Result<Rc<Released>, TransferError> {
    if let Some(r) = cell.borrow().clone() {
        return Ok(r);
    }
    let api::WithKey { answer, .. } = api::share_key(&link.token, passphrase, &link.key).await?;
    let keys = api::share_item_keys(&answer, &link.key)?;
    let released = Rc::new(Released { answer, keys });
    *cell.borrow_mut() = Some(released.clone());
    Ok(released)
}

/// Where to save `name`: a file the user picks (`Ok(None)` if they cancel), or a Blob.
async fn choose(picker: bool, name: &str) -> Result<Option<Destination>, String> {
    if !picker {
        return Ok(Some(Destination::Blob));
    }
    Ok(SaveFile::pick(name).await?.map(Destination::Picked))
}

/// Shows how a download ended, and the link's state again (its downloads left).
fn settle(
    step: &UseStateHandle<Step>,
    reload: &UseStateHandle<u32>,
    result: Result<Step, TransferError>,
) {
    step.set(match result {
        Ok(s) => s,
        Err(e) => Step::Failed(e.to_string()),
    });
    reload.set(**reload + 1);
}

/// A set's file name, or a stand-in when it does not open.
fn item_name(meta: Option<&FileMeta>, i: usize) -> String {
    meta.map_or_else(|| format!("file-{}.bin", i + 1), |m| m.name.clone())
}

/// The recipient's page.
#[function_component(Recipient)]
pub fn recipient() -> Html {
    let info = use_state(|| None::<Result<ShareInfo, String>>);
    let step = use_state(|| Step::Ready);
    let passphrase = use_node_ref();
    let use_picker = use_state(has_save_picker);
    let reload = use_state(|| 0u32);
    let address = use_state(take_link);
    let link = match &*address {
        Address::Link(secret) => Some(secret.clone()),
        _ => None,
    };
    let meta: Option<FileMeta> = match (&*info, &link) {
        (Some(Ok(i)), Some(link)) => metadata::open(&i.metadata, link.key.as_bytes(), &i.id).ok(),
        _ => None,
    };
    // A link to several files: each file's sealed name, opened with the link key.
    let items: Rc<Vec<(cipherdrop_api::ShareItemInfo, Option<FileMeta>)>> =
        Rc::new(match (&*info, &link) {
            (Some(Ok(i)), Some(link)) => i
                .items
                .iter()
                .map(|item| {
                    let meta =
                        metadata::open(&item.metadata, link.key.as_bytes(), &item.object_id).ok();
                    (item.clone(), meta)
                })
                .collect(),
            _ => Vec::new(),
        });
    let released: ReleaseCell = use_mut_ref(|| None);
    // The file opened in the tab, if it was.
    let viewing = use_state(|| None::<Viewing>);
    {
        let (info, link) = (info.clone(), link.clone());
        use_effect_with(*reload, move |_| {
            if let Some(link) = link {
                spawn_local(async move {
                    info.set(Some(
                        api::share_info(&link.token)
                            .await
                            .map_err(|e| e.to_string()),
                    ));
                });
            }
        });
    }
    let download = {
        let (step, reload, use_picker) = (step.clone(), reload.clone(), use_picker.clone());
        let (passphrase, link, meta) = (passphrase.clone(), link.clone(), meta.clone());
        let total = info
            .as_ref()
            .and_then(|i| i.as_ref().ok())
            .map_or(0, |i| i.size);
        Callback::from(move |_: MouseEvent| {
            let pass = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .filter(|p| !p.is_empty());
            let meta = meta.clone().unwrap_or(FileMeta {
                name: "shared-file.bin".into(),
                media_type: String::new(),
                sender: None,
            });
            let secret = meta.media_type == SECRET_TEXT_TYPE;
            let picker = !secret && *use_picker && has_save_picker();
            let (step, reload) = (step.clone(), reload.clone());
            let Some(link) = link.clone() else {
                return;
            };
            spawn_local(async move {
                let destination = match choose(picker, &meta.name).await {
                    Ok(Some(d)) => d,
                    Ok(None) => return,
                    Err(e) => return step.set(Step::Failed(e)),
                };
                step.set(Step::Working(0, total));
                let result = async {
                    let api::WithKey {
                        answer: resp,
                        data_key: key,
                    } = api::share_key(&link.token, pass, &link.key).await?;
                    if secret {
                        return download::fetch_text(&resp.download_url, &key)
                            .await
                            .map(Step::Secret);
                    }
                    let mut progress = {
                        let step = step.clone();
                        move |done: u64, all: u64| step.set(Step::Working(done, all))
                    };
                    download::save_from(
                        &resp.download_url,
                        total,
                        &key,
                        &meta.name,
                        destination,
                        &mut progress,
                        &Cancel::default(),
                    )
                    .await
                    .map(Step::Saved)
                }
                .await;
                settle(&step, &reload, result);
            });
        })
    };
    // Open in the tab: one counted release, as a download is.
    let open = {
        let (viewing, reload, passphrase, link, meta) = (
            viewing.clone(),
            reload.clone(),
            passphrase.clone(),
            link.clone(),
            meta.clone(),
        );
        let sizes = info
            .as_ref()
            .and_then(|i| i.as_ref().ok())
            .map_or((0, 0), |i| (i.size, i.plaintext_size));
        Callback::from(move |_: MouseEvent| {
            let pass = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .filter(|p| !p.is_empty());
            let (Some(link), Some(meta)) = (link.clone(), meta.clone()) else {
                return;
            };
            let Some(kind) = crate::preview::kind_of(&meta.media_type, &meta.name) else {
                return;
            };
            let (viewing, reload) = (viewing.clone(), reload.clone());
            viewing.set(Some(Viewing::Loading(0, sizes.0)));
            spawn_local(async move {
                let mut progress = {
                    let viewing = viewing.clone();
                    move |done: u64, all: u64| viewing.set(Some(Viewing::Loading(done, all)))
                };
                let result = async {
                    let api::WithKey {
                        answer: resp,
                        data_key: key,
                    } = api::share_key(&link.token, pass, &link.key).await?;
                    crate::preview::open(
                        &resp.download_url,
                        sizes.0,
                        sizes.1,
                        &key,
                        kind,
                        &mut progress,
                        &Cancel::default(),
                    )
                    .await
                }
                .await;
                viewing.set(Some(Viewing::of(result)));
                reload.set(*reload + 1);
            });
        })
    };
    let close_view = {
        let viewing = viewing.clone();
        Callback::from(move |()| viewing.set(None))
    };
    // "Download all" (`None`) or one file of a set (`Some(index)`).
    let download_set = {
        let (step, reload, use_picker) = (step.clone(), reload.clone(), use_picker.clone());
        let (passphrase, link, items, released) = (
            passphrase.clone(),
            link.clone(),
            items.clone(),
            released.clone(),
        );
        Rc::new(move |which: Option<usize>| {
            let pass = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .filter(|p| !p.is_empty());
            let Some(link) = link.clone() else {
                return;
            };
            // One file is saved under its own name (a folder's path stays in the zip only).
            let save_name = match which {
                Some(i) => {
                    let name = item_name(items.get(i).and_then(|(_, m)| m.as_ref()), i);
                    name.rsplit('/').next().unwrap_or(&name).to_owned()
                }
                None => "shared files.zip".to_owned(),
            };
            let picker = *use_picker && has_save_picker();
            let (step, reload, items, released) = (
                step.clone(),
                reload.clone(),
                items.clone(),
                released.clone(),
            );
            spawn_local(async move {
                let destination = match choose(picker, &save_name).await {
                    Ok(Some(d)) => d,
                    Ok(None) => return,
                    Err(e) => return step.set(Step::Failed(e)),
                };
                step.set(Step::Working(0, 0));
                let result = async {
                    let r = release_once(&released, &link, pass).await?;
                    let mut progress = {
                        let step = step.clone();
                        move |done: u64, all: u64| step.set(Step::Working(done, all))
                    };
                    // The release lists the files that still exist, in order; match by id.
                    let mut entries = Vec::new();
                    let names: Vec<String> = r
                        .answer
                        .items
                        .iter()
                        .map(|k| {
                            items
                                .iter()
                                .enumerate()
                                .find(|(_, (i, _))| i.object_id == k.object_id)
                                .map_or_else(
                                    || format!("{}.bin", k.object_id),
                                    |(p, (_, m))| item_name(m.as_ref(), p),
                                )
                        })
                        .collect();
                    for ((k, key), name) in r.answer.items.iter().zip(&r.keys).zip(&names) {
                        let Some((info, _)) =
                            items.iter().find(|(i, _)| i.object_id == k.object_id)
                        else {
                            continue;
                        };
                        entries.push(zip::Entry {
                            name,
                            url: &k.download_url,
                            size: info.size,
                            plaintext_size: info.plaintext_size,
                            key,
                        });
                    }
                    match which {
                        None => {
                            zip::save_zip(
                                &entries,
                                &save_name,
                                destination,
                                &mut progress,
                                &Cancel::default(),
                            )
                            .await
                        }
                        Some(i) => {
                            let wanted = items.get(i).map(|(info, _)| info.object_id.clone());
                            let Some(e) = entries
                                .iter()
                                .zip(&r.answer.items)
                                .find(|(_, k)| Some(&k.object_id) == wanted.as_ref())
                                .map(|(e, _)| e)
                            else {
                                return Err(TransferError::Format(
                                    "that file is no longer shared".into(),
                                ));
                            };
                            download::save_from(
                                e.url,
                                e.size,
                                e.key,
                                &save_name,
                                destination,
                                &mut progress,
                                &Cancel::default(),
                            )
                            .await
                        }
                    }
                    .map(Step::Saved)
                }
                .await;
                settle(&step, &reload, result);
            });
        })
    };
    let download_all = {
        let f = download_set.clone();
        Callback::from(move |_: MouseEvent| f(None))
    };
    let copy = {
        let step = step.clone();
        Callback::from(move |_: MouseEvent| {
            if let Step::Secret(text) = &*step {
                let text = text.clone();
                spawn_local(async move {
                    let _ = crate::browser::copy_text(&text).await;
                });
            }
        })
    };
    let toggle_picker = {
        let use_picker = use_picker.clone();
        Callback::from(move |_: Event| use_picker.set(!*use_picker))
    };
    // The passphrase field (if the link has one) and the "ask where to save" choice.
    let controls = |needs_passphrase: bool| {
        html! {
            <>
            if needs_passphrase {
                <label for="recipient-passphrase">{ "Passphrase" }</label>
                <input id="recipient-passphrase" ref={passphrase.clone()} type="password" autocomplete="off" />
            }
            if has_save_picker() {
                <label class="check"><input id="save-picker" type="checkbox" checked={*use_picker} onchange={toggle_picker.clone()} />
                    { " Ask where to save" }</label>
            }
            </>
        }
    };
    let state = match (&*info, &*step) {
        _ if link.is_none() => "refused",
        (_, Step::Saved(_)) => "done",
        (_, Step::Secret(_)) => "done",
        (_, Step::Failed(_)) => "failed",
        (Some(Err(_)), _) => "refused",
        (Some(Ok(_)), _) => "ready",
        (None, _) => "loading",
    };
    let name = meta
        .as_ref()
        .map_or("(name not in the link)".to_owned(), |m| m.name.clone());
    let body = match (&*address, &*info) {
        (Address::OldForm, _) => html! {
            <p class="error" role="alert" id="recipient-message">{ "This link is in an old form that was retired: its secret was in the part of the address that servers and proxies see. Ask the person who shared it for a new link; new links keep their whole secret after the #, which never leaves your browser." }</p>
        },
        (Address::Missing, _) => html! {
            <p class="error" role="alert" id="recipient-message">{ "This page needs the whole link, including the part after #. That part is removed from the address bar once read, so a reload loses it: open the link again from where you got it." }</p>
        },
        (_, None) => html! { <p class="muted">{ "Checking the link…" }</p> },
        (_, Some(Err(e))) if !matches!(*step, Step::Saved(_) | Step::Secret(_)) => html! {
            <p class="error" role="alert" id="recipient-message">{ format!("This link gives no file: {e}") }</p>
        },
        (_, Some(Err(_))) => html! {},
        (_, Some(Ok(i))) if !items.is_empty() => html! {
            <>
            <table class="files" id="recipient-files">
                <thead><tr><th scope="col">{ "File" }</th><th scope="col">{ "Size" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for items.iter().enumerate().map(|(n, (item, meta))| {
                    let name = item_name(meta.as_ref(), n);
                    let f = download_set.clone();
                    let one = Callback::from(move |_: MouseEvent| f(Some(n)));
                    html! {
                        <tr class="shared-file" data-name={name.clone()}>
                            <td>{ &name }</td>
                            <td>{ format::size(item.plaintext_size) }</td>
                            <td class="actions"><button type="button" class="secondary item-download" onclick={one}
                                disabled={matches!(*step, Step::Working(..))} aria-label={format!("Download and decrypt {name}")}>{ "Download" }</button></td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
            <dl class="result">
                <dt>{ "Files" }</dt><dd id="recipient-count">{ items.len() }</dd>
                <dt>{ "Link expires" }</dt><dd>{ format::date(i.expires_at) }</dd>
                <dt>{ "Downloads left" }</dt><dd id="recipient-remaining">{ i.remaining.map_or("no limit".to_owned(), |r| r.to_string()) }</dd>
                if let Some(n) = &i.note { <dt>{ "Note" }</dt><dd>{ n }</dd> }
            </dl>
            <p class="muted">{ "One download counts for all the files; after it, each file's button and \"Download all\" reuse it while this page is open." }</p>
            { controls(i.needs_passphrase) }
            <button id="recipient-zip" type="button" onclick={download_all}
                    disabled={matches!(*step, Step::Working(..))}>{ "Download all as a .zip" }</button>
            </>
        },
        (_, Some(Ok(i))) => html! {
            <>
            <dl class="result">
                <dt>{ "File" }</dt><dd id="recipient-name">{ &name }</dd>
                <dt>{ "Size" }</dt><dd>{ format::size(i.plaintext_size) }</dd>
                <dt>{ "Link expires" }</dt><dd>{ format::date(i.expires_at) }</dd>
                <dt>{ "Downloads left" }</dt><dd id="recipient-remaining">{ i.remaining.map_or("no limit".to_owned(), |r| r.to_string()) }</dd>
                if let Some(n) = &i.note { <dt>{ "Note" }</dt><dd>{ n }</dd> }
            </dl>
            { controls(i.needs_passphrase) }
            if !i.view_only {
                <button id="recipient-download" type="button" onclick={download}
                        disabled={matches!(*step, Step::Working(..))}>{ "Download and decrypt" }</button>
            }
            if meta.as_ref().is_some_and(|m| crate::preview::kind_of(&m.media_type, &m.name).is_some()) {
                <button id="recipient-open" type="button" class={classes!((!i.view_only).then_some("secondary"))} onclick={open}
                        disabled={matches!(*viewing, Some(Viewing::Loading(..)))}>{ "Open here" }</button>
            } else if i.view_only {
                <p class="error" role="alert" id="recipient-message">{ "This link is for viewing only, and this kind of file cannot be shown in a page: ask the person who shared it for a link that lets you save it." }</p>
            }
            if let Some(v) = &*viewing {
                <Preview name={name.clone()} signed={i.suite == 0x0578} viewing={v.clone()} on_close={close_view} view_only={i.view_only} />
            }
            </>
        },
    };
    let outcome = match &*step {
        Step::Ready => html! {},
        Step::Working(done, all) => {
            html! { <p role="status">{ format!("Downloading and decrypting: {} of {}", format::size(*done), format::size(*all)) }</p> }
        }
        Step::Saved(n) => {
            html! { <p role="status" class="ok" id="recipient-message">{ format!("Decrypted and saved ({}); every frame verified.{}", format::size(n.bytes), super::files::resumed_note(n.resumed)) }</p> }
        }
        Step::Secret(text) => html! {
            <div>
                <label for="secret-text">{ "The secret (decrypted here, in your browser)" }</label>
                <textarea id="secret-text" readonly=true rows="6" value={text.clone()} />
                <button type="button" onclick={copy}>{ "Copy" }</button>
            </div>
        },
        Step::Failed(e) => {
            html! { <p class="error" role="alert" id="recipient-message">{ format!("Download failed: {e}") }</p> }
        }
    };
    html! {
        <section id="recipient" class="card" data-state={state} aria-labelledby="recipient-title">
            <h2 id="recipient-title">{ if items.is_empty() { "A file was shared with you" } else { "Files were shared with you" } }</h2>
            <p class="muted">{ if items.is_empty() {
                "It is encrypted; your browser decrypts it here. The server never sees its content."
            } else {
                "They are encrypted; your browser decrypts them here. The server never sees their content."
            } }</p>
            { body }
            <div aria-live="polite">{ outcome }</div>
        </section>
    }
}
