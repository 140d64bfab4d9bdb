#!/usr/bin/env python3
"""Reference CAM maps from pytorch-grad-cam for the Rust CAM tests (writes tests/fixtures/cam/).

Each model is an ONNX graph converted to torch with onnx2torch, so the reference runs the *same graph*
the Rust side runs (tract / wonnx). The wrapper returns the logits only (what pytorch-grad-cam expects);
the target layer is the torch module that produces the graph output `features`.

Cases:
  * the REAL pretrained MobileNet v2 1.0 224 (shared data), images goldfish, kite, West Highland terrier;
  * seeded random-weight ResNet-18 (all methods) and ResNet-50 (Grad-CAM, AblationCAM, ScoreCAM: the
    mission's three) produced by `models/export.py --random-weights --seed 0` (their sha256 go into
    index.json, so the Rust test can check it is looking at the same graph), image goldfish.

For every case we save the exact float input tensor (so the CAM test does not depend on preprocessing
parity), the logits, the target class and, per method, the final 224x224 cam (float32, [0,1]), the raw
low-resolution map before ReLU/normalisation (float32) and, for weight-based methods, the per-channel
weights (float32). The maths of each method is written down in tests/fixtures/cam/SEMANTICS.md.

Usage (from the repo root, with the venv of tests/reference/requirements.txt):
  python tests/reference/cam_reference.py                 # everything
  python tests/reference/cam_reference.py --only mobilenet
  python tests/reference/cam_reference.py --only resnet18 resnet50 --random-models /tmp/rand   # export.py --out
The shared data folder is ../shared/data next to the repo, or $GLASSBOX_SHARED.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnx2torch
import onnxruntime as ort
import torch
from PIL import Image
from pytorch_grad_cam import (
    AblationCAM,
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    ScoreCAM,
    XGradCAM,
)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "tests" / "fixtures" / "cam"

# Settings passed to pytorch-grad-cam; they are the library defaults, written out so that index.json
# records them and a change of default in a new release cannot silently change the references.
ABLATION_BATCH_SIZE = 32
ABLATION_RATIO_CHANNELS = 1.0
SCORECAM_BATCH_SIZE = 16

# name in the fixture -> (class, constructor kwargs, attributes set after construction)
METHODS = {
    "gradcam": (GradCAM, {}, {}),
    "hirescam": (HiResCAM, {}, {}),
    "gradcam_plusplus": (GradCAMPlusPlus, {}, {}),
    "xgradcam": (XGradCAM, {}, {}),
    "layercam": (LayerCAM, {}, {}),
    "eigencam": (EigenCAM, {}, {}),
    "ablationcam": (
        AblationCAM,
        {"batch_size": ABLATION_BATCH_SIZE, "ratio_channels_to_ablate": ABLATION_RATIO_CHANNELS},
        {},
    ),
    # ScoreCAM reads `self.batch_size` if the attribute exists, else uses 16.
    "scorecam": (ScoreCAM, {}, {"batch_size": SCORECAM_BATCH_SIZE}),
    # AblationCAM again with the model and input in float64 (see FLOAT64_METHODS).
    "ablationcam_float64": (
        AblationCAM,
        {"batch_size": ABLATION_BATCH_SIZE, "ratio_channels_to_ablate": ABLATION_RATIO_CHANNELS},
        {},
    ),
}
# Methods run on `model.double()`: AblationCAM's weights are (y - y_k) / y with each ablated logit y_k from a
# float32 forward pass in the float32 run, whose rounding moves its final map (measured between the two runs:
# 1.9e-5 on MobileNet v2 goldfish, 8.8e-5 on the random ResNet-50). The float64 run is the reference for the
# exact value; the Rust test bounds the distance to the float32 run by that measured gap plus its tolerance.
FLOAT64_METHODS = {"ablationcam_float64"}

MOBILENET_IMAGES = [
    "n01443537_goldfish.JPEG",
    "n01608432_kite.JPEG",
    "n02098286_West_Highland_white_terrier.JPEG",
]
RESNET_IMAGES = ["n01443537_goldfish.JPEG"]
RESNET_SEED = 0
# `--only` name -> (fixture model key, export.py model name, methods): ScoreCAM on ResNet-50 is 2048 forward
# passes, so the ResNet-50 case has the mission's three methods only.
RANDOM_RESNETS = {
    "resnet18": ("resnet18_random_seed0", "resnet18_imagenet1k_v1", list(METHODS)),
    "resnet50": ("resnet50_random_seed0", "resnet50_imagenet1k_v2",
                 ["gradcam", "ablationcam", "ablationcam_float64", "scorecam"]),
}


def shared_dir() -> Path:
    env = os.environ.get("GLASSBOX_SHARED")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    if not (path / "imagenet-samples").is_dir():
        sys.exit(f"shared data not found at {path}: set GLASSBOX_SHARED to the folder that has imagenet-samples/")
    return path


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def short_name(image_file: str) -> str:
    # "n01443537_goldfish.JPEG" -> "goldfish"
    return image_file.split("_", 1)[1].rsplit(".", 1)[0]


# ---------------------------------------------------------------------------------------------- inputs


def mobilenet_input(path: Path, size: int = 224, central_fraction: float = 0.875) -> tuple[np.ndarray, dict]:
    """TF-slim central crop: square of side round(0.875 * shorter side), centred (floor), PIL bilinear
    resize to size x size, x = (u8 - 128) / 128."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    side = int(round(min(w, h) * central_fraction))
    left, top = (w - side) // 2, (h - side) // 2
    box = (left, top, left + side, top + side)
    view = img.crop(box).resize((size, size), Image.BILINEAR)
    u8 = np.asarray(view, dtype=np.uint8)
    x = (u8.astype(np.float32) - 128.0) / 128.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)), {
        "kind": "central_crop",
        "source_size": [w, h],
        "crop_box_ltrb": list(box),
        "resize": "PIL Image.resize((224,224), BILINEAR)",
        "normalise": "(u8 - 128) / 128",
    }


def torchvision_input(path: Path) -> tuple[np.ndarray, dict]:
    from torchvision import transforms

    tf = transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    img = Image.open(path).convert("RGB")
    x = tf(img).numpy().astype(np.float32)
    return np.ascontiguousarray(x), {
        "kind": "torchvision",
        "source_size": list(img.size),
        "resize": 256,
        "transforms": "Resize(256) (PIL bilinear, antialias) + CenterCrop(224) + ToTensor + "
        "Normalize([0.485,0.456,0.406],[0.229,0.224,0.225])",
    }


# ----------------------------------------------------------------------------------------------- model


class LogitsOnly(torch.nn.Module):
    """pytorch-grad-cam wants `model(x) -> logits`; the converted graph returns all its outputs."""

    def __init__(self, graph_module: torch.fx.GraphModule, logits_index: int):
        super().__init__()
        self.graph_module = graph_module
        self.logits_index = logits_index

    def forward(self, x):
        return self.graph_module(x)[self.logits_index]


def load_converted(onnx_path: Path) -> tuple[LogitsOnly, torch.nn.Module, str]:
    """Convert with onnx2torch; return (logits model, module producing `features`, its name)."""
    model_proto = onnx.load(str(onnx_path))
    output_names = [o.name for o in model_proto.graph.output]
    for required in ("features", "logits"):
        if required not in output_names:
            raise SystemExit(f"{onnx_path}: graph output '{required}' missing (outputs: {output_names})")
    graph_module = onnx2torch.convert(model_proto).eval()
    (fx_outputs,) = [n for n in graph_module.graph.nodes if n.op == "output"]
    fx_returned = fx_outputs.args[0]
    if not isinstance(fx_returned, (list, tuple)) or len(fx_returned) != len(output_names):
        raise SystemExit(f"unexpected onnx2torch output structure: {fx_returned}")
    features_node = fx_returned[output_names.index("features")]
    if features_node.op != "call_module":
        raise SystemExit(f"`features` is produced by a {features_node.op} node, not a module: cannot hook it")
    target_layer = graph_module.get_submodule(features_node.target)
    return LogitsOnly(graph_module, output_names.index("logits")).eval(), target_layer, str(features_node.target)


def onnxruntime_outputs(onnx_path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {input_name: x[None]})))


# ------------------------------------------------------------------------------------------------ CAMs


def run_method(name, model, target_layer, x: torch.Tensor, target: int) -> dict[str, np.ndarray]:
    cls, kwargs, attrs = METHODS[name]
    captured = {}
    cam = cls(model=model, target_layers=[target_layer], **kwargs)
    for key, value in attrs.items():
        setattr(cam, key, value)

    # Capture the intermediate results without changing them: the per-channel weights (for methods
    # that have them) and the raw low-resolution map (before BaseCAM's ReLU and normalisation).
    original_weights = cam.get_cam_weights
    original_image = cam.get_cam_image

    def weights_hook(*args, **kw):
        w = original_weights(*args, **kw)
        captured["weights"] = np.asarray(w, dtype=np.float32)[0].copy()
        return w

    def image_hook(*args, **kw):
        m = original_image(*args, **kw)
        captured["raw"] = np.asarray(m, dtype=np.float32)[0].copy()
        if name == "eigencam":
            captured["eigencam_sign"] = eigencam_sign(np.asarray(args[3])[0], captured["raw"])
        return m

    cam.get_cam_weights = weights_hook
    cam.get_cam_image = image_hook
    start = time.perf_counter()
    grayscale = cam(input_tensor=x[None], targets=[ClassifierOutputTarget(target)])
    captured["seconds"] = time.perf_counter() - start
    cam.activations_and_grads.release()
    captured["cam"] = np.asarray(grayscale[0], dtype=np.float32)
    return captured


def eigencam_sign(activations: np.ndarray, projection: np.ndarray) -> dict:
    """Which of the two SVD signs LAPACK returned (EigenCAM imposes none; see SEMANTICS.md)."""
    x = activations.reshape(activations.shape[0], -1).T
    x = x - x.mean(axis=0)
    v = np.linalg.svd(x, full_matrices=True)[2][0]
    return {
        "max_abs_is_positive": bool(abs(projection.max()) >= abs(projection.min())),
        "v_sum_nonnegative": bool(v.sum() >= 0),
    }


def write_case(case_dir: Path, model_key: str, image_file: str, x: np.ndarray, input_info: dict,
               onnx_path: Path, methods_to_run: list[str], previous: dict | None):
    case_dir.mkdir(parents=True, exist_ok=True)
    model, target_layer, target_name = load_converted(onnx_path)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        logits = model(xt[None])[0].numpy().astype(np.float32)
    ort_out = onnxruntime_outputs(onnx_path, x)
    target = int(np.argmax(logits))
    files = {"input": "input.npy", "logits": "logits.npy"}
    np.save(case_dir / files["input"], x.astype(np.float32))
    np.save(case_dir / files["logits"], logits)

    input_sha256 = hashlib.sha256(x.astype(np.float32).tobytes()).hexdigest()
    # Results kept from an earlier run are only valid for the very same input and target.
    still_valid = previous and previous.get("input_sha256") == input_sha256 and previous["target"] == target
    methods = dict(previous["methods"]) if still_valid else {}
    for name in methods_to_run:
        if name in FLOAT64_METHODS:
            result = run_method(name, model.double(), target_layer, xt.double(), target)
            model.float()
        else:
            result = run_method(name, model, target_layer, xt, target)
        cam = result["cam"]
        entry = {
            "cam": f"{name}.npy",
            "raw": f"{name}_raw.npy",
            "raw_shape": list(result["raw"].shape),
            "cam_min": float(cam.min()),
            "cam_max": float(cam.max()),
            "cam_argmax_yx": [int(v) for v in np.unravel_index(np.argmax(cam), cam.shape)],
            "seconds": round(result["seconds"], 2),
        }
        np.save(case_dir / entry["cam"], cam.astype(np.float32))
        np.save(case_dir / entry["raw"], result["raw"])
        if "eigencam_sign" in result:
            entry["eigencam_sign"] = result["eigencam_sign"]
        if "weights" in result:
            entry["weights"] = f"{name}_weights.npy"
            np.save(case_dir / entry["weights"], result["weights"])
        methods[name] = entry
        print(f"  {model_key}/{short_name(image_file)} {name}: {result['seconds']:.1f}s "
              f"argmax {entry['cam_argmax_yx']}", flush=True)

    return {
        "model": model_key,
        "image": image_file,
        "dir": str(case_dir.relative_to(OUT_DIR)),
        "input_preprocessing": input_info,
        "files": files,
        "input_sha256": input_sha256,
        "target": target,
        "target_logit": float(logits[target]),
        "target_layer_module": target_name,
        "onnx2torch_vs_onnxruntime_max_abs_diff": {
            "logits": float(np.abs(ort_out["logits"][0] - logits).max()),
        },
        "methods": {name: methods[name] for name in METHODS if name in methods},
    }


def export_random(export_name: str, seed: int, out: Path) -> Path:
    cmd = [sys.executable, str(REPO / "models" / "export.py"), "--random-weights", "--seed", str(seed),
           "--models", export_name, "--batch", "1", "--out", str(out)]
    print("running", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out / f"{export_name}_b1.onnx"


def package_versions() -> dict:
    names = ["torch", "torchvision", "onnx", "onnxruntime", "onnx2torch", "grad-cam", "opencv-python-headless",
             "numpy", "scipy", "pillow", "ttach"]
    return {n: metadata.version(n) for n in names} | {"python": platform.python_version()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=["mobilenet", *RANDOM_RESNETS],
                        help="regenerate only these cases")
    parser.add_argument("--random-models", type=Path,
                        help="folder of `export.py --random-weights --seed 0 --batch 1` (else exported now)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="recompute only these methods (the others are kept from index.json)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = shared_dir()
    index_path = OUT_DIR / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    cases = {c["dir"]: c for c in index.get("cases", [])}
    models = index.get("models", {})

    only = args.only or ["mobilenet", *RANDOM_RESNETS]
    if "mobilenet" in only:
        onnx_path = data / "models" / "mobilenet_onnx" / "mobilenet_v2_1.0_224_b1.onnx"
        models["mobilenet_v2_1.0_224"] = {
            "onnx": "shared/data/models/mobilenet_onnx/mobilenet_v2_1.0_224_b1.onnx",
            "sha256": sha256_file(onnx_path),
            "random_weights": False,
            "logits": "1001 classes, index 0 = background",
        }
        for image_file in MOBILENET_IMAGES:
            x, info = mobilenet_input(data / "imagenet-samples" / image_file)
            case_dir = OUT_DIR / "mobilenet_v2_1.0_224" / short_name(image_file)
            case = write_case(case_dir, "mobilenet_v2_1.0_224", image_file, x, info, onnx_path, args.methods,
                              cases.get(str(case_dir.relative_to(OUT_DIR))))
            cases[case["dir"]] = case

    for key in only:
        if key not in RANDOM_RESNETS:
            continue
        model_key, export_name, methods = RANDOM_RESNETS[key]
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.random_models or Path(tmp)
            onnx_path = folder / f"{export_name}_b1.onnx"
            if not onnx_path.exists():
                export_random(export_name, RESNET_SEED, folder)
            models[model_key] = {
                "onnx": f"made by: python models/export.py --random-weights --seed {RESNET_SEED} --models "
                f"{export_name} --batch 1 --out DIR  ->  DIR/{onnx_path.name}",
                "sha256": sha256_file(onnx_path),
                "random_weights": True,
                "seed": RESNET_SEED,
                "logits": "1000 classes (random weights: the class has no meaning)",
            }
            for image_file in RESNET_IMAGES:
                x, info = torchvision_input(data / "imagenet-samples" / image_file)
                case_dir = OUT_DIR / model_key / short_name(image_file)
                case = write_case(case_dir, model_key, image_file, x, info, onnx_path,
                                  [m for m in args.methods if m in methods],
                                  cases.get(str(case_dir.relative_to(OUT_DIR))))
                cases[case["dir"]] = case

    index = {
        "generator": "tests/reference/cam_reference.py",
        "semantics": "SEMANTICS.md",
        "versions": package_versions(),
        "torch_threads": torch.get_num_threads(),
        "target": "ClassifierOutputTarget(top-1 class of the logits), i.e. the raw logit, no softmax",
        "cam_storage": "float32 .npy [224,224] in [0,1]; raw maps (before BaseCAM's ReLU/min-max/resize) and "
        "weights: float32",
        "settings": {
            "ablationcam": {"batch_size": ABLATION_BATCH_SIZE, "ratio_channels_to_ablate": ABLATION_RATIO_CHANNELS,
                            "ablation_layer": "AblationLayer() default: value 0 when min(activations)==0, "
                            "else min - 1e7 (see SEMANTICS.md)"},
            "scorecam": {"batch_size": SCORECAM_BATCH_SIZE},
            "aug_smooth": False,
            "eigen_smooth": False,
        },
        "methods": list(METHODS),
        "models": models,
        "cases": sorted(cases.values(), key=lambda c: c["dir"]),
    }
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {index_path}")


if __name__ == "__main__":
    main()
