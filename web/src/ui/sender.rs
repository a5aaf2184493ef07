//! The page a file request's link opens (`/r/#t={token}`), for a sender with no account: the
//! request's title, message and the room it has left, an optional passphrase and sender label,
//! then files dropped or picked, each encrypted in this tab with a fresh data key KMS issues
//! for the request's owner and sent as ciphertext parts to S3; a receipt at the end.
//!
//! The token is only in the fragment, which browsers never send: the page reads it once and
//! removes it from the address bar and this history entry. A sender can send, and nothing else:
//! the page cannot list, download or delete anything, and neither can the server's answers to it.

use std::cell::RefCell;
use std::rc::Rc;

use cipherdrop_api::{ErrorCode, REQUEST_MAX_SENDER, RequestInfo};
use futures::lock::Mutex;
use wasm_bindgen::JsValue;
use web_sys::{Blob, DragEvent, File, FileList, HtmlInputElement};
use yew::platform::spawn_local;
use yew::prelude::*;
use zeroize::Zeroizing;

use super::{dropzone, format};
use crate::api::{self, ApiError};
use crate::error::{Cancel, TransferError};
use crate::metadata::FileMeta;
use crate::transfer::{Progress, Report, SentRecord, send_blob};

/// Reads the request's token from the address once (`#t=…`), and removes it from the address
/// bar and the history entry. `None` if the link has none (a reload, a link cut short).
fn take_token() -> Option<Rc<Zeroizing<String>>> {
    let window = web_sys::window()?;
    let hash = window.location().hash().unwrap_or_default();
    if !hash.is_empty()
        && let Ok(history) = window.history()
    {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some("/r/"));
    }
    let token = hash
        .trim_start_matches('#')
        .split('&')
        .find_map(|p| p.strip_prefix("t="))?;
    let well_formed = (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| Rc::new(Zeroizing::new(token.to_owned())))
}

/// Where one file stands.
#[derive(Clone, Debug, PartialEq)]
enum State {
    Waiting,
    Sending(Progress),
    Sent(SentRecord),
    Failed(String),
    Cancelled,
}

impl State {
    fn key(&self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Sending(_) => "sending",
            Self::Sent(_) => "sent",
            Self::Failed(_) => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// One file the sender chose.
struct Item {
    name: String,
    size: u64,
    cancel: Cancel,
    state: State,
}

type Items = Rc<RefCell<Vec<Item>>>;

/// What the page says when the server's `code` means the request takes no more files.
fn request_refusal(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        ErrorCode::RequestClosed => {
            "This request was closed by the person who made it: it takes no more files."
        }
        ErrorCode::RequestExpired => {
            "This request has expired: it takes no more files. Ask the person who sent it for a \
             new link."
        }
        ErrorCode::RequestFull => "This request has received all the files it takes.",
        ErrorCode::RequestNotFound => {
            "This request link is not valid: it may have been mistyped or cut short, or the \
             request no longer exists."
        }
        _ => return None,
    })
}

/// [`request_refusal`] of an API error.
fn refusal_text(e: &ApiError) -> Option<String> {
    match e {
        ApiError::Http { code, .. } => request_refusal(*code).map(str::to_owned),
        _ => None,
    }
}

/// What the page says when a file could not be sent.
fn failure_text(e: &TransferError) -> String {
    let TransferError::Api(ApiError::Http { code, message, .. }) = e else {
        return e.to_string();
    };
    match code {
        ErrorCode::WrongPassphrase => {
            "Wrong passphrase: nothing was sent. Check it with the person who \
                               asked for the files."
                .into()
        }
        ErrorCode::OwnerFull | ErrorCode::RateLimited | ErrorCode::RequestBusy => {
            format!("Not sent: {message}.")
        }
        ErrorCode::RequestTooSmall => {
            format!("This file does not fit in what the request has left ({message}).")
        }
        code => request_refusal(*code).map_or_else(|| e.to_string(), str::to_owned),
    }
}

/// Whether a failure stops the files still waiting (sending them would fail the same way, and
/// a wrong passphrase would count against its guess limit each time).
fn stops_the_rest(e: &TransferError) -> bool {
    matches!(e, TransferError::Api(ApiError::Http { code, .. })
        if request_refusal(*code).is_some()
            || matches!(code, ErrorCode::WrongPassphrase | ErrorCode::RateLimited))
}

fn files_of(list: Option<FileList>) -> Vec<File> {
    let Some(list) = list else {
        return Vec::new();
    };
    (0..list.length()).filter_map(|i| list.get(i)).collect()
}

/// The sender's page.
#[function_component(SenderPage)]
pub fn sender_page() -> Html {
    let token = use_state(take_token);
    let info = use_state(|| None::<Result<RequestInfo, ApiError>>);
    let items: Items = use_mut_ref(Vec::new);
    let update = use_force_update();
    let queue = use_memo((), |_| Mutex::new(()));
    let passphrase = use_node_ref();
    let label = use_node_ref();
    let input = use_node_ref();
    let hover = dropzone::use_hover();
    let dragging = hover.dragging.clone();
    // Bumped after each file to read the room left again (counted in `ticks`: a task's handle
    // holds the value it was made with, so it cannot add one to what it saw).
    let reload = use_state(|| 0u32);
    let ticks = use_mut_ref(|| 0u32);
    // Set when a refusal makes the files still waiting pointless (wrong passphrase, closed…).
    let halted = use_mut_ref(|| None::<String>);

    {
        let (info, token) = (info.clone(), (*token).clone());
        use_effect_with(*reload, move |_| {
            if let Some(token) = token {
                spawn_local(async move {
                    let answer = api::request_info(&token).await;
                    // A lost answer while files are on their way keeps the page as it was (the
                    // uploads say for themselves how they end); a refusal replaces it.
                    let lost = matches!(&answer, Err(e) if refusal_text(e).is_none());
                    if !(lost && matches!(&*info, Some(Ok(_)))) {
                        info.set(Some(answer));
                    }
                });
            }
        });
    }

    let start = {
        let (items, update, queue, token) = (
            items.clone(),
            update.clone(),
            queue.clone(),
            (*token).clone(),
        );
        let (passphrase, label, reload, halted, ticks) = (
            passphrase.clone(),
            label.clone(),
            reload.clone(),
            halted.clone(),
            ticks.clone(),
        );
        Rc::new(move |files: Vec<File>| {
            let Some(token) = token.clone() else {
                return;
            };
            if files.is_empty() {
                return;
            }
            *halted.borrow_mut() = None;
            let pass = passphrase
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .filter(|p| !p.is_empty());
            let sender = label
                .cast::<HtmlInputElement>()
                .map(|i| {
                    i.value()
                        .trim()
                        .chars()
                        .take(REQUEST_MAX_SENDER)
                        .collect::<String>()
                })
                .filter(|s| !s.is_empty());
            for file in files {
                let index = {
                    let mut list = items.borrow_mut();
                    list.push(Item {
                        name: file.name(),
                        size: file.size() as u64,
                        cancel: Cancel::default(),
                        state: State::Waiting,
                    });
                    list.len() - 1
                };
                update.force_update();
                let (items, update, queue, token, reload, halted, ticks) = (
                    items.clone(),
                    update.clone(),
                    queue.clone(),
                    token.clone(),
                    reload.clone(),
                    halted.clone(),
                    ticks.clone(),
                );
                let (pass, sender) = (pass.clone(), sender.clone());
                spawn_local(async move {
                    let _turn = queue.lock().await;
                    let set = |state: State| {
                        if let Some(item) = items.borrow_mut().get_mut(index) {
                            item.state = state;
                        }
                        update.force_update();
                    };
                    let Some(cancel) = items.borrow().get(index).map(|i| i.cancel.clone()) else {
                        return;
                    };
                    if cancel.is_cancelled() {
                        return set(State::Cancelled);
                    }
                    if let Some(why) = halted.borrow().clone() {
                        return set(State::Failed(format!("Not sent: {why}")));
                    }
                    set(State::Sending(Progress::default()));
                    let report = {
                        let set = {
                            let (items, update) = (items.clone(), update.clone());
                            move |p: Progress| {
                                if let Some(item) = items.borrow_mut().get_mut(index) {
                                    item.state = State::Sending(p);
                                }
                                update.force_update();
                            }
                        };
                        Rc::new(set) as Report
                    };
                    let meta = FileMeta {
                        name: file.name(),
                        media_type: file.type_(),
                        sender,
                    };
                    let result =
                        send_blob(&Blob::from(file), meta, &token, pass, report, cancel).await;
                    match result {
                        Ok(record) => set(State::Sent(record)),
                        Err(TransferError::Cancelled) => set(State::Cancelled),
                        Err(e) => {
                            let text = failure_text(&e);
                            if stops_the_rest(&e) {
                                *halted.borrow_mut() = Some(text.clone());
                            }
                            set(State::Failed(text));
                        }
                    }
                    // The room left, again.
                    let tick = {
                        let mut t = ticks.borrow_mut();
                        *t += 1;
                        *t
                    };
                    reload.set(tick);
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
            if let Some(dt) = e.data_transfer() {
                start(files_of(dt.files()));
            }
        })
    };
    let (ondragover, ondragleave) = (hover.over.clone(), hover.leave.clone());
    let pick = dropzone::opens(&input);

    if token.is_none() {
        return html! {
            <section class="card narrow" id="request-page">
                <h2>{ "File request" }</h2>
                <p class="error" id="request-refused" role="alert">{
                    "This page needs the whole link you were sent (the part after “#” is missing: \
                     it is removed from the address once read, so a reload cannot show it). Open \
                     the link from the message again."
                }</p>
            </section>
        };
    }
    let request = match &*info {
        None => return html! { <p class="muted">{ "Opening the request…" }</p> },
        Some(Err(e)) => {
            let text =
                refusal_text(e).unwrap_or_else(|| format!("The request could not be opened: {e}"));
            // Files sent before the request closed or filled keep their receipt below.
            let sent_any = items
                .borrow()
                .iter()
                .any(|i| matches!(i.state, State::Sent(_)));
            return html! {
                <section class="card narrow" id="request-page">
                    <h2>{ "File request" }</h2>
                    <p class="error" id="request-refused" role="alert">{ text }</p>
                    if sent_any { { receipt(&items.borrow()) } }
                </section>
            };
        }
        Some(Ok(i)) => i.clone(),
    };
    let list = items.borrow();
    let busy = list
        .iter()
        .any(|i| matches!(i.state, State::Waiting | State::Sending(_)));
    html! {
        <section class="card narrow" id="request-page" aria-labelledby="request-title">
            <p class="muted">{ "Someone asked you for files:" }</p>
            <h2 id="request-title">{ &request.title }</h2>
            if let Some(m) = &request.message {
                <p id="request-message" class="request-message">{ m }</p>
            }
            <p id="request-room" class="muted" data-files-left={request.files_left.to_string()} data-bytes-left={request.bytes_left.to_string()}>{ format!(
                "It takes {} more file{}, {} in all, until {}.",
                request.files_left,
                if request.files_left == 1 { "" } else { "s" },
                format::size(request.bytes_left),
                format::date(request.expires_at),
            ) }</p>
            if request.needs_passphrase {
                <label for="request-passphrase">{ "Passphrase (the person who asked gave it to you)" }</label>
                <input id="request-passphrase" ref={passphrase} type="password" autocomplete="off" disabled={busy} />
            }
            if request.ask_sender {
                <label for="sender-label">{ "Your name or e-mail address (sealed with your files' names: only the person who asked can read it)" }</label>
                <input id="sender-label" ref={label} type="text" maxlength={REQUEST_MAX_SENDER.to_string()} autocomplete="email" disabled={busy} />
            }
            <div class={classes!("dropzone", dragging.then_some("dragging"))} {ondrop} {ondragover} {ondragleave}>
                <p>{ "Drop files here, or" }</p>
                <button id="request-pick" type="button" onclick={pick}>{ "Choose files…" }</button>
                <input id="request-file-input" ref={input} type="file" multiple=true class="visually-hidden"
                       aria-label="Files to encrypt and send" tabindex="-1" {onchange} />
                <p class="muted">{ "Each file is encrypted in this tab before it leaves: only the person who asked can open it. Once sent, you cannot see, download or delete it, and nor can anyone else with this link." }</p>
            </div>
            if !list.is_empty() {
                <ul id="request-files" class="sent-files">
                { for list.iter().map(|item| {
                    let cancel = {
                        let c = item.cancel.clone();
                        Callback::from(move |_: MouseEvent| c.cancel())
                    };
                    let running = matches!(item.state, State::Waiting | State::Sending(_));
                    html! {
                        <li class="sent-file" data-name={item.name.clone()} data-state={item.state.key()}>
                            <span class="name">{ &item.name }</span>{ " " }
                            <span class="muted">{ format::size(item.size) }</span>{ " " }
                            { match &item.state {
                                State::Waiting => html! { <span class="muted">{ "waiting" }</span> },
                                State::Sending(p) => {
                                    let pct = (p.uploaded * 100).checked_div(p.total).unwrap_or(0);
                                    html! { <><progress max="100" value={pct.to_string()} />{ format!(" {pct}% sent") }</> }
                                }
                                State::Sent(r) => html! { <span class="ok">{ format!("sent, encrypted ({})", format::duration(r.seconds)) }</span> },
                                State::Failed(e) => html! { <span class="error" role="alert">{ e }</span> },
                                State::Cancelled => html! { <span class="muted">{ "cancelled: nothing kept" }</span> },
                            } }
                            if running {
                                { " " }<button type="button" class="secondary cancel" onclick={cancel}>{ "Cancel" }</button>
                            }
                        </li>
                    }
                }) }
                </ul>
            }
            { receipt(&list) }
        </section>
    }
}

/// The receipt: what arrived, with each file's reference (the person who asked sees the same).
fn receipt(items: &[Item]) -> Html {
    let sent: Vec<(&Item, &SentRecord)> = items
        .iter()
        .filter_map(|i| match &i.state {
            State::Sent(r) => Some((i, r)),
            _ => None,
        })
        .collect();
    if sent.is_empty() {
        return html! {};
    }
    let total: u64 = sent.iter().map(|(i, _)| i.size).sum();
    html! {
        <section id="receipt" aria-labelledby="receipt-title">
            <h3 id="receipt-title">{ "Receipt" }</h3>
            <p id="receipt-summary" data-count={sent.len().to_string()}>{ format!(
                "{} file{} sent, {} in all, encrypted before they left this tab.",
                sent.len(),
                if sent.len() == 1 { "" } else { "s" },
                format::size(total)
            ) }</p>
            <table class="files">
                <thead><tr><th scope="col">{ "File" }</th><th scope="col">{ "Size" }</th><th scope="col">{ "Stored (encrypted)" }</th><th scope="col">{ "Reference" }</th></tr></thead>
                <tbody>
                { for sent.iter().map(|(i, r)| html! {
                    <tr class="receipt-item" data-reference={r.receipt.reference.clone()} data-name={i.name.clone()}>
                        <td>{ &i.name }</td>
                        <td>{ format::size(r.receipt.plaintext_size) }</td>
                        <td>{ format::size(r.receipt.size) }</td>
                        <td><code>{ &r.receipt.reference }</code></td>
                    </tr>
                }) }
                </tbody>
            </table>
            <p class="muted">{ "Keep the references: the person who asked sees the same ones beside your files." }</p>
        </section>
    }
}
