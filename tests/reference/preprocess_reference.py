#!/usr/bin/env python3
"""Reference model views for glassbox's preprocessing tests (crate/tests/preprocess.rs).

Writes to tests/fixtures/preprocess/ (run from the repository root, with the /work/venv Python:
torch, torchvision, pillow, numpy):

- `<stem>.npy`: uint8 [224, 224, 3], torchvision `Resize(256) + CenterCrop(224)` of each image in
  shared/data/imagenet-samples/ (PIL decoding, as torchvision's ImageFolder does). The float tensor
  torchvision feeds a ResNet is `Normalize(ToTensor(view))`; the script asserts that this equals the
  normalised uint8 view exactly, so comparing uint8 views is the same check as comparing tensors.
- `<stem>_central_crop_224.npy`: uint8 [224, 224, 3], the TF-slim MobileNet view: centre square crop of
  side int(min(W, H) * 0.875) at ((W - side) // 2, (H - side) // 2), then PIL resize((224, 224), BILINEAR).
- `synthetic_*.png` + `synthetic_*_{torchvision,central_crop_224}.npy`: small lossless images (odd sizes,
  upscaling, grey, RGBA, palette) whose views must match bit for bit (no JPEG decoder differences).
- `exif_rotate6.jpg` + `exif_rotate6.npy`: a JPEG with EXIF orientation 6, and PIL's
  `ImageOps.exif_transpose` of it (glassbox applies EXIF orientation; PIL alone does not).
- `grey16.png` + `grey16.npy`: a 16-bit greyscale PNG and its 8-bit RGB expectation round(v / 257).
- `cmyk.jpg` + `cmyk.npy`: a CMYK JPEG of flat colour blocks and the RGB colours of its blocks.

Also writes crate/src/imagenet_labels.txt, the 1000 class names in torchvision order:
`torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]`.

GLASSBOX_SHARED overrides the location of shared/ (default: ../shared next to the repository).
"""
import os
import pathlib

import numpy as np
import torch
import torchvision
from PIL import Image, ImageOps
from torchvision import transforms

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("GLASSBOX_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data" if (SHARED / "data").is_dir() else SHARED
OUT = REPO / "tests" / "fixtures" / "preprocess"

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
TORCHVISION_VIEW = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
TORCHVISION_TENSOR = transforms.Compose(
    [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
)


def central_crop_view(img: Image.Image, size: int, fraction: float = 0.875) -> Image.Image:
    w, h = img.size
    side = int(min(w, h) * fraction)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)


def save(name: str, array: np.ndarray) -> None:
    np.save(OUT / name, np.ascontiguousarray(array))


def check_tensor_is_normalised_view(img: Image.Image, view: np.ndarray) -> None:
    reference = TORCHVISION_TENSOR(img)
    mine = (torch.from_numpy(view.copy()).permute(2, 0, 1).float() / 255.0 - torch.tensor(MEAN)[:, None, None]) / torch.tensor(
        STD
    )[:, None, None]
    assert torch.equal(reference, mine), "torchvision's tensor is not the normalised uint8 view"


def imagenet_samples() -> None:
    paths = sorted((DATA / "imagenet-samples").glob("*.JPEG"))
    assert len(paths) == 10, f"expected the 10 sample images in {DATA / 'imagenet-samples'}; set GLASSBOX_SHARED"
    for path in paths:
        img = Image.open(path).convert("RGB")
        view = np.asarray(TORCHVISION_VIEW(img))
        assert view.shape == (224, 224, 3)
        check_tensor_is_normalised_view(img, view)
        save(f"{path.stem}.npy", view)
        save(f"{path.stem}_central_crop_224.npy", np.asarray(central_crop_view(img, 224)))
        print(path.name, img.size)


def synthetic() -> None:
    rng = np.random.default_rng(20261128)
    # Smooth gradients plus noise: exercises every filter tap without being incompressible.
    def pattern(h, w):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
        return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)

    cases = {
        # Upscaling in both passes (shorter side 77 -> 256), odd crop offsets.
        "synthetic_small_rgb": Image.fromarray(pattern(77, 101)),
        # Landscape, downscaling, (H - 224) / 2 = 0.5 exercises round-half-to-even.
        "synthetic_wide_grey": Image.fromarray(pattern(301, 517)[..., 0]),
        # Alpha is dropped without compositing, as convert("RGB") does.
        "synthetic_rgba": Image.fromarray(
            np.concatenate([pattern(260, 240), rng.integers(0, 256, (260, 240, 1), dtype=np.uint8)], -1)
        ),
        "synthetic_palette": Image.fromarray(pattern(230, 250)).quantize(64),
    }
    for name, img in cases.items():
        img.save(OUT / f"{name}.png")
        rgb = Image.open(OUT / f"{name}.png").convert("RGB")
        save(f"{name}_torchvision.npy", np.asarray(TORCHVISION_VIEW(rgb)))
        save(f"{name}_central_crop_224.npy", np.asarray(central_crop_view(rgb, 224)))
        print(name, img.mode, img.size)


def exif_rotation() -> None:
    y, x = np.mgrid[0:48, 0:64]
    # An asymmetric picture (a bright top-left block) so every orientation is distinguishable.
    arr = np.stack([x * 4, y * 5, np.where((x < 16) & (y < 12), 255, 40)], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(arr).save(OUT / "exif_rotate6.jpg", quality=95, exif=exif)
    shown = ImageOps.exif_transpose(Image.open(OUT / "exif_rotate6.jpg")).convert("RGB")
    assert shown.size == (48, 64)
    save("exif_rotate6.npy", np.asarray(shown))


def grey16() -> None:
    y, x = np.mgrid[0:40, 0:50]
    arr = ((x * 1300 + y * 17) % 65536).astype(np.uint16)
    Image.fromarray(arr).save(OUT / "grey16.png")
    assert Image.open(OUT / "grey16.png").mode in ("I;16", "I")
    v = np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    save("grey16.npy", np.repeat(v[..., None], 3, axis=-1))


def cmyk() -> None:
    # 2 x 3 blocks of 16 px (whole JPEG MCUs): cyan, magenta, yellow / black, white, 50% grey (K only).
    blocks = [[(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0)], [(0, 0, 0, 255), (0, 0, 0, 0), (0, 0, 0, 128)]]
    rgb_expected = [[(0, 255, 255), (255, 0, 255), (255, 255, 0)], [(0, 0, 0), (255, 255, 255), (127, 127, 127)]]
    arr = np.zeros((32, 48, 4), np.uint8)
    want = np.zeros((32, 48, 3), np.uint8)
    for r in range(2):
        for c in range(3):
            arr[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = blocks[r][c]
            want[r * 16 : (r + 1) * 16, c * 16 : (c + 1) * 16] = rgb_expected[r][c]
    Image.fromarray(arr, "CMYK").save(OUT / "cmyk.jpg", quality=100)
    save("cmyk.npy", want)


def labels() -> None:
    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert len(categories) == 1000
    (REPO / "crate" / "src" / "imagenet_labels.txt").write_text("\n".join(categories) + "\n")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    imagenet_samples()
    synthetic()
    exif_rotation()
    grey16()
    cmyk()
    labels()
    print("torch", torch.__version__, "torchvision", torchvision.__version__, "pillow", Image.__version__)
