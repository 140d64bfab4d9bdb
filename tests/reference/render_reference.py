"""OpenCV references for crate/src/render.rs and cam.rs's resize.

Writes tests/fixtures/render/:
  jet_cv2.npy          uint8 [256, 3] RGB: cv2.applyColorMap(0..255, COLORMAP_JET), BGR flipped to RGB
  resize_src.npy       float32 [7, 7] seeded random map
  resize_224.npy       float32 [224, 224] cv2.resize(src, (224, 224)) (INTER_LINEAR), as pytorch-grad-cam's
                       scale_cam_image calls it

Run: python tests/reference/render_reference.py   (needs opencv-python-headless, numpy)
"""
from pathlib import Path

import cv2
import numpy as np

out = Path(__file__).resolve().parents[1] / "fixtures" / "render"
out.mkdir(parents=True, exist_ok=True)
ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
np.save(out / "jet_cv2.npy", cv2.applyColorMap(ramp, cv2.COLORMAP_JET)[:, 0, ::-1].copy())
src = np.random.RandomState(0).rand(7, 7).astype(np.float32)
np.save(out / "resize_src.npy", src)
np.save(out / "resize_224.npy", cv2.resize(src, (224, 224)))
print(f"opencv {cv2.__version__}: wrote {sorted(p.name for p in out.iterdir())}")
