//! The mutations: byte-level (for every target) and structure-aware (JSON values, ONNX protobuf fields),
//! each drawn from a generator seeded per input, so input `i` of a run is the same on every machine.

use glassbox::engine::graph;
use glassbox::rng::SplitMix64;
use serde_json::Value;
use tract_onnx::pb;

/// A small generator over [`SplitMix64`] (the crate's own, so a reproduction needs nothing else).
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that sit on the edges parsers get wrong: zero, one, all bits set, sign bits, and the
/// 16-bit size fields of JPEG segments and PNG chunks (0 and 65535, as the issue asks).
const INTERESTING_16: [u16; 6] = [0, 1, 2, 0x7FFF, 0x8000, 0xFFFF];
const INTERESTING_32: [u32; 6] = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0001_0000];

/// One byte-level mutation of `data` (bit flips, bytes and size fields set to edge values, truncation,
/// chunk duplication and deletion, random junk, splicing with another seed, a token of the format).
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], tokens: &[&[u8]]) {
    let len = data.len();
    let at = |rng: &mut Rng| if len == 0 { 0 } else { rng.below(len) };
    match rng.below(12) {
        0 if len > 0 => {
            let i = at(rng);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = at(rng);
            let random = rng.next() as u8;
            data[i] = *rng.pick(&[0x00, 0xFF, 0x7F, 0x80, 0x01, random]);
        }
        2 if len >= 2 => {
            let i = rng.below(len - 1);
            let v = *rng.pick(&INTERESTING_16);
            let bytes = if rng.chance(2) {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            data[i..i + 2].copy_from_slice(&bytes);
        }
        3 if len >= 4 => {
            let i = rng.below(len - 3);
            let v = *rng.pick(&INTERESTING_32);
            let bytes = if rng.chance(2) {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            data[i..i + 4].copy_from_slice(&bytes);
        }
        4 => data.truncate(at(rng)),
        5 if len > 0 => {
            // Duplicate a chunk (a repeated segment, chunk or field) somewhere else.
            let start = at(rng);
            let end = (start + 1 + rng.below(64.min(len - start))).min(len);
            let chunk = data[start..end].to_vec();
            let to = rng.below(len + 1);
            data.splice(to..to, chunk);
        }
        6 if len > 0 => {
            let start = at(rng);
            let end = (start + 1 + rng.below(64)).min(len);
            data.drain(start..end);
        }
        7 => {
            let to = rng.below(len + 1);
            let junk: Vec<u8> = (0..1 + rng.below(32)).map(|_| rng.next() as u8).collect();
            data.splice(to..to, junk);
        }
        8 if len > 0 => {
            // Random bytes over a run (a damaged block).
            let start = at(rng);
            let end = (start + 1 + rng.below(16)).min(len);
            for b in &mut data[start..end] {
                *b = rng.next() as u8;
            }
        }
        9 if !seeds.is_empty() => {
            // Splice: the head of this input, the tail of another seed.
            let other = rng.pick(seeds);
            let cut = at(rng);
            let from = if other.is_empty() {
                0
            } else {
                rng.below(other.len())
            };
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        10 if !tokens.is_empty() => {
            let token = *rng.pick(tokens);
            let to = rng.below(len + 1);
            if rng.chance(2) || to + token.len() > len {
                data.splice(to..to, token.iter().copied());
            } else {
                data[to..to + token.len()].copy_from_slice(token);
            }
        }
        _ => {
            // Swap two bytes (reordered fields).
            if len >= 2 {
                let (i, j) = (at(rng), at(rng));
                data.swap(i, j);
            }
        }
    }
}

/// JSON values that have broken parsers: zero, negatives, the edges of u16/u32/u64/i64, floats out of
/// f32's range, empty and long strings, the wrong type, deep nesting.
fn interesting_json(rng: &mut Rng) -> Value {
    let text = *rng.pick(&[
        "0",
        "-1",
        "1",
        "65535",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "-9223372036854775808",
        "1e39",
        "-1e39",
        "1e308",
        "5e-324",
        "0.5",
        "1.5",
        "\"\"",
        "\"x\"",
        "\"../../../../etc/passwd\"",
        "\"\\u0000\"",
        "true",
        "null",
        "[]",
        "{}",
        "[null]",
        "[1, 3, 65535, 65535]",
        "[null, 3, 32, 32]",
        "{\"kind\": \"central_crop\"}",
        "{\"kind\": \"torchvision\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ]);
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Every value's position in a JSON document, as JSON pointers.
fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                pointers(
                    child,
                    format!("{here}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(here);
}

/// A value-level mutation of a JSON document: a value replaced by an edge value, a key removed or
/// renamed, an unknown key added, an array element duplicated. Invalid JSON is returned unchanged
/// (the byte mutations then work on it).
pub fn mutate_json(rng: &mut Rng, data: &mut Vec<u8>) {
    let Ok(mut doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    let target = rng.pick(&all).clone();
    let (parent, key) = match target.rfind('/') {
        Some(i) => (target[..i].to_string(), target[i + 1..].to_string()),
        None => (String::new(), String::new()),
    };
    match rng.below(5) {
        0 | 1 => {
            if let Some(v) = doc.pointer_mut(&target) {
                *v = interesting_json(rng);
            }
        }
        2 => match doc.pointer_mut(&parent) {
            Some(Value::Object(map)) => {
                let key = key.replace("~1", "/").replace("~0", "~");
                if let Some(v) = map.remove(&key) {
                    if rng.chance(2) {
                        map.insert(format!("{key}_"), v);
                    }
                }
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                let i = rng.below(items.len());
                if rng.chance(2) {
                    items.remove(i);
                } else {
                    let copy = items[i].clone();
                    items.insert(i, copy);
                }
            }
            _ => {}
        },
        3 => {
            if let Some(Value::Object(map)) = doc.pointer_mut(&parent) {
                map.insert("unknown_key".into(), interesting_json(rng));
            }
        }
        _ => {
            // One value copied over another (a string where a number goes, an object into a list...).
            let source = rng.pick(&all).clone();
            if let Some(v) = doc.pointer(&source).cloned() {
                if let Some(slot) = doc.pointer_mut(&target) {
                    *slot = v;
                }
            }
        }
    }
    *data = serde_json::to_vec(&doc).expect("a Value serialises");
}

/// The operators the head reader and the signature checks know, to swap in.
const OPS: [&str; 16] = [
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "GlobalAveragePool",
    "ReduceMean",
    "AveragePool",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Identity",
    "Dropout",
    "Softmax",
    "Relu",
    "Concat",
    "",
];

fn some_dim(rng: &mut Rng) -> i64 {
    *rng.pick(&[0, 1, -1, 3, 32, 65535, i64::MAX, i64::MIN, 1 << 32, 1 << 62])
}

/// A field-level mutation of an ONNX model (what byte flips rarely reach: a node's inputs and operator,
/// attribute values, initializer shapes and data, the signature's shapes and names). Undecodable bytes
/// are returned unchanged.
pub fn mutate_onnx(rng: &mut Rng, data: &mut Vec<u8>) {
    let Ok(mut model) = graph::decode(data) else {
        return;
    };
    let Some(g) = model.graph.as_mut() else {
        return;
    };
    let names: Vec<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().chain(&n.output).cloned())
        .chain(g.initializer.iter().map(|t| t.name.clone()))
        .chain(["features".into(), "logits".into(), String::new()])
        .collect();
    let name = |rng: &mut Rng| rng.pick(&names).clone();
    match rng.below(9) {
        0 if !g.node.is_empty() => {
            let i = rng.below(g.node.len());
            let node = &mut g.node[i];
            match rng.below(4) {
                0 => node.input.truncate(rng.below(node.input.len() + 1)),
                1 => node.input.push(name(rng)),
                2 if !node.input.is_empty() => {
                    let k = rng.below(node.input.len());
                    node.input[k] = name(rng);
                }
                _ => {
                    // A node that reads its own output: a cycle.
                    if let (Some(out), false) =
                        (node.output.first().cloned(), node.input.is_empty())
                    {
                        node.input[0] = out;
                    }
                }
            }
        }
        1 if !g.node.is_empty() => {
            let i = rng.below(g.node.len());
            g.node[i].op_type = rng.pick(&OPS).to_string();
        }
        2 if !g.node.is_empty() => {
            let i = rng.below(g.node.len());
            let node = &mut g.node[i];
            let attribute = pb::AttributeProto {
                name: rng
                    .pick(&[
                        "transA",
                        "transB",
                        "alpha",
                        "beta",
                        "axes",
                        "kernel_shape",
                        "pads",
                        "group",
                    ])
                    .to_string(),
                i: some_dim(rng),
                f: *rng.pick(&[0.0, -1.0, f32::NAN, f32::INFINITY, 1e30]),
                ints: (0..rng.below(6)).map(|_| some_dim(rng)).collect(),
                r#type: rng.below(8) as i32,
                ..Default::default()
            };
            node.attribute.insert(0, attribute);
        }
        3 if !g.initializer.is_empty() => {
            let i = rng.below(g.initializer.len());
            let t = &mut g.initializer[i];
            match rng.below(4) {
                0 => {
                    let k = rng.below(t.dims.len() + 1);
                    if k < t.dims.len() {
                        t.dims[k] = some_dim(rng);
                    } else {
                        t.dims.push(some_dim(rng));
                    }
                }
                1 => t.dims.truncate(rng.below(t.dims.len() + 1)),
                2 => t.data_type = rng.below(17) as i32,
                _ => {
                    let keep = rng.below(t.raw_data.len() + 1);
                    t.raw_data.truncate(keep);
                    let keep = rng.below(t.float_data.len() + 1);
                    t.float_data.truncate(keep);
                }
            }
        }
        4 if !g.initializer.is_empty() => {
            let i = rng.below(g.initializer.len());
            g.initializer.remove(i);
        }
        5 => {
            // A signature entry: a dimension changed, dropped or made symbolic.
            let list = if rng.chance(2) {
                &mut g.input
            } else {
                &mut g.output
            };
            if list.is_empty() {
                return;
            }
            let i = rng.below(list.len());
            let Some(pb::type_proto::Value::TensorType(t)) =
                list[i].r#type.as_mut().and_then(|t| t.value.as_mut())
            else {
                return;
            };
            let Some(shape) = t.shape.as_mut() else {
                return;
            };
            use pb::tensor_shape_proto::dimension::Value as Dim;
            match rng.below(3) {
                0 if !shape.dim.is_empty() => {
                    let k = rng.below(shape.dim.len());
                    shape.dim[k].value = Some(Dim::DimValue(some_dim(rng)));
                }
                1 if !shape.dim.is_empty() => {
                    let k = rng.below(shape.dim.len());
                    shape.dim[k].value = Some(Dim::DimParam("N".into()));
                }
                _ => shape.dim.truncate(rng.below(shape.dim.len() + 1)),
            }
        }
        6 => {
            let outputs = &mut g.output;
            if !outputs.is_empty() {
                let i = rng.below(outputs.len());
                outputs[i].name = name(rng);
            }
        }
        7 if !g.node.is_empty() => {
            let i = rng.below(g.node.len());
            let copy = g.node[i].clone();
            g.node.insert(rng.below(g.node.len() + 1), copy);
        }
        _ if !g.node.is_empty() => {
            let i = rng.below(g.node.len());
            g.node.remove(i);
        }
        _ => {}
    }
    *data = graph::encode(&model);
}
