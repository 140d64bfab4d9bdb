"""Reference for glassbox's CLIP image preprocessing: CLIP's own `_transform` (clip/clip.py: Resize(n, BICUBIC),
CenterCrop(n), RGB, ToTensor, Normalize) from a checkout of openai/CLIP, on synthetic images that the Rust test
rebuilds from the same formula (so JPEG decoder differences play no part).

Usage: python tests/reference/clip_preprocess_reference.py CLIP_CHECKOUT OUT_DIR
Needs torch, torchvision, pillow. Writes OUT_DIR/clip_preprocess.json: per image size, the sha256 of the uint8
224x224 view (after Resize + CenterCrop) and the float tensor's per-channel sums and a few values.
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SIZES = [(300, 257), (257, 300), (180, 400), (640, 480), (224, 224), (100, 150)]  # (width, height)


def pattern(width, height):
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 7 + y * 13 + c * 50 + (x * y) % 31) % 256 for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def main():
    sys.path.insert(0, sys.argv[1])
    from clip.clip import _transform  # the real CLIP preprocessing

    out_dir = Path(sys.argv[2])
    transform = _transform(224)
    cases = []
    for width, height in SIZES:
        img = Image.fromarray(pattern(width, height), "RGB")
        view = img
        for t in transform.transforms[:2]:  # Resize, CenterCrop
            view = t(view)
        view_bytes = np.asarray(view, dtype=np.uint8).tobytes()
        tensor = transform(img)
        cases.append({
            "width": width,
            "height": height,
            "view_sha256": hashlib.sha256(view_bytes).hexdigest(),
            "channel_sums": tensor.double().sum(dim=(1, 2)).tolist(),
            "tensor_0_0": tensor[:, 0, 0].tolist(),
            "tensor_111_57": tensor[:, 111, 57].tolist(),
        })
    (out_dir / "clip_preprocess.json").write_text(json.dumps({"cases": cases}, indent=1) + "\n")
    print(json.dumps(cases[0]))


if __name__ == "__main__":
    main()
