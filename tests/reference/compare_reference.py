"""Independent references for crate/src/compare (run: python3 tests/reference/compare_reference.py).

Writes tests/fixtures/compare/reference.json with inputs and the outputs of SciPy / scikit-image /
RISE's own formulas, which crate/tests/compare_reference.rs checks the Rust code against.
Needs numpy, scipy, scikit-image (any recent version; written with numpy 2, scipy 1.16, skimage 0.25).
"""
import json
import pathlib

import numpy as np
import scipy
import skimage
from scipy.ndimage import correlate, gaussian_filter
from scipy.stats import rankdata, spearmanr
from skimage.metrics import structural_similarity

rng = np.random.default_rng(20181)
out = {"versions": {"numpy": np.__version__, "scipy": scipy.__version__, "skimage": skimage.__version__}}

# Ranks and Spearman with many ties (integer maps), and without (continuous maps).
tied_a = rng.integers(0, 5, size=(12, 12)).astype(np.float32)
tied_b = (tied_a + rng.integers(0, 4, size=(12, 12))).astype(np.float32)
cont_a = rng.random((16, 16)).astype(np.float32)
cont_b = (cont_a + 0.5 * rng.random((16, 16))).astype(np.float32)
out["rank_input"] = tied_a.ravel().tolist()
out["rank_expected"] = rankdata(tied_a.ravel()).tolist()
out["spearman_cases"] = [
    {"a": x.tolist(), "b": y.tolist(), "rho": float(spearmanr(x.ravel(), y.ravel()).statistic)}
    for x, y in [(tied_a, tied_b), (cont_a, cont_b)]
]

# SSIM with skimage's defaults (7x7 uniform window, sample covariance), data_range 1.
smooth = np.fromfunction(lambda r, c: 0.5 + 0.5 * np.sin(r / 4.0) * np.cos(c / 5.0), (24, 30)).astype(np.float32)
noisy = np.clip(smooth + 0.2 * rng.standard_normal(smooth.shape), 0, 1).astype(np.float32)
other = rng.random((24, 30)).astype(np.float32)
out["ssim_cases"] = [
    {"a": x.tolist(), "b": y.tolist(), "ssim": float(structural_similarity(x, y, data_range=1.0))}
    for x, y in [(smooth, noisy), (smooth, other)]
]

# RISE's blur: gkern(11, 5) = gaussian_filter of an 11x11 impulse, then conv2d(padding=5) per channel.
impulse = np.zeros((11, 11))
impulse[5, 5] = 1
kern = gaussian_filter(impulse, 5)
out["blur_kernel_2d"] = kern.tolist()
image = rng.standard_normal((3, 20, 20)).astype(np.float32)
out["blur_input"] = image.tolist()
out["blur_expected"] = np.stack([correlate(image[c].astype(np.float64), kern, mode="constant", cval=0.0) for c in range(3)]).tolist()

# RISE's auc(): (sum - first/2 - last/2) / (n - 1).
curve = rng.random(33)
out["auc_curve"] = curve.tolist()
out["auc_expected"] = float((curve.sum() - curve[0] / 2 - curve[-1] / 2) / (curve.shape[0] - 1))

path = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "compare" / "reference.json"
path.write_text(json.dumps(out))
print(f"wrote {path} ({path.stat().st_size} bytes)")
