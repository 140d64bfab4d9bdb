#!/usr/bin/env python3
"""The mission's results in one command (called by scripts/reproduce.sh; Python standard library only).

  scripts/reproduce.sh [--out DIR] [--quick] [--mirror DIR|URL [--test-mirror]]
                       [--probe broden|imagenet-samples|DIR] [--probe-every K] [--python PY] [--torch cpu|pypi]

Stages, each cached in OUT/.stages/ so that a rerun after a failure resumes where it stopped:
  fetch    every input of models/pins.json (weights, CLIP's vocabulary, CLIP-Dissect's concept sets and
           published labels, the 10 seed images, the probe set: Broden 1.0 224 px by default) into the download
           cache, hash-checked, with retries, resumes and fallback sources (scripts/fetch.py); laid out as a data
           folder (OUT/data, shaped like shared/data) for the later stages
  python   a virtual environment from models/requirements.txt, torch from PyTorch's CPU wheels on Linux x86_64
           (--torch pypi for PyPI's CUDA build) (unless --python is given)
  export   models/export.py: ResNet-50, both ResNet-18s and CLIP ViT-B/16 as prepared ONNX graphs + manifests
  build    the glassbox CLI (cargo build --release; or --glassbox BIN)
  explain  glassbox explain: every CAM and LIME (the tutorial's settings) on the seed images with ResNet-50
  dissect  glassbox dissect, as describe_neurons.py runs by default (CLIP ViT-B/16, Broden, 20k concepts,
           soft_wpmi): layer2/3/4 of both ResNet-18s, the Places365 one compared unit by unit with CLIP-Dissect's
           published labels; and the paper's own final-layer tables replicated (Table 2: ResNet-18 Places365 fc
           with the Broden concepts; Table 3: ResNet-50 IMAGENET1K_V1 fc with the ImageNet class names and 20k)
  report   glassbox report: D1-D4 for ResNet-50 (reusing explain's maps), D1 from the dissection tables
  site     OUT/site: the static site with the ResNet-50 graph, the seed images, the tables and the report

--mirror DIR takes every download from DIR/<file name> (--mirror URL from <URL><file name>); a file whose
sha256 differs from its pin is refused unless --test-mirror is given, which labels every output "TEST MIRROR -
not the official weights" (models/make_test_mirror.py makes such a mirror). --quick makes a small run (the cut
is written into every output). OUT/reproduce.json records each stage's wall time, the tool versions and every
input's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import dataclasses
import math
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

# Pins, downloads, hashes and the banner, shared with models/export.py.
from fetch import (PINS, REPO, TEST_MIRROR_BANNER, Fetcher, Pin, Refused, alternative_pins, archives,
                   as_mirror, data_pins, dataset_pin, human, image_pins, log, sha256_file, weight_pins, with_banner)

RESNET50 = "resnet50_imagenet1k_v2"
# CLIP-Dissect's `resnet50` (IMAGENET1K_V1 weights), dissected only for its Table 3.
RESNET50_V1 = "resnet50_imagenet1k_v1"
RESNET18S = ["resnet18_imagenet1k_v1", "resnet18_places365"]
# Broden 1.0 at 224 px: CLIP-Dissect's default probe set. The count is that of the official archive's JPEGs;
# the run counts what it extracted.
BRODEN_IMAGES = 63305
# Rates on the 2-core dev VM, seconds per image or concept (README "Real results"): `glassbox dissect` with
# onnxruntime on every graph of the test mirror (the real topologies), 240 Broden-layout images, a debug build (the
# run's release build is faster); each pass's JPEG decoding and preprocessing included. DECODE_S: the check against
# Pillow (models/check_decoding.py), per image.
CLIP_IMAGE_S, RESNET18_S, RESNET50_S, DECODE_S, CLIP_TEXT_S = 0.14, 0.0125, 0.025, 0.002, 0.024
CLIP_DISSECT = "Trustworthy-ML-Lab/CLIP-dissect@21e7697f"
LAYERS = ["layer2", "layer3", "layer4"]
# Static batch of the graphs: 8 for the page (wonnx wants a static batch) and the dissection; the native
# explain/report runs use ResNet-50 at batch 1, which tract runs 2.3x faster per image than at batch 8
# (0.21 vs 0.49 s per image on the 2-core VM, `glassbox bench --methods lime`).
BATCH = 8
NATIVE_RESNET50_BATCH = 1
# The CAMs the explain page shows (beside LIME), and where the site keeps the run's explanations of them.
PAGE_CAMS = ["gradcam", "ablationcam", "scorecam"]
RUN_EXPLANATIONS = "run-explanations"
# One ResNet-50 V2 pass of explain and report, the image's perturbation included (batch 1, onnxruntime, the
# 2-core VM: LIME's passes in the quick run; README's time budget).
EXPLAIN_PASS_S = 0.035


@dataclass(frozen=True)
class Scale:
    """How much of the real run to do; --quick cuts every dimension and says so in every output."""

    images: int
    lime_samples: int
    # Every k-th probe image (ImageFolder order), then at most probe_images of them.
    probe_every: int
    probe_images: int | None
    concepts: int | None
    broden_concepts: int | None
    sanity_images: int
    cascade: str
    # ScoreCAM costs one forward pass per layer4 channel: 2048 ResNet-50 passes per image.
    scorecam: bool
    # soft-WPMI's top_k (CLIP-Dissect: 100 most activating images); at most the number of probe images.
    top_k: int | None
    # Pixels per deletion/insertion step of the faithfulness curves (None: the report's 224*7, 32 steps).
    causal_step: int | None

    def describe(self) -> str:
        if self == FULL:
            return "full run"
        if dataclasses.replace(self, probe_every=1) == FULL:
            return f"full run, every {ordinal(self.probe_every)} probe image"
        return (f"QUICK run: {self.images} of 10 seed images, LIME {self.lime_samples} samples, "
                f"every {ordinal(self.probe_every)} probe image up to {self.probe_images}, "
                f"the first {self.concepts} of the 20k concepts and {self.broden_concepts} of the Broden concepts "
                f"and of the ImageNet class names, sanity check on {self.sanity_images} image(s) "
                f"(cascade {self.cascade})" + ("" if self.scorecam else ", no ScoreCAM (2048 passes per image)")
                + f", soft-WPMI top_k {self.top_k}, faithfulness curves in steps of {self.causal_step} pixels")

    def explain_methods(self) -> str:
        cams = ["gradcam", "ablationcam", "scorecam", "gradcamplusplus", "xgradcam", "layercam", "eigencam",
                "hirescam"]
        return ",".join([c for c in cams if self.scorecam or c != "scorecam"] + ["lime"])

    def report_cams(self) -> str:
        return "gradcam,ablationcam,scorecam" if self.scorecam else "gradcam,ablationcam"


# The real run's cut (see README "Real results"): the sanity check re-explains 1 image (each cascade stage
# costs a ScoreCAM and a LIME run on ResNet-50: 3049 passes); everything else is the mission's full size.
FULL = Scale(images=10, lime_samples=1000, probe_every=1, probe_images=None, concepts=None, broden_concepts=None,
             sanity_images=1, cascade="1,2,5", scorecam=True, top_k=None, causal_step=None)
QUICK = Scale(images=2, lime_samples=32, probe_every=3, probe_images=48, concepts=100, broden_concepts=100,
              sanity_images=1, cascade="1", scorecam=False, top_k=16, causal_step=224 * 28)


def ordinal(k: int) -> str:
    """2nd, 3rd, 4th, 11th, 22nd (as the dissection tables write their subsets)."""
    suffix = "th" if 11 <= k % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


# What extract_broden keeps; a change of these rules extracts again (the `.complete` marker holds it).
BRODEN_EXTRACTION = "dlbroden.sh: no images/**/*.png, no top-level *.txt"


def extract_broden(archive: Path, digest: str, folder: Path) -> Path:
    """The tree `dlbroden.sh` leaves: everything of broden1_224.zip but the PNG masks under images/ and the
    top-level .txt files, in `folder`. Extracted once per archive hash and extraction rules (a `.complete`
    marker holds both); an interrupted extraction starts over. An archive that is not Broden's (a damaged
    download, an error page) is deleted from the cache, so that the next run downloads it again."""
    marker = folder / ".complete"
    stamp = f"{digest} {BRODEN_EXTRACTION}"
    if marker.exists() and marker.read_text().strip() == stamp:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    try:
        kept = _extract_broden_files(archive, folder)
    except (zipfile.BadZipFile, zlib.error, EOFError, Refused) as error:
        shutil.rmtree(folder, ignore_errors=True)
        archive.unlink(missing_ok=True)
        problem = str(error.code).removeprefix("reproduce: ") if isinstance(error, Refused) else \
            f"{archive.name} is not a readable zip ({type(error).__name__}: {error})"
        raise Refused(f"{problem}. It was deleted from the cache ({archive.parent}); run the same command again to "
                      "download it again, or give the file with --mirror") from None
    log(f"  broden1_224: {kept} files extracted (PNG masks and .txt files left out, as dlbroden.sh does)")
    marker.write_text(stamp + "\n")
    return folder


def _extract_broden_files(archive: Path, folder: Path) -> int:
    kept = 0
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or parts[0] != "broden1_224" or len(parts) < 2 or ".." in parts:
                continue
            inner = parts[1:]
            if inner[0] == "images" and info.filename.lower().endswith(".png"):
                continue  # dlbroden.sh: rm images/*/*.png (segmentation masks)
            if len(inner) == 1 and inner[0].endswith(".txt"):
                continue  # dlbroden.sh: rm *.txt
            target = folder.joinpath(*inner)
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            kept += 1
    if not (folder / "images").is_dir() or not (folder / "c_scene.csv").is_file():
        raise Refused(f"{archive.name}: no broden1_224/images/ or broden1_224/c_scene.csv inside: not the Broden "
                      "archive (expected what dlbroden.sh downloads)")
    return kept


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        target.unlink()
    os.link(source, target) if source.stat().st_dev == target.parent.stat().st_dev else shutil.copy(source, target)


def first_lines(source: Path, target: Path, n: int | None) -> Path:
    """The concept set, or its first n lines for a quick run (named so that every table records the cut)."""
    if n is None:
        link(source, target)
        return target
    cut = target.with_name(f"{target.stem}_first{n}{target.suffix}")
    lines = source.read_text().splitlines()[:n]
    cut.parent.mkdir(parents=True, exist_ok=True)
    cut.write_text("\n".join(lines) + "\n")
    return cut


# ---------------------------------------------------------------------------------------------- stages


class Run:
    def __init__(self, args):
        self.args = args
        self.out: Path = args.out.resolve()
        self.scale = QUICK if args.quick else FULL
        if args.probe_every:
            self.scale = dataclasses.replace(self.scale, probe_every=args.probe_every)
        self.test_mirror = args.test_mirror
        self.banner = TEST_MIRROR_BANNER if self.test_mirror else ""
        default_cache = (self.out / "cache" if self.test_mirror else
                         Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glassbox" / "downloads")
        self.cache = (args.cache or default_cache).resolve()
        self.data = self.out / "data"
        self.models = self.out / "models"
        self.precomputed = self.out / "precomputed"
        self.stages_dir = self.out / ".stages"
        self.stage_log: list[dict] = []
        self.inputs: dict[str, dict] = {}
        self.python: str | None = str(args.python) if args.python else None
        self.glassbox: str | None = str(args.glassbox.resolve()) if args.glassbox else None
        self.seed_images = PINS["images"]["seed"][: self.scale.images]

    # --- bookkeeping

    def stage(self, name: str, key: dict, estimate_s: float, body) -> None:
        """Runs `body` unless the stage already finished with the same key (inputs and settings)."""
        self.stages_dir.mkdir(parents=True, exist_ok=True)
        marker = self.stages_dir / f"{name}.json"
        key_text = json.dumps(key, sort_keys=True, default=str)
        index = len(self.stage_log) + 1
        left = sum(s for n, s in self.remaining_estimates() if n not in {x["stage"] for x in self.stage_log})
        if marker.exists():
            done = json.loads(marker.read_text())
            if done.get("key") == key_text and STAGE_STILL_THERE.get(name, lambda r: True)(self):
                log(f"[{index}/{len(STAGES)}] {name}: done in an earlier run ({human(done['seconds'])}), reused")
                self.restore(done.get("extra", {}))
                self.stage_log.append({"stage": name, "seconds": done["seconds"], "reused": True,
                                       **done.get("extra", {})})
                return
        log(f"[{index}/{len(STAGES)}] {name}: estimated {human(estimate_s)} (about {human(left)} left in all)")
        started = time.monotonic()
        extra = body() or {}
        seconds = time.monotonic() - started
        marker.write_text(json.dumps({"key": key_text, "seconds": seconds, "extra": extra}, indent=1))
        self.stage_log.append({"stage": name, "seconds": seconds, "reused": False, **extra})
        log(f"[{index}/{len(STAGES)}] {name}: {human(seconds)}")

    def restore(self, extra: dict) -> None:
        """What a reused stage found out (the Python and the binary the later stages call)."""
        self.python = extra.get("python", self.python)
        self.glassbox = extra.get("glassbox", self.glassbox)

    def remaining_estimates(self) -> list[tuple[str, float]]:
        return [(name, estimate(self)) for name, estimate, _ in STAGES]

    def env(self) -> dict:
        env = dict(os.environ)
        env["GLASSBOX_SHARED"] = str(self.data)
        return env

    def sh(self, command: list[str], **kwargs) -> None:
        log("  $ " + " ".join(str(c) for c in command))
        # The children's output goes to stderr with this log; stdout stays for what the caller asked for.
        result = subprocess.run([str(c) for c in command], env=self.env(), stdout=sys.stderr, **kwargs)
        if result.returncode != 0:
            raise Refused(f"{Path(str(command[0])).name} failed (exit {result.returncode}); see its output above. "
                          "Rerun the same command to resume from this stage.")

    def glassbox_cmd(self) -> list[str]:
        command = [self.glassbox]
        if self.args.threads:
            command += ["--threads", str(self.args.threads)]
        return command

    # --- fetch

    def fetch(self) -> dict:
        fetcher = Fetcher(self.cache, self.args.mirror, self.test_mirror)
        log(f"  cache {self.cache}" + (f", mirror {self.args.mirror}" if self.args.mirror else ""))
        alternatives = alternative_pins()
        for name, pin in weight_pins(self.args.places365_sha256).items():
            fetcher.get_any([pin, *alternatives.get(name, [])])
        layout = self.data
        # The files of a pinned GitHub commit come from its archive; any other data file on its own.
        by_archive: dict[str, dict[str, Pin]] = {}
        fetched: dict[str, Path] = {}
        for pin, item in data_pins():
            if "archive" in item:
                by_archive.setdefault(item["archive"], {})[item["member"]] = pin
            else:
                fetched[pin.file_name] = fetcher.get(pin, show_bar=False)
        images = image_pins()
        wanted = sorted(images) if self.args.probe == "imagenet-samples" else PINS["images"]["seed"]
        by_archive.setdefault(PINS["images"]["archive"], {}).update({name: images[name] for name in wanted})
        for repo, members in by_archive.items():
            found = fetcher.get_from_archive(archives()[repo], members)
            fetched |= {members[member].file_name: path for member, path in found.items()}
        for pin, item in data_pins():
            folder = {"clip_vocab": "clip", "concepts": "concepts", "labels": "labels"}.get(item["kind"])
            link(fetched[pin.file_name],
                 layout / folder / pin.file_name if folder else layout / "clip-dissect-results" / item["path"])
        for name in wanted:
            if name in PINS["images"]["seed"]:
                link(fetched[name], layout / "imagenet-samples" / name)
            if self.args.probe == "imagenet-samples":
                link(fetched[name], layout / "imagenet-probe" / name)
        log(f"  images: {len(wanted)}")
        if self.args.probe == "broden":
            pin = dataset_pin("broden1_224", self.args.broden_sha256)
            archive = fetcher.get(pin)
            extract_broden(archive, fetcher.records[pin.file_name]["sha256"], self.broden_dir())
            # In the data folder under a telling name: the tables record it as the probe folder, and the report
            # and the site find the top images there.
            probe = self.probe_dir()
            if probe.is_symlink() or probe.exists():
                probe.unlink()
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.symlink_to(self.broden_dir() / "images", target_is_directory=True)
        # torchvision's class order is the sorted wnids (the pinned images are one per class).
        wnids = sorted({name.split("_")[0] for name in images})
        (layout / "labels").mkdir(parents=True, exist_ok=True)
        (layout / "labels" / "imagenet_wnids.txt").write_text("\n".join(wnids) + "\n")
        self.inputs = fetcher.records
        (self.out / "inputs.json").write_text(json.dumps(self.inputs, indent=1) + "\n")
        mismatched = sorted(n for n, r in self.inputs.items() if not r["matches_pin"])
        return {"files": len(self.inputs), "not_matching_pins": len(mismatched)}

    # --- python

    def python_env(self) -> dict:
        if self.python:
            return {"python": self.python}
        requirements = REPO / "models" / "requirements.txt"
        index = TORCH_INDEXES[self.args.torch]
        tag = sha256_file(requirements)[:12] + ("" if index is None else f"-{self.args.torch}")
        venv = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glassbox" / f"venv-{tag}"
        python = venv / "bin" / "python"
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            self.sh([sys.executable, "-m", "venv", venv])
            pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
            if index:
                # torch and torchvision at their pins from the other index first; the second install then finds
                # them satisfied (2.15.0+cpu meets ==2.15.0) and takes everything else from PyPI.
                pins = [line.strip() for line in requirements.read_text().splitlines()
                        if line.split("==")[0].strip() in ("torch", "torchvision")]
                self.sh(pip + ["--index-url", index, *pins])
            self.sh(pip + ["-r", requirements])
            (venv / ".complete").write_text(requirements.read_text())
        self.python = str(python)
        return {"python": self.python}

    # --- export

    def export(self) -> dict:
        common = [self.python, REPO / "models" / "export.py", "--out", self.models, "--weights-dir", self.cache,
                  "--places365-categories", self.data / "labels" / "categories_places365.txt"]
        if self.test_mirror:
            common.append("--test-mirror")
        self.sh(common + ["--batch", str(NATIVE_RESNET50_BATCH), str(BATCH), "--models", RESNET50])
        self.sh(common + ["--batch", str(BATCH), "--models", *RESNET18S, RESNET50_V1, "clip_vit_b16_image",
                          "clip_vit_b16_text"])
        shutil.copy(self.data / "clip" / "bpe_simple_vocab_16e6.txt.gz", self.models)
        return {}

    # --- build

    def build(self) -> dict:
        if self.glassbox:
            return {"glassbox": self.glassbox}
        self.sh(["cargo", "build", "--release", "--bin", "glassbox", "--manifest-path", REPO / "Cargo.toml"])
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        self.glassbox = str((target / "release" / "glassbox").resolve())
        return {"glassbox": self.glassbox}

    # --- explain

    def resnet50_manifest(self, batch: int = NATIVE_RESNET50_BATCH) -> Path:
        """The native runs' graph (batch 1), or the site's (batch 8)."""
        return self.models / f"{RESNET50}_b{batch}.json"

    def check_decoding(self, folder: Path, every: int = 1) -> None:
        """Stops the run on the first image glassbox decodes to other pixels than Pillow (the references')."""
        self.sh([self.python, REPO / "models" / "check_decoding.py", "--glassbox", self.glassbox, "--folder", folder,
                 "--every", str(every)])

    def explain(self) -> dict:
        self.check_decoding(self.data / "imagenet-samples")
        images = [self.data / "imagenet-samples" / name for name in self.seed_images]
        self.sh(self.glassbox_cmd() + ["explain", "--model", self.resnet50_manifest(),
                                       "--methods", self.scale.explain_methods(),
                                       "--samples", str(self.scale.lime_samples), "--out", self.out / "explain",
                                       *images])
        return {"images": len(images)}

    # --- dissect

    def matcher_name(self) -> str:
        name = "CLIP ViT-B/16 (openai weights, exported by models/export.py)"
        return with_banner(name, self.test_mirror)

    def weights_text(self, model: str) -> str:
        manifest = json.loads((self.models / f"{model}_b{BATCH}.json").read_text())
        return manifest["description"]

    def job(self, model: str, concepts: Path, name: str, layers: list[str] = LAYERS) -> dict:
        job = {
            "target": {"name": name, "path": str(self.models / f"{model}_b{BATCH}.json"),
                       "weights": self.weights_text(model), "layers": layers},
            "matcher": {"kind": "clip", "name": self.matcher_name(),
                        "image_onnx": str(self.models / f"clip_vit_b16_image_b{BATCH}.onnx"),
                        "text_onnx": str(self.models / f"clip_vit_b16_text_b{BATCH}.onnx"),
                        "bpe_vocab": str(self.models / "bpe_simple_vocab_16e6.txt.gz")},
            "probe_dir": str(self.probe_dir()),
            "probe_name": self.probe_name(),
            "concept_set": str(concepts),
            "top_images": 5,
            "cache_dir": str(self.out / "cache" / "dissect"),
        }
        if self.scale.probe_every > 1:
            job["probe_every"] = self.scale.probe_every
        if self.scale.probe_images:
            job["max_images"] = self.scale.probe_images
        if self.scale.top_k:
            job["params"] = {"top_k": self.scale.top_k}
        return job

    def broden_dir(self) -> Path:
        return self.cache / "broden1_224"

    def probe_dir(self) -> Path:
        if self.args.probe == "broden":
            return self.data / "broden1_224_images"
        if self.args.probe == "imagenet-samples":
            return self.data / "imagenet-probe"
        return Path(self.args.probe).resolve()

    def probe_name(self) -> str:
        if self.args.probe == "broden":
            name = ("Broden 1.0, 224 px (broden1_224/images as dlbroden.sh leaves it: the JPEGs of ADE20k, "
                    "Pascal, OpenSurfaces and DTD), CLIP-Dissect's default probe set")
        elif self.args.probe == "imagenet-samples":
            name = "1000 ImageNet samples, one per class (EliSchwartz/imagenet-sample-images): a quick look"
        else:
            name = f"the folder {self.args.probe}"
        return with_banner(name, self.test_mirror)

    def dissect(self) -> dict:
        self.check_decoding(self.probe_dir(), self.scale.probe_every)
        jobs_dir = self.out / "jobs"
        jobs_dir.mkdir(parents=True, exist_ok=True)
        concepts_dir = self.data / "concepts"
        concepts = first_lines(concepts_dir / "20k.txt", self.out / "concepts" / "20k.txt", self.scale.concepts)
        broden = first_lines(concepts_dir / "broden_labels_clean.txt",
                             self.out / "concepts" / "broden_labels_clean.txt", self.scale.broden_concepts)
        imagenet = first_lines(concepts_dir / "imagenet_labels.txt", self.out / "concepts" / "imagenet_labels.txt",
                               self.scale.broden_concepts)
        jobs = {model: self.job(model, concepts, model) for model in RESNET18S}
        # The published labels of the Places365 ResNet-18 are from the 20k concepts (all 896 layer2-4 labels are
        # lines of 20k.txt), layer by layer.
        # Table 2 below labels this model's fc layer: pooled in the same pass over the probe set.
        jobs["resnet18_places365"]["target"]["also_cached"] = ["logits"]
        jobs["resnet18_places365"]["published"] = {
            "csv": str(self.data / "clip-dissect-results" / "CLIP_Dissect_results" /
                       "resnet18_places_imagenet_broden.csv"),
            "description": f"CLIP-Dissect's published labels of the Places365 ResNet-18 ({CLIP_DISSECT}, "
                           "data/CLIP_Dissect_results/resnet18_places_imagenet_broden.csv): CLIP ViT-B/16, 20k "
                           "concepts, soft_wpmi, probed on ImageNet val + Broden; ours: "
                           f"{self.probe_name()}"}
        # The paper's own final-layer tables (experiments/*.ipynb, their saved outputs).
        notebooks = f"{CLIP_DISSECT} experiments/"
        table2 = self.job("resnet18_places365", broden, "resnet18_places365_table2", ["logits"])
        table2["replicate"] = {
            "protocol": "places_broden_scenes", "layer": "logits",
            "classes": str(self.data / "labels" / "categories_places365.txt"),
            "broden_scenes": str(self.broden_scenes()),
            "source": notebooks + "table2_quantitative_rn18.ipynb (resnet18_places, fc, broden_labels_clean.txt)",
            "published_probe": "Broden 1.0, 224 px (all of it)",
            "published": {"top1": 58.0524, "top5": 86.1423, "clip_similarity": 0.9106, "mpnet_similarity": 0.7024}}
        table3 = self.job(RESNET50_V1, imagenet, f"{RESNET50_V1}_table3_imagenet_labels", ["logits"])
        table3["replicate"] = {
            "protocol": "class_index", "layer": "logits",
            "classes": str(self.data / "concepts" / "imagenet_labels.txt"),
            "source": notebooks + "table3_similarity_comparison.ipynb (resnet50, fc, imagenet_labels.txt, "
                                  "soft_wpmi)",
            "published_probe": "Broden 1.0, 224 px (all of it)",
            "published": {"top1": 70.70, "top5": 90.00}}
        table3_20k = self.job(RESNET50_V1, concepts, f"{RESNET50_V1}_table3_20k", ["logits"])
        table3_20k["replicate"] = {
            "protocol": "similarity_only", "layer": "logits",
            "classes": str(self.data / "concepts" / "imagenet_labels.txt"),
            "source": notebooks + "table3_similarity_comparison.ipynb (resnet50, fc, 20k.txt, soft_wpmi)",
            "published_probe": "Broden 1.0, 224 px (all of it)",
            "published": {"clip_similarity": 0.7412, "mpnet_similarity": 0.3946}}
        if self.args.probe != "broden":
            # Table 2's truth is Broden's scene list: without Broden it cannot be replicated.
            table2 = None
        out = self.precomputed / "dissect"
        # The replicated tables get a folder and summary of their own: their final layers and concept sets are
        # not part of the layer2-4 comparison of the two ResNet-18s.
        for folder, group in [(out, jobs.values()), (out / "replication", [table2, table3, table3_20k])]:
            paths = []
            for job in filter(None, group):
                path = jobs_dir / f"{job['target']['name']}.json"
                path.write_text(json.dumps(job, indent=1) + "\n")
                paths += ["--job", path]
            self.sh(self.glassbox_cmd() + ["dissect", "--out", folder, *paths])
        return {"tables": len(list(out.rglob("*_layer*.json"))) + len(list(out.rglob("*_logits.json")))}

    def broden_scenes(self) -> Path:
        return self.broden_dir() / "c_scene.csv"

    # --- report

    def report(self) -> dict:
        command = self.glassbox_cmd() + [
            "report", "--model", self.resnet50_manifest(), "--shared", self.data,
            "--images", *[self.data / "imagenet-samples" / n for n in self.seed_images],
            "--explained", self.out / "explain", "--dissect", self.precomputed / "dissect",
            "--out", self.precomputed / "report", "--lime-samples", str(self.scale.lime_samples),
            "--sanity-images", str(self.scale.sanity_images), "--cascade", self.scale.cascade, "--no-objects",
            "--cams", self.scale.report_cams(), "--run-note", self.scale.describe()]
        if self.scale.causal_step:
            command += ["--causal-step", str(self.scale.causal_step)]
        self.sh(command)
        return {}

    # --- site

    def site(self) -> dict:
        site = self.out / "site"
        shutil.rmtree(site, ignore_errors=True)
        pkg = self.args.wasm_pkg
        if pkg is None:
            self.sh([REPO / "scripts" / "build-wasm.sh"])
            pkg = REPO / "www" / "pkg"
        if not (pkg / "glassbox_bg.wasm").exists():
            raise Refused(f"no wasm package in {pkg} (scripts/build-wasm.sh makes it)")
        shutil.copytree(REPO / "www", site, ignore=shutil.ignore_patterns("pkg", ".gitignore", "README.md"))
        shutil.copytree(pkg, site / "pkg", ignore=shutil.ignore_patterns(".gitignore"))
        (site / "models").mkdir()
        # The batch-8 graph for WebGPU; the batch-1 one for the CPU engine, which is faster per image at batch 1
        # and then charges a single image no padded batch (the page picks by engine).
        manifest_path = self.resnet50_manifest(BATCH)
        manifest = json.loads(manifest_path.read_text())
        cpu_manifest_path = self.resnet50_manifest(NATIVE_RESNET50_BATCH)
        cpu_manifest = json.loads(cpu_manifest_path.read_text())
        for path, data in [(manifest_path, manifest), (cpu_manifest_path, cpu_manifest)]:
            for name in [path.name, data["onnx"], data["labels"]["file"]]:
                if not (site / "models" / name).exists():
                    link(self.models / name, site / "models" / name)
        for name in PINS["images"]["seed"]:
            link(self.data / "imagenet-samples" / name, site / "shared" / "data" / "imagenet-samples" / name)
        shutil.copytree(self.precomputed, site / "precomputed")
        # The neurons' top images, where the dissection page looks for them (sharedBase/<probe folder>/<id>).
        shown = 0
        for table in (site / "precomputed" / "dissect").rglob("*.json"):
            data = json.loads(table.read_text())
            if "units" not in data:
                continue  # summaries
            folder = data["probe"]["folder"]
            for unit in data["units"]:
                for top in unit["top_images"]:
                    target = site / "shared" / "data" / folder / top["id"]
                    if not target.exists():
                        link(self.probe_dir() / top["id"], target)
                        shown += 1
        config = {
            "banner": self.banner,
            "run": self.scale.describe(),
            "models": [{"id": f"{RESNET50}_b{BATCH}", "title": manifest["description"],
                        "manifest": f"models/{manifest_path.name}",
                        "cpu_manifest": f"models/{cpu_manifest_path.name}"}],
            "run_explanations": self.site_explanations(site / RUN_EXPLANATIONS),
        }
        (site / "site.json").write_text(json.dumps(config, indent=1) + "\n")
        return {"probe_images_shown": shown, "images_explained_on_the_site": len(config["run_explanations"])}

    def site_explanations(self, folder: Path) -> dict:
        """What the explain stage computed for each gallery image, as the explain page shows it before any model
        is loaded: the CLI's pictures of the four methods (PNG), their maps and LIME's segments and mask (.npy),
        and explanation.json (top-5, the agreement table, engine, times) with the run machine's path of the
        image replaced by its name. Returns image file name -> its folder under the site."""
        shown = {}
        for name in self.seed_images:
            source = self.out / "explain" / Path(name).stem
            record = json.loads((source / "explanation.json").read_text())
            record["image"] = name
            record["computed"] = time.strftime("%Y-%m-%d", time.gmtime((source / "explanation.json").stat().st_mtime))
            target = folder / Path(name).stem
            target.mkdir(parents=True)
            (target / "explanation.json").write_text(json.dumps(record) + "\n")
            for file in [*(f"{m}.{ext}" for m in PAGE_CAMS for ext in ("png", "npy")), "lime.png",
                         "lime_segments.npy", "lime_mask.npy"]:
                if (source / file).exists():
                    link(source / file, target / file)
            shown[name] = f"{RUN_EXPLANATIONS}/{Path(name).stem}/"
        return shown

    # --- record

    def versions(self) -> dict:
        def output(command):
            try:
                return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
            except (OSError, subprocess.CalledProcessError):
                return None

        tools = {"python": platform.python_version(), "platform": platform.platform(),
                 "rustc": output(["rustc", "--version"]), "cargo": output(["cargo", "--version"]),
                 "git_commit": output(["git", "-C", str(REPO), "rev-parse", "HEAD"])}
        if self.glassbox:
            tools["glassbox"] = output([self.glassbox, "--version"])
        if self.python:
            tools["export_env"] = output([self.python, "-c", "import torch, torchvision, onnx, onnxruntime, "
                                          "open_clip; print(f'torch {torch.__version__}, torchvision "
                                          "{torchvision.__version__}, onnx {onnx.__version__}, onnxruntime "
                                          "{onnxruntime.__version__}, open_clip {open_clip.__version__}')"])
        return tools

    def write_record(self, finished: bool) -> None:
        if not self.inputs and (self.out / "inputs.json").exists():
            self.inputs = json.loads((self.out / "inputs.json").read_text())
        record = {
            "test_mirror": self.test_mirror,
            "banner": self.banner or None,
            "finished": finished,
            "run": self.scale.describe(),
            "scale": asdict(self.scale),
            "command": sys.argv[1:],
            "stages": self.stage_log,
            "total_seconds": sum(s["seconds"] for s in self.stage_log if not s["reused"]),
            "tools": self.versions(),
            "probe_dir": str(self.probe_dir()),
            "inputs": self.inputs,
        }
        (self.out / "reproduce.json").write_text(json.dumps(record, indent=1) + "\n")


# Where torch and torchvision come from. PyPI's Linux x86_64 wheels are the CUDA build (about 6 GB installed
# with their nvidia-* libraries); the CPU index's are about 1 GB, all this CPU-only run needs. PyPI's macOS and
# Windows wheels are CPU builds already.
TORCH_INDEXES = {"cpu": "https://download.pytorch.org/whl/cpu", "pypi": None}


def default_torch() -> str:
    if os.environ.get("GLASSBOX_TORCH") in TORCH_INDEXES:
        return os.environ["GLASSBOX_TORCH"]
    return "cpu" if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64") else "pypi"


# Per stage: (name, estimated seconds, runner). The estimates are rates measured on the 2-core dev VM
# (README "Real results"), so they are upper bounds on a 4-core runner.
def _images(run: Run) -> int:
    return run.scale.images


def _probe(run: Run) -> int:
    """Probe images the dissection reads (Broden's count is the official archive's)."""
    total = BRODEN_IMAGES if run.args.probe == "broden" else 1000
    n = math.ceil(total / run.scale.probe_every)
    return min(n, run.scale.probe_images) if run.scale.probe_images else n


def _concepts(run: Run) -> int:
    # 20k (shared by every 20k job), the Broden labels and the ImageNet class names, and the published labels
    # and class names that are not concepts.
    return (run.scale.concepts or 20000) + 2 * (run.scale.broden_concepts or 1100) + 700


# Seconds per probe image: the CLIP image encoder once (its features are cached for every job), ResNet-18 twice
# (the ImageNet one; the Places365 one with its fc layer for Table 2 in the same pass), ResNet-50 V1 once
# (Table 3), and the check against Pillow.
PROBE_IMAGE_S = CLIP_IMAGE_S + 2 * RESNET18_S + RESNET50_S + DECODE_S


def _explained_image_s(run: Run) -> float:
    """One image's ResNet-50 passes for ScoreCAM (2048 masks and the unmasked image) and LIME's samples."""
    return EXPLAIN_PASS_S * (2049 * run.scale.scorecam + run.scale.lime_samples)


STAGES = [
    # Broden: ~1 GB to download and extract.
    ("fetch", lambda r: 120 + 600 * (r.args.probe == "broden"), Run.fetch),
    ("python", lambda r: 0 if r.args.python else 400, Run.python_env),
    ("export", lambda r: 420, Run.export),
    ("build", lambda r: 0 if r.args.glassbox else 600, Run.build),
    ("explain", lambda r: _images(r) * (_explained_image_s(r) + 10), Run.explain),
    ("dissect", lambda r: PROBE_IMAGE_S * _probe(r) + CLIP_TEXT_S * _concepts(r) + 60, Run.dissect),
    ("report", lambda r: _images(r) * 60
     + r.scale.sanity_images * len(r.scale.cascade.split(",")) * _explained_image_s(r), Run.report),
    ("site", lambda r: 60 if r.args.wasm_pkg else 900, Run.site),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/reproduce.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "reproduce", help="output folder")
    parser.add_argument("--quick", action="store_true", help="a small run (CI); the cut is in every output")
    parser.add_argument("--mirror", type=as_mirror, help="take every download from this folder or URL (DIR/<file "
                        "name> or <URL><file name>, e.g. http://host/dir/)")
    parser.add_argument("--test-mirror", action="store_true",
                        help="accept mirror files that differ from their pins; labels every output TEST MIRROR")
    parser.add_argument("--probe", default="broden", help="probe set of the dissection: broden (default, "
                        "CLIP-Dissect's: broden1_224.zip, downloaded and extracted once), imagenet-samples (the "
                        "1000 pinned ImageNet images, a quick look) or a folder (torchvision ImageFolder order)")
    parser.add_argument("--probe-every", type=int, help="use every k-th probe image only (default: the run's "
                        "scale; the cut is written into every output)")
    parser.add_argument("--broden-sha256", help="pin broden1_224.zip (it has no published checksum)")
    parser.add_argument("--python", type=Path, help="a Python with models/requirements.txt (default: a venv made "
                        "in ~/.cache/glassbox)")
    parser.add_argument("--glassbox", type=Path, help="the glassbox binary (default: cargo build --release)")
    parser.add_argument("--wasm-pkg", type=Path, help="a built wasm package (default: scripts/build-wasm.sh)")
    parser.add_argument("--cache", type=Path, help="download cache (default ~/.cache/glassbox/downloads; "
                        "OUT/cache with --test-mirror, so test files never mix with real ones)")
    parser.add_argument("--threads", type=int, help="CPU engine threads (default: every core)")
    parser.add_argument("--torch", choices=sorted(TORCH_INDEXES), default=default_torch(),
                        help="where the export environment takes torch from: cpu, PyTorch's CPU wheels (default on "
                        "Linux x86_64; about 1 GB), or pypi, PyPI's (CUDA build on Linux x86_64, about 6 GB, for a "
                        "GPU); the default can be set with GLASSBOX_TORCH")
    parser.add_argument("--places365-sha256", help="pin the Places365 checkpoint (it has no published checksum)")
    parser.add_argument("--until", choices=[name for name, _, _ in STAGES], help="stop after this stage (e.g. "
                        "--until fetch: only the downloads)")
    parser.add_argument("--print-python", action="store_true", help="only make (or reuse) the export environment "
                        "and print its Python (e.g. to run models/make_test_mirror.py with it)")
    args = parser.parse_args(argv)
    if args.test_mirror and not args.mirror:
        parser.error("--test-mirror needs --mirror DIR or --mirror URL")
    if isinstance(args.mirror, Path) and not args.mirror.is_dir():
        parser.error(f"--mirror {args.mirror}: no such folder")
    if args.probe not in ("broden", "imagenet-samples") and not Path(args.probe).is_dir():
        parser.error(f"--probe {args.probe}: neither broden, imagenet-samples nor a folder")
    if args.probe_every is not None and args.probe_every < 1:
        parser.error("--probe-every needs K >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    run = Run(args)
    if args.print_python:
        run.python_env()
        print(run.python)
        return 0
    run.out.mkdir(parents=True, exist_ok=True)
    if run.test_mirror:
        (run.out / "TEST_MIRROR.txt").write_text(f"{TEST_MIRROR_BANNER}: everything in this folder was made from "
                                                 "seeded random weights. Never commit any of it.\n")
    log(f"reproduce: {run.scale.describe()} -> {run.out}" + (f"  [{TEST_MIRROR_BANNER}]" if run.test_mirror else ""))
    started = time.monotonic()
    try:
        keys: dict[str, str] = {}
        for name, estimate, body in STAGES:
            key = stage_key(run, name, "".join(keys[d] for d in STAGE_INPUTS[name]))
            run.stage(name, key, estimate(run), lambda body=body: body(run))
            keys[name] = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
            if name == args.until:
                break
    finally:
        run.write_record(finished=len(run.stage_log) == len(STAGES))
    log("reproduce: time per stage")
    for s in run.stage_log:
        log(f"  {s['stage']:<8} {human(s['seconds']):>14}" + ("  (reused)" if s["reused"] else ""))
    result = f"stopped after {args.until}" if args.until and args.until != STAGES[-1][0] else \
        f"site in {run.out / 'site'}"
    log(f"reproduce: done in {human(time.monotonic() - started)}; {result}, record in {run.out / 'reproduce.json'}")
    return 0


# The sources each stage's result depends on (besides the settings and the stage before it).
STAGE_SOURCES = {
    "fetch": ["models/pins.json", "scripts/fetch.py", "scripts/reproduce.py"],
    "python": ["models/requirements.txt"],
    "export": ["models/export.py", "scripts/reproduce.py"],
    "dissect": ["scripts/reproduce.py", "models/check_decoding.py"],
    "build": ["Cargo.toml", "Cargo.lock", "crate"],
    "explain": ["scripts/reproduce.py", "models/check_decoding.py"],
    "report": ["scripts/reproduce.py"],
    "site": ["www", "scripts/reproduce.py"],
}


# What a finished stage keeps outside OUT and must find again to be reused: the fetch stage's Broden tree lives
# in the download cache, which a user may clear to free disk after a failed run.
STAGE_STILL_THERE = {
    "fetch": lambda r: r.args.probe != "broden" or (r.probe_dir().is_dir() and (r.broden_dir() / ".complete").exists()),
}


# The stages whose results each stage reads.
STAGE_INPUTS = {
    "fetch": [], "python": [], "export": ["fetch", "python"], "build": [],
    "explain": ["export", "build"], "dissect": ["export", "build"], "report": ["explain", "dissect"],
    "site": ["report"],
}

# The settings each stage's result depends on.
STAGE_SETTINGS = {
    "fetch": lambda r: [folder_fingerprint(r.args.mirror), r.test_mirror, str(r.args.probe),
                        r.args.places365_sha256, r.args.broden_sha256],
    "python": lambda r: [str(r.args.python), r.args.torch],
    "build": lambda r: [str(r.args.glassbox)],
    "explain": lambda r: [r.scale.images, r.scale.lime_samples, r.scale.scorecam],
    "dissect": lambda r: [r.scale.probe_every, r.scale.probe_images, r.scale.concepts, r.scale.broden_concepts,
                          r.scale.top_k],
    "report": lambda r: asdict(r.scale),
    "site": lambda r: [str(r.args.wasm_pkg), r.scale.describe()],
}


def stage_key(run: Run, name: str, previous: str) -> dict:
    """What a stage's result depends on; a change reruns it and, through `previous`, every stage after it
    (explain, dissect and report each depend on the build, not on one another)."""
    return {"stage": name, "previous": previous, "sources": sources_hash(STAGE_SOURCES.get(name, [])),
            "settings": STAGE_SETTINGS.get(name, lambda r: [])(run)}


def folder_fingerprint(folder: Path | str | None) -> str:
    """Names, sizes and modification times of a folder's files: a changed mirror refetches (a URL mirror is
    read again when the fetch stage reruns)."""
    if folder is None or isinstance(folder, str):
        return str(folder)
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for path in sorted(folder.iterdir()):
        stat = path.stat()
        digest.update(f"{path.name} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def sources_hash(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for entry in paths:
        root = REPO / entry
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "pkg" in path.relative_to(REPO).parts:
                continue  # www/pkg: the build output, not a source
            digest.update(path.relative_to(REPO).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
