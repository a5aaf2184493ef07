//! Settings: the account's key for file names (its metadata key): what it is, and a button that
//! rotates it (new names use the new version; older ones move to it as the file list reads them).

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::metadata;

/// The names-key panel.
#[function_component(NamesKey)]
pub fn names_key() -> Html {
    let status = use_state(|| None::<Result<String, String>>);
    let busy = use_state(|| false);
    let rotate = {
        let (status, busy) = (status.clone(), busy.clone());
        Callback::from(move |_: MouseEvent| {
            if *busy {
                return;
            }
            busy.set(true);
            let (status, busy) = (status.clone(), busy.clone());
            spawn_local(async move {
                status.set(Some(match metadata::rotate().await {
                    Ok(v) => Ok(format!(
                        "Names are now sealed under version {v}. Older names move to it the next time your file list loads."
                    )),
                    Err(e) => Err(format!("Could not rotate the key: {e}")),
                }));
                busy.set(false);
            });
        })
    };
    html! {
        <details id="names-key">
            <summary>{ "Key for file names" }</summary>
            <p class="muted">{ "Your files' names and types are encrypted in this page under one key of your account, a KMS data key the server keeps only in encrypted form. This page asks for it once per session, so listing your files costs one KMS call however many there are. Rotating makes a new version: names are sealed under it from now on, and older names move to it as your file list reads them." }</p>
            <button id="names-key-rotate" type="button" class="secondary" onclick={rotate} disabled={*busy}>{ "Rotate the key for names" }</button>
            <div aria-live="polite">
                { match &*status {
                    Some(Ok(m)) => html! { <p id="names-key-status">{ m }</p> },
                    Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
                    None => html! {},
                } }
            </div>
        </details>
    }
}
