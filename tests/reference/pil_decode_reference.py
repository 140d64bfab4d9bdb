#!/usr/bin/env python3
"""Pillow's decoded pixels of every JPEG glassbox is tested on, as hashes (crate/tests/preprocess.rs).

Writes tests/fixtures/preprocess/pil_decode.json: for each image of shared/data/imagenet-samples/,
shared/data/imagenet-probe-1000/ and shared/data/imagenet-originals/ (76 files byte for byte as the real run
downloads them: every JPEG flavour of the set, EXIF orientation tags included), the sha256 of the file, its
size, its EXIF orientation tag, and the sha256 of
`np.asarray(Image.open(path).convert("RGB"))` (C-order uint8 H×W×3 bytes): Pillow's default decode
(libjpeg-turbo, islow IDCT, fancy upsampling; no EXIF transpose). Hashes, not pixels, so that 1086 references fit in a
small committed file and no shared/ data is copied; a test that decodes a file to the same hash has the
same pixels.

Needs pillow and numpy (tests/reference/requirements.txt pins them). Run from the repository root:
    python tests/reference/pil_decode_reference.py
GLASSBOX_SHARED overrides the location of shared/ (default: ../shared next to the repository).
"""
import hashlib
import json
import os
import pathlib

import numpy as np
import PIL
from PIL import Image, features

SHARED = pathlib.Path(os.environ.get("GLASSBOX_SHARED", pathlib.Path(__file__).resolve().parents[2] / "../shared"))
OUT = pathlib.Path("tests/fixtures/preprocess/pil_decode.json")


def entry(path):
    data = path.read_bytes()
    with Image.open(path) as img:
        mode = img.mode
        orientation = img.getexif().get(0x0112)
        rgb = np.ascontiguousarray(np.asarray(img.convert("RGB")))
    return {
        "file_sha256": hashlib.sha256(data).hexdigest(),
        "mode": mode,
        "exif_orientation": orientation,
        "width": rgb.shape[1],
        "height": rgb.shape[0],
        "rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
    }


def main():
    sets = {}
    for folder in ["imagenet-samples", "imagenet-probe-1000", "imagenet-originals"]:
        files = sorted(p for p in (SHARED / "data" / folder).iterdir() if p.suffix == ".JPEG")
        sets[folder] = {p.name: entry(p) for p in files}
    doc = {
        "generator": "tests/reference/pil_decode_reference.py",
        "decoder": f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}",
        "pixels": "sha256 of np.asarray(Image.open(path).convert('RGB')).tobytes() (H x W x 3 uint8, C order)",
        "sets": sets,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}: {sum(len(v) for v in sets.values())} images")


if __name__ == "__main__":
    main()
