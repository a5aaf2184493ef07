//! Browser entry point: mounts the Cipherdrop app into the page's `#app` (the frame around it,
//! and the explanation for visitors, are plain HTML in `index.html`).

fn main() {
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"));
    match root {
        Some(root) => yew::Renderer::<cipherdrop_web::App>::with_root(root).render(),
        None => yew::Renderer::<cipherdrop_web::App>::new().render(),
    };
}
