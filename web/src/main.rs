//! Browser entry point: mounts the Cipherdrop app into the page.

fn main() {
    yew::Renderer::<cipherdrop_web::App>::new().render();
}
