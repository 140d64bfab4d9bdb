#!/usr/bin/env python3
"""Reference fixtures for glassbox's LIME, made with the real `lime`, scikit-image, scikit-learn and NumPy.

Usage (venv with tests/reference/requirements-lime.txt installed):
    python tests/reference/lime_reference.py [views] [rng] [segments] [ridge] [agreement]
(no argument: all). Writes tests/fixtures/lime/. The data folder is ../shared/data relative to the repo
root, or $GLASSBOX_SHARED.

- views:     the 10 ImageNet samples as torchvision Resize(256)+CenterCrop(224) uint8 views (PIL bilinear),
             `views/<stem>.npy` (224x224x3 uint8): the tutorial's `np.array(pill_transf(img))`.
- rng:       NumPy generator outputs (MT19937 RandomState, SeedSequence, PCG64, default_rng().random) → rng.json.
- segments:  skimage quickshift(kernel_size=4, max_dist=200, ratio=0.2) of each view, exactly as lime's
             SegmentationAlgorithm calls it → `segments/<stem>.npy` (int16).
- ridge:     lime's sample matrix, real MobileNet v2 probabilities (onnxruntime) and LimeBase outputs for
             3 cases (auto→highest_weights with all features, highest_weights with 10, forward_selection with 5).
- boundaries: skimage find_boundaries(mode="outer") / mark_boundaries of a segment map and a mask.
- agreement: lime's top-5 masks for every image and seeds 0..4 with the same model → agreement.json.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GLASSBOX_SHARED", REPO.parent / "shared")) / "data"
OUT = REPO / "tests" / "fixtures" / "lime"
MODEL = SHARED / "models" / "mobilenet_onnx" / "mobilenet_v2_1.0_224_b8.onnx"
SEEDS = [0, 1, 2, 3, 4]
# lime runs 1000 forward passes per explanation (~80 s with onnxruntime on a 2-core VM): the agreement
# table covers these images; LIME_AGREEMENT_IMAGES=all takes all 10.
AGREEMENT_IMAGES = ["n01443537_goldfish", "n02007558_flamingo", "n02098286_West_Highland_white_terrier", "n07747607_orange"]
RIDGE_CASES = [  # (image stem, seed, num_features, feature_selection)
    ("n01443537_goldfish", 7, 100000, "auto"),
    ("n02007558_flamingo", 11, 10, "highest_weights"),
    ("n07747607_orange", 3, 5, "auto"),
]


def stems():
    found = sorted(p.stem for p in (SHARED / "imagenet-samples").glob("*.JPEG"))
    if len(found) != 10:
        sys.exit(f"expected the 10 ImageNet samples in {SHARED / 'imagenet-samples'}; set GLASSBOX_SHARED")
    return found


def make_views():
    from PIL import Image

    (OUT / "views").mkdir(parents=True, exist_ok=True)
    for stem in stems():
        img = Image.open(SHARED / "imagenet-samples" / f"{stem}.JPEG").convert("RGB")
        # torchvision Resize(256): shorter side 256, longer side int(256 * long / short), PIL bilinear.
        w, h = img.size
        if w <= h:
            size = (256, int(256 * h / w))
        else:
            size = (int(256 * w / h), 256)
        img = img.resize(size, Image.BILINEAR)
        # CenterCrop(224): torchvision rounds the offsets.
        w, h = img.size
        left = int(round((w - 224) / 2.0))
        top = int(round((h - 224) / 2.0))
        view = np.asarray(img.crop((left, top, left + 224, top + 224)), dtype=np.uint8)
        np.save(OUT / "views" / f"{stem}.npy", view)


def load_view(stem):
    return np.load(OUT / "views" / f"{stem}.npy")


def make_rng():
    out = {}
    rs = np.random.RandomState(5)
    out["mt19937_seed5_first_u32"] = [int(v) for v in rs.randint(0, 2**32, size=8, dtype=np.uint64)]
    rs = np.random.RandomState(123)
    out["mt19937_seed123_randint_0_1000_x5"] = [int(rs.randint(0, high=1000)) for _ in range(5)]
    out["mt19937_seed123_then_random_sample_x3"] = [float(v) for v in rs.random_sample(3)]
    # The lime stream: randint(0, 1000) (segmentation seed), then randint(0, 2, n) for the masks.
    streams = {}
    for seed in [0, 1, 42, 2**31 + 7]:
        rs = np.random.RandomState(seed)
        first = int(rs.randint(0, high=1000))
        bits = rs.randint(0, 2, 1000 * 50).astype(np.uint8)
        streams[str(seed)] = {
            "segmentation_seed": first,
            "first_64_bits": bits[:64].tolist(),
            "sha256_1000x50": hashlib.sha256(bits.tobytes()).hexdigest(),
        }
    out["lime_streams"] = streams
    ss = np.random.SeedSequence(42)
    out["seedsequence42_u32x8"] = [int(v) for v in ss.generate_state(8, np.uint32)]
    out["seedsequence_2pow40_plus_3_u32x4"] = [int(v) for v in np.random.SeedSequence(2**40 + 3).generate_state(4, np.uint32)]
    bg = np.random.PCG64(42)
    out["pcg64_seed42_u64x4"] = [int(v) for v in bg.random_raw(4)]
    out["default_rng42_random_x4"] = [float(v) for v in np.random.default_rng(42).random(4)]
    noise = np.random.default_rng(42).random((224, 224), dtype=np.float64)
    out["default_rng42_random_224x224_sha256"] = hashlib.sha256(noise.tobytes()).hexdigest()
    (OUT / "rng.json").write_text(json.dumps(out, indent=1) + "\n")


def lime_quickshift(view):
    # Exactly lime's default segmentation_fn (random_seed is dropped by lime's wrapper on skimage >= 0.21).
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    fn = SegmentationAlgorithm("quickshift", kernel_size=4, max_dist=200, ratio=0.2, random_seed=0)
    return fn(view)


def make_segments():
    (OUT / "segments").mkdir(parents=True, exist_ok=True)
    for stem in stems():
        seg = lime_quickshift(load_view(stem))
        assert seg.max() < 2**15
        np.save(OUT / "segments" / f"{stem}.npy", seg.astype(np.int16))
        print(f"{stem}: {seg.max() + 1} superpixels")


class MobileNet:
    """The tutorial's batch_predict for the TF-slim MobileNet v2: (u8 - 128) / 128, NCHW, softmax."""

    def __init__(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.session = ort.InferenceSession(str(MODEL), opts, providers=["CPUExecutionProvider"])

    def __call__(self, images):
        x = (images.astype(np.float32) - 128.0) / 128.0
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        n = x.shape[0]
        pad = (-n) % 8
        if pad:
            x = np.concatenate([x, np.zeros((pad,) + x.shape[1:], np.float32)])
        logits = np.concatenate(
            [self.session.run(["logits"], {"input": x[i : i + 8]})[0] for i in range(0, len(x), 8)]
        )[:n]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def run_lime(view, seed, model, num_features=100000, feature_selection="auto"):
    """lime's explain_instance as the tutorial calls it (hide_color=0, 1000 samples, top 5), recording data/labels."""
    from lime import lime_image

    explainer = lime_image.LimeImageExplainer(random_state=seed, feature_selection=feature_selection)
    recorded = {}
    original = explainer.data_labels

    def recording(*args, **kwargs):
        data, labels = original(*args, **kwargs)
        recorded["data"], recorded["labels"] = data, labels
        return data, labels

    explainer.data_labels = recording
    exp = explainer.explain_instance(
        view, model, top_labels=5, hide_color=0, num_samples=1000, batch_size=8, num_features=num_features
    )
    return exp, recorded["data"], recorded["labels"]


def exp_base(seed, selection):
    from lime import lime_image

    return lime_image.LimeImageExplainer(random_state=seed, feature_selection=selection).base


def make_ridge():
    (OUT / "ridge").mkdir(parents=True, exist_ok=True)
    model = MobileNet()
    cases = []
    for i, (stem, seed, num_features, selection) in enumerate(RIDGE_CASES):
        exp, data, labels = run_lime(load_view(stem), seed, model, num_features, selection)
        top = [int(t) for t in exp.top_labels]
        np.save(OUT / "ridge" / f"case{i}_data.npy", data.astype(np.uint8))
        np.save(OUT / "ridge" / f"case{i}_targets.npy", labels[:, top].astype(np.float32))
        # lime keeps only the last label's score and local_pred on the explanation: call LimeBase per label.
        import sklearn.metrics

        distances = sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()
        per_label = []
        for label in top:
            intercept, local_exp, score, local_pred = exp_base(seed, selection).explain_instance_with_data(
                data, labels, distances, label, num_features, feature_selection=selection
            )
            assert intercept == exp.intercept[label] and local_exp == exp.local_exp[label]
            per_label.append(
                {
                    "label": label,
                    "intercept": float(intercept),
                    "weights": [[int(f), float(w)] for f, w in local_exp],
                    "score": float(score),
                    "local_pred": float(np.ravel(local_pred)[0]),
                }
            )
        cases.append(
            {
                "image": stem,
                "seed": seed,
                "num_features": num_features,
                "feature_selection": selection,
                "n_features": int(data.shape[1]),
                "top_labels": top,
                "labels": per_label,
            }
        )
        print(f"case{i} {stem}: {data.shape[1]} superpixels, top {top}")
    (OUT / "ridge" / "cases.json").write_text(json.dumps(cases, indent=1) + "\n")


def make_agreement():
    model = MobileNet()
    result = {"seeds": SEEDS, "model": MODEL.name, "images": {}}
    chosen = stems() if os.environ.get("LIME_AGREEMENT_IMAGES") == "all" else AGREEMENT_IMAGES
    for stem in chosen:
        view = load_view(stem)
        runs = []
        for seed in SEEDS:
            exp, _, _ = run_lime(view, seed, model)
            label = int(exp.top_labels[0])
            _, mask = exp.get_image_and_mask(label, positive_only=True, num_features=5, hide_rest=False)
            features = [int(f) for f, w in exp.local_exp[label] if w > 0][:5]
            runs.append({"seed": seed, "label": label, "features": features, "mask_pixels": int(mask.sum())})
        result["images"][stem] = runs
        ious = [
            _iou(exp.segments, a["features"], b["features"])
            for i, a in enumerate(runs)
            for b in runs[i + 1 :]
        ]
        print(f"{stem}: lime vs lime across seeds, mean IoU {np.mean(ious):.3f}")
    (OUT / "agreement.json").write_text(json.dumps(result, indent=1) + "\n")


def _iou(segments, fa, fb):
    a = np.isin(segments, fa)
    b = np.isin(segments, fb)
    union = (a | b).sum()
    return 1.0 if union == 0 else (a & b).sum() / union


def make_boundaries():
    """skimage find_boundaries(mode="outer") of a segment map and of a 0/1 mask (what mark_boundaries draws)."""
    from skimage.segmentation import find_boundaries, mark_boundaries

    (OUT / "boundaries").mkdir(parents=True, exist_ok=True)
    stem = "n02098286_West_Highland_white_terrier"
    seg = np.load(OUT / "segments" / f"{stem}.npy").astype(np.int64)
    mask = np.isin(seg, [1, 4, 7, 12]).astype(np.int64)
    np.save(OUT / "boundaries" / "segments_outer.npy", find_boundaries(seg, mode="outer").astype(np.uint8))
    np.save(OUT / "boundaries" / "mask_outer.npy", find_boundaries(mask, mode="outer").astype(np.uint8))
    marked = mark_boundaries(load_view(stem) / 255.0, mask)
    np.save(OUT / "boundaries" / "mask_marked.npy", np.round(marked * 255).astype(np.uint8))


def main():
    steps = sys.argv[1:] or ["views", "rng", "segments", "boundaries", "ridge", "agreement"]
    OUT.mkdir(parents=True, exist_ok=True)
    for step in steps:
        {"views": make_views, "rng": make_rng, "segments": make_segments, "ridge": make_ridge, "agreement": make_agreement, "boundaries": make_boundaries}[step]()


if __name__ == "__main__":
    main()
