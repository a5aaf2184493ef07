//! Logging in (password or one-time link) and setting a password.

use cipherdrop_api::Me;
use web_sys::HtmlInputElement;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::api;

/// Props of [`Login`].
#[derive(Properties, PartialEq)]
pub struct LoginProps {
    /// Called with the account once logged in.
    pub on_login: Callback<Me>,
    /// An error to show (for example a failed login link).
    #[prop_or_default]
    pub error: Option<String>,
}

/// The login form.
#[function_component(Login)]
pub fn login(props: &LoginProps) -> Html {
    let username = use_node_ref();
    let password = use_node_ref();
    let busy = use_state(|| false);
    // This form's own error (a failed login); the app's (a failed link) shows when there is none.
    let error = use_state(|| None::<String>);
    let onsubmit = {
        let (username, password, busy, error) = (
            username.clone(),
            password.clone(),
            busy.clone(),
            error.clone(),
        );
        let on_login = props.on_login.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let user = username
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let pass = password
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let (busy, error, on_login) = (busy.clone(), error.clone(), on_login.clone());
            busy.set(true);
            spawn_local(async move {
                match api::login(user.trim(), &pass).await {
                    Ok(me) => on_login.emit(me),
                    Err(e) => error.set(Some(e.to_string())),
                }
                busy.set(false);
            });
        })
    };
    html! {
        <section class="card narrow" aria-labelledby="login-title">
            <h2 id="login-title">{ "Log in" }</h2>
            <form id="login-form" {onsubmit}>
                <label for="username">{ "Account name" }</label>
                <input id="username" ref={username} autocomplete="username" required=true />
                <label for="password">{ "Password" }</label>
                <input id="password" ref={password} type="password" autocomplete="current-password" required=true />
                <button id="login" type="submit" disabled={*busy}>{ if *busy { "Logging in…" } else { "Log in" } }</button>
            </form>
            <div aria-live="assertive">
                if let Some(e) = error.as_ref().or(props.error.as_ref()) { <p class="error" role="alert">{ e }</p> }
            </div>
            <p class="muted">{ "No account? An administrator creates one with " }<code>{ "cipherdrop user add NAME" }</code>{ "." }</p>
        </section>
    }
}

/// Props of [`SetPassword`].
#[derive(Properties, PartialEq)]
pub struct SetPasswordProps {
    /// Whether the current password is required (not after a login link).
    pub need_current: bool,
    /// Called once the password is set.
    pub on_done: Callback<()>,
}

/// Sets a new password.
#[function_component(SetPassword)]
pub fn set_password(props: &SetPasswordProps) -> Html {
    let current = use_node_ref();
    let new = use_node_ref();
    let error = use_state(|| None::<String>);
    let onsubmit = {
        let (current, new, error) = (current.clone(), new.clone(), error.clone());
        let on_done = props.on_done.clone();
        let need_current = props.need_current;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let cur = current.cast::<HtmlInputElement>().map(|i| i.value());
            let new = new
                .cast::<HtmlInputElement>()
                .map(|i| i.value())
                .unwrap_or_default();
            let (error, on_done) = (error.clone(), on_done.clone());
            spawn_local(async move {
                match api::set_password(cur.filter(|_| need_current), new).await {
                    Ok(()) => on_done.emit(()),
                    Err(e) => error.set(Some(e.to_string())),
                }
            });
        })
    };
    html! {
        <section class="card narrow" aria-labelledby="pw-title">
            <h2 id="pw-title">{ "Choose a password" }</h2>
            <form id="password-form" {onsubmit}>
                if props.need_current {
                    <label for="current-password">{ "Current password" }</label>
                    <input id="current-password" ref={current} type="password" autocomplete="current-password" required=true />
                }
                <label for="new-password">{ "New password (at least 12 characters)" }</label>
                <input id="new-password" ref={new} type="password" autocomplete="new-password" minlength="12" required=true />
                <button id="set-password" type="submit">{ "Set password" }</button>
            </form>
            <div aria-live="assertive">
                if let Some(e) = &*error { <p class="error" role="alert">{ e }</p> }
            </div>
        </section>
    }
}
