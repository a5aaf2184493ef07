//! Settings: how the account is told of what happens to its files. Per event, the page's badge,
//! e-mail and/or its webhooks (or nothing); the address e-mail goes to, used once confirmed with
//! the code mailed to it; and the webhooks themselves ([`super::webhooks`]).

use std::collections::{BTreeMap, BTreeSet};

use cipherdrop_api::{Channel, EventChoice, NOTIFY_EVENTS, Notifications, UpdateNotifications};
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::webhooks::Webhooks;
use crate::api;

/// What an event is, in words.
fn label(event: &str) -> &'static str {
    match event {
        "link.used" => "A link of yours was used (a download began)",
        "request.received" => "A file arrived for one of your requests",
        "link.expiring" => "A link of yours stops working within a day",
        "request.expiring" => "A request of yours stops taking files within a day",
        "quota.near" => "Your account has used 90% of its storage",
        _ => "Another event",
    }
}

type Choices = BTreeMap<String, BTreeSet<Channel>>;

fn choices_of(n: &Notifications) -> Choices {
    n.events
        .iter()
        .map(|e| (e.event.clone(), e.channels.iter().copied().collect()))
        .collect()
}

/// The notifications panel.
#[function_component(NotifySettings)]
pub fn notify_settings() -> Html {
    let loaded = use_state(|| None::<Result<Notifications, String>>);
    let choices = use_state(Choices::new);
    let message = use_state(|| None::<Result<String, String>>);
    let (email, code) = (use_node_ref(), use_node_ref());
    {
        let (loaded, choices) = (loaded.clone(), choices.clone());
        use_effect_with((), move |_| {
            spawn_local(async move {
                let got = api::notifications().await.map_err(|e| e.to_string());
                if let Ok(n) = &got {
                    choices.set(choices_of(n));
                }
                loaded.set(Some(got));
            });
        });
    }
    // Every change goes through here: the server's answer is what the panel shows next.
    let apply = {
        let (loaded, choices, message) = (loaded.clone(), choices.clone(), message.clone());
        move |answer: Result<Notifications, api::ApiError>, done: String| match answer {
            Ok(n) => {
                choices.set(choices_of(&n));
                loaded.set(Some(Ok(n)));
                message.set(Some(Ok(done)));
            }
            Err(e) => message.set(Some(Err(e.to_string()))),
        }
    };
    let save_email = {
        let (email, apply) = (email.clone(), apply.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let address = email
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let apply = apply.clone();
            spawn_local(async move {
                let req = UpdateNotifications {
                    email: Some(address.clone()),
                    events: Vec::new(),
                };
                let done = if address.trim().is_empty() {
                    "No e-mail will be sent.".to_owned()
                } else {
                    format!("If {address} is new, a code is on its way to it: enter it below.")
                };
                apply(api::update_notifications(&req).await, done);
            });
        })
    };
    let confirm = {
        let (code, apply) = (code.clone(), apply.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text = code
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let apply = apply.clone();
            spawn_local(async move {
                apply(
                    api::confirm_email(&text).await,
                    "Address confirmed: e-mail goes there from now on.".to_owned(),
                );
            });
        })
    };
    let toggle = {
        let choices = choices.clone();
        move |event: &'static str, channel: Channel| {
            let choices = choices.clone();
            Callback::from(move |e: Event| {
                let on = e.target_unchecked_into::<HtmlInputElement>().checked();
                let mut next = (*choices).clone();
                let set = next.entry(event.to_owned()).or_default();
                if on {
                    set.insert(channel);
                } else {
                    set.remove(&channel);
                }
                choices.set(next);
            })
        }
    };
    let save_choices = {
        let (choices, apply) = (choices.clone(), apply.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let events = choices
                .iter()
                .map(|(event, set)| EventChoice {
                    event: event.clone(),
                    channels: set.iter().copied().collect(),
                })
                .collect();
            let apply = apply.clone();
            spawn_local(async move {
                let req = UpdateNotifications {
                    email: None,
                    events,
                };
                apply(api::update_notifications(&req).await, "Saved.".to_owned());
            });
        })
    };
    let body = match &*loaded {
        None => html! { <p class="muted">{ "Loading…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(n)) => {
            let rows = NOTIFY_EVENTS.iter().map(|(event, _, allowed)| {
                let chosen = choices.get(*event).cloned().unwrap_or_default();
                let cell = |channel: Channel| {
                    let usable = allowed.contains(&channel)
                        && (channel != Channel::Email || n.email_available);
                    let id = format!("notify-{}-{}", event.replace('.', "-"), channel.as_str());
                    html! {
                        <td>
                            if allowed.contains(&channel) {
                                <input type="checkbox" id={id} class="notify-choice"
                                       data-event={*event} data-channel={channel.as_str()}
                                       checked={chosen.contains(&channel)} disabled={!usable}
                                       aria-label={format!("{}: {}", label(event), channel.as_str())}
                                       onchange={toggle(event, channel)} />
                            } else {
                                <span class="muted" aria-label="not available">{ "—" }</span>
                            }
                        </td>
                    }
                };
                html! {
                    <tr data-event={*event}>
                        <th scope="row">{ label(event) }</th>
                        { cell(Channel::Badge) }{ cell(Channel::Email) }{ cell(Channel::Webhook) }
                    </tr>
                }
            });
            html! {
                <>
                if n.email_available {
                    <form id="notify-email-form" onsubmit={save_email}>
                        <label for="notify-email">{ "E-mail address" }</label>
                        <input id="notify-email" ref={email} type="email" maxlength="254" autocomplete="email"
                               value={n.email_pending.clone().or_else(|| n.email.clone()).unwrap_or_default()} />
                        <button id="notify-email-save" type="submit" class="secondary">{ "Save address" }</button>
                    </form>
                    <p class="muted" id="notify-email-state">{ match (&n.email, &n.email_pending) {
                        (_, Some(p)) => format!("Waiting for the code sent to {p}."),
                        (Some(a), None) => format!("E-mail goes to {a}."),
                        (None, None) => "No address yet: nothing is e-mailed.".to_owned(),
                    } }</p>
                    if n.email_pending.is_some() {
                        <form id="notify-code-form" onsubmit={confirm}>
                            <label for="notify-code">{ "Code from the e-mail" }</label>
                            <input id="notify-code" ref={code} autocomplete="one-time-code" maxlength="32" placeholder="ABCDE-FGHJK" />
                            <button id="notify-confirm" type="submit">{ "Confirm" }</button>
                        </form>
                    }
                } else {
                    <p class="muted" id="notify-email-state">{ "This server sends no e-mail (its administrator has not set up SMTP)." }</p>
                }
                <form id="notify-choices" onsubmit={save_choices}>
                    <table class="files notify-table">
                        <thead><tr><th scope="col">{ "When" }</th><th scope="col">{ "Badge" }</th><th scope="col">{ "E-mail" }</th><th scope="col">{ "Webhooks" }</th></tr></thead>
                        <tbody>{ for rows }</tbody>
                    </table>
                    <button id="notify-save" type="submit">{ "Save choices" }</button>
                </form>
                <p class="muted">{ "E-mails and webhook deliveries name no file and carry no link: names are encrypted in your browser, and the server never sees them." }</p>
                </>
            }
        }
    };
    html! {
        <details id="notifications">
            <summary>{ "Notifications" }</summary>
            { body }
            <div aria-live="polite">{ match &*message {
                Some(Ok(m)) => html! { <p class="ok" id="notify-message">{ m }</p> },
                Some(Err(e)) => html! { <p class="error" role="alert" id="notify-message">{ e }</p> },
                None => html! {},
            } }</div>
            <Webhooks />
        </details>
    }
}
