//! The application root: session, layout and the wiring between the parts.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use cipherdrop_api::Me;
use cipherdrop_core::Suite;
use wasm_bindgen::JsCast;
use yew::platform::spawn_local;
use yew::prelude::*;

use super::files::{Files, Names};
use super::inspector::Inspector;
use super::login::{Login, SetPassword};
use super::recipient::Recipient;
use super::requests::Requests;
use super::sender::SenderPage;
use super::share::Share;
use super::tokens::Tokens;
use super::uploads::Uploads;
use crate::api;
use crate::transfer::UploadRecord;

/// Where the session stands.
#[derive(Clone, PartialEq)]
enum Session {
    Checking,
    Out(Option<String>),
    In(Me),
    /// A login link was opened while this account is logged in: ask before switching.
    Switch(Me, zeroize::Zeroizing<String>),
}

/// If the address holds a one-time login link (`#login=TOKEN`, a fragment, which no server
/// logs), removes it from the address bar and redeems it, unless an account is logged in in
/// this browser: then the page asks first (a link someone sent must not silently replace the
/// account you are working in); returns whether there was one.
async fn redeem_login_link(session: &UseStateHandle<Session>) -> bool {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let Some(token) = hash.strip_prefix("#login=") else {
        return false;
    };
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
    }
    let token = zeroize::Zeroizing::new(token.to_owned());
    // Only a browser that was logged in here can be logged in now: asking the server otherwise
    // would log a refused request in the console of every login link a new user opens.
    if !session_hint() {
        redeem_token(session, &token).await;
        return true;
    }
    if let Ok(Some(me)) = api::me().await {
        session.set(Session::Switch(me, token));
        return true;
    }
    redeem_token(session, &token).await;
    true
}

/// Redeems a login link's token.
async fn redeem_token(session: &UseStateHandle<Session>, token: &str) {
    session.set(match api::login_link(token).await {
        Ok(me) => Session::In(me),
        Err(e) => Session::Out(Some(format!("The login link did not work: {e}"))),
    });
}

/// The hint (not a secret, and not trusted: the server decides) that this browser was logged in
/// when it last showed the app.
const SESSION_HINT: &str = "cipherdrop.logged-in";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn session_hint() -> bool {
    storage()
        .and_then(|s| s.get_item(SESSION_HINT).ok()?)
        .is_some()
}

fn set_session_hint(logged_in: bool) {
    if let Some(s) = storage() {
        let _ = if logged_in {
            s.set_item(SESSION_HINT, "1")
        } else {
            s.remove_item(SESSION_HINT)
        };
    }
}

/// The application root.
#[function_component(App)]
pub fn app() -> Html {
    // A browser that has not logged in here before sees the login form at once (the server's
    // answer follows and corrects it), instead of "Loading…" for a round trip: the first paint
    // is the page the visitor needs.
    let session = use_state(|| {
        if session_hint() {
            Session::Checking
        } else {
            Session::Out(None)
        }
    });
    let version = use_state(|| 0u32);
    let names: Names = (*use_memo((), |_| Rc::new(RefCell::new(HashMap::new())))).clone();
    let records = use_mut_ref(HashMap::<String, Rc<UploadRecord>>::new);
    let inspect = use_state(|| None::<String>);
    // The files a share panel is open for (one, or several for one link).
    let sharing = use_state(|| None::<Vec<String>>);
    let announce = use_state(String::new);
    // The file request whose files the list shows (id, title), if any.
    let request_files = use_state(|| None::<(String, String)>);
    // Bumped when a request's files were looked at (its "new" badge goes).
    let requests_version = use_state(|| 0u32);

    // A share link's page and a file request's page need no account: they never ask who is
    // logged in (a refused `/api/me` is a red line in every visitor's console).
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let request_page = path.starts_with("/r/");
    let share_page = path.starts_with("/s/") || request_page;

    {
        let session = session.clone();
        use_effect_with(share_page, move |&share_page| {
            if share_page {
                return;
            }
            {
                let session = session.clone();
                spawn_local(async move {
                    if redeem_login_link(&session).await {
                        return;
                    }
                    // No hint: this browser shows the login form and asks nothing (the form is
                    // what a session it does not know of would need anyway).
                    if !session_hint() {
                        return;
                    }
                    session.set(match api::me().await {
                        Ok(Some(me)) => Session::In(me),
                        Ok(None) => Session::Out(None),
                        Err(e) => Session::Out(Some(e.to_string())),
                    });
                });
            }
            // A link opened in a tab that already shows the app changes only the fragment.
            let on_hash = wasm_bindgen::closure::Closure::<dyn Fn()>::new(move || {
                let session = session.clone();
                spawn_local(async move {
                    redeem_login_link(&session).await;
                });
            });
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback(
                    "hashchange",
                    on_hash.as_ref().unchecked_ref(),
                );
            }
            // The root lives as long as the page.
            on_hash.forget();
        });
    }

    {
        let logged_in = matches!(&*session, Session::In(_));
        let known = !matches!(&*session, Session::Checking);
        use_effect_with((logged_in, known), move |&(logged_in, known)| {
            if known {
                set_session_hint(logged_in);
            }
        });
    }

    let on_login = {
        let session = session.clone();
        Callback::from(move |me: Me| {
            crate::metadata::forget();
            session.set(Session::In(me))
        })
    };
    let on_logout = {
        let (session, names, records) = (session.clone(), names.clone(), records.clone());
        Callback::from(move |_: MouseEvent| {
            let (session, names, records) = (session.clone(), names.clone(), records.clone());
            spawn_local(async move {
                let _ = api::logout().await;
                crate::metadata::forget();
                names.borrow_mut().clear();
                records.borrow_mut().clear();
                session.set(Session::Out(None));
            });
        })
    };
    let on_uploaded = {
        let (version, names, records, announce) = (
            version.clone(),
            names.clone(),
            records.clone(),
            announce.clone(),
        );
        Callback::from(move |r: Rc<UploadRecord>| {
            names
                .borrow_mut()
                .insert(r.object.id.clone(), Ok(r.meta.clone()));
            records.borrow_mut().insert(r.object.id.clone(), r.clone());
            announce.set(format!("{} was encrypted and stored.", r.meta.name));
            version.set(*version + 1);
        })
    };
    let on_inspect = {
        let inspect = inspect.clone();
        Callback::from(move |id: String| inspect.set(Some(id)))
    };
    let on_close = {
        let inspect = inspect.clone();
        Callback::from(move |()| inspect.set(None))
    };
    let on_share = {
        let (sharing, inspect) = (sharing.clone(), inspect.clone());
        Callback::from(move |id: String| {
            inspect.set(None);
            sharing.set(Some(vec![id]));
        })
    };
    let on_share_set = {
        let (sharing, inspect) = (sharing.clone(), inspect.clone());
        Callback::from(move |ids: Vec<String>| {
            inspect.set(None);
            sharing.set(Some(ids));
        })
    };
    let close_share = {
        let (sharing, version) = (sharing.clone(), version.clone());
        Callback::from(move |()| {
            sharing.set(None);
            // The list again: the file's "new downloads" badge was seen.
            version.set(*version + 1);
        })
    };
    let on_show_request = {
        let request_files = request_files.clone();
        Callback::from(move |r: (String, String)| {
            request_files.set(Some(r));
            if let Some(el) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id("files-panel"))
            {
                el.scroll_into_view();
            }
        })
    };
    let on_request_seen = {
        let requests_version = requests_version.clone();
        Callback::from(move |()| requests_version.set(*requests_version + 1))
    };
    let on_all_files = {
        let request_files = request_files.clone();
        Callback::from(move |()| request_files.set(None))
    };
    let password_set = {
        let session = session.clone();
        Callback::from(move |()| {
            if let Session::In(me) = &*session {
                session.set(Session::In(Me {
                    must_set_password: false,
                    ..me.clone()
                }));
            }
        })
    };

    let switch = {
        let session = session.clone();
        Callback::from(move |_: MouseEvent| {
            if let Session::Switch(_, token) = &*session {
                let (session, token) = (session.clone(), token.clone());
                spawn_local(async move {
                    let _ = api::logout().await;
                    crate::metadata::forget();
                    redeem_token(&session, &token).await;
                });
            }
        })
    };
    let stay = {
        let session = session.clone();
        Callback::from(move |_: MouseEvent| {
            if let Session::Switch(me, _) = &*session {
                session.set(Session::In(me.clone()));
            }
        })
    };

    let main = match &*session {
        _ if request_page => html! { <SenderPage /> },
        _ if share_page => html! { <Recipient /> },
        Session::Checking => html! { <p class="muted">{ "Loading…" }</p> },
        Session::Out(error) => html! { <Login {on_login} error={error.clone()} /> },
        Session::Switch(me, _) => html! {
            <section class="card narrow" id="switch-prompt" role="alertdialog" aria-labelledby="switch-title">
                <h2 id="switch-title">{ "Use this login link?" }</h2>
                <p>{ format!("You are logged in as {}. The link you opened logs this browser in with the link's own account instead.", me.username) }</p>
                <p class="muted">{ "If someone sent you this link unasked, stay: a link can log you into an account that someone else controls." }</p>
                <div class="choices">
                    <button id="switch-account" type="button" onclick={switch}>{ "Log out and use the link" }</button>
                    <button id="stay-logged-in" type="button" class="secondary" onclick={stay}>{ format!("Stay logged in as {}", me.username) }</button>
                </div>
            </section>
        },
        Session::In(me) if me.must_set_password => {
            html! { <SetPassword need_current={false} on_done={password_set} /> }
        }
        Session::In(me) => {
            let default_suite = if me.default_suite == cipherdrop_api::SUITE_COMMIT_KEY_ECDSA_P384 {
                Suite::CommitKeyEcdsaP384
            } else {
                Suite::CommitKey
            };
            let shared = sharing.as_ref().and_then(|ids| {
                let meta_of = |id: &String| {
                    names
                        .borrow()
                        .get(id)
                        .and_then(|m| m.as_ref().ok())
                        .cloned()
                };
                let (id, rest) = ids.split_first()?;
                let meta = meta_of(id);
                let others: Vec<(String, Option<crate::metadata::FileMeta>)> =
                    rest.iter().map(|o| (o.clone(), meta_of(o))).collect();
                // A new key per selection, so the panel starts afresh.
                let key = ids.join(",");
                Some(html! { <Share {key} id={id.clone()} {meta} {others} on_close={close_share.clone()} /> })
            });
            let inspected = inspect.as_ref().map(|id| {
                let name = names
                    .borrow()
                    .get(id)
                    .and_then(|m| m.as_ref().ok())
                    .map(|m| m.name.clone());
                let record = records.borrow().get(id).cloned();
                html! { <Inspector id={id.clone()} {name} {record} on_close={on_close.clone()} /> }
            });
            html! {
                <>
                <Uploads on_uploaded={on_uploaded} default_suite={default_suite} owner={me.id.clone()} />
                // Keyed by the request shown: another filter is another list, not the old one
                // reloading.
                <Files key={request_files.as_ref().map_or("all", |(id, _)| id.as_str()).to_owned()}
                       version={*version} names={names.clone()} {on_inspect} {on_share} {on_share_set}
                       request={(*request_files).clone()} {on_all_files} {on_request_seen} />
                // A fixed slot: opening the inspector must not shift (and so remount) siblings.
                <div class="inspector-slot">{ for inspected }{ for shared }</div>
                <Requests version={version.wrapping_add(*requests_version)} on_show_files={on_show_request} />
                <Tokens />
                if me.is_admin { <super::keys::KeysAdmin /> }
                </>
            }
        }
    };
    // The static explanation (`#learn` in index.html) is for a visitor who is not logged in.
    // Shown or hidden while rendering, so that it goes in the same frame as the app's view
    // arrives above it: nothing on the page shifts.
    let document = web_sys::window().and_then(|w| w.document());
    if let Some(learn) = document.as_ref().and_then(|d| d.get_element_by_id("learn")) {
        let show = !share_page && matches!(&*session, Session::Out(_));
        let _ = if show {
            learn.remove_attribute("hidden")
        } else {
            learn.set_attribute("hidden", "")
        };
    }
    let account = match (share_page, &*session) {
        (false, Session::In(me)) => html! {
            <>
            <span id="whoami">{ &me.username }</span>
            <button id="logout" type="button" class="secondary" onclick={on_logout}>{ "Log out" }</button>
            </>
        },
        _ => html! {},
    };
    let account_slot = document.and_then(|d| d.get_element_by_id("account"));
    html! {
        <>
        { for account_slot.map(|slot| yew::create_portal(account, slot)) }
        <div class="visually-hidden" aria-live="polite" id="announce">{ (*announce).clone() }</div>
        { main }
        </>
    }
}
