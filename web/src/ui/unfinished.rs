//! The upload area's list of unfinished uploads (interrupted by a reload, a closed tab or the
//! network): each with what was sent and until when the server keeps it, and Resume (the file's
//! kept handle, read again with the browser's permission), choosing the file again, or Discard.

use std::rc::Rc;

use web_sys::{File, HtmlInputElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use crate::transfer::discard;
use crate::transfer::record::{self, Unfinished};

/// The list of `waiting` (empty: nothing); `resume` continues one with its file chosen again,
/// `reload` reads the list again, `lost` names the uploads whose kept file could not be read.
pub fn list(
    waiting: &[&Unfinished],
    resume: &Rc<dyn Fn(File, Unfinished)>,
    reload: &UseStateHandle<u32>,
    lost: &UseStateHandle<Vec<String>>,
) -> Html {
    if waiting.is_empty() {
        return html! {};
    }
    html! {
        <div id="unfinished" class="unfinished">
            <h3>{ "Unfinished uploads" }</h3>
            <p class="muted">{ "Interrupted by a reload, a closed tab or the network. Choose the same file again to continue where it stopped: only what S3 lacks is sent, after the parts already sent are checked against the file." }</p>
            <ul>{ for waiting.iter().map(|u| item(u, resume, reload, lost)) }</ul>
        </div>
    }
}

fn item(
    u: &Unfinished,
    resume_with: &Rc<dyn Fn(File, Unfinished)>,
    reload: &UseStateHandle<u32>,
    lost: &UseStateHandle<Vec<String>>,
) -> Html {
    let resume = {
        let (resume_with, u) = (resume_with.clone(), u.clone());
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Some(file) = input.files().and_then(|l| l.get(0)) {
                resume_with(file, u.clone());
            }
            input.set_value("");
        })
    };
    let on_discard = {
        let (reload, id) = (reload.clone(), u.upload_id.clone());
        Callback::from(move |_: MouseEvent| {
            let (reload, id) = (reload.clone(), id.clone());
            spawn_local(async move {
                discard(&id).await;
                reload.set(*reload + 1);
            });
        })
    };
    // With the file's handle kept: one click, and the browser asks to read it again.
    let resume_handle = {
        let (resume_with, u, lost) = (resume_with.clone(), u.clone(), lost.clone());
        Callback::from(move |_: MouseEvent| {
            let (resume_with, u, lost) = (resume_with.clone(), u.clone(), lost.clone());
            spawn_local(async move {
                match record::file_of(&u.upload_id).await {
                    Some(file) => resume_with(file, u),
                    None => {
                        let mut ids = (*lost).clone();
                        ids.push(u.upload_id.clone());
                        lost.set(ids);
                    }
                }
            });
        })
    };
    let unreadable = lost.contains(&u.upload_id);
    let input_id = format!("resume-{}", u.upload_id);
    html! {
        <li class="unfinished-upload" data-name={u.name.clone()} data-upload={u.upload_id.clone()}>
            <div class="unfinished-what">
                <span class="upload-name">{ &u.name }</span>
                <span class="muted">{ format!(
                    "{} of {} sent · kept until {}",
                    format::size(u.sent()),
                    format::size(u.ciphertext_size),
                    format::date(u.abandon_at)
                ) }</span>
            </div>
            if u.has_handle && !unreadable {
                <button type="button" class="resume-handle" onclick={resume_handle}
                        aria-label={format!("Resume the upload of {}", u.name)}>{ "Resume" }</button>
            }
            if unreadable {
                <span class="error">{ "The file could not be read again (no permission, or it moved): choose it." }</span>
            }
            // The input first: its keyboard focus shows on the label that looks like a button.
            <input id={input_id.clone()} type="file" class="visually-hidden resume-input"
                   aria-label={format!("Choose {} again to resume its upload", u.name)}
                   onchange={resume} />
            <label for={input_id} class={classes!("button", (u.has_handle && !unreadable).then_some("secondary"))}>
                { if u.has_handle && !unreadable { "Choose the file…" } else { "Resume…" } }
            </label>
            <button type="button" class="secondary discard" onclick={on_discard}
                    aria-label={format!("Discard the unfinished upload of {}", u.name)}>{ "Discard" }</button>
        </li>
    }
}
