//! The onnxruntime engine (native): Microsoft's ONNX Runtime through the `ort` crate, loaded at run time.
//!
//! Why a second CPU engine: measured side by side (`glassbox bench`, README "Speed"), onnxruntime's
//! forward pass per image is 2× (batch 1) to 5× (batch 8) faster than tract's on ResNet-50 and 5× to 11× on
//! MobileNet v2, and every method here is forward passes. tract stays the engine of the browser and the fallback wherever no onnxruntime library is
//! found; the methods' outputs agree within the parity tests' tolerances on both.
//!
//! Nothing is downloaded or linked at build time (`ort`'s `load-dynamic`): [`find_library`] looks for
//! `libonnxruntime` at run time, in this order:
//! 1. `$ORT_DYLIB_PATH` (ort's own variable), which must then name an existing file;
//! 2. the pip wheel inside a glassbox export venv (`scripts/reproduce.sh` makes it; the wheel ships the library);
//! 3. the system's loader path (`libonnxruntime.so` in `LD_LIBRARY_PATH`, `/usr/lib`, …).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::{anyhow, bail, ensure, Context, Result};
use async_trait::async_trait;
use ndarray::ArrayD;
use ort::session::Session;
use ort::value::TensorRef;

use super::{check_input, graph, unpad_outputs, Engine, EngineKind, Tensor};

/// Threads of each onnxruntime session (intra-op), set with [`set_threads`]; 1 until then.
static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads each onnxruntime session created from now on uses (its intra-op pool). Unlike
/// tract's, onnxruntime's outputs are not promised bit-identical across thread counts.
pub fn set_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The library that was loaded, with its version: loaded once per process (onnxruntime allows one).
struct Runtime {
    environment: ort::environment::Environment,
    library: PathBuf,
    version: String,
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// Where to load the onnxruntime shared library from: see the module documentation for the search order.
/// The last candidate is a bare file name, which the system loader resolves (or fails to: [`available`]
/// then says what to install).
pub fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        ensure!(
            path.is_file(),
            "ORT_DYLIB_PATH names {}, which is not a file: point it at libonnxruntime.so (e.g. the one in a pip \
             install of onnxruntime, site-packages/onnxruntime/capi/), or unset it; `--engine cpu` uses tract (built in)",
            path.display()
        );
        return Ok(path);
    }
    Ok(export_venv_library().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}onnxruntime{}",
            std::env::consts::DLL_PREFIX,
            std::env::consts::DLL_SUFFIX
        ))
    }))
}

/// The `libonnxruntime.so.*` of a glassbox export venv (`$XDG_CACHE_HOME/glassbox/venv-*`; the last by
/// path when there are several).
fn export_venv_library() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache.join("glassbox"))
        .ok()?
        .flatten()
        .filter(|venv| venv.file_name().to_string_lossy().starts_with("venv-"))
        .filter_map(|venv| std::fs::read_dir(venv.path().join("lib")).ok())
        .flat_map(|pythons| pythons.flatten())
        .filter_map(|python| {
            std::fs::read_dir(python.path().join("site-packages/onnxruntime/capi")).ok()
        })
        .flat_map(|capi| capi.flatten())
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so."))
        })
        .collect();
    found.sort();
    found.pop()
}

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            let library = find_library().map_err(|e| format!("{e:#}"))?;
            let environment = ort::init_from(&library)
                .map_err(|e| {
                    format!(
                        "cannot load onnxruntime from {} ({e}): install it with `pip install onnxruntime` and set \
                         ORT_DYLIB_PATH=<site-packages>/onnxruntime/capi/libonnxruntime.so.<version>, or use \
                         `--engine cpu` (tract, built in)",
                        library.display()
                    )
                })?
                .with_name("glassbox")
                .build()
                .map_err(|e| format!("onnxruntime from {}: {e}", library.display()))?;
            let version = library_version(&library);
            Ok(Runtime {
                environment,
                library,
                version,
            })
        })
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// The library's version: from its file name (`libonnxruntime.so.1.32.0`, as pip and release archives
/// name it), else its minor version as onnxruntime reports it (`1.32`).
fn library_version(library: &Path) -> String {
    let from_name = library
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split_once(".so.").map(|(_, v)| v.to_string()))
        .filter(|v| !v.is_empty());
    from_name
        .or_else(|| ort::util::probe(library).map(|minor| format!("1.{minor}")))
        .unwrap_or_else(|| "(unknown version)".to_string())
}

/// Whether an onnxruntime library can be loaded here, and if so which (for `--engine auto` and `bench`).
pub fn available() -> Result<String> {
    let runtime = runtime()?;
    Ok(format!(
        "onnxruntime {} ({})",
        runtime.version,
        runtime.library.display()
    ))
}

/// An onnxruntime session over one graph.
pub struct OnnxruntimeEngine {
    /// `Session::run` takes `&mut self`; the engine trait runs through `&self` (one call at a time).
    session: Mutex<Session>,
    input_shape: Vec<usize>,
    /// A dynamic batch axis runs any batch up to `input_shape[0]` as it is; a static one is padded.
    dynamic_batch: bool,
    input_is_f32: bool,
    output_names: Vec<String>,
    version: String,
}

impl OnnxruntimeEngine {
    /// Loads an ONNX graph from bytes. `batch` sets the largest batch of a dynamic batch axis (default
    /// [`super::DEFAULT_DYNAMIC_BATCH`]); static graphs keep theirs.
    pub fn from_bytes(onnx: &[u8], batch: Option<usize>) -> Result<OnnxruntimeEngine> {
        let proto = graph::decode(onnx)?;
        let g = graph::graph(&proto);
        let input = graph::single_input(g)?;
        let input_shape = graph::concrete_input_shape(&input, batch)?;
        let dynamic_batch = input.dims.as_ref().is_some_and(|d| d[0].is_none());
        let input_is_f32 = match input.elem_type {
            graph::FLOAT => true,
            graph::INT64 => false,
            other => bail!(
                "the graph input `{}` has ONNX element type {other}; glassbox feeds float32 images or int64 tokens",
                input.name
            ),
        };
        let output_names: Vec<String> = graph::outputs(g).into_iter().map(|o| o.name).collect();
        let runtime = runtime()?;
        let threads = THREADS.load(Ordering::Relaxed);
        let session = Session::builder(&runtime.environment)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_memory(onnx))
            .map_err(|e| anyhow!("{e}"))
            .context("onnxruntime could not load this ONNX graph")?;
        let session_outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        ensure!(
            session_outputs == output_names,
            "onnxruntime sees the outputs {session_outputs:?} where the graph lists {output_names:?}"
        );
        Ok(OnnxruntimeEngine {
            session: Mutex::new(session),
            input_shape,
            dynamic_batch,
            input_is_f32,
            output_names,
            version: runtime.version.clone(),
        })
    }

    fn run_sync(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        check_input(&self.input_shape, self.input_is_f32, input)?;
        let n = input.shape()[0];
        let fed = if self.dynamic_batch {
            n
        } else {
            self.input_shape[0]
        };
        let padded;
        let input = if fed == n {
            input
        } else {
            padded = input.pad_batch(fed);
            &padded
        };
        let mut session = self
            .session
            .lock()
            .map_err(|_| anyhow!("an earlier onnxruntime call panicked"))?;
        let value = match input {
            Tensor::F32(a) => TensorRef::from_array_view(a.view()).map(|t| t.into_dyn()),
            Tensor::I64(a) => TensorRef::from_array_view(a.view()).map(|t| t.into_dyn()),
        }
        .map_err(|e| anyhow!("{e}"))?;
        let outputs = session
            .run(ort::inputs![value])
            .map_err(|e| anyhow!("{e}"))
            .context("onnxruntime forward pass failed")?;
        let arrays = self
            .output_names
            .iter()
            .map(|name| {
                Ok(outputs[name.as_str()]
                    .try_extract_array::<f32>()
                    .map_err(|e| anyhow!("{e}"))
                    .with_context(|| format!("output `{name}` (glassbox reads float32 outputs)"))?
                    .to_owned())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(unpad_outputs(arrays, fed, n))
    }
}

#[async_trait(?Send)]
impl Engine for OnnxruntimeEngine {
    fn name(&self) -> String {
        format!("onnxruntime {} (CPU)", self.version)
    }
    fn kind(&self) -> EngineKind {
        EngineKind::Onnxruntime
    }
    fn output_names(&self) -> &[String] {
        &self.output_names
    }
    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }
    async fn run(&self, input: &Tensor) -> Result<Vec<ArrayD<f32>>> {
        self.run_sync(input)
    }
}

#[cfg(test)]
mod tests {
    use super::library_version;
    use std::path::Path;

    #[test]
    fn the_version_comes_from_the_library_file_name() {
        let pip = Path::new("/venv/site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0");
        assert_eq!(library_version(pip), "1.32.0");
        // No version in the name and no library to ask: said so, not guessed.
        let bare = Path::new("/nonexistent/libonnxruntime.so");
        assert_eq!(library_version(bare), "(unknown version)");
    }
}
