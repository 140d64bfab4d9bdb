//! The pool: helper workers and the engine that hands them batches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use anyhow::{anyhow, Result};
use async_trait::async_trait;
use js_sys::{Array, Function, Promise};
use ndarray::ArrayD;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::engine::{Engine, EngineKind, Tensor};

use super::js::BatchOutput;

/// The helper workers of a pool ([`Session::set_helpers`]) and how many of them are busy.
#[derive(Default)]
pub(super) struct Helpers {
    pub(super) run: RefCell<Option<Function>>,
    pub(super) count: Cell<usize>,
    pub(super) busy: Cell<usize>,
}

impl Helpers {
    /// `run` of an idle helper, marking it busy (the JS side picks which one).
    fn take_idle(&self) -> Option<Function> {
        let run = self.run.borrow().clone()?;
        (self.busy.get() < self.count.get()).then(|| {
            self.busy.set(self.busy.get() + 1);
            run
        })
    }

    /// One engine run on a helper worker: the input goes as a `Float32Array`, the outputs come back the same way.
    async fn run(&self, run: &Function, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        let result = async {
            let Tensor::F32(input) = input else {
                return Err(anyhow!("helper workers run image batches (f32) only"));
            };
            let sent = BatchOutput::of(input.clone());
            let shape = Array::new();
            for &d in &sent.shape {
                shape.push(&JsValue::from_f64(d as f64));
            }
            let promise: Promise = run
                .call2(&JsValue::NULL, &sent.data, &shape)
                .map_err(|e| anyhow!("could not hand a batch to a helper worker: {e:?}"))?
                .into();
            let reply = JsFuture::from(promise)
                .await
                .map_err(|e| anyhow!("a helper worker failed: {}", js_message(&e)))?;
            let outputs: Vec<BatchOutput> = serde_wasm_bindgen::from_value(reply).map_err(|e| {
                anyhow!("a helper worker answered something else than outputs: {e}")
            })?;
            outputs.into_iter().map(BatchOutput::into_array).collect()
        }
        .await;
        self.busy.set(self.busy.get() - 1);
        result
    }
}

/// The text of a JS error value (an `Error`'s message, else the value as written).
fn js_message(value: &JsValue) -> String {
    value
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| value.as_string())
        .unwrap_or_else(|| format!("{value:?}"))
}

/// The session's engine as the worker runs it. Every batch ends with a trip through the event loop, so the
/// worker can receive a `cancel` message even while the synchronous CPU engine is busy; it counts the
/// batches run; and with helper workers ([`Session::set_helpers`]) it hands a batch to an idle one and runs
/// it itself only when all are busy.
pub(super) struct WorkerEngine {
    pub(super) inner: Box<dyn Engine>,
    pub(super) runs: Rc<Cell<u64>>,
    pub(super) helpers: Rc<Helpers>,
}

#[async_trait(?Send)]
impl Engine for WorkerEngine {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn kind(&self) -> EngineKind {
        self.inner.kind()
    }
    fn output_names(&self) -> &[String] {
        self.inner.output_names()
    }
    fn input_shape(&self) -> &[usize] {
        self.inner.input_shape()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn concurrency(&self) -> usize {
        1 + self.helpers.count.get()
    }
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        self.runs.set(self.runs.get() + 1);
        if let Some(run) = self.helpers.take_idle() {
            return self.helpers.run(&run, input).await;
        }
        let out = self.inner.run(input).await;
        gloo_timers::future::TimeoutFuture::new(0).await;
        out
    }
}
