//! "What the server and S3 see": the KMS request, the EDK, the ESDK header field by field, the
//! stored bytes beside the plaintext, and the server's record of the file.

use std::rc::Rc;

use cipherdrop_core::{ContentType, Header, TAG_LEN};
use yew::platform::spawn_local;
use yew::prelude::*;

use super::format::{self, hex, hexdump};
use crate::download::{self, StoredView};
use crate::transfer::UploadRecord;

/// Props of [`Inspector`].
#[derive(Properties, PartialEq)]
pub struct InspectorProps {
    /// The file.
    pub id: String,
    /// Its name, if decrypted.
    pub name: Option<String>,
    /// What this tab knows from uploading it, if it did.
    pub record: Option<Rc<UploadRecord>>,
    /// Closes the inspector.
    pub on_close: Callback<()>,
}

/// The inspector panel.
#[function_component(Inspector)]
pub fn inspector(props: &InspectorProps) -> Html {
    let view = use_state(|| None::<Result<Rc<StoredView>, String>>);
    let plain = use_state(|| props.record.as_ref().map(|r| Ok(r.plaintext_head.clone())));
    {
        let view = view.clone();
        use_effect_with(props.id.clone(), move |id| {
            let id = id.clone();
            view.set(None);
            spawn_local(async move {
                view.set(Some(
                    download::stored_view(&id)
                        .await
                        .map(Rc::new)
                        .map_err(|e| e.to_string()),
                ));
            });
        });
    }
    let decrypt_head = {
        let (view, plain) = (view.clone(), plain.clone());
        Callback::from(move |_: MouseEvent| {
            let (view, plain) = (view.clone(), plain.clone());
            if let Some(Ok(v)) = &*view {
                let v = v.clone();
                spawn_local(async move {
                    plain.set(Some(
                        download::first_plaintext(&v, 64)
                            .await
                            .map_err(|e| e.to_string()),
                    ));
                });
            }
        })
    };
    let moved = use_state(|| None::<Result<String, String>>);
    let move_key = {
        let (moved, id) = (moved.clone(), props.id.clone());
        Callback::from(move |_: MouseEvent| {
            let (moved, id) = (moved.clone(), id.clone());
            moved.set(Some(Ok("Asking the server…".into())));
            spawn_local(async move {
                moved.set(Some(
                    crate::api::rekey_object(&id)
                        .await
                        .map(|job| {
                            format!(
                                "Queued (job {}): a server moves this file to {} within seconds. \
                                 Only its header changes; nothing is uploaded, the body stays \
                                 byte for byte. Open the inspector again to see the new key.",
                                job.id, job.to_key
                            )
                        })
                        .map_err(|e| e.to_string()),
                ));
            });
        })
    };
    let close = {
        let c = props.on_close.clone();
        Callback::from(move |_: MouseEvent| c.emit(()))
    };
    let title = props.name.clone().unwrap_or_else(|| props.id.clone());
    let body = match &*view {
        None => html! { <p class="muted">{ "Reading the stored object…" }</p> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        Some(Ok(v)) => html! {
            <>
            { render(v, props.record.as_deref(), plain.as_ref(), decrypt_head) }
            <h3>{ "The KMS key" }</h3>
            <p id="file-key">{ "This file's data key is wrapped under " }<code>{ &v.details.key_arn }</code>
               { ". If your account has been given another key, move the file to it: the server writes a new header with the data key wrapped under that key and keeps every encrypted byte of the body." }</p>
            <p>
                <button type="button" class="secondary" id="move-key" onclick={move_key}>{ "Move to my account's key" }</button>
            </p>
            { match &*moved {
                Some(Ok(m)) => html! { <p id="move-key-result" role="status">{ m }</p> },
                Some(Err(e)) => html! { <p id="move-key-result" class="error" role="alert">{ e }</p> },
                None => html! {},
            } }
            </>
        },
    };
    html! {
        <section id="inspector" class="card" aria-labelledby="inspector-title">
            <div class="section-head">
                <h2 id="inspector-title">{ format!("What the server and S3 see: {title}") }</h2>
                <button type="button" class="secondary" onclick={close}>{ "Close" }</button>
            </div>
            { body }
        </section>
    }
}

fn render(
    v: &StoredView,
    record: Option<&UploadRecord>,
    plain: Option<&Result<Vec<u8>, String>>,
    decrypt_head: Callback<MouseEvent>,
) -> Html {
    let d = &v.details;
    let kms_request = serde_json::json!({
        "KeyId": d.key_arn,
        "KeySpec": "AES_256",
        "EncryptionContext": d.encryption_context,
    });
    let server_record = {
        let mut j = serde_json::to_value(d).unwrap_or_default();
        if let Some(o) = j.as_object_mut() {
            o.insert(
                "download_url".into(),
                "(a presigned S3 GET URL, valid a few minutes)".into(),
            );
        }
        serde_json::to_string_pretty(&j).unwrap_or_default()
    };
    let stored = v.stored_head.get(..64).unwrap_or(&v.stored_head);
    let plain_view = match plain {
        Some(Ok(p)) => html! { <pre class="hex" id="plaintext-head">{ hexdump(p) }</pre> },
        Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
        None => html! {
            <p>
                <button type="button" id="decrypt-head" onclick={decrypt_head}>{ "Decrypt the first bytes here" }</button>
                <span class="muted">{ " (releases the data key to this tab; the release is logged)" }</span>
            </p>
        },
    };
    let leaked = match plain {
        Some(Ok(p)) if p.len() >= 8 => {
            let probe = p.get(..16).unwrap_or(p);
            Some(v.stored_head.windows(probe.len()).any(|w| w == probe))
        }
        _ => None,
    };
    html! {
        <>
        <h3>{ "1. The request to KMS" }</h3>
        <p>{ "When you started the upload the server called " }<code>{ "GenerateDataKey" }</code>
           { " with this request. KMS returned the data key in plaintext (to your browser, through the server, never stored) and encrypted (the EDK below, stored in the file's header)." }</p>
        <pre class="code" id="kms-request">{ serde_json::to_string_pretty(&kms_request).unwrap_or_default() }</pre>
        if let Some(request) = &d.object.request_id {
            <p id="arrived-by-request">{ "This file arrived by your file request " }<code>{ request }</code>
               { ": a sender with no account encrypted it in their browser with a data key KMS issued for you. The request's id is in the encryption context above (" }<code>{ "cipherdrop:request" }</code>
               { "), so KMS releases the key only to a caller that names it. Its name was sealed under the file's own key and moved under your account's key when your page first listed it." }</p>
        }
        if let Some(r) = record {
            <p class="muted">{ format!("Uploaded from this tab in {} as {} part(s) of {}.", format::duration(r.seconds), r.part_count, format::size(r.part_size)) }</p>
        }
        <h3>{ "2. The ESDK header, field by field" }</h3>
        { match &v.header {
            Some(h) => header_table(h, &v.stored_head, v.header_len),
            None => html! { <p class="error">{ format!("The stored bytes do not start with a valid header: {}", v.header_error.clone().unwrap_or_default()) }</p> },
        } }
        <h3>{ "3. Plaintext beside what S3 stores" }</h3>
        <div class="side-by-side">
            <div><h4>{ "First bytes of the plaintext (only in this tab)" }</h4>{ plain_view }</div>
            <div><h4>{ "First bytes of the stored S3 object" }</h4><pre class="hex" id="stored-head">{ hexdump(stored) }</pre></div>
        </div>
        if let Some(found) = leaked {
            <p id="leak-check" class={if found { "error" } else { "ok" }}>
                { if found { "The plaintext's first bytes DO appear in the stored object's first bytes." }
                  else { "The plaintext's first bytes appear nowhere in the stored object's first bytes: S3 holds ciphertext only." } }
            </p>
        }
        <h3>{ "4. What the server stored about this file" }</h3>
        <p>{ "The name and type are in " }<code>{ "metadata" }</code>{ ", encrypted in your browser under your account's metadata key: a KMS data key of its own, released to this tab once per session, so listing your files costs one KMS call however many there are. The server stores only that key's encrypted form; it knows the owner, the sizes and the dates." }</p>
        <pre class="code" id="server-record">{ server_record }</pre>
        </>
    }
}

fn header_table(h: &Header, bytes: &[u8], header_len: usize) -> Html {
    let tag = bytes
        .get(header_len.saturating_sub(TAG_LEN)..header_len)
        .map(hex)
        .unwrap_or_default();
    let row = |field: &str, value: Html| html! { <tr><th scope="row">{ field.to_owned() }</th><td>{ value }</td></tr> };
    let text = |s: String| html! { <code>{ s }</code> };
    html! {
        <table class="fields" id="header-fields">
            <tbody>
            { row("Version", text("0x02 (message format v2)".into())) }
            { row("Algorithm suite", text(format!("{} ({})", h.suite, if h.suite.is_signed() { "AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 signature" } else { "AES-256-GCM, HKDF-SHA512, key commitment" }))) }
            { row("Message id", text(hex(&h.message_id))) }
            { row("Encryption context", html! { <>{ for h.encryption_context.iter().map(|(k, v)| html! { <div><code>{ format!("{k} = {v}") }</code></div> }) }</> }) }
            { row("Encrypted data keys", html! { <>{ for h.encrypted_data_keys.iter().map(|e| html! {
                <div>
                    <code>{ format!("provider {} · key {}", e.provider_id, String::from_utf8_lossy(&e.provider_info)) }</code><br />
                    <code class="wrap">{ format!("ciphertext ({} bytes): {}", e.ciphertext.len(), hex(&e.ciphertext)) }</code>
                </div> }) }</> }) }
            { row("Content type", text(match h.content_type { ContentType::Framed => "framed (0x02)".into(), ContentType::NonFramed => "non-framed (0x01)".into() })) }
            { row("Frame length", text(format!("{} bytes", h.frame_length))) }
            { row("Key commitment", text(hex(&h.commitment))) }
            { row("Header tag", text(tag)) }
            { row("Header length", text(format!("{header_len} bytes"))) }
            </tbody>
        </table>
    }
}
