#!/usr/bin/env python3
"""Writes the bad-input corpus tests/fixtures/bad-inputs/ (the files and corpus.json).

Every file is made here from synthetic pixels or a hand-built graph (nothing from the shared data). Each
corpus.json entry says what a user gets for that file: an `error` whose message contains `message`, or
`ok` for unusual but valid input (it must be explained like any other). crate/tests/bad_input.rs feeds each
file to the `glassbox` CLI, tests/e2e/site.test.mjs to the page, and README.md's reliability section lists
them; all three read this corpus.json.

Usage (the venv of tests/reference/requirements.txt): python tests/reference/make_bad_inputs.py
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bad-inputs"


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """A smooth colour gradient with a square in it: compresses well, decodes to non-trivial pixels."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) % 256], axis=-1)
    rgb[height // 4: height // 2, width // 4: width // 2] = [250, 30, 30]
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def undefined_quantisation_table(data: bytes) -> bytes:
    """Points the frame header's first component at quantisation table 3, which the file never defines
    (libjpeg: "Quantization table 0x03 was not defined"). A JPEG without Huffman tables would not do: libjpeg
    then uses the standard tables (Motion-JPEG's convention) and decodes it."""
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):  # the frame header (SOF0/1/2)
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    tq = i + 2 + 2 + 6 + 2  # marker, length, precision + height + width + components, component id + sampling
    return data[:tq] + b"\x03" + data[tq + 1:]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height greyscale pixels; the IDAT holds a few compressed rows only
    (the header alone must be enough to refuse it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def with_damaged_idat(data: bytes) -> bytes:
    """Flips one byte of the first IDAT chunk's compressed payload (its CRC no longer matches either)."""
    at = data.index(b"IDAT") + 4 + 10
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1:]


def exif_rotated() -> bytes:
    """Stored 64x48, EXIF orientation 6 (rotate 90 degrees clockwise to view): upright it is 48x64."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(picture(), exif=exif.tobytes())


def tiny_graph(with_features: bool) -> onnx.ModelProto:
    """A small classifier of the shape glassbox expects: input [1,3,32,32] -> Conv(3->4, 3x3, bias) + Relu
    = `features` [1,4,32,32] -> GlobalAveragePool -> Flatten -> Gemm (transB=0, 10 classes) = `logits`.
    Built to wonnx's rules too (a bias on the Conv, Gemm transB=0, full value_info)."""
    rng = np.random.default_rng(0)
    init = [
        numpy_helper.from_array(rng.uniform(-0.5, 0.5, (4, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.uniform(-0.1, 0.1, (4,)).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.uniform(-1, 1, (4, 10)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.uniform(-0.1, 0.1, (10,)).astype(np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=0),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])]
    if with_features:
        outputs.insert(0, helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 4, 32, 32]))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                             [1, 3, 32, 32])], outputs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_bad_inputs")
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def manifest(name: str, onnx_file: str, sha256: str | None) -> dict:
    m = {
        "name": name,
        "description": f"bad-input corpus: {name} (tests/reference/make_bad_inputs.py)",
        "onnx": onnx_file,
        "input": {"name": "input", "shape": [1, 3, 32, 32]},
        "preprocessing": {"kind": "torchvision", "resize": 37, "crop": 32, "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]},
        "outputs": {"features": "features", "logits": "logits"},
    }
    if sha256:
        m["sha256"] = sha256
    return m


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    good = jpeg(picture())
    good_png = png(picture())
    tiny = tiny_graph(with_features=True).SerializeToString()
    tiny_sha = hashlib.sha256(tiny).hexdigest()
    files: dict[str, bytes] = {
        "truncated.jpg": good[: len(good) // 2],
        "undefined_quantisation_table.jpg": undefined_quantisation_table(good),
        "truncated.png": good_png[: len(good_png) // 2],
        "damaged_idat.png": with_damaged_idat(good_png),
        "text.jpg": b"name,score\ngoldfish,0.9\n",
        "empty.jpg": b"",
        "bomb.png": png_bomb(100_000, 100_000),
        "one_pixel.png": png(Image.new("RGB", (1, 1), (200, 120, 40))),
        "cmyk.jpg": jpeg(picture().convert("CMYK")),
        "grey16.png": png(Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16))),
        "grey.jpg": jpeg(picture().convert("L")),
        "exif_rotated.jpg": exif_rotated(),
        "tiny_model.onnx": tiny,
        "no_4d_output.onnx": tiny_graph(with_features=False).SerializeToString(),
        "not_a_model.onnx": b"this is a text file, not an ONNX protobuf\n",
    }
    manifests = {
        "tiny_model.json": manifest("tiny_model", "tiny_model.onnx", tiny_sha),
        "wrong_sha256.json": manifest("wrong_sha256", "tiny_model.onnx", "0" * 64),
        "no_4d_output.json": manifest("no_4d_output", "no_4d_output.onnx", None),
        "not_a_model.json": manifest("not_a_model", "not_a_model.onnx", None),
        "missing_onnx.json": manifest("missing_onnx", "nowhere/missing.onnx", None),
    }
    for name, data in files.items():
        (OUT / name).write_bytes(data)
    for name, m in manifests.items():
        (OUT / name).write_text(json.dumps(m, indent=1) + "\n")

    # What a user gets for each file. `message`: a part of the error both the CLI and the page show.
    corpus = {
        "generator": "tests/reference/make_bad_inputs.py",
        "images": [
            {"file": "truncated.jpg", "outcome": "error", "message": "truncated",
             "what": "a JPEG cut in half"},
            {"file": "undefined_quantisation_table.jpg", "outcome": "error", "message": "corrupt",
             "what": "a JPEG whose frame header names a quantisation table it never defines"},
            {"file": "truncated.png", "outcome": "error", "message": "corrupt or truncated Png data",
             "what": "a PNG cut in half"},
            {"file": "damaged_idat.png", "outcome": "error", "message": "corrupt or truncated Png data",
             "what": "a PNG with one byte of its compressed pixel data changed"},
            {"file": "text.jpg", "outcome": "error", "message": "not a recognised image",
             "what": "a text file named .jpg"},
            {"file": "empty.jpg", "outcome": "error", "message": "the file is empty", "what": "0 bytes"},
            {"file": "bomb.png", "outcome": "error", "message": "exceeds the limit",
             "what": "a 467-byte PNG whose header claims 100000x100000 pixels"},
            {"file": "one_pixel.png", "outcome": "ok", "what": "1x1 pixel (scaled up like any image)"},
            {"file": "cmyk.jpg", "outcome": "ok", "what": "a CMYK JPEG (converted to RGB as Pillow does)"},
            {"file": "grey16.png", "outcome": "ok", "what": "a 16-bit greyscale PNG (rounded to 8 bits)"},
            {"file": "grey.jpg", "outcome": "ok", "what": "a greyscale JPEG"},
            {"file": "exif_rotated.jpg", "outcome": "ok", "what": "a JPEG with EXIF orientation 6 (turned upright)"},
        ],
        "models": [
            {"file": "tiny_model.json", "outcome": "ok",
             "what": "a valid tiny classifier and its manifest (the control for the cases below)"},
            {"file": "wrong_sha256.json", "outcome": "error", "message": "sha256 mismatch",
             "what": "a manifest whose sha256 is not its ONNX file's"},
            {"file": "no_4d_output.json", "outcome": "error", "message": "no output `features`",
             "what": "a graph without the 4-D feature map output"},
            {"file": "no_4d_output.onnx", "outcome": "error", "message": "no 4-D output",
             "what": "the same graph given without a manifest", "cli_only": True},
            {"file": "not_a_model.json", "outcome": "error", "message": "not an ONNX model",
             "what": "a manifest naming a text file as its ONNX"},
            {"file": "not_a_model.onnx", "outcome": "error", "message": "not an ONNX model",
             "what": "a text file named .onnx, without a manifest", "cli_only": True},
            {"file": "missing_onnx.json", "outcome": "error", "message": "missing.onnx",
             "what": "a manifest naming an ONNX file that does not exist"},
        ],
    }
    (OUT / "corpus.json").write_text(json.dumps(corpus, indent=1) + "\n")
    print(f"wrote {len(files) + len(manifests)} files and corpus.json to {OUT}")


if __name__ == "__main__":
    main()
