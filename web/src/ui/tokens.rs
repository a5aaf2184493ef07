//! Settings: the account's API tokens for scripts (`cipherdrop` CLI, `curl`): make one with a
//! name, scopes and a lifetime (its secret is shown once, with a copy button), see each token's
//! scopes, expiry and last use, and revoke it.

use cipherdrop_api::{CreateTokenRequest, TOKEN_DEFAULT_DAYS, TokenSummary};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use super::names_key::NamesKey;
use crate::api;

/// The API tokens panel.
#[function_component(Tokens)]
pub fn tokens() -> Html {
    let list = use_state(|| None::<Result<Vec<TokenSummary>, String>>);
    let reload = use_state(|| 0u32);
    let created = use_state(|| None::<(String, String)>);
    let error = use_state(|| None::<String>);
    let (name, read, write, share, days) = (
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
        use_node_ref(),
    );
    {
        let list = list.clone();
        use_effect_with(*reload, move |_| {
            spawn_local(async move {
                list.set(Some(
                    api::tokens()
                        .await
                        .map(|l| l.tokens)
                        .map_err(|e| e.to_string()),
                ));
            });
        });
    }
    let create = {
        let (created, error, reload) = (created.clone(), error.clone(), reload.clone());
        let (name, read, write, share, days) = (
            name.clone(),
            read.clone(),
            write.clone(),
            share.clone(),
            days.clone(),
        );
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let checked = |r: &NodeRef| r.cast::<HtmlInputElement>().is_some_and(|c| c.checked());
            let scopes = [("read", &read), ("write", &write), ("share", &share)]
                .iter()
                .filter(|(_, r)| checked(r))
                .map(|(s, _)| (*s).to_owned())
                .collect();
            let req = CreateTokenRequest {
                name: name
                    .cast::<HtmlInputElement>()
                    .map(|i| i.value())
                    .unwrap_or_default(),
                scopes,
                expires_in_days: days
                    .cast::<HtmlSelectElement>()
                    .and_then(|s| s.value().parse().ok()),
            };
            let (created, error, reload) = (created.clone(), error.clone(), reload.clone());
            spawn_local(async move {
                match api::create_token(&req).await {
                    Ok(t) => {
                        error.set(None);
                        created.set(Some((t.token.name, t.secret.expose().to_owned())));
                        reload.set(*reload + 1);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        })
    };
    let revoke = {
        let (error, reload) = (error.clone(), reload.clone());
        move |id: String| {
            let (error, reload) = (error.clone(), reload.clone());
            Callback::from(move |_: MouseEvent| {
                let (id, error, reload) = (id.clone(), error.clone(), reload.clone());
                spawn_local(async move {
                    match api::revoke_token(&id).await {
                        Ok(_) => reload.set(*reload + 1),
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            })
        }
    };
    let copy = {
        let created = created.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some((_, secret)) = (*created).clone() {
                spawn_local(async move {
                    let _ = crate::browser::copy_text(&secret).await;
                });
            }
        })
    };
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let table = match &*list {
        None => html! { <p class="muted">{ "Loading tokens…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(l)) if l.is_empty() => html! { <p class="muted">{ "No tokens yet." }</p> },
        Some(Ok(l)) => html! {
            <table class="files" id="token-list">
                <thead><tr><th scope="col">{ "Name" }</th><th scope="col">{ "May" }</th><th scope="col">{ "Expires" }</th><th scope="col">{ "Last used" }</th><th scope="col">{ "State" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for l.iter().map(|t| {
                    let state = if t.revoked_at.is_some() { "revoked" }
                        else if t.expires_at <= now { "expired" } else { "active" };
                    html! {
                        <tr class="token" data-id={t.id.clone()} data-state={state}>
                            <td>{ &t.name }</td>
                            <td>{ t.scopes.join(", ") }</td>
                            <td>{ format::date(t.expires_at) }</td>
                            <td>{ t.last_used_at.map_or("never".to_owned(), format::date) }</td>
                            <td>{ state }</td>
                            <td class="actions">
                                if state == "active" {
                                    <button type="button" class="secondary danger revoke-token" onclick={revoke(t.id.clone())}>{ "Revoke" }</button>
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
        <section id="settings" class="card" aria-labelledby="settings-title">
            <h2 id="settings-title">{ "Settings" }</h2>
            <details id="tokens">
                <summary>{ "API tokens for scripts" }</summary>
                <p class="muted">{ "A token lets a script (the cipherdrop command line, curl) use your account through the API, within its scopes, until it expires or you revoke it. It never opens this page's session. Files are still encrypted on the script's machine." }</p>
                <form id="token-form" onsubmit={create}>
                    <div class="options">
                        <label for="token-name">{ "Name" }</label>
                        <input id="token-name" ref={name} maxlength="64" required=true placeholder="nightly backup" />
                        <label for="token-days">{ "Expires after" }</label>
                        <select id="token-days" ref={days}>
                            <option value="1">{ "1 day" }</option>
                            <option value="7">{ "7 days" }</option>
                            <option value={TOKEN_DEFAULT_DAYS.to_string()} selected=true>{ "30 days" }</option>
                            <option value="90">{ "90 days" }</option>
                            <option value="365">{ "1 year" }</option>
                        </select>
                    </div>
                    <fieldset class="scopes">
                        <legend>{ "It may" }</legend>
                        <label class="check"><input id="token-read" ref={read} type="checkbox" checked=true />{ " read: list and download files" }</label>
                        <label class="check"><input id="token-write" ref={write} type="checkbox" />{ " write: upload and delete files" }</label>
                        <label class="check"><input id="token-share" ref={share} type="checkbox" />{ " share: make and manage share links" }</label>
                    </fieldset>
                    <button id="token-create" type="submit">{ "Make token" }</button>
                </form>
                <div aria-live="polite">
                    if let Some(e) = &*error { <p class="error" role="alert">{ e }</p> }
                    if let Some((n, secret)) = &*created {
                        <p>{ format!("Token \u{201c}{n}\u{201d} (shown only now; store it like a password):") }</p>
                        <input id="token-secret" readonly=true value={secret.clone()} aria-label="API token" />
                        <button type="button" class="secondary" onclick={copy}>{ "Copy" }</button>
                    }
                </div>
                { table }
            </details>
            <super::notify::NotifySettings />
            <NamesKey />
        </section>
    }
}
