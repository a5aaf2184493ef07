//! What the drop zones (the owner's uploads, a file request's page) share: the "dragging over"
//! highlight, the buttons that open a hidden file input, and what a pick does.

use std::rc::Rc;

use web_sys::{DragEvent, FileList, HtmlInputElement};
use yew::prelude::*;

/// A drop zone's hover state and its `dragover` / `dragleave` handlers (the drop itself is the
/// zone's own).
pub struct Hover {
    /// Whether files are being dragged over the zone.
    pub dragging: UseStateHandle<bool>,
    /// `dragover`: allows the drop and shows the highlight.
    pub over: Callback<DragEvent>,
    /// `dragleave`: hides it.
    pub leave: Callback<DragEvent>,
}

/// A drop zone's hover state.
#[hook]
pub fn use_hover() -> Hover {
    let dragging = use_state(|| false);
    let over = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if !*dragging {
                dragging.set(true);
            }
        })
    };
    let leave = {
        let dragging = dragging.clone();
        Callback::from(move |_: DragEvent| dragging.set(false))
    };
    Hover {
        dragging,
        over,
        leave,
    }
}

/// A button's click that opens the (hidden) file input `input`.
pub fn opens(input: &NodeRef) -> Callback<MouseEvent> {
    let input = input.clone();
    Callback::from(move |_: MouseEvent| {
        if let Some(i) = input.cast::<HtmlInputElement>() {
            i.click();
        }
    })
}

/// A file input's `change`: its files, read by `read`, go to `start`; the input is emptied so
/// that picking the same file again fires again.
pub fn on_pick<T: 'static, F: Fn(Vec<T>) + 'static>(
    read: fn(Option<FileList>) -> Vec<T>,
    start: Rc<F>,
) -> Callback<Event> {
    Callback::from(move |e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        start(read(input.files()));
        input.set_value("");
    })
}
