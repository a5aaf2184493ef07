//! The upload area: drag-and-drop or pick files, choose the suite, watch each file's progress.

use std::rc::Rc;

use cipherdrop_core::Suite;
use futures::lock::Mutex;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, DragEvent, File, FileList, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement,
};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::{dropzone, format, unfinished};
use crate::api;
use crate::browser::now_ms;
use crate::error::{Cancel, TransferError};
use crate::metadata::{FileMeta, SECRET_TEXT_TYPE};
use crate::transfer::record::{self, Unfinished};
use crate::transfer::{
    DEFAULT_PARALLEL, Progress, UploadOptions, UploadRecord, resume_upload, upload_blob,
};

/// Where one file is.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Queued behind other files.
    Waiting,
    /// Being encrypted and uploaded.
    Running,
    /// Stored.
    Done(f64),
    /// Failed with this message (nothing was recorded; what was sent may be kept for a resume,
    /// as the message says).
    Failed(String),
    /// Cancelled by the user; nothing was recorded.
    Cancelled,
}

impl Status {
    fn key(&self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Done(_) => "done",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One file in the upload list.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    key: u32,
    name: String,
    size: u64,
    status: Status,
    progress: Progress,
    started: f64,
    cancel: Cancel,
    /// The file again, offered as a new upload when the one to resume is gone.
    anew: Option<(Blob, FileMeta)>,
}

/// The upload list.
#[derive(Default, PartialEq)]
pub struct Items {
    items: Vec<Item>,
    next: u32,
}

/// A file joining the upload list.
pub struct NewItem {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its cancel flag.
    pub cancel: Cancel,
}

/// Changes to the upload list.
pub enum Action {
    /// New files, keyed from the list's next key on.
    Add(Vec<NewItem>),
    /// A file started.
    Start(u32),
    /// Progress of a file.
    Progress(u32, Progress),
    /// A file ended.
    End(u32, Status),
    /// Offers a file as a new upload (its unfinished one is gone).
    OfferAnew(u32, Blob, FileMeta),
    /// Removes finished entries.
    ClearFinished,
}

impl Reducible for Items {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut items = self.items.clone();
        let mut next = self.next;
        match action {
            Action::Add(files) => {
                for NewItem { name, size, cancel } in files {
                    items.push(Item {
                        key: next,
                        name,
                        size,
                        status: Status::Waiting,
                        progress: Progress::default(),
                        started: 0.0,
                        cancel,
                        anew: None,
                    });
                    next += 1;
                }
            }
            Action::Start(key) => {
                if let Some(i) = items.iter_mut().find(|i| i.key == key) {
                    i.status = Status::Running;
                    i.started = now_ms();
                }
            }
            Action::Progress(key, p) => {
                if let Some(i) = items.iter_mut().find(|i| i.key == key) {
                    i.progress = p;
                }
            }
            Action::End(key, status) => {
                if let Some(i) = items.iter_mut().find(|i| i.key == key) {
                    i.status = status;
                }
            }
            Action::OfferAnew(key, blob, meta) => {
                if let Some(i) = items.iter_mut().find(|i| i.key == key) {
                    i.anew = Some((blob, meta));
                }
            }
            Action::ClearFinished => {
                items.retain(|i| matches!(i.status, Status::Waiting | Status::Running));
            }
        }
        Rc::new(Self { items, next })
    }
}

/// Props of [`Uploads`].
#[derive(Properties, PartialEq)]
pub struct UploadsProps {
    /// Called when a file is stored.
    pub on_uploaded: Callback<Rc<UploadRecord>>,
    /// The suite preselected (the server's default).
    pub default_suite: Suite,
    /// The logged-in account's id (whose unfinished uploads this browser lists).
    pub owner: String,
}

/// One file to upload: a new one (with its `FileSystemFileHandle` where the drop gave one), or
/// the same file again for an interrupted upload.
enum Work {
    Fresh(Blob, FileMeta, Option<JsValue>),
    Resume(File, Unfinished),
}

impl Work {
    fn name(&self) -> String {
        match self {
            Self::Fresh(_, m, _) => m.name.clone(),
            Self::Resume(_, u) => u.name.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Self::Fresh(b, _, _) => b.size() as u64,
            Self::Resume(_, u) => u.size,
        }
    }
}

fn files_of(list: Option<FileList>) -> Vec<Work> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f: File| {
            // A folder's files keep their path inside it (sealed like any name).
            let path = js_sys::Reflect::get(&f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            let meta = FileMeta {
                name: if path.is_empty() { f.name() } else { path },
                media_type: f.type_(),
                sender: None,
            };
            Work::Fresh(Blob::from(f), meta, None)
        })
        .collect()
}

/// The upload area and queue.
#[function_component(Uploads)]
pub fn uploads(props: &UploadsProps) -> Html {
    let items = use_reducer(Items::default);
    let suite = use_state(|| props.default_suite);
    let parallel = use_state(|| DEFAULT_PARALLEL);
    let hover = dropzone::use_hover();
    let dragging = hover.dragging.clone();
    // One file at a time; each file uploads its parts in parallel.
    let queue = use_memo((), |_| Mutex::new(()));
    let input = use_node_ref();
    let folder = use_node_ref();
    // The account's room, fetched at first and again whenever an upload ends.
    let usage = use_state(|| None::<cipherdrop_api::Usage>);
    let settled = items
        .items
        .iter()
        .filter(|i| !matches!(i.status, Status::Waiting | Status::Running))
        .count();
    // This browser's unfinished uploads, read at first and again whenever an upload ends.
    let unfinished = use_state(Vec::<Unfinished>::new);
    // Unfinished uploads whose kept file handle could not be read again.
    let lost = use_state(Vec::<String>::new);
    let reload = use_state(|| 0u32);
    {
        let (usage, unfinished, owner) = (usage.clone(), unfinished.clone(), props.owner.clone());
        use_effect_with((settled, *reload), move |_| {
            spawn_local(async move {
                if let Ok(u) = api::usage().await {
                    usage.set(Some(u));
                }
                if let Ok(list) = record::list(&owner).await {
                    unfinished.set(list);
                }
            });
        });
    }

    let start = {
        let (items, suite, parallel, queue) = (
            items.clone(),
            suite.clone(),
            parallel.clone(),
            queue.clone(),
        );
        let on_uploaded = props.on_uploaded.clone();
        let owner = props.owner.clone();
        Rc::new(move |files: Vec<Work>| {
            if files.is_empty() {
                return;
            }
            let first = items.next;
            let cancels: Vec<Cancel> = files.iter().map(|_| Cancel::default()).collect();
            items.dispatch(Action::Add(
                files
                    .iter()
                    .zip(&cancels)
                    .map(|(w, c)| NewItem {
                        name: w.name(),
                        size: w.size(),
                        cancel: c.clone(),
                    })
                    .collect(),
            ));
            let options = UploadOptions {
                suite: *suite,
                parallel: *parallel,
                ..UploadOptions::default()
            };
            for (n, (work, cancel)) in files.into_iter().zip(cancels).enumerate() {
                let key = first + n as u32;
                let (items, queue, on_uploaded, owner) = (
                    items.clone(),
                    queue.clone(),
                    on_uploaded.clone(),
                    owner.clone(),
                );
                spawn_local(async move {
                    let _turn = queue.lock().await;
                    if cancel.is_cancelled() {
                        items.dispatch(Action::End(key, Status::Cancelled));
                        return;
                    }
                    items.dispatch(Action::Start(key));
                    let report = {
                        let items = items.clone();
                        Rc::new(move |p: Progress| items.dispatch(Action::Progress(key, p)))
                    };
                    let result = match &work {
                        Work::Fresh(file, meta, handle) => {
                            upload_blob(
                                file,
                                meta.clone(),
                                options,
                                report,
                                cancel.clone(),
                                &owner,
                                handle.as_ref(),
                            )
                            .await
                        }
                        Work::Resume(file, u) => {
                            resume_upload(file, u.clone(), options.parallel, report, cancel.clone())
                                .await
                        }
                    };
                    let anew = match (&work, &result) {
                        (Work::Resume(file, u), Err(TransferError::Gone(_))) => Some((
                            Blob::from(file.clone()),
                            FileMeta {
                                name: u.name.clone(),
                                media_type: u.media_type.clone(),
                                sender: None,
                            },
                        )),
                        _ => None,
                    };
                    let status = match result {
                        Ok(record) => {
                            let seconds = record.seconds;
                            on_uploaded.emit(Rc::new(record));
                            Status::Done(seconds)
                        }
                        Err(_) if cancel.is_cancelled() => Status::Cancelled,
                        Err(e) => Status::Failed(e.to_string()),
                    };
                    items.dispatch(Action::End(key, status));
                    if let Some((blob, meta)) = anew {
                        items.dispatch(Action::OfferAnew(key, blob, meta));
                    }
                });
            }
        })
    };

    let onchange = dropzone::on_pick(files_of, start.clone());
    let ondrop = {
        let (start, dragging) = (start.clone(), dragging.clone());
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            let Some(dt) = e.data_transfer() else {
                return;
            };
            let mut works = files_of(dt.files());
            // Asked for now (only the drop event may), awaited after: each file's handle, kept
            // with its upload so that a resume needs no new choice of the file.
            let handles = record::dropped_handles(&dt);
            let start = start.clone();
            spawn_local(async move {
                if let Ok(found) = JsFuture::from(handles).await {
                    let found = js_sys::Array::from(&found);
                    if found.length() as usize == works.len() {
                        for (i, w) in works.iter_mut().enumerate() {
                            if let Work::Fresh(_, _, handle) = w {
                                let h = found.get(i as u32);
                                *handle = (!h.is_null() && !h.is_undefined()).then_some(h);
                            }
                        }
                    }
                }
                start(works);
            });
        })
    };
    let (ondragover, ondragleave) = (hover.over.clone(), hover.leave.clone());
    let pick = dropzone::opens(&input);
    let pick_folder = dropzone::opens(&folder);
    let on_suite = {
        let suite = suite.clone();
        Callback::from(move |e: Event| {
            let s: HtmlSelectElement = e.target_unchecked_into();
            suite.set(if s.value() == "0x0578" {
                Suite::CommitKeyEcdsaP384
            } else {
                Suite::CommitKey
            });
        })
    };
    let on_parallel = {
        let parallel = parallel.clone();
        Callback::from(move |e: Event| {
            let s: HtmlInputElement = e.target_unchecked_into();
            if let Ok(n) = s.value().parse::<usize>() {
                parallel.set(n.clamp(1, 16));
            }
        })
    };
    let secret = use_node_ref();
    let store_secret = {
        let (start, secret) = (start.clone(), secret.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(area) = secret.cast::<HtmlTextAreaElement>() else {
                return;
            };
            let text = area.value();
            if text.is_empty() {
                return;
            }
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(text.as_bytes()));
            if let Ok(blob) = Blob::new_with_u8_array_sequence(&parts) {
                let name = format!(
                    "Secret text, {}",
                    super::format::date((js_sys::Date::now() / 1000.0) as i64)
                );
                start(vec![Work::Fresh(
                    blob,
                    FileMeta {
                        name,
                        media_type: SECRET_TEXT_TYPE.into(),
                        sender: None,
                    },
                    None,
                )]);
                area.set_value("");
            }
        })
    };
    let clear = {
        let items = items.clone();
        Callback::from(move |_: MouseEvent| items.dispatch(Action::ClearFinished))
    };
    let finished = items
        .items
        .iter()
        .any(|i| !matches!(i.status, Status::Waiting | Status::Running));
    // Unfinished uploads this page is not running now (a resumed one shows in the list below).
    let running: Vec<String> = items
        .items
        .iter()
        .filter(|i| matches!(i.status, Status::Waiting | Status::Running))
        .map(|i| i.name.clone())
        .collect();
    let resume_with: Rc<dyn Fn(web_sys::File, Unfinished)> = {
        let start = start.clone();
        Rc::new(move |file, u| start(vec![Work::Resume(file, u)]))
    };
    let waiting: Vec<&Unfinished> = unfinished
        .iter()
        .filter(|u| !running.contains(&u.name))
        .collect();

    html! {
        <section class="card" aria-labelledby="upload-title">
            <h2 id="upload-title">{ "Encrypt and upload" }</h2>
            <div class={classes!("dropzone", dragging.then_some("dragging"))}
                 {ondrop} {ondragover} {ondragleave}>
                <p>{ "Drop files here, or" }</p>
                <button id="pick" type="button" onclick={pick}>{ "Choose files…" }</button>
                <input id="file-input" ref={input} type="file" multiple=true class="visually-hidden"
                       aria-label="Files to encrypt and upload" tabindex="-1" onchange={onchange.clone()} />
                <button id="pick-folder" type="button" class="secondary" onclick={pick_folder}>{ "Choose a folder…" }</button>
                <input id="folder-input" ref={folder} type="file" multiple=true webkitdirectory=true class="visually-hidden"
                       aria-label="A folder to encrypt and upload (paths inside it are kept, encrypted)" tabindex="-1" {onchange} />
                <p class="muted">{ "Files are encrypted in this tab; only ciphertext leaves it." }</p>
                if let Some(u) = &*usage {
                    <p id="room" class="muted" data-room={u.room().to_string()}>{ format::usage(u) }</p>
                }
            </div>
            <div class="options">
                <label for="suite">{ "Algorithm suite" }</label>
                <select id="suite" onchange={on_suite}>
                    <option value="0x0478" selected={*suite == Suite::CommitKey}>{ "0x0478: AES-256-GCM, key commitment (default; allows re-keying later)" }</option>
                    <option value="0x0578" selected={*suite == Suite::CommitKeyEcdsaP384}>{ "0x0578: as 0x0478, plus an ECDSA P-384 signature" }</option>
                </select>
                <label for="parallel">{ "Parts uploaded at once" }</label>
                <input id="parallel" type="number" min="1" max="16" value={parallel.to_string()} onchange={on_parallel} />
            </div>
            <details class="secret">
                <summary>{ "Or store a secret text (a password, a database credential as JSON…)" }</summary>
                <form id="secret-form" onsubmit={store_secret}>
                    <label for="secret-input">{ "Secret text (encrypted here; share it from the list)" }</label>
                    <textarea id="secret-input" ref={secret} rows="4" autocomplete="off" spellcheck="false" />
                    <button id="secret-store" type="submit">{ "Encrypt and store" }</button>
                </form>
            </details>
            { unfinished::list(&waiting, &resume_with, &reload, &lost) }
            <ul id="uploads" class="uploads" aria-label="Uploads">
                { for items.items.iter().map(|i| render_item(i, &(start.clone() as Rc<dyn Fn(Vec<Work>)>))) }
            </ul>
            if finished {
                <button id="clear-finished" type="button" class="secondary" onclick={clear}>{ "Clear finished" }</button>
            }
        </section>
    }
}

fn render_item(item: &Item, start: &Rc<dyn Fn(Vec<Work>)>) -> Html {
    let p = item.progress;
    let elapsed = (now_ms() - item.started) / 1000.0;
    let rate = if elapsed > 0.0 {
        p.uploaded as f64 / elapsed
    } else {
        0.0
    };
    let left = if rate > 0.0 {
        (p.total.saturating_sub(p.uploaded)) as f64 / rate
    } else {
        f64::NAN
    };
    let cancel = {
        let c = item.cancel.clone();
        Callback::from(move |_: MouseEvent| c.cancel())
    };
    let (max, value) = (p.total.max(1) as f64, p.uploaded as f64);
    let message = match &item.status {
        Status::Waiting => "Waiting…".to_owned(),
        Status::Running if p.total == 0 => "Asking for a data key…".to_owned(),
        Status::Running if p.offline => format!(
            "Offline: waiting for the network. The upload goes on by itself when it is back \
             ({} of {} sent; part links are renewed, and the server keeps what was sent until {}).",
            format::size(p.uploaded),
            format::size(p.total),
            format::date(p.abandon_at)
        ),
        Status::Running => format!(
            "{} of {} uploaded · {}/s · {} left · {} encrypted",
            format::size(p.uploaded),
            format::size(p.total),
            format::size(rate as u64),
            format::duration(left),
            format::size(p.encrypted),
        ),
        Status::Done(s) => format!("Encrypted and stored in {}.", format::duration(*s)),
        Status::Failed(e) => format!("Failed: {e}"),
        Status::Cancelled => "Cancelled; nothing was stored.".to_owned(),
    };
    let running = matches!(item.status, Status::Waiting | Status::Running);
    let anew = item.anew.clone().map(|(blob, meta)| {
        let start = start.clone();
        Callback::from(move |_: MouseEvent| {
            start(vec![Work::Fresh(blob.clone(), meta.clone(), None)]);
        })
    });
    html! {
        <li class={classes!("upload", item.status.key())} data-name={item.name.clone()} data-state={item.status.key()}>
            <div class="upload-head">
                <span class="upload-name">{ &item.name }</span>
                <span class="muted">{ format::size(item.size) }</span>
                if running {
                    <button type="button" class="secondary cancel" onclick={cancel}
                            aria-label={format!("Cancel upload of {}", item.name)}>{ "Cancel" }</button>
                }
            </div>
            <progress max={max.to_string()} value={value.to_string()}
                      aria-label={format!("Upload of {}", item.name)} />
            <p class={classes!("upload-message", matches!(item.status, Status::Failed(_)).then_some("error"))}
               role={if matches!(item.status, Status::Failed(_)) { "alert" } else { "status" }}>{ message }</p>
            if let Some(onclick) = anew {
                <button type="button" class="upload-anew" {onclick}>{ format!("Upload {} as a new file", item.name) }</button>
            }
        </li>
    }
}
