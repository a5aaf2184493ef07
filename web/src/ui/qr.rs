//! A QR code of a link, made in the page (the `qrcode` crate's encoder, drawn here as one SVG
//! path of dark modules with the standard 4-module quiet zone), so a phone can take the link
//! without it passing through any other service.

use qrcode::{Color, EcLevel, QrCode};
use yew::prelude::*;

/// Props of [`Qr`].
#[derive(Properties, PartialEq)]
pub struct QrProps {
    /// What the code encodes.
    pub text: AttrValue,
    /// The element id.
    pub id: AttrValue,
    /// What it is, for screen readers.
    pub label: AttrValue,
}

/// The SVG path of `code`'s dark modules, offset by the quiet zone.
fn path(code: &QrCode) -> String {
    let width = code.width();
    let mut d = String::new();
    for (i, color) in code.to_colors().into_iter().enumerate() {
        if color == Color::Dark {
            let (x, y) = (i % width + 4, i / width + 4);
            d.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    d
}

/// A QR code, or nothing if the text is too long for one (the link is still shown as text).
#[function_component(Qr)]
pub fn qr(props: &QrProps) -> Html {
    let Ok(code) = QrCode::with_error_correction_level(props.text.as_bytes(), EcLevel::M) else {
        return html! {};
    };
    let size = code.width() + 8;
    html! {
        <svg id={props.id.clone()} class="qr" role="img" aria-label={props.label.clone()}
             viewBox={format!("0 0 {size} {size}")} data-modules={code.width().to_string()}
             xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">
            <rect width={size.to_string()} height={size.to_string()} fill="#fff" />
            <path d={path(&code)} fill="#000" />
        </svg>
    }
}
