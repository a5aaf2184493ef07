//! File requests, the owner's side: make one (title, message, lifetime, limits, passphrase,
//! whether to ask senders who they are), its link shown once with a QR code, and the list with
//! what arrived (a badge for files since the last look), extend, close and reopen. The files
//! themselves open in the file list, filtered to the request, with every action of own files.

use cipherdrop_api::{
    CreateRequestRequest, REQUEST_DEFAULT_SECS, REQUEST_MAX_FILES, REQUEST_MAX_MESSAGE,
    REQUEST_MAX_TITLE, RequestSummary, UpdateRequestRequest,
};
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use super::qr::Qr;
use super::share::origin;

/// Lifetimes offered (seconds, label).
const LIFETIMES: [(i64, &str); 5] = [
    (3600, "1 hour"),
    (24 * 3600, "1 day"),
    (REQUEST_DEFAULT_SECS, "7 days"),
    (30 * 24 * 3600, "30 days"),
    (90 * 24 * 3600, "90 days"),
];

/// Props of [`Requests`].
#[derive(Properties, PartialEq)]
pub struct RequestsProps {
    /// Bumped to reload the list (files were looked at, deleted…).
    pub version: u32,
    /// Shows a request's files in the file list (id, title).
    pub on_show_files: Callback<(String, String)>,
}

/// Where a request stands, for senders.
fn state_of(r: &RequestSummary) -> &'static str {
    let now = (js_sys::Date::now() / 1000.0) as i64;
    if r.closed_at.is_some() {
        "closed"
    } else if r.expires_at <= now {
        "expired"
    } else if r.files >= r.max_files || r.bytes >= r.max_bytes {
        "full"
    } else {
        "open"
    }
}

/// A new request's link, shown once.
#[derive(Clone, PartialEq)]
struct Made {
    title: String,
    link: String,
}

/// The file requests panel.
#[function_component(Requests)]
pub fn requests(props: &RequestsProps) -> Html {
    let list = use_state(|| None::<Result<Vec<RequestSummary>, String>>);
    let reload = use_state(|| 0u32);
    let form_open = use_state(|| false);
    let made = use_state(|| None::<Made>);
    let error = use_state(|| None::<String>);
    let copied = use_state(|| false);
    let (title, message, lifetime, max_files, max_mb, passphrase, ask) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    {
        let list = list.clone();
        use_effect_with((props.version, *reload), move |_| {
            spawn_local(async move {
                list.set(Some(
                    crate::api::requests()
                        .await
                        .map(|l| l.requests)
                        .map_err(|e| e.to_string()),
                ));
            });
        });
    }

    let toggle_form = {
        let (form_open, made, error) = (form_open.clone(), made.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            made.set(None);
            error.set(None);
            form_open.set(!*form_open);
        })
    };
    let create = {
        let (form_open, made, error, reload, copied) = (
            form_open.clone(),
            made.clone(),
            error.clone(),
            reload.clone(),
            copied.clone(),
        );
        let refs = (
            title.clone(),
            message.clone(),
            lifetime.clone(),
            max_files.clone(),
            max_mb.clone(),
            passphrase.clone(),
            ask.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let (title, message, lifetime, max_files, max_mb, passphrase, ask) = &refs;
            let value = |r: &NodeRef| {
                r.cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default()
            };
            let message = message
                .cast::<HtmlTextAreaElement>()
                .map(|t| t.value())
                .filter(|m| !m.trim().is_empty());
            let secs = lifetime
                .cast::<HtmlSelectElement>()
                .and_then(|s| s.value().parse::<i64>().ok());
            let Ok(files) = value(max_files).trim().parse::<u32>() else {
                error.set(Some("Most files: a whole number, 1 to 1000.".into()));
                return;
            };
            let Some(bytes) = value(max_mb)
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|mb| mb.is_finite() && *mb > 0.0)
                .map(|mb| (mb * 1e6).round() as u64)
            else {
                error.set(Some("Most megabytes: a number above 0.".into()));
                return;
            };
            let pass = value(passphrase);
            let req = CreateRequestRequest {
                title: value(title).trim().to_owned(),
                message,
                expires_in_secs: secs,
                max_files: files,
                max_bytes: bytes,
                passphrase: (!pass.is_empty()).then_some(pass),
                ask_sender: ask.cast::<HtmlInputElement>().is_some_and(|i| i.checked()),
            };
            let (form_open, made, error, reload, copied) = (
                form_open.clone(),
                made.clone(),
                error.clone(),
                reload.clone(),
                copied.clone(),
            );
            spawn_local(async move {
                match crate::api::create_request(&req).await {
                    Ok(created) => {
                        error.set(None);
                        copied.set(false);
                        made.set(Some(Made {
                            title: created.request.title.clone(),
                            link: format!("{}/r/#t={}", origin(), created.token),
                        }));
                        form_open.set(false);
                        reload.set(*reload + 1);
                    }
                    Err(e) => error.set(Some(format!("The request was not made: {e}"))),
                }
            });
        })
    };
    let change = {
        let (reload, error) = (reload.clone(), error.clone());
        move |id: String, req: UpdateRequestRequest| {
            let (reload, error) = (reload.clone(), error.clone());
            Callback::from(move |_: MouseEvent| {
                let (reload, error, id, req) =
                    (reload.clone(), error.clone(), id.clone(), req.clone());
                spawn_local(async move {
                    match crate::api::update_request(&id, &req).await {
                        Ok(_) => error.set(None),
                        Err(e) => error.set(Some(format!("The request was not changed: {e}"))),
                    }
                    reload.set(*reload + 1);
                });
            })
        }
    };
    let stop = {
        let (reload, error) = (reload.clone(), error.clone());
        move |id: String| {
            let (reload, error) = (reload.clone(), error.clone());
            Callback::from(move |_: MouseEvent| {
                let (reload, error, id) = (reload.clone(), error.clone(), id.clone());
                spawn_local(async move {
                    match crate::api::stop_arriving(&id).await {
                        Ok(_) => error.set(None),
                        Err(e) => error.set(Some(format!("The uploads were not stopped: {e}"))),
                    }
                    reload.set(*reload + 1);
                });
            })
        }
    };
    let copy = {
        let (made, copied) = (made.clone(), copied.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(m) = &*made {
                let (link, copied) = (m.link.clone(), copied.clone());
                spawn_local(async move {
                    let _ = crate::browser::copy_text(&link).await;
                    copied.set(true);
                });
            }
        })
    };
    let done = {
        let made = made.clone();
        Callback::from(move |_: MouseEvent| made.set(None))
    };

    let form = html! {
        <form id="request-form" onsubmit={create}>
            <div class="options">
                <label for="request-title-input">{ "Title (senders see it)" }</label>
                <input id="request-title-input" ref={title} type="text" required=true maxlength={REQUEST_MAX_TITLE.to_string()} placeholder="Documents for your 2026 tax return" />
                <label for="request-message-input">{ "Message to senders (optional)" }</label>
                <textarea id="request-message-input" ref={message} rows="3" maxlength={REQUEST_MAX_MESSAGE.to_string()} />
                <label for="request-expiry">{ "Open for" }</label>
                <select id="request-expiry" ref={lifetime}>
                { for LIFETIMES.iter().map(|(secs, label)| html! {
                    <option value={secs.to_string()} selected={*secs == REQUEST_DEFAULT_SECS}>{ *label }</option>
                }) }
                </select>
                <label for="request-max-files">{ "Most files" }</label>
                <input id="request-max-files" ref={max_files} type="number" min="1" max={REQUEST_MAX_FILES.to_string()} value="10" />
                <label for="request-max-mb">{ "Most megabytes, all files together" }</label>
                <input id="request-max-mb" ref={max_mb} type="number" min="0.001" step="any" value="100" />
                <label for="request-passphrase-input">{ "Passphrase (optional, 8+ characters; tell senders another way)" }</label>
                <input id="request-passphrase-input" ref={passphrase} type="password" autocomplete="new-password" minlength="8" />
            </div>
            <label class="check"><input id="request-ask-sender" ref={ask} type="checkbox" />{ " Ask each sender for a name or e-mail address (sealed with their files' names)" }</label>
            <button id="request-create" type="submit">{ "Make the request link" }</button>
        </form>
    };
    let made_view = made.as_ref().map(|m| {
        html! {
            <div id="request-made" role="status">
                <p>{ format!("The link for “{}”. It is shown only now: copy it and send it to the people who have the files.", m.title) }</p>
                <input id="request-link" type="text" readonly=true value={m.link.clone()} aria-label="The request's link" />
                <div class="choices">
                    <button type="button" class="secondary" onclick={copy}>{ if *copied { "Copied" } else { "Copy" } }</button>
                    <button id="request-made-done" type="button" class="secondary" onclick={done}>{ "Done" }</button>
                </div>
                <Qr id="request-qr" text={m.link.clone()} label="QR code of the request's link" />
            </div>
        }
    });
    let body = match &*list {
        None => html! { <p class="muted">{ "Loading your file requests…" }</p> },
        Some(Err(e)) => {
            html! { <p class="error" role="alert">{ format!("Could not list your requests: {e}") }</p> }
        }
        Some(Ok(rs)) if rs.is_empty() => html! {
            <p class="muted" id="no-requests">{ "No requests yet. A request is a link to an upload page: whoever has it can send you files, encrypted in their browser for you alone, without an account." }</p>
        },
        Some(Ok(rs)) => html! {
            <table id="requests" class="files">
                <thead><tr><th scope="col">{ "Request" }</th><th scope="col">{ "Arrived" }</th><th scope="col">{ "Until" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for rs.iter().map(|r| {
                    let state = state_of(r);
                    let show = {
                        let (f, id, title) = (props.on_show_files.clone(), r.id.clone(), r.title.clone());
                        Callback::from(move |_: MouseEvent| f.emit((id.clone(), title.clone())))
                    };
                    let extend = change(r.id.clone(), UpdateRequestRequest {
                        expires_in_secs: Some(REQUEST_DEFAULT_SECS),
                        closed: None,
                    });
                    let toggle = change(r.id.clone(), UpdateRequestRequest {
                        expires_in_secs: None,
                        closed: Some(r.closed_at.is_none()),
                    });
                    let stop_all = stop(r.id.clone());
                    html! {
                        <tr class="request" data-id={r.id.clone()} data-state={state} data-files={r.files.to_string()}>
                            <td>
                                <strong>{ &r.title }</strong>
                                if r.new_files > 0 {
                                    { " " }<span class="badge new" title="Files that arrived since you last looked">{ format!("{} new", r.new_files) }</span>
                                }
                                if r.has_passphrase { { " " }<span class="badge" title="Senders need a passphrase">{ "passphrase" }</span> }
                                <br /><span class="muted">{ state }</span>
                            </td>
                            <td>
                                { format!("{} of {} files, {} of {}", r.files, r.max_files, format::size(r.bytes), format::size(r.max_bytes)) }
                                if r.pending > 0 {
                                    <br /><span class="muted request-pending" title="Uploads a sender has started and not finished: they hold places of the request until they finish, are stopped, or are swept">{ format!("{} on the way", r.pending) }</span>
                                }
                            </td>
                            <td>{ format::date(r.expires_at) }</td>
                            <td class="actions">
                                <button type="button" class="request-files" onclick={show} aria-label={format!("Files sent to {}", r.title)}>{ "Files" }</button>
                                <button type="button" class="secondary request-extend" onclick={extend} title="Open for 7 days from now">{ "Extend 7 days" }</button>
                                if r.pending > 0 {
                                    <button type="button" class="secondary request-stop" onclick={stop_all} title="Stop the uploads on their way through this request; their places go back to it">{ format!("Stop {}", if r.pending == 1 { "1 upload".to_owned() } else { format!("{} uploads", r.pending) }) }</button>
                                }
                                if r.closed_at.is_some() {
                                    <button type="button" class="secondary request-reopen" onclick={toggle}>{ "Reopen" }</button>
                                } else {
                                    <button type="button" class="secondary request-close" onclick={toggle}>{ "Close" }</button>
                                }
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        },
    };
    html! {
        <section class="card" aria-labelledby="requests-title" id="requests-panel">
            <div class="section-head">
                <h2 id="requests-title">{ "File requests" }</h2>
                <button id="new-request" type="button" class="secondary" onclick={toggle_form}>{ if *form_open { "Cancel" } else { "New request…" } }</button>
            </div>
            <p class="muted">{ "Ask for documents from people without an account: they open your link, and their browser encrypts each file with a key KMS issues for you, before it leaves. They can send; they cannot see, download or delete anything." }</p>
            if *form_open { { form } }
            { for made_view }
            if let Some(e) = &*error { <p class="error" role="alert" id="request-error">{ e }</p> }
            { body }
        </section>
    }
}
