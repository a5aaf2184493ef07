//! The account's files: decrypted names, sizes, dates; download-and-decrypt, open in the tab,
//! inspect, delete.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cipherdrop_api::ObjectSummary;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use super::preview::{Preview, Viewing};
use crate::api;
use crate::browser::{SaveFile, has_save_picker};
use crate::download::{self, Destination};
use crate::error::Cancel;
use crate::metadata::{self, FileMeta};

/// Names decrypted so far in this tab (never stored anywhere).
pub type Names = Rc<RefCell<HashMap<String, Result<FileMeta, String>>>>;

/// State of a download.
#[derive(Clone, Debug, PartialEq)]
enum Transfer {
    Running(u64, u64),
    Done(download::Saved),
    Failed(String),
}

/// Props of [`Files`].
#[derive(Properties, PartialEq)]
pub struct FilesProps {
    /// Bumped to reload the list.
    pub version: u32,
    /// Decrypted names cache.
    pub names: Names,
    /// Opens the inspector for a file.
    pub on_inspect: Callback<String>,
    /// Opens the share panel for a file.
    pub on_share: Callback<String>,
    /// Opens the share panel for one link to several files (in the order they were ticked).
    pub on_share_set: Callback<Vec<String>>,
    /// Only the files that arrived by this file request (id, title), instead of all.
    #[prop_or_default]
    pub request: Option<(String, String)>,
    /// Back to all files from a request's.
    #[prop_or_default]
    pub on_all_files: Callback<()>,
    /// A request's files were listed (and so marked seen by the server).
    #[prop_or_default]
    pub on_request_seen: Callback<()>,
}

/// The file list.
#[function_component(Files)]
pub fn files(props: &FilesProps) -> Html {
    let list = use_state(|| None::<Result<Vec<ObjectSummary>, String>>);
    let redraw = use_state(|| 0u32);
    let transfers = use_state(HashMap::<String, Transfer>::new);
    let transfers_ref = use_mut_ref(HashMap::<String, Transfer>::new);
    let confirm_delete = use_state(|| None::<String>);
    let use_picker = use_state(has_save_picker);
    let reload = use_state(|| 0u32);
    // Files ticked for one link to several files.
    let selected = use_state(Vec::<String>::new);
    // The file open in the tab (its name, whether signed, where it stands) and its cancel.
    let previewing = use_state(|| None::<(String, bool, Viewing)>);
    let preview_cancel = use_mut_ref(Cancel::default);

    {
        let (list, names, redraw) = (list.clone(), props.names.clone(), redraw.clone());
        let seen = props.on_request_seen.clone();
        let request = props.request.as_ref().map(|(id, _)| id.clone());
        use_effect_with((props.version, *reload, request), move |(_, _, request)| {
            let request = request.clone();
            spawn_local(async move {
                // A request's files (the server notes they were seen), or all of them.
                let listed = match &request {
                    Some(id) => {
                        let listed = api::request_files(id).await;
                        if listed.is_ok() {
                            seen.emit(());
                        }
                        listed
                    }
                    None => api::list().await,
                };
                match listed {
                    Ok(l) => {
                        let objects = l.objects;
                        list.set(Some(Ok(objects.clone())));
                        // Names open with the account's metadata key (one release per
                        // session); old-form names migrate to it as they are read.
                        for o in objects {
                            if names.borrow().contains_key(&o.id) {
                                continue;
                            }
                            let meta = metadata::open_listed(&o.metadata, &o.id).await;
                            names.borrow_mut().insert(o.id.clone(), meta);
                            redraw.set(*redraw + 1);
                        }
                    }
                    Err(e) => list.set(Some(Err(e.to_string()))),
                }
            });
        });
    }

    let set_transfer = {
        let (transfers, transfers_ref) = (transfers.clone(), transfers_ref.clone());
        Rc::new(move |id: String, t: Transfer| {
            transfers_ref.borrow_mut().insert(id, t);
            transfers.set(transfers_ref.borrow().clone());
        })
    };

    let on_download = {
        let (names, use_picker, set_transfer) = (
            props.names.clone(),
            use_picker.clone(),
            set_transfer.clone(),
        );
        Callback::from(move |id: String| {
            let name = match names.borrow().get(&id) {
                Some(Ok(m)) => m.name.clone(),
                _ => format!("{id}.bin"),
            };
            let picker = *use_picker && has_save_picker();
            let set_transfer = set_transfer.clone();
            spawn_local(async move {
                let destination = if picker {
                    // Ask first, while the click's user activation lasts.
                    match SaveFile::pick(&name).await {
                        Ok(Some(f)) => Destination::Picked(f),
                        Ok(None) => return,
                        Err(e) => {
                            set_transfer(id, Transfer::Failed(e));
                            return;
                        }
                    }
                } else {
                    Destination::Blob
                };
                set_transfer(id.clone(), Transfer::Running(0, 0));
                let mut progress = {
                    let (set_transfer, id) = (set_transfer.clone(), id.clone());
                    let mut last = 0.0;
                    move |done: u64, total: u64| {
                        let now = crate::browser::now_ms();
                        if now - last > 100.0 || done == total {
                            last = now;
                            set_transfer(id.clone(), Transfer::Running(done, total));
                        }
                    }
                };
                let result =
                    download::download(&id, &name, destination, &mut progress, &Cancel::default())
                        .await;
                set_transfer(
                    id,
                    match result {
                        Ok(n) => Transfer::Done(n),
                        Err(e) => Transfer::Failed(e.to_string()),
                    },
                );
            });
        })
    };

    let on_open = {
        let (names, previewing, preview_cancel) = (
            props.names.clone(),
            previewing.clone(),
            preview_cancel.clone(),
        );
        Callback::from(move |(id, signed): (String, bool)| {
            let Some(Ok(meta)) = names.borrow().get(&id).cloned() else {
                return;
            };
            let Some(kind) = crate::preview::kind_of(&meta.media_type, &meta.name) else {
                return;
            };
            preview_cancel.borrow().cancel();
            let cancel = Cancel::default();
            *preview_cancel.borrow_mut() = cancel.clone();
            let (previewing, name) = (previewing.clone(), meta.name.clone());
            previewing.set(Some((name.clone(), signed, Viewing::Loading(0, 0))));
            spawn_local(async move {
                let mut progress = {
                    let (previewing, name, cancel) =
                        (previewing.clone(), name.clone(), cancel.clone());
                    let mut last = 0.0;
                    move |done: u64, total: u64| {
                        let now = crate::browser::now_ms();
                        if !cancel.is_cancelled() && (now - last > 100.0 || done == total) {
                            last = now;
                            previewing.set(Some((
                                name.clone(),
                                signed,
                                Viewing::Loading(done, total),
                            )));
                        }
                    }
                };
                let result = async {
                    let details = api::details(&id).await?;
                    let key = api::release_key(&id).await?;
                    crate::preview::open(
                        &details.download_url,
                        details.object.size,
                        details.object.plaintext_size,
                        &key,
                        kind,
                        &mut progress,
                        &cancel,
                    )
                    .await
                }
                .await;
                if cancel.is_cancelled() {
                    return;
                }
                previewing.set(Some((name, signed, Viewing::of(result))));
            });
        })
    };
    let close_preview = {
        let (previewing, preview_cancel) = (previewing.clone(), preview_cancel.clone());
        Callback::from(move |()| {
            preview_cancel.borrow().cancel();
            previewing.set(None);
        })
    };

    let on_delete = {
        let (confirm_delete, reload) = (confirm_delete.clone(), reload.clone());
        let set_transfer = set_transfer.clone();
        Callback::from(move |id: String| {
            if confirm_delete.as_deref() != Some(id.as_str()) {
                confirm_delete.set(Some(id));
                return;
            }
            confirm_delete.set(None);
            let (reload, set_transfer) = (reload.clone(), set_transfer.clone());
            spawn_local(async move {
                match api::delete(&id).await {
                    Ok(()) => reload.set(*reload + 1),
                    Err(e) => set_transfer(id, Transfer::Failed(format!("Delete failed: {e}"))),
                }
            });
        })
    };

    let toggle_picker = {
        let use_picker = use_picker.clone();
        Callback::from(move |_: Event| use_picker.set(!*use_picker))
    };

    let share_selected = {
        let (selected, f) = (selected.clone(), props.on_share_set.clone());
        Callback::from(move |_: MouseEvent| {
            f.emit((*selected).clone());
            selected.set(Vec::new());
        })
    };
    let clear_selection = {
        let selected = selected.clone();
        Callback::from(move |_: MouseEvent| selected.set(Vec::new()))
    };

    let names = props.names.borrow();
    let body = match &*list {
        None => html! { <p class="muted">{ "Loading your files…" }</p> },
        Some(Err(e)) => {
            html! { <p class="error" role="alert">{ format!("Could not list your files: {e}") }</p> }
        }
        Some(Ok(objects)) if objects.is_empty() && props.request.is_some() => {
            html! { <p class="muted" id="no-files">{ "Nothing has arrived by this request yet." }</p> }
        }
        Some(Ok(objects)) if objects.is_empty() => {
            html! { <p class="muted" id="no-files">{ "No files yet. Encrypted uploads appear here." }</p> }
        }
        Some(Ok(objects)) => html! {
            <>
            if !selected.is_empty() {
                <div class="selection" role="region" aria-label="Selected files">
                    <span id="selected-count">{ format!("{} selected", selected.len()) }</span>
                    <button id="share-selected" type="button" onclick={share_selected.clone()}>{ "Share them with one link" }</button>
                    <button type="button" class="secondary" onclick={clear_selection.clone()}>{ "Clear" }</button>
                </div>
            }
            <table id="files" class="files">
                <thead><tr><th scope="col"><span class="visually-hidden">{ "Select" }</span></th><th scope="col">{ "Name" }</th><th scope="col">{ "Size" }</th><th scope="col">{ "Uploaded" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for objects.iter().map(|o| {
                    let (name, name_class) = match names.get(&o.id) {
                        Some(Ok(m)) => (m.name.clone(), ""),
                        Some(Err(e)) => (format!("(name unreadable: {e})"), "error"),
                        None => ("decrypting name…".to_owned(), "muted"),
                    };
                    let transfer = transfers.get(&o.id).cloned();
                    let state = match &transfer {
                        None => "",
                        Some(Transfer::Running(..)) => "running",
                        Some(Transfer::Done(_)) => "done",
                        Some(Transfer::Failed(_)) => "failed",
                    };
                    let id = o.id.clone();
                    let dl = { let (f, id) = (on_download.clone(), id.clone()); Callback::from(move |_: MouseEvent| f.emit(id.clone())) };
                    let shr = {
                        let (f, id) = (props.on_share.clone(), id.clone());
                        Callback::from(move |_: MouseEvent| f.emit(id.clone()))
                    };
                    let ins = { let (f, id) = (props.on_inspect.clone(), id.clone()); Callback::from(move |_: MouseEvent| f.emit(id.clone())) };
                    let can_open = matches!(names.get(&o.id), Some(Ok(m)) if crate::preview::kind_of(&m.media_type, &m.name).is_some());
                    let open = { let (f, id, signed) = (on_open.clone(), id.clone(), o.suite == 0x0578); Callback::from(move |_: MouseEvent| f.emit((id.clone(), signed))) };
                    let del = { let (f, id) = (on_delete.clone(), id.clone()); Callback::from(move |_: MouseEvent| f.emit(id.clone())) };
                    let confirming = confirm_delete.as_deref() == Some(o.id.as_str());
                    let is_selected = selected.contains(&o.id);
                    let toggle = {
                        let (selected, id) = (selected.clone(), id.clone());
                        Callback::from(move |_: Event| {
                            let mut now = (*selected).clone();
                            if let Some(p) = now.iter().position(|s| *s == id) {
                                now.remove(p);
                            } else {
                                now.push(id.clone());
                            }
                            selected.set(now);
                        })
                    };
                    html! {
                        <>
                        <tr class="file" data-id={o.id.clone()} data-name={name.clone()} data-download={state}>
                            <td class="select"><input type="checkbox" class="select" checked={is_selected} onchange={toggle} aria-label={format!("Select {name}")} /></td>
                            <td class={name_class}>{ &name }{ if o.suite == 0x0578 { html!{ <span class="badge" title="signed (0x0578)">{ "signed" }</span> } } else { html!{} } }
                                if let Some(Ok(FileMeta { sender: Some(who), .. })) = names.get(&o.id) {
                                    <span class="sender muted">{ format!(" from {who}") }</span>
                                }
                                if o.request_id.is_some() {
                                    <span class="badge request" title="Sent to you through one of your file requests">{ "by request" }</span>
                                }
                                if o.new_downloads > 0 {
                                    <span class="badge new" title="Downloads through its links since you last looked at them">{ format!("{} new download{}", o.new_downloads, if o.new_downloads == 1 { "" } else { "s" }) }</span>
                                }
                            </td>
                            <td>{ format::size(o.plaintext_size) }</td>
                            <td>{ format::date(o.created_at) }</td>
                            <td class="actions">
                                <button type="button" class="download" onclick={dl} aria-label={format!("Download and decrypt {name}")}>{ "Download" }</button>
                                if can_open {
                                    <button type="button" class="secondary open" onclick={open} aria-label={format!("Open {name} in this tab")}>{ "Open" }</button>
                                }
                                <button type="button" class="secondary share" onclick={shr} aria-label={format!("Share {name}")}>{ "Share" }</button>
                                <button type="button" class="secondary inspect" onclick={ins} aria-label={format!("Inspect {name}")}>{ "Inspect" }</button>
                                <button type="button" class={classes!("secondary", "delete", confirming.then_some("danger"))} onclick={del}
                                        aria-label={if confirming { format!("Confirm deleting {name}") } else { format!("Delete {name}") }}>
                                    { if confirming { "Confirm delete" } else { "Delete" } }
                                </button>
                            </td>
                        </tr>
                        if let Some(t) = transfer {
                            <tr class="transfer"><td colspan="5">
                                <p class={classes!("transfer-message", matches!(t, Transfer::Failed(_)).then_some("error"))}
                                   role={if matches!(t, Transfer::Failed(_)) { "alert" } else { "status" }}>
                                { match t {
                                    Transfer::Running(done, total) => format!("Downloading and decrypting: {} of {}", format::size(done), format::size(total)),
                                    Transfer::Done(n) => format!("Decrypted and saved {} ({}); every frame verified.{}", name, format::size(n.bytes), resumed_note(n.resumed)),
                                    Transfer::Failed(e) => format!("Download failed: {e}"),
                                } }
                                </p>
                            </td></tr>
                        }
                        </>
                    }
                }) }
                </tbody>
            </table>
            </>
        },
    };
    let refresh = {
        let reload = reload.clone();
        Callback::from(move |_: MouseEvent| reload.set(*reload + 1))
    };
    let all_files = {
        let f = props.on_all_files.clone();
        Callback::from(move |_: MouseEvent| f.emit(()))
    };
    html! {
        <section class="card" aria-labelledby="files-title" id="files-panel">
            <div class="section-head">
                <h2 id="files-title">{ match &props.request {
                    Some((_, title)) => format!("Files sent to “{title}”"),
                    None => "Your files".to_owned(),
                } }</h2>
                if props.request.is_some() {
                    <button id="all-files" type="button" class="secondary" onclick={all_files}>{ "Show all files" }</button>
                }
                <button type="button" class="secondary" onclick={refresh}>{ "Refresh" }</button>
            </div>
            if has_save_picker() {
                <label class="check"><input id="save-picker" type="checkbox" checked={*use_picker} onchange={toggle_picker} />
                    { " Ask where to save (the file is written only once it fully verifies)" }</label>
            }
            if let Some((name, signed, viewing)) = &*previewing {
                <Preview name={name.clone()} signed={*signed} viewing={viewing.clone()} on_close={close_preview} />
            }
            { body }
        </section>
    }
}

/// What a finished download says about breaks in its connection.
pub(crate) fn resumed_note(resumed: u32) -> String {
    match resumed {
        0 => String::new(),
        1 => " The connection broke once; the download went on from where it stopped.".into(),
        n => format!(
            " The connection broke {n} times; each time the download went on from where it stopped."
        ),
    }
}
