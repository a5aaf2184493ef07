//! The Cipherdrop web app: the shell and an in-browser demonstration of ESDK v2 encryption.
//!
//! Everything here runs in the tab: the demo makes a wrapping key with the browser's CSPRNG,
//! encrypts with `cipherdrop-core` compiled to wasm, and shows the message the way a server or S3
//! would see it. Nothing is sent anywhere.

use cipherdrop_core::{
    DecryptLimits, EncryptionContext, EncryptionMaterials, Header, RawAesKeyring, Suite, decrypt,
    encrypt,
};
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// What the demonstration produced for one plaintext.
#[derive(Clone, PartialEq, Debug)]
pub struct DemoResult {
    /// Bytes of plaintext.
    pub plaintext_len: usize,
    /// Bytes of the ESDK message.
    pub message_len: usize,
    /// Suite, e.g. `0x0478`.
    pub suite: String,
    /// Message id, hex.
    pub message_id: String,
    /// Encryption context pairs as written in the header.
    pub context: Vec<(String, String)>,
    /// EDK provider ids.
    pub edk_providers: Vec<String>,
    /// Frame length from the header.
    pub frame_length: u32,
    /// The first bytes of the message, hex.
    pub head_hex: String,
    /// Whether decrypting the message gave back the plaintext.
    pub round_trip_ok: bool,
}

/// Encrypts `text` with a fresh in-browser key and decrypts it again.
pub fn demo(text: &str, suite: Suite) -> Result<DemoResult, cipherdrop_core::Error> {
    let mut rng = rand::rng();
    let mut key = [0u8; 32];
    rand::Rng::fill_bytes(&mut rng, &mut key);
    let keyring = RawAesKeyring::new("cipherdrop-demo", "in-browser-key", &key)?;
    let ctx: EncryptionContext = [("purpose", "demo")].into_iter().collect();
    let materials = EncryptionMaterials::with_raw_aes(suite, &ctx, &[&keyring], &mut rng)?;
    let message = encrypt(materials, 4096, text.as_bytes(), &mut rng)?;
    let (plaintext, header): (Vec<u8>, Header) =
        decrypt(&keyring, &message, DecryptLimits::default())?;
    Ok(DemoResult {
        plaintext_len: text.len(),
        message_len: message.len(),
        suite: header.suite.to_string(),
        message_id: hex(&header.message_id),
        context: header
            .encryption_context
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        edk_providers: header
            .encrypted_data_keys
            .iter()
            .map(|e| e.provider_id.clone())
            .collect(),
        frame_length: header.frame_length,
        head_hex: hex(message.get(..48).unwrap_or(&message)),
        round_trip_ok: plaintext == text.as_bytes(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The application root.
#[function_component(App)]
pub fn app() -> Html {
    let text = use_state(|| String::from("Account number 1234-5678, PIN 0000"));
    let signed = use_state(|| false);
    let result = use_state(|| None::<Result<DemoResult, String>>);

    let on_input = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            text.set(area.value());
        })
    };
    let on_toggle = {
        let signed = signed.clone();
        Callback::from(move |_| signed.set(!*signed))
    };
    let on_encrypt = {
        let (text, signed, result) = (text.clone(), signed.clone(), result.clone());
        Callback::from(move |_| {
            let suite = if *signed {
                Suite::CommitKeyEcdsaP384
            } else {
                Suite::CommitKey
            };
            result.set(Some(demo(&text, suite).map_err(|e| e.to_string())));
        })
    };

    html! {
        <main class="page">
            <header>
                <h1>{ "Cipherdrop" }</h1>
                <p class="tagline">{ "Files encrypted in your browser, before they leave it." }</p>
            </header>
            <section aria-labelledby="how">
                <h2 id="how">{ "How it works" }</h2>
                <ol>
                    <li>{ "The server asks AWS KMS for a fresh data key, bound to an encryption context." }</li>
                    <li>{ "Your browser encrypts the file with that key in the AWS Encryption SDK message format and uploads only ciphertext, straight to S3." }</li>
                    <li>{ "To read it, an authorised browser gets the data key back from KMS through the server and decrypts locally. The official AWS SDKs can decrypt it too: no lock-in." }</li>
                </ol>
            </section>
            <section aria-labelledby="try">
                <h2 id="try">{ "Try the format, here in this tab" }</h2>
                <label for="plaintext">{ "Text to encrypt (never leaves this page)" }</label>
                <textarea id="plaintext" rows="3" value={(*text).clone()} oninput={on_input} />
                <label class="check">
                    <input type="checkbox" checked={*signed} onchange={on_toggle} />
                    { " Sign the message (suite 0x0578, ECDSA P-384)" }
                </label>
                <button id="encrypt" onclick={on_encrypt}>{ "Encrypt" }</button>
                <div aria-live="polite">{ render_result(result.as_ref()) }</div>
            </section>
        </main>
    }
}

fn render_result(result: Option<&Result<DemoResult, String>>) -> Html {
    match result {
        None => html! {},
        Some(Err(e)) => {
            html! { <p class="error" role="alert">{ format!("Encryption failed: {e}") }</p> }
        }
        Some(Ok(r)) => html! {
            <dl class="result">
                <dt>{ "Plaintext" }</dt><dd>{ format!("{} bytes", r.plaintext_len) }</dd>
                <dt>{ "Stored message" }</dt><dd>{ format!("{} bytes", r.message_len) }</dd>
                <dt>{ "Algorithm suite" }</dt><dd>{ &r.suite }</dd>
                <dt>{ "Message id" }</dt><dd><code>{ &r.message_id }</code></dd>
                <dt>{ "Encryption context" }</dt>
                <dd>{ for r.context.iter().map(|(k, v)| html! { <div><code>{ format!("{k} = {v}") }</code></div> }) }</dd>
                <dt>{ "Encrypted data keys" }</dt><dd>{ r.edk_providers.join(", ") }</dd>
                <dt>{ "Frame length" }</dt><dd>{ r.frame_length }</dd>
                <dt>{ "First bytes, as S3 would store them" }</dt><dd><code class="hex">{ &r.head_hex }</code></dd>
                <dt>{ "Decrypts back" }</dt>
                <dd id="round-trip">{ if r.round_trip_ok { "yes, identical" } else { "NO: mismatch" } }</dd>
            </dl>
        },
    }
}
