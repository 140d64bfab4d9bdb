"""Reference `soft_wpmi` values from CLIP-Dissect's own `similarity.py`, for glassbox's Rust port.

Usage:
    python tests/reference/wpmi_reference.py CLIP_DISSECT_CHECKOUT OUT_DIR

CLIP_DISSECT_CHECKOUT is a checkout of github.com/Trustworthy-ML-Lab/CLIP-dissect; its `similarity.py` is imported
from there (not copied). Needs torch (CPU is fine; `torch.cuda.empty_cache()` is a no-op without CUDA) and tqdm;
`similarity.py` also imports scipy.stats and matplotlib at the top without using them in `soft_wpmi`: if they are
not installed, empty stand-in modules are registered so the import succeeds (soft_wpmi never touches them).

Inputs are built the way CLIP-Dissect builds them (`utils.get_similarity_from_activations`): seeded random image and
text embeddings, each L2-normalised, `clip_feats = image_features @ text_features.T`; `target_feats` are seeded
random pooled activations with a few neurons made to follow a concept so the argmax is not pure noise.

Writes OUT_DIR/wpmi_{clip_feats,target_feats}.f32 and OUT_DIR/wpmi_<case>_similarity.f32 (little-endian float32,
row-major; the float32 call, as CLIP-Dissect runs it), OUT_DIR/wpmi_<case>_similarity64.f64 (the same function on
float64 inputs: torch's float32 sums of ~100 logs near -500 carry ~1e-4 of rounding, so the float64 call is the
sharper yardstick), and
OUT_DIR/wpmi.json (shapes, parameters, argmax per neuron, the margin between best and second-best concept).
"""

import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

N_IMAGES, N_CONCEPTS, N_NEURONS, EMBED = 200, 300, 64, 32

CASES = {
    # similarity.soft_wpmi defaults.
    "default": {},
    # Every parameter changed, to check they are all honoured.
    "custom": {"top_k": 20, "a": 5.0, "lam": 0.6, "min_prob": 1e-5, "p_start": 0.99, "p_end": 0.9},
}


def import_similarity(checkout: Path):
    for name in ["scipy", "scipy.stats", "matplotlib", "matplotlib.pyplot"]:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = types.ModuleType(name)
    if not hasattr(sys.modules.get("scipy"), "stats"):
        sys.modules["scipy"].stats = sys.modules["scipy.stats"]
    if not hasattr(sys.modules.get("matplotlib"), "pyplot"):
        sys.modules["matplotlib"].pyplot = sys.modules["matplotlib.pyplot"]
    spec = importlib.util.spec_from_file_location("clip_dissect_similarity", checkout / "similarity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs():
    gen = torch.Generator().manual_seed(20230201)
    image_features = torch.randn(N_IMAGES, EMBED, generator=gen)
    text_features = torch.randn(N_CONCEPTS, EMBED, generator=gen)
    image_features /= image_features.norm(dim=-1, keepdim=True)
    text_features /= text_features.norm(dim=-1, keepdim=True)
    clip_feats = image_features @ text_features.T
    target_feats = torch.randn(N_IMAGES, N_NEURONS, generator=gen)
    # Half the neurons respond to one concept's CLIP score plus noise.
    for neuron in range(0, N_NEURONS, 2):
        concept = (neuron * 7) % N_CONCEPTS
        target_feats[:, neuron] = 3 * clip_feats[:, concept] + 0.3 * target_feats[:, neuron]
    return clip_feats.float().contiguous(), target_feats.float().contiguous()


def main():
    checkout, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    similarity = import_similarity(checkout)
    clip_feats, target_feats = inputs()
    summary = {"torch": torch.__version__, "n_images": N_IMAGES, "n_concepts": N_CONCEPTS, "n_neurons": N_NEURONS,
               "cases": {}}
    write(out_dir / "wpmi_clip_feats.f32", clip_feats)
    write(out_dir / "wpmi_target_feats.f32", target_feats)
    for name, params in CASES.items():
        sims = similarity.soft_wpmi(clip_feats, target_feats, device="cpu", **params)
        # The same call in float64, to tell float32 rounding in torch from errors in the port.
        sims64 = similarity.soft_wpmi(clip_feats.double(), target_feats.double(), device="cpu", **params)
        assert sims.shape == (N_NEURONS, N_CONCEPTS)
        top2 = torch.topk(sims, k=2, dim=1)
        vals, ids = torch.max(sims, dim=1)
        write(out_dir / f"wpmi_{name}_similarity.f32", sims)
        (out_dir / f"wpmi_{name}_similarity64.f64").write_bytes(sims64.numpy().astype("<f8").tobytes())
        top2_64 = torch.topk(sims64, k=2, dim=1)
        summary["cases"][name] = {
            "params": params,
            "argmax": ids.tolist(),
            "max": vals.tolist(),
            "min_margin_best_vs_second": float((top2.values[:, 0] - top2.values[:, 1]).min()),
            "max_abs_float32_vs_float64": float((sims.double() - sims64).abs().max()),
            "argmax_float64": torch.max(sims64, dim=1)[1].tolist(),
            "min_margin_best_vs_second_float64": float((top2_64.values[:, 0] - top2_64.values[:, 1]).min()),
        }
        print(name, {k: v for k, v in summary["cases"][name].items() if k not in ("argmax", "max", "argmax_float64")})
    (out_dir / "wpmi.json").write_text(json.dumps(summary, indent=1) + "\n")


def write(path: Path, tensor):
    path.write_bytes(tensor.detach().cpu().numpy().astype("<f4").tobytes())


if __name__ == "__main__":
    main()
