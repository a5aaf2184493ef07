//! Settings: the account's webhooks. Make one for an `https://` URL (its signing secret shown
//! once, with a copy button), see each one's waiting deliveries and the latest ones with their
//! outcome, send it a test event, delete it.

use cipherdrop_api::{DeliverySummary, WEBHOOK_MAX_PER_ACCOUNT, WebhookSummary};
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format;
use crate::api;

/// A delivery's outcome in words.
fn outcome(d: &DeliverySummary) -> String {
    match (d.delivered_at, d.gave_up_at, &d.last_error) {
        (Some(at), ..) => format!("delivered {}", format::date(at)),
        (None, Some(_), e) => format!(
            "given up after {} attempts ({})",
            d.attempts,
            e.as_deref().unwrap_or("no answer")
        ),
        (None, None, Some(e)) => format!("waiting; attempt {} met: {e}", d.attempts),
        (None, None, None) => "waiting".to_owned(),
    }
}

/// The webhooks panel.
#[function_component(Webhooks)]
pub fn webhooks() -> Html {
    let list = use_state(|| None::<Result<Vec<WebhookSummary>, String>>);
    let reload = use_state(|| 0u32);
    let created = use_state(|| None::<String>);
    let error = use_state(|| None::<String>);
    let url = use_node_ref();
    {
        let list = list.clone();
        use_effect_with(*reload, move |_| {
            spawn_local(async move {
                list.set(Some(
                    api::webhooks()
                        .await
                        .map(|l| l.webhooks)
                        .map_err(|e| e.to_string()),
                ));
            });
        });
    }
    let create = {
        let (created, error, reload, url) =
            (created.clone(), error.clone(), reload.clone(), url.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let target = url
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let (created, error, reload) = (created.clone(), error.clone(), reload.clone());
            spawn_local(async move {
                match api::create_webhook(&target).await {
                    Ok(w) => {
                        error.set(None);
                        created.set(Some(w.secret.expose().to_owned()));
                        reload.set(*reload + 1);
                    }
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        })
    };
    let act = {
        let (error, reload) = (error.clone(), reload.clone());
        move |id: String, delete: bool| {
            let (error, reload) = (error.clone(), reload.clone());
            Callback::from(move |_: MouseEvent| {
                let (id, error, reload) = (id.clone(), error.clone(), reload.clone());
                spawn_local(async move {
                    let done = if delete {
                        api::delete_webhook(&id).await
                    } else {
                        api::test_webhook(&id).await
                    };
                    match done {
                        Ok(()) => reload.set(*reload + 1),
                        Err(e) => error.set(Some(e.to_string())),
                    }
                });
            })
        }
    };
    let refresh = {
        let reload = reload.clone();
        Callback::from(move |_: MouseEvent| reload.set(*reload + 1))
    };
    let copy = {
        let created = created.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(secret) = (*created).clone() {
                spawn_local(async move {
                    let _ = crate::browser::copy_text(&secret).await;
                });
            }
        })
    };
    let table = match &*list {
        None => html! { <p class="muted">{ "Loading webhooks…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(l)) if l.is_empty() => html! { <p class="muted">{ "No webhooks yet." }</p> },
        Some(Ok(l)) => html! {
            <table class="files" id="webhook-list">
                <thead><tr><th scope="col">{ "URL" }</th><th scope="col">{ "Waiting" }</th><th scope="col">{ "Latest deliveries" }</th><th scope="col"><span class="visually-hidden">{ "Actions" }</span></th></tr></thead>
                <tbody>
                { for l.iter().map(|w| html! {
                    <tr class="webhook" data-id={w.id.clone()} data-pending={w.pending.to_string()}>
                        <td class="webhook-url">{ &w.url }</td>
                        <td>{ w.pending }</td>
                        <td><ul class="deliveries">
                            { for w.deliveries.iter().take(5).map(|d| html! {
                                <li class="delivery" data-event={d.event.clone()} data-delivered={d.delivered_at.is_some().to_string()}>
                                    { format!("{} · {}", d.event, outcome(d)) }
                                </li>
                            }) }
                        </ul></td>
                        <td class="actions">
                            <button type="button" class="secondary webhook-test" onclick={act(w.id.clone(), false)}>{ "Send test" }</button>
                            <button type="button" class="secondary danger webhook-delete" onclick={act(w.id.clone(), true)}>{ "Delete" }</button>
                        </td>
                    </tr>
                }) }
                </tbody>
            </table>
        },
    };
    html! {
        <div id="webhooks">
            <h3>{ "Webhooks" }</h3>
            <p class="muted">{ format!("Each event you send to webhooks is POSTed to every one of them (at most {WEBHOOK_MAX_PER_ACCOUNT}), signed per the Standard Webhooks specification, with ids only; a receiver that is down gets it again for a day.") }</p>
            <form id="webhook-form" onsubmit={create}>
                <label for="webhook-url">{ "Receiver URL" }</label>
                <input id="webhook-url" ref={url} type="url" maxlength="2048" required=true placeholder="https://hooks.example.com/cipherdrop" />
                <button id="webhook-create" type="submit">{ "Add webhook" }</button>
            </form>
            <div aria-live="polite">
                if let Some(e) = &*error { <p class="error" role="alert" id="webhook-error">{ e }</p> }
                if let Some(secret) = &*created {
                    <p>{ "Signing secret (shown only now; the receiver verifies each delivery with it):" }</p>
                    <input id="webhook-secret" readonly=true value={secret.clone()} aria-label="Webhook signing secret" />
                    <button type="button" class="secondary" onclick={copy}>{ "Copy" }</button>
                }
            </div>
            { table }
            <button id="webhook-refresh" type="button" class="secondary" onclick={refresh}>{ "Refresh" }</button>
        </div>
    }
}
