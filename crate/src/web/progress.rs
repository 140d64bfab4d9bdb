//! Progress and cancellation through a JS callback.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::Function;
use wasm_bindgen::prelude::*;

use crate::progress::Progress;

/// Reports progress to a JS callback `(stage, done, total)` and reads the session's cancel flag.
pub(super) struct JsProgress {
    pub(super) callback: Function,
    pub(super) cancel: Rc<Cell<bool>>,
    pub(super) stage: RefCell<String>,
    pub(super) done: Cell<u64>,
    pub(super) total: Cell<u64>,
}

impl JsProgress {
    pub(super) fn new(callback: Function, cancel: Rc<Cell<bool>>) -> JsProgress {
        JsProgress {
            callback,
            cancel,
            stage: RefCell::new(String::new()),
            done: Cell::new(0),
            total: Cell::new(0),
        }
    }

    fn report(&self) {
        let stage = JsValue::from_str(&self.stage.borrow());
        // A throwing progress callback must not abort the computation; the page shows progress only.
        let _ = self.callback.call3(
            &JsValue::NULL,
            &stage,
            &JsValue::from_f64(self.done.get() as f64),
            &JsValue::from_f64(self.total.get() as f64),
        );
    }
}

impl Progress for JsProgress {
    fn stage(&self, name: &str, total: u64) {
        *self.stage.borrow_mut() = name.to_string();
        self.done.set(0);
        self.total.set(total);
        self.report();
    }

    fn advance(&self, n: u64) {
        self.done.set(self.done.get() + n);
        self.report();
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.get()
    }
}
