//! Shared helpers for the core integration tests: data location, model loading, a ResNet-topology graph
//! builder with seeded random weights, and Vulkan detection.

use std::path::PathBuf;

use glassbox::engine::graph;
use glassbox::rng::SplitMix64;
use ndarray::{ArrayD, IxDyn};
use tract_onnx::pb;

/// `shared/data` (see `glassbox::files::shared_data_dir`); fails loudly when it is missing.
pub fn data_dir() -> PathBuf {
    let dir = glassbox::files::shared_data_dir();
    assert!(
        dir.join("models/mobilenet_onnx").is_dir(),
        "shared data not found at {}: put the repository next to shared/ or set GLASSBOX_SHARED",
        dir.display()
    );
    dir
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A manifest in `models/`.
pub fn manifest(name: &str) -> PathBuf {
    repo_dir().join("models").join(format!("{name}.json"))
}

/// The 10 labelled ImageNet samples, in file-name order (= SOURCES.md order).
pub fn sample_images() -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data_dir().join("imagenet-samples"))
        .expect("imagenet-samples")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "JPEG"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 10);
    v
}

/// Bytes of one of the shared MobileNet ONNX files, e.g. `mobilenet_v1_0.25_128_b1`.
pub fn mobilenet_onnx(stem: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(format!("models/mobilenet_onnx/{stem}.onnx")))
        .expect("mobilenet onnx")
}

/// Whether wgpu finds an adapter; prints why a test is skipped when not. Under `CI=true` a missing
/// adapter fails the test instead: CI installs lavapipe, so no adapter there means a broken install.
#[cfg(feature = "webgpu")]
pub fn webgpu_available(test: &str) -> bool {
    match futures::executor::block_on(glassbox::engine::webgpu::find_adapter()) {
        Ok(adapter) => {
            eprintln!("{test}: WebGPU adapter {adapter}");
            true
        }
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: CI=true but no WebGPU adapter ({e:#}); .ci/run installs mesa-vulkan-drivers")
        }
        Err(e) => {
            eprintln!("SKIPPED {test}: {e:#}");
            false
        }
    }
}

/// Whether the onnxruntime library loads here; prints why a test is skipped when not. Under `CI=true` it
/// must: CI's export venv carries the onnxruntime wheel, whose library the engine finds.
#[cfg(feature = "onnxruntime")]
pub fn onnxruntime_available(test: &str) -> bool {
    match glassbox::engine::onnxruntime::available() {
        Ok(found) => {
            eprintln!("{test}: {found}");
            true
        }
        Err(e) => {
            skip_unless_ci(test, &format!("onnxruntime is not available ({e:#})"));
            false
        }
    }
}

/// For a test input that only some machines have: prints why the test is skipped, except under `CI=true`,
/// where CI provides the input and its absence fails the test.
pub fn skip_unless_ci(test: &str, what: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but {what}");
    }
    eprintln!("SKIPPED {test}: {what}");
}

/// Deterministic pseudo-random test data, from the crate's one seeded generator ([`SplitMix64`]).
pub struct Rng(SplitMix64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }
    /// Uniform in [-1, 1].
    pub fn uniform(&mut self) -> f32 {
        (self.0.next_f64() * 2.0 - 1.0) as f32
    }
    pub fn array(&mut self, shape: &[usize], scale: f32) -> ArrayD<f32> {
        ArrayD::from_shape_simple_fn(IxDyn(shape), || self.uniform() * scale)
    }
}

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: v.to_vec(),
        ..Default::default()
    }
}
fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 2,
        i: v,
        ..Default::default()
    }
}
fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 1,
        f: v,
        ..Default::default()
    }
}

/// Builds a small ResNet-topology graph the way torchvision exports ResNets: bias-less convolutions
/// followed by BatchNormalization, max pool, basic blocks with identity and 1×1-stride-2 projection
/// shortcuts, global average pool, Flatten, and `Gemm(transB=1)`. No `value_info` (as many exporters
/// write it), a dynamic batch axis `N`, and outputs `features` and `logits`.
pub struct ResNetBuilder {
    rng: Rng,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    count: usize,
}

impl ResNetBuilder {
    pub fn new(seed: u64) -> Self {
        ResNetBuilder {
            rng: Rng::new(seed),
            nodes: vec![],
            inits: vec![],
            count: 0,
        }
    }

    fn fresh(&mut self, what: &str) -> String {
        self.count += 1;
        format!("{what}_{}", self.count)
    }

    fn init(&mut self, what: &str, a: ArrayD<f32>) -> String {
        let name = self.fresh(what);
        self.inits.push(graph::make_tensor_f32(&name, &a));
        name
    }

    fn node(
        &mut self,
        op: &str,
        inputs: Vec<String>,
        attrs: Vec<pb::AttributeProto>,
        out: Option<&str>,
    ) -> String {
        let output = out.map_or_else(|| self.fresh(&op.to_lowercase()), str::to_string);
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(pb::NodeProto {
            input: inputs,
            output: vec![output.clone()],
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        output
    }

    /// Conv (no bias) + BatchNormalization (+ Relu).
    fn conv_bn(
        &mut self,
        x: String,
        cin: usize,
        cout: usize,
        k: usize,
        stride: i64,
        relu: bool,
    ) -> String {
        let std = (2.0 / (cin * k * k) as f32).sqrt() * 1.7;
        let w = self.rng.array(&[cout, cin, k, k], std);
        let w = self.init("conv_w", w);
        let p = (k / 2) as i64;
        let conv = self.node(
            "Conv",
            vec![x, w],
            vec![
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("strides", &[stride, stride]),
                attr_ints("pads", &[p, p, p, p]),
            ],
            None,
        );
        let scale = self.rng.array(&[cout], 0.3).mapv(|v| v + 1.0);
        let bias = self.rng.array(&[cout], 0.2);
        let mean = self.rng.array(&[cout], 0.1);
        let var = self.rng.array(&[cout], 0.3).mapv(|v| v + 1.0);
        let ins = vec![
            conv,
            self.init("bn_scale", scale),
            self.init("bn_b", bias),
            self.init("bn_mean", mean),
            self.init("bn_var", var),
        ];
        let bn = self.node(
            "BatchNormalization",
            ins,
            vec![attr_float("epsilon", 1e-5)],
            None,
        );
        if relu {
            self.node("Relu", vec![bn], vec![], None)
        } else {
            bn
        }
    }

    fn basic_block(
        &mut self,
        x: String,
        cin: usize,
        cout: usize,
        stride: i64,
        out: Option<&str>,
    ) -> String {
        let a = self.conv_bn(x.clone(), cin, cout, 3, stride, true);
        let b = self.conv_bn(a, cout, cout, 3, 1, false);
        let shortcut = if stride != 1 || cin != cout {
            self.conv_bn(x, cin, cout, 1, stride, false)
        } else {
            x
        };
        let sum = self.node("Add", vec![b, shortcut], vec![], None);
        self.node("Relu", vec![sum], vec![], out)
    }

    /// The whole graph: input `[N, 3, size, size]`, features `[N, 32, size/8, size/8]`, logits `[N, classes]`.
    pub fn build(mut self, size: usize, classes: usize) -> Vec<u8> {
        let stem = self.conv_bn("input".into(), 3, 16, 3, 2, true);
        let pool = self.node(
            "MaxPool",
            vec![stem],
            vec![
                attr_ints("kernel_shape", &[3, 3]),
                attr_ints("strides", &[2, 2]),
                attr_ints("pads", &[1, 1, 1, 1]),
            ],
            None,
        );
        let b1 = self.basic_block(pool, 16, 16, 1, None);
        let features = self.basic_block(b1, 16, 32, 2, Some("features"));
        let gap = self.node("GlobalAveragePool", vec![features], vec![], None);
        let flat = self.node("Flatten", vec![gap], vec![attr_int("axis", 1)], None);
        let w = self.rng.array(&[classes, 32], 0.4);
        let b = self.rng.array(&[classes], 0.5);
        let (w, b) = (self.init("fc_w", w), self.init("fc_b", b));
        self.node(
            "Gemm",
            vec![flat, w, b],
            vec![attr_int("transB", 1)],
            Some("logits"),
        );

        let dyn_dim = |p: &str| pb::tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(pb::tensor_shape_proto::dimension::Value::DimParam(p.into())),
        };
        let with_dyn_batch = |mut v: pb::ValueInfoProto| {
            if let Some(pb::type_proto::Value::TensorType(t)) =
                v.r#type.as_mut().and_then(|t| t.value.as_mut())
            {
                t.shape.as_mut().unwrap().dim[0] = dyn_dim("N");
            }
            v
        };
        let g = pb::GraphProto {
            node: self.nodes,
            name: "resnet_topology_random".into(),
            initializer: self.inits,
            input: vec![with_dyn_batch(graph::value_info(
                "input",
                graph::FLOAT,
                &[1, 3, size, size],
            ))],
            output: vec![
                with_dyn_batch(graph::value_info(
                    "features",
                    graph::FLOAT,
                    &[1, 32, size / 8, size / 8],
                )),
                with_dyn_batch(graph::value_info("logits", graph::FLOAT, &[1, classes])),
            ],
            ..Default::default()
        };
        let model = pb::ModelProto {
            ir_version: 7,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "glassbox tests (random weights)".into(),
            graph: Some(g),
            ..Default::default()
        };
        graph::encode(&model)
    }
}

/// Decodes, edits and re-encodes an ONNX model.
pub fn edit_onnx(bytes: &[u8], edit: impl FnOnce(&mut pb::GraphProto)) -> Vec<u8> {
    let mut model = graph::decode(bytes).expect("valid onnx");
    edit(model.graph.as_mut().unwrap());
    graph::encode(&model)
}

/// Max |a - b| and max |b| over two arrays of the same shape.
pub fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> (f32, f32) {
    assert_eq!(a.shape(), b.shape());
    let diff = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    (diff, scale)
}
