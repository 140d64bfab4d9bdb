#!/usr/bin/env python3
"""Make a TEST MIRROR for `scripts/reproduce.sh --mirror DIR --test-mirror`: every file the real run downloads,
under its name in the cache, in the official format, with seeded random weights where the real file holds
weights. It proves the real path offline: the run loads these files with the very functions that load the
official ones (models/export.py: load_torchvision_state_dict, load_places365_state_dict, load_openai_clip,
load_open_clip_safetensors), and takes the data and images out of GitHub-style archives as the real run does.

  resnet50-11ad3fa6.pth, resnet50-0676ba61.pth,  torchvision's format: torch.save(state_dict), zip archive
  resnet18-f37072fd.pth
  resnet18_places365.pth.tar                     CSAILVision's: torch.save({"epoch", "arch", "state_dict",
                                                 "best_prec1"}) of a DataParallel model ("module." keys), in
                                                 torch's legacy non-zip format
  ViT-B-16.pt                                    openai's: a TorchScript archive with openai's parameter names,
                                                 float16
  broden1_224.zip                                Broden's layout (NetDissect's loadseg.py, dlbroden.sh): broden1_224/
                                                 index.csv, category.csv, label.csv, c_<category>.csv, a .txt
                                                 file, images/<source>/*.jpg (224x224, made from shared/ photos)
                                                 with their PNG masks beside them; c_scene.csv names a third of
                                                 the Places365 classes as Broden does (`name-s`, '/' as '-')
  vit_base_patch16_clip_224.openai.safetensors   open_clip's copy of the same weights (CLIP's alternative
                                                 source): a safetensors state_dict, same names, float16
  REPO-COMMIT.tar.gz                             GitHub's tarball of each pinned commit (top folder REPO-COMMIT/)
                                                 holding the pinned data files and images at their paths, copied
                                                 from shared/data (byte-identical to the pinned files, except the
                                                 1000 probe images, which shared/ holds resized)

Nothing made from this mirror is a real result: reproduce.sh refuses its hashes unless --test-mirror is given, and
then labels every output "TEST MIRROR - not the official weights". Never commit anything made from it.

  models/make_test_mirror.py --out /tmp/mirror [--shared ../shared/data] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "models"), str(REPO / "scripts")]
import fetch  # noqa: E402  (the pins and the file names the run looks for)
from export import seeded_random_init, shared_dir  # noqa: E402  (the same init the random exports use)


def random_resnet(arch: str, classes: int, seed: int) -> torch.nn.Module:
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None, num_classes=classes).eval()
    seeded_random_init(net, seed)
    # The classifier is scaled so that the largest logit on seeded noise is 8: the softmax then neither
    # saturates (every perturbation would score 1.0) nor is flat, so every number a run computes is a real
    # computation.
    with torch.no_grad():
        noise = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 2))
        scale = 8.0 / float(net(noise).abs().max())
        net.fc.weight.mul_(scale)
        net.fc.bias.mul_(scale)
    return net


def write_torchvision(path: Path, arch: str, seed: int) -> None:
    torch.save(random_resnet(arch, 1000, seed).state_dict(), path)


def write_places365(path: Path, seed: int) -> None:
    state = {"module." + k: v for k, v in random_resnet("resnet18", 365, seed).state_dict().items()}
    checkpoint = {"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 0.0}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)


class _Params(torch.nn.Module):
    """A module tree that holds tensors under given dotted names; scripted, it is a TorchScript archive whose
    state_dict has exactly those names (what open_clip.load_openai_model reads from openai's archive)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def random_clip_state(seed: int) -> dict:
    import open_clip

    torch.manual_seed(seed)
    # open_clip's CLIP keeps openai's parameter names (it loads openai's state_dict as is).
    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, device="cpu", precision="fp32")
    return model.state_dict()


def write_openai_clip(path: Path, seed: int) -> None:
    root = _Params()
    for name, tensor in random_clip_state(seed).items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            if not hasattr(node, part):
                node.add_module(part, _Params())
            node = getattr(node, part)
        # openai's archives are float16.
        node.register_parameter(leaf, torch.nn.Parameter(tensor.detach().half(), requires_grad=False))
    torch.jit.save(torch.jit.script(root), str(path))


# Broden's sources and how each names its images and masks (broden1_224/images/<source>/).
BRODEN_SOURCES = {
    "ade20k": ("ADE_train_{:08d}.jpg", ["_object.png", "_part_1.png", "_color.png"]),
    "dtd": ("banded_{:04d}.jpg", ["_texture.png"]),
    "opensurfaces": ("{}.jpg", ["_color.png", "_material.png"]),
    "pascal": ("2008_{:06d}.jpg", ["_object.png", "_part.png"]),
}
BRODEN_CATEGORIES = ["color", "object", "part", "material", "scene", "texture"]


def broden_zip(path: Path, shared: Path, places_categories: str, per_source: int = 60) -> None:
    """A small Broden in the layout of the real archive: 224x224 JPEGs cut from shared/ photos (deterministic),
    PNG masks beside them (which dlbroden.sh deletes: never probe images), the CSV tables and a .txt file."""
    from PIL import Image

    photos = sorted((shared / "imagenet-probe-1000").glob("*.JPEG"))
    members: dict[str, bytes] = {}
    index_rows = []
    k = 0
    for source, (pattern, masks) in BRODEN_SOURCES.items():
        for i in range(per_source):
            photo = Image.open(photos[(k * 7) % len(photos)]).convert("RGB")
            k += 1
            side = min(photo.size)
            left, top = (photo.width - side) // 2, (photo.height - side) // 2
            view = photo.crop((left, top, left + side, top + side)).resize((224, 224), Image.BILINEAR)
            jpeg = io.BytesIO()
            view.save(jpeg, "JPEG", quality=90)
            name = pattern.format(i + 1)
            members[f"broden1_224/images/{source}/{name}"] = jpeg.getvalue()
            for suffix in masks:
                png = io.BytesIO()
                Image.new("RGB", (224, 224), (i % 256, k % 256, 0)).save(png, "PNG")
                members[f"broden1_224/images/{source}/{name[:-4]}{suffix}"] = png.getvalue()
            index_rows.append([f"{source}/{name}", "train", 224, 224, 112, 112] + [""] * len(BRODEN_CATEGORIES))

    def table(header, rows) -> bytes:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return text.getvalue().encode()

    members["broden1_224/index.csv"] = table(["image", "split", "ih", "iw", "sh", "sw", *BRODEN_CATEGORIES],
                                             index_rows)
    # Scenes as Broden names them: a third of the Places365 classes, `/` written `-`, suffixed `-s`.
    scenes = [line[3:].split(" ")[0].replace("/", "-") + "-s" for line in places_categories.split("\n")[::3]]
    labels = [("-", "")] + [(s, "scene") for s in scenes] + [("sky", "object"), ("wood", "material"),
                                                             ("banded", "texture"), ("red-c", "color")]
    members["broden1_224/label.csv"] = table(["number", "name", "category", "frequency", "coverage", "syns"],
                                             [[n, name, cat, 1, 1.0, ""] for n, (name, cat) in enumerate(labels)])
    members["broden1_224/category.csv"] = table(["name", "first", "last", "count", "frequency"],
                                                [[c, 1, len(labels), 1, 1] for c in BRODEN_CATEGORIES])
    for category in BRODEN_CATEGORIES:
        numbers = [(n, name) for n, (name, cat) in enumerate(labels) if cat == category]
        rows = [[code, n, name, 1, 1.0] for code, (n, name) in enumerate(numbers, start=1)]
        members[f"broden1_224/c_{category}.csv"] = table(["code", "number", "name", "frequency", "coverage"], rows)
    members["broden1_224/README.txt"] = b"TEST MIRROR - a Broden-shaped archive made by models/make_test_mirror.py\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(2017, 4, 1, 0, 0, 0))
            z.writestr(info, members[name])


def write_open_clip_safetensors(path: Path, seed: int) -> None:
    """The same random weights as write_openai_clip with the same seed, as open_clip's hub copy holds them."""
    from safetensors.torch import save_file

    save_file({name: tensor.detach().half().contiguous() for name, tensor in random_clip_state(seed).items()},
              str(path))


def write_archive(path: Path, top: str, files: dict[str, Path]) -> None:
    """A tarball shaped like GitHub's for a commit: every file under top/ at its path in the commit."""
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo(top)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for member, source in sorted(files.items()):
            info = tarfile.TarInfo(f"{top}/{member}")
            data = source.read_bytes()
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shared", type=Path, default=None, help="shared/data (default: ../shared/data)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shared = args.shared or shared_dir()
    if shared is None or not shared.is_dir():
        parser.error("shared/data not found: pass --shared")
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    weights = {name: pin.file_name for name, pin in fetch.weight_pins().items()}
    print(f"make_test_mirror: random weights (seed {args.seed}) in the official formats -> {out}", flush=True)
    write_torchvision(out / weights["resnet50_imagenet1k_v2"], "resnet50", args.seed)
    write_torchvision(out / weights["resnet50_imagenet1k_v1"], "resnet50", args.seed + 5)
    write_torchvision(out / weights["resnet18_imagenet1k_v1"], "resnet18", args.seed + 10)
    write_places365(out / weights["resnet18_places365"], args.seed + 20)
    write_openai_clip(out / weights["clip_vit_b16"], args.seed + 30)
    write_open_clip_safetensors(out / fetch.alternative_pins()["clip_vit_b16"][0].file_name, args.seed + 30)

    # Data files by their pinned path inside shared/data, images from shared/data's seed and probe folders.
    where = {
        "bpe_simple_vocab_16e6.txt.gz": shared / "clip" / "bpe_simple_vocab_16e6.txt.gz",
        "categories_places365.txt": shared / "labels" / "categories_places365.txt",
    }
    members: dict[str, dict[str, Path]] = {}
    for pin, item in fetch.data_pins():
        source = where.get(pin.file_name)
        if source is None:
            source = (shared / "concepts" / pin.file_name if item["kind"] == "concepts"
                      else shared / "clip-dissect-results" / item["path"])
        if "archive" in item:
            members.setdefault(item["archive"], {})[item["member"]] = source
        else:
            shutil.copyfile(source, out / pin.file_name)
    probe, seeds = shared / "imagenet-probe-1000", shared / "imagenet-samples"
    members.setdefault(fetch.PINS["images"]["archive"], {}).update(
        {name: seeds / name if (seeds / name).exists() else probe / name for name in fetch.image_pins()})
    for repo, files in members.items():
        archive = fetch.archives()[repo]
        write_archive(out / archive.file_name, archive.file_name.removesuffix(".tar.gz"), files)
    for dataset in fetch.PINS["datasets"]:
        assert dataset["name"] == "broden1_224", dataset["name"]
        broden_zip(out / dataset["url"].rsplit("/", 1)[1], shared,
                   (shared / "labels" / "categories_places365.txt").read_text())
    (out / "MIRROR.md").write_text(
        "# TEST MIRROR - not the official weights\n\nMade by models/make_test_mirror.py (seed "
        f"{args.seed}): seeded random weights in the official file formats, data files and images from "
        "shared/data in archives shaped like GitHub's. "
        "For `scripts/reproduce.sh --mirror DIR --test-mirror` only; nothing made from it is a real result.\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"make_test_mirror: {len(list(out.iterdir()))} files, {total / 1e6:.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
