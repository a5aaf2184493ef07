//! Settings for administrators: the KMS keys stored files are under, each account's own key,
//! and key rotations: preview what would move, start one, and follow its progress (files,
//! bytes, time left) as a server moves the files without anyone uploading them again.

use cipherdrop_api::{CreateRekeyRequest, KeysOverview, REKEY_DEFAULT_RATE, RekeyJob};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use crate::api;

fn value(r: &NodeRef) -> String {
    r.cast::<HtmlInputElement>()
        .map(|i| i.value())
        .or_else(|| r.cast::<HtmlSelectElement>().map(|s| s.value()))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn open(job: &RekeyJob) -> bool {
    matches!(job.state.as_str(), "queued" | "running")
}

/// One line of a job's progress: files, bytes, and the time left at its pace so far.
fn progress(job: &RekeyJob) -> String {
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let left = job
        .seconds_left(now)
        .map(|s| format!(", about {s} s left"))
        .unwrap_or_default();
    format!(
        "{} of {} files, {} of {}{}{}",
        job.files_done,
        job.files_total,
        format::size(job.bytes_done),
        format::size(job.bytes_total),
        if job.files_failed > 0 {
            format!(", {} failed", job.files_failed)
        } else {
            String::new()
        },
        left
    )
}

/// The keys panel (shown to administrators).
#[function_component(KeysAdmin)]
pub fn keys_admin() -> Html {
    let overview = use_state(|| None::<Result<KeysOverview, String>>);
    let reload = use_state(|| 0u32);
    let notice = use_state(|| None::<Result<String, String>>);
    let (from, to, account, rate) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    {
        let (overview, reload) = (overview.clone(), reload.clone());
        use_effect_with(*reload, move |n| {
            let n = *n;
            spawn_local(async move {
                let got = api::keys_overview().await.map_err(|e| e.to_string());
                let busy = got.as_ref().is_ok_and(|o| o.jobs.iter().any(open));
                overview.set(Some(got));
                // Follow a rotation while it runs.
                if busy {
                    crate::browser::sleep(2000.0).await;
                    reload.set(n + 1);
                }
            });
        });
    }
    let request = {
        let (from, to, account, rate) = (from.clone(), to.clone(), account.clone(), rate.clone());
        move |dry_run: bool| CreateRekeyRequest {
            from: value(&from),
            to: value(&to),
            account: Some(value(&account)).filter(|a| !a.is_empty() && a != "*"),
            kms_rate: value(&rate).parse().ok(),
            dry_run,
        }
    };
    // Preview (a dry run) and start send the same request.
    let run = {
        let (notice, reload) = (notice.clone(), reload.clone());
        std::rc::Rc::new(move |dry_run: bool| {
            let req = request(dry_run);
            let (notice, reload) = (notice.clone(), reload.clone());
            spawn_local(async move {
                match api::start_rekey(&req).await {
                    Ok(made) => {
                        let p = made.preview;
                        let what = format!(
                            "{} files ({}), {} metadata and link keys; {} unfinished uploads waited for",
                            p.files,
                            format::size(p.bytes),
                            p.keys,
                            p.pending
                        );
                        notice.set(Some(Ok(if made.job.is_some() {
                            format!("Rotation started: {what}.")
                        } else {
                            format!("Would move {what}. Nothing was changed.")
                        })));
                        reload.set(*reload + 1);
                    }
                    Err(e) => notice.set(Some(Err(e.to_string()))),
                }
            });
        })
    };
    let preview = {
        let run = run.clone();
        Callback::from(move |_: MouseEvent| run(true))
    };
    let start = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        run(false);
    });
    let save_key = {
        let (notice, reload) = (notice.clone(), reload.clone());
        move |username: String, input: NodeRef, clear: bool| {
            let (notice, reload) = (notice.clone(), reload.clone());
            Callback::from(move |_: MouseEvent| {
                let key = if clear {
                    None
                } else {
                    Some(value(&input)).filter(|k| !k.is_empty())
                };
                let (notice, reload, username) = (notice.clone(), reload.clone(), username.clone());
                spawn_local(async move {
                    match api::set_account_key(&username, key.clone()).await {
                        Ok(()) => {
                            notice.set(Some(Ok(match key {
                                Some(k) => format!("{username}'s new data keys come from {k}; move its files with a rotation for {username}."),
                                None => format!("{username}'s new data keys come from the server's key."),
                            })));
                            reload.set(*reload + 1);
                        }
                        Err(e) => notice.set(Some(Err(e.to_string()))),
                    }
                });
            })
        }
    };
    let body = match &*overview {
        None => html! { <p class="muted">{ "Loading keys…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(o)) => html! {
            <>
            <p class="muted">{ format!("New data keys come from {} unless an account has its own key.", o.server_key) }</p>
            <table class="files" id="keys-in-use">
                <thead><tr><th scope="col">{ "Key" }</th><th scope="col">{ "Files" }</th></tr></thead>
                <tbody>
                { for o.keys.iter().map(|k| html! {
                    <tr class="key-in-use" data-arn={k.arn.clone()}><td class="mono">{ &k.arn }</td><td>{ k.files }</td></tr>
                }) }
                </tbody>
            </table>
            <form id="rekey-form" onsubmit={start}>
                <h3>{ "Move files to another key" }</h3>
                <p class="muted">{ "A server moves each file's encrypted data key to the new key and rewrites the file's header; the encrypted contents stay as they are and nobody uploads anything again. Downloads and links keep working meanwhile. First make new uploads use the new key (the server's key, or the account's own)." }</p>
                <div class="options">
                    <label for="rekey-from">{ "From" }</label>
                    <select id="rekey-from" ref={from}>
                        { for o.keys.iter().map(|k| html! { <option value={k.arn.clone()}>{ &k.arn }</option> }) }
                    </select>
                    <label for="rekey-to">{ "To (key id, ARN or alias)" }</label>
                    <input id="rekey-to" ref={to} maxlength="2048" placeholder="arn:aws:kms:…:key/…" />
                    <label for="rekey-account">{ "Files of" }</label>
                    <select id="rekey-account" ref={account}>
                        <option value="*" selected=true>{ "every account" }</option>
                        { for o.accounts.iter().map(|a| html! { <option value={a.username.clone()}>{ &a.username }</option> }) }
                    </select>
                    <label for="rekey-rate">{ "KMS requests per second, at most" }</label>
                    <input id="rekey-rate" ref={rate} type="number" min="1" max="10000" value={REKEY_DEFAULT_RATE.to_string()} />
                </div>
                <button id="rekey-preview" type="button" class="secondary" onclick={preview}>{ "Preview" }</button>
                <button id="rekey-start" type="submit">{ "Start rotation" }</button>
            </form>
            if !o.jobs.is_empty() {
                <table class="files" id="rekey-jobs">
                    <thead><tr><th scope="col">{ "Rotation" }</th><th scope="col">{ "State" }</th><th scope="col">{ "Progress" }</th></tr></thead>
                    <tbody>
                    { for o.jobs.iter().map(|j| html! {
                        <tr class="rekey-job" data-id={j.id.clone()} data-state={j.state.clone()}>
                            <td class="mono">{ format!("{} → {}{}", j.from_key, j.to_key, j.account.as_ref().map(|a| format!(" ({a})")).unwrap_or_default()) }</td>
                            <td>{ &j.state }{ if j.message.is_empty() { String::new() } else { format!(": {}", j.message) } }</td>
                            <td>
                                <progress max={j.files_total.max(1).to_string()} value={j.files_done.to_string()}></progress>
                                <span class="rekey-progress">{ progress(j) }</span>
                            </td>
                        </tr>
                    }) }
                    </tbody>
                </table>
            }
            <h3>{ "Accounts' own keys" }</h3>
            <table class="files" id="account-keys">
                <thead><tr><th scope="col">{ "Account" }</th><th scope="col">{ "Key for new data keys" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for o.accounts.iter().map(|a| {
                    let input = NodeRef::default();
                    html! {
                        <tr class="account-key" data-username={a.username.clone()}>
                            <td>{ &a.username }</td>
                            <td><input ref={input.clone()} aria-label={format!("{}'s key", a.username)} maxlength="2048"
                                value={a.kms_key_id.clone().unwrap_or_default()} placeholder="the server's key" /></td>
                            <td class="actions">
                                <button type="button" class="secondary save-key" onclick={save_key(a.username.clone(), input.clone(), false)}>{ "Save" }</button>
                                if a.kms_key_id.is_some() {
                                    <button type="button" class="secondary clear-key" onclick={save_key(a.username.clone(), input, true)}>{ "Use the server's" }</button>
                                }
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
            </>
        },
    };
    html! {
        <section id="keys-admin" class="card" aria-labelledby="keys-title">
            <h2 id="keys-title">{ "Keys" }</h2>
            <div aria-live="polite" id="keys-notice">
                { match &*notice {
                    Some(Ok(m)) => html! { <p>{ m }</p> },
                    Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
                    None => html! {},
                } }
            </div>
            { body }
        </section>
    }
}
