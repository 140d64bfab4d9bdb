#!/usr/bin/env python3
"""Export the glassbox models to ONNX (opset 13) with a manifest per graph.

Models (names are the file stems; every graph has a static batch, one file per `--batch` value):
  resnet50_imagenet1k_v2   torchvision ResNet-50, IMAGENET1K_V2 weights. Outputs `features` (layer4,
                           N x 2048 x 7 x 7) and `logits` (N x 1000).
  resnet18_imagenet1k_v1   torchvision ResNet-18, IMAGENET1K_V1 weights.          } outputs `features`,
  resnet18_places365       ResNet-18 of the Places365 project (CSAILVision), 365  } `logits`, and `layer2`,
                           scene classes.                                          } `layer3`, `layer4`: the
                                                                                   } per-channel spatial means.
  clip_vit_b16_image       CLIP ViT-B/16 image encoder (openai weights): N x 3 x 224 x 224 -> N x 512.
  clip_vit_b16_text        CLIP ViT-B/16 text encoder: N x 77 int64 token ids -> N x 512.

  python models/export.py --out out/models                       # all, downloads the official weights
  python models/export.py --models resnet18_imagenet1k_v1 --batch 1 8 --out out/models
  python models/export.py --random-weights --seed 0 --out /tmp/rand   # no download: seeded random init

Every graph is prepared so that both wonnx 0.5.1 (WebGPU) and tract run it (see prepare_graph), checked
against torch with onnxruntime, and described by `<file>.json` (the manifest read by crate/src/model.rs).
Details and the reason for every graph transformation: models/README.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper, shape_inference

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
# Pins, downloads, hashes and the test-mirror banner, shared with scripts/reproduce.py.
import fetch  # noqa: E402
from fetch import TEST_MIRROR_BANNER, TEST_MIRROR_WEIGHTS, data_pin, sha256_file  # noqa: E402

OPSET = 13

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

CLIP_CONTEXT_LENGTH = 77
CLIP_SOT, CLIP_EOT = 49406, 49407

LOGITS_REL_TOLERANCE = 1e-3


def log(msg: str) -> None:
    print(msg, flush=True)


def shared_dir() -> Path | None:
    env = os.environ.get("GLASSBOX_SHARED")
    path = Path(env) if env else REPO.parent / "shared" / "data"
    return path if path.is_dir() else None


# ------------------------------------------------------------------------------------------- downloads


def fetcher(args) -> fetch.Fetcher:
    """With --weights-dir the files scripts/reproduce.py fetched and checked, and no network; else the cache,
    filled by downloads. A test mirror's hashes cannot match the pins (the manifests then say so)."""
    return fetch.Fetcher(args.cache, None, args.test_mirror, offline=args.offline)


# ---------------------------------------------------------------------------------------------- models


class ResNetWithFeatures(torch.nn.Module):
    """torchvision ResNet returning the layer4 map (`features`) next to the logits, and optionally the
    per-channel spatial means of layer2..4 (what CLIP-Dissect records for a layer)."""

    def __init__(self, resnet: torch.nn.Module, layer_means: bool):
        super().__init__()
        self.resnet = resnet
        self.layer_means = layer_means

    def forward(self, x):
        r = self.resnet
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        l1 = r.layer1(x)
        l2 = r.layer2(l1)
        l3 = r.layer3(l2)
        l4 = r.layer4(l3)
        logits = r.fc(torch.flatten(r.avgpool(l4), 1))
        if not self.layer_means:
            return l4, logits
        return l4, logits, l2.mean(dim=(2, 3)), l3.mean(dim=(2, 3)), l4.mean(dim=(2, 3))


class ClipImage(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, image):
        return self.clip.encode_image(image)


class ClipText(torch.nn.Module):
    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, tokens):
        return self.clip.encode_text(tokens)


def seeded_random_init(resnet: torch.nn.Module, seed: int) -> None:
    """Replaces every weight, bias and BatchNorm statistic of a torchvision ResNet with seeded uniform draws
    from numpy's PCG64.

    torch's own init (`kaiming_normal_` under `torch.manual_seed`) is not the same bits on every machine:
    its `normal_` has CPU-specific vector kernels (measured: ATEN_CPU_CAPABILITY=default and =avx2 export
    different ResNet-18 graphs from the same seed, and a CI machine a third one). Uniform draws are integer
    arithmetic and one float multiply-add, so the same seed gives the same weights everywhere (and
    fold_batchnorms the same graph).

    Scales: He-uniform conv weights (variance 2/fan_in), torch's nn.Linear bound 1/sqrt(fan_in) for the
    classifier and every bias, non-trivial BatchNorm statistics so that BatchNorm folding is exercised for
    real (torchvision's default BatchNorm is the identity). The BatchNorm that ends each residual branch gets
    gamma in [0.2, 0.4]: with gamma ~1 every block doubles the variance (a random ResNet-50's logits reached
    ~3400, a one-hot softmax that makes ScoreCAM's weights trivial); with ~0.3 the stack stays near unit scale."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    branch_ends = set()
    for name, block in resnet.named_modules():
        if isinstance(block, (BasicBlock, Bottleneck)):
            last = "bn3" if isinstance(block, Bottleneck) else "bn2"
            branch_ends.add(f"{name}.{last}")
    batchnorm = {name for name, m in resnet.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    rng = np.random.default_rng(seed)
    state = resnet.state_dict()  # detached views of the module's own tensors: copy_ writes into them
    for key, tensor in state.items():
        if not tensor.is_floating_point():
            continue  # num_batches_tracked
        owner, _, field = key.rpartition(".")
        if owner in batchnorm:
            gamma = (0.2, 0.4) if owner in branch_ends else (0.75, 1.25)
            low, high = {"weight": gamma, "bias": (-0.1, 0.1), "running_mean": (-0.1, 0.1),
                         "running_var": (0.75, 1.25)}[field]
        else:
            fan_in = state[owner + ".weight"][0].numel()
            is_conv = state[owner + ".weight"].dim() == 4
            bound = float(np.sqrt(6.0 / fan_in)) if field == "weight" and is_conv else float(1.0 / np.sqrt(fan_in))
            low, high = -bound, bound
        values = rng.uniform(low, high, size=tuple(tensor.shape)).astype(np.float32)
        tensor.copy_(torch.from_numpy(values))


def fold_batchnorms(module: torch.nn.Module) -> int:
    """Folds every eval-mode BatchNorm2d into the Conv2d registered just before it (torchvision's ResNets:
    conv1/bn1, convK/bnK, downsample.0/.1), in float64 numpy, and replaces the BatchNorm by an Identity;
    returns how many were folded.

    torch's exporter would fold them too (eval mode, constant folding), but with torch's float32 `sqrt`,
    which is not correctly rounded and whose bits depend on the CPU (measured: it differs from IEEE sqrt on
    ~20% of inputs on an AMD EPYC, whatever ATEN_CPU_CAPABILITY says; it was the one non-IEEE step between
    the seeded weights and the graph, and a Xeon with AVX-512 exported another ResNet-18 from them).
    numpy's float64 sqrt, multiply and divide are IEEE operations, so the same weights give the same graph
    bytes on every machine."""
    folded = 0
    for parent in module.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if not isinstance(bn, torch.nn.BatchNorm2d):
                continue
            if not isinstance(conv, torch.nn.Conv2d) or conv.out_channels != bn.num_features:
                raise SystemExit(f"BatchNorm '{bn_name}' does not follow a Conv2d of {bn.num_features} "
                                 f"channels ('{conv_name}' is {type(conv).__name__}): cannot fold it")
            gamma, beta, mean, var = (getattr(bn, f).detach().numpy().astype(np.float64)
                                      for f in ("weight", "bias", "running_mean", "running_var"))
            scale = gamma / np.sqrt(var + bn.eps)
            weight = conv.weight.detach().numpy().astype(np.float64) * scale[:, None, None, None]
            bias = conv.bias.detach().numpy().astype(np.float64) if conv.bias is not None else 0.0
            conv.weight = torch.nn.Parameter(torch.from_numpy(weight.astype(np.float32)))
            conv.bias = torch.nn.Parameter(torch.from_numpy(((bias - mean) * scale + beta).astype(np.float32)))
            setattr(parent, bn_name, torch.nn.Identity())
            folded += 1
    left = [name for name, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if left:
        raise SystemExit(f"BatchNorm layers not after a Conv2d, not folded: {', '.join(left)}")
    return folded


def build_resnet(name: str, args) -> tuple[torch.nn.Module, dict]:
    import torchvision

    arch = "resnet50" if name.startswith("resnet50") else "resnet18"
    classes = 365 if name == "resnet18_places365" else 1000
    if args.random_weights:
        net = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
        seeded_random_init(net, args.seed)
        weights = {"random_weights": True, "seed": args.seed,
                   "init": "numpy default_rng(seed) uniform draws for every parameter and BatchNorm statistic "
                           "(see seeded_random_init in export.py)"}
    else:
        pin = fetch.weight_pins(args.places365_sha256)[name]
        path = fetcher(args).get(pin)
        net = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
        if name == "resnet18_places365":
            net.load_state_dict(load_places365_state_dict(path))
            weights = {"url": pin.url, "sha256": sha256_file(path), "source": "CSAILVision/places365",
                       "checked": "against --places365-sha256" if args.places365_sha256 else
                       "NOT checked: the project publishes no checksum; this is the hash of the downloaded file"}
        else:
            net.load_state_dict(load_torchvision_state_dict(path))
            weights = {"url": pin.url, "sha256": sha256_file(path), "source": "torchvision",
                       "checked": "sha256 prefix in the file name (torchvision convention)"}
    if args.test_mirror:
        weights |= TEST_MIRROR_WEIGHTS
    return ResNetWithFeatures(net.eval(), layer_means=arch == "resnet18").eval(), weights


def load_torchvision_state_dict(path: Path) -> dict:
    """A torchvision weights file (`torch.save(state_dict)`, zip format since torch 1.6)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_places365_state_dict(path: Path) -> dict:
    """CSAILVision's `resnet18_places365.pth.tar`: `torch.save({"epoch", "arch", "state_dict", "best_prec1"})`
    of a `DataParallel` model (keys prefixed `module.`), in torch's legacy (non-zip) format."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise SystemExit(f"{path}: not a Places365 checkpoint (expected a dict with a 'state_dict')")
    return {k.removeprefix("module."): v for k, v in checkpoint["state_dict"].items()}


def load_openai_clip(path: Path):
    """openai's `ViT-B-16.pt` (a TorchScript archive, float16) rebuilt as open_clip's non-JIT model in float32."""
    import open_clip

    return open_clip.load_openai_model(str(path), precision="fp32", device="cpu")


def load_open_clip_safetensors(path: Path):
    """open_clip's copy of the same weights (the `openai` tag of ViT-B-16 now reads
    timm/vit_base_patch16_clip_224.openai's `open_clip_model.safetensors` from the Hugging Face hub): a
    safetensors state_dict with openai's parameter names, loaded as open_clip loads it, in float32."""
    import open_clip

    model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, device="cpu", precision="fp32")
    open_clip.load_checkpoint(model, str(path))
    return model


def build_clip(args):
    import open_clip

    # nn.MultiheadAttention's inference fast path (aten::_native_multi_head_attention) has no ONNX
    # export; the regular path exports as MatMul/Softmax/... and gives the same numbers.
    torch.backends.mha.set_fastpath_enabled(False)

    if args.random_weights:
        torch.manual_seed(args.seed)
        # Same architecture as openai's ViT-B/16 (QuickGELU activations).
        model = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, device="cpu", precision="fp32")
        weights = {"random_weights": True, "seed": args.seed,
                   "init": "open_clip default init of ViT-B-16-quickgelu under torch.manual_seed(seed)"}
    else:
        pins = [fetch.weight_pins()["clip_vit_b16"], *fetch.alternative_pins()["clip_vit_b16"]]
        path = fetcher(args).get_any(pins)
        if path.name == pins[0].file_name:
            model = load_openai_clip(path)
            weights = {"url": pins[0].url, "sha256": sha256_file(path), "source": "openai/CLIP",
                       "checked": "full sha256 (it is part of the URL)"}
        else:
            model = load_open_clip_safetensors(path)
            weights = {"url": pins[1].url, "sha256": sha256_file(path),
                       "source": "open_clip's copy of the openai weights (Hugging Face hub)",
                       "checked": "NOT checked: no published checksum; this is the hash of the downloaded file"}
        if args.test_mirror:
            weights |= TEST_MIRROR_WEIGHTS
    return model.eval(), weights


# --------------------------------------------------------------------------------------------- labels


def imagenet_labels() -> list[str]:
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def places365_labels(args) -> tuple[list[str], str]:
    """Category names without the '/x/' prefix and the index, e.g. '/a/apartment_building/outdoor 8'
    -> 'apartment_building/outdoor'."""
    data = shared_dir()
    local = data / "labels" / "categories_places365.txt" if data else None
    if args.places365_categories:
        local = args.places365_categories
    if local and local.exists():
        text, origin = local.read_text(), str(local)
    elif args.random_weights:
        return [f"places365_class_{i}" for i in range(365)], "placeholder names (random weights, no download)"
    else:
        pin = data_pin("categories_places365.txt")
        text, origin = fetcher(args).get(pin, show_bar=False).read_text(), pin.url
    names = []
    for line in text.splitlines():
        if line.strip():
            path, index = line.rsplit(" ", 1)
            if int(index) != len(names):
                raise SystemExit(f"{origin}: categories out of order at '{line}'")
            names.append(path[3:])
    if len(names) != 365:
        raise SystemExit(f"{origin}: {len(names)} categories, expected 365")
    return names, origin


# ------------------------------------------------------------------------------------ graph preparation


def prepare_graph(model: onnx.ModelProto, feeds_wonnx: bool) -> tuple[onnx.ModelProto, list[str]]:
    """Make the exported graph runnable by wonnx 0.5.1 and tract; returns the model and what was done.

    - Constant nodes -> initializers (wonnx only folds some Constant uses; tract does not care).
    - Identity nodes removed (wonnx's optimizer drops them but trips on Identity feeding a graph output).
    - Gemm(transB=1) -> Gemm(transB=0) with the weight initializer transposed (wonnx 0.5.1 rejects any
      transA/transB != 0: compiler.rs "with transA/transB/broadcast not equal to zero").
    - every Conv gets an explicit bias (zeros if it had none): wonnx's conv shaders read a bias input.
    - no BatchNormalization left (export_one folds the ResNets' before export, see fold_batchnorms;
      checked here, because an unfolded BN would silently need wonnx support).
    - strict shape inference: every intermediate tensor gets value_info (wonnx sizes its buffers from it).

    The WebGPU engine rewrites every graph it loads the same way (prepare_for_wonnx in
    crate/src/engine/webgpu.rs: Gemm transB, Conv bias, value_info from tract); the steps stay here too because
    the exported bytes include them (the CAM fixtures pin the random-weight graphs' sha256).
    """
    graph = model.graph
    done = []
    initializers = {t.name: t for t in graph.initializer}

    constants = [n for n in graph.node if n.op_type == "Constant"]
    for node in constants:
        value = next((a for a in node.attribute if a.name == "value"), None)
        if value is None:
            raise SystemExit(f"Constant node {node.name} without a tensor 'value' attribute: unsupported")
        tensor = onnx.TensorProto()
        tensor.CopyFrom(value.t)
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        initializers[tensor.name] = tensor
        graph.node.remove(node)
    if constants:
        done.append(f"{len(constants)} Constant node(s) -> initializers")

    graph_outputs = {o.name for o in graph.output}
    identities = [n for n in graph.node if n.op_type == "Identity"]
    for node in identities:
        source, alias = node.input[0], node.output[0]
        graph.node.remove(node)
        if alias in graph_outputs:
            # Keep the public output name: rename the producer's output (and every other use) instead.
            if source in initializers or source in {i.name for i in graph.input}:
                raise SystemExit(f"Identity {node.name} exposes {source} directly as output {alias}: unsupported")
            old, new = source, alias
        else:
            old, new = alias, source
        for other in graph.node:
            for i, name in enumerate(other.input):
                if name == old:
                    other.input[i] = new
            for i, name in enumerate(other.output):
                if name == old:
                    other.output[i] = new
    if identities:
        done.append(f"{len(identities)} Identity node(s) removed")

    transposed = 0
    for node in graph.node:
        if node.op_type != "Gemm":
            continue
        attrs = {a.name: a for a in node.attribute}
        if "transA" in attrs and attrs["transA"].i != 0:
            raise SystemExit(f"Gemm {node.name} has transA=1: unsupported by wonnx, not expected from torch")
        if "transB" in attrs and attrs["transB"].i == 1:
            weight = initializers.get(node.input[1])
            if weight is None:
                raise SystemExit(f"Gemm {node.name}: transB=1 on a computed B; cannot transpose an initializer")
            transposed_weight = numpy_helper.from_array(np.ascontiguousarray(numpy_helper.to_array(weight).T),
                                                        weight.name)
            weight.CopyFrom(transposed_weight)
            attrs["transB"].i = 0
            transposed += 1
    if transposed:
        done.append(f"{transposed} Gemm(transB=1) -> transB=0 with transposed weight")

    biased = 0
    for node in graph.node:
        if node.op_type == "Conv" and (len(node.input) < 3 or not node.input[2]):
            weight = initializers[node.input[1]]
            zeros = numpy_helper.from_array(np.zeros(weight.dims[0], dtype=np.float32), node.name + ".zero_bias")
            graph.initializer.append(zeros)
            initializers[zeros.name] = zeros
            if len(node.input) < 3:
                node.input.append(zeros.name)
            else:
                node.input[2] = zeros.name
            biased += 1
    if biased:
        done.append(f"{biased} Conv(s) given a zero bias")

    leftovers = sorted({n.op_type for n in graph.node} & {"BatchNormalization", "Identity", "Constant"})
    if leftovers:
        raise SystemExit(f"graph still has {leftovers} nodes after preparation")

    used = {name for n in graph.node for name in n.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:
        graph.initializer.remove(tensor)
    if unused:
        done.append(f"{len(unused)} unused initializer(s) removed")

    del graph.value_info[:]
    model = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    known = {v.name for v in model.graph.value_info} | {o.name for o in model.graph.output}
    intermediate = {name for n in model.graph.node for name in n.output}
    missing = sorted(intermediate - known)
    if missing:
        raise SystemExit(f"shape inference left {len(missing)} tensors without value_info: {missing[:5]}")
    dynamic = [v.name for v in list(model.graph.value_info) + list(model.graph.output)
               if any(not d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)]
    if dynamic and feeds_wonnx:
        raise SystemExit(f"{len(dynamic)} tensors have a non-static shape (first: {dynamic[0]}); wonnx needs "
                         "static shapes")
    if any(o.name in dynamic for o in model.graph.output):
        raise SystemExit(f"a graph output has a non-static shape: {[o.name for o in model.graph.output]}")
    done.append(f"shape inference: {len(model.graph.value_info)} value_info entries"
                + (f", {len(dynamic)} with a shape only known at run time (fine for tract)" if dynamic else ""))
    onnx.checker.check_model(model, full_check=True)
    if feeds_wonnx:
        ops = sorted({n.op_type for n in model.graph.node})
        done.append(f"operators: {', '.join(ops)}")
    return model, done


def strip_doc_strings(model: onnx.ModelProto) -> None:
    """torch writes Python stack traces into doc_string; they make the bytes depend on file paths."""
    model.doc_string = ""
    for node in model.graph.node:
        node.doc_string = ""


# ---------------------------------------------------------------------------------------------- export


@dataclass
class Spec:
    name: str
    kind: str  # "resnet" | "clip_image" | "clip_text"
    description: str
    wonnx: bool
    extra_outputs: list[str] = field(default_factory=list)
    # torch's legacy exporter lowers scaled_dot_product_attention (nn.MultiheadAttention with
    # need_weights=False, what open_clip calls) only from opset 14 on; the CLIP graphs are for tract,
    # which supports it. The CNNs stay at opset 13 for wonnx.
    opset: int = OPSET
    # torchvision's Resize of the shorter side before CenterCrop(224): the weights' own transforms
    # (`ResNet50_Weights.IMAGENET1K_V2.transforms()` resizes to 232; V1 and the Places365 model to 256).
    resize: int = 256


SPECS = {
    "resnet50_imagenet1k_v2": Spec("resnet50_imagenet1k_v2", "resnet",
                                   "torchvision ResNet-50, IMAGENET1K_V2 weights (ImageNet, 1000 classes)", True,
                                   resize=232),
    "resnet50_imagenet1k_v1": Spec("resnet50_imagenet1k_v1", "resnet",
                                   "torchvision ResNet-50, IMAGENET1K_V1 weights (ImageNet, 1000 classes): "
                                   "CLIP-Dissect's resnet50", True),
    "resnet18_imagenet1k_v1": Spec("resnet18_imagenet1k_v1", "resnet",
                                   "torchvision ResNet-18, IMAGENET1K_V1 weights (ImageNet, 1000 classes)", True,
                                   ["layer2", "layer3", "layer4"]),
    "resnet18_places365": Spec("resnet18_places365", "resnet",
                               "ResNet-18 trained on Places365 by the Places365 project (CSAILVision), "
                               "365 scene categories", True, ["layer2", "layer3", "layer4"]),
    "clip_vit_b16_image": Spec("clip_vit_b16_image", "clip_image",
                               "CLIP ViT-B/16 image encoder (openai weights): image -> 512-d embedding "
                               "(not L2-normalised)", False, opset=14),
    "clip_vit_b16_text": Spec("clip_vit_b16_text", "clip_text",
                              "CLIP ViT-B/16 text encoder (openai weights): 77 BPE token ids -> 512-d embedding "
                              "(not L2-normalised)", False, opset=14),
}


def example_inputs(spec: Spec, batch: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if spec.kind == "clip_text":
        # Random token ids with a start token and an end token (the highest id, which encode_text's argmax
        # pooling looks for) at varying positions, zero padding after it.
        tokens = torch.zeros(batch, CLIP_CONTEXT_LENGTH, dtype=torch.int64)
        for row in range(batch):
            length = int(torch.randint(2, CLIP_CONTEXT_LENGTH - 1, (1,), generator=generator))
            tokens[row, 0] = CLIP_SOT
            tokens[row, 1:length] = torch.randint(1, CLIP_SOT, (length - 1,), generator=generator)
            tokens[row, length] = CLIP_EOT
        return tokens
    return torch.randn(batch, 3, 224, 224, generator=generator)


def sample_images() -> list[Path]:
    data = shared_dir()
    folder = data / "imagenet-samples" if data else None
    return sorted(folder.glob("*.JPEG")) if folder and folder.is_dir() else []


def image_batch(spec: Spec, batch: int, seed: int) -> tuple[torch.Tensor, str]:
    """The check input: the shared ImageNet sample photos (cycled to the batch size) with the model's own
    preprocessing when they are available (realistic activations), else seeded noise."""
    images = sample_images()
    if spec.kind == "clip_text" or not images:
        return example_inputs(spec, batch, seed), "seeded random input"
    from PIL import Image
    from torchvision import transforms

    if spec.kind == "resnet":
        tf = transforms.Compose([transforms.Resize(spec.resize), transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    else:
        tf = transforms.Compose([transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
                                 transforms.CenterCrop(224), transforms.ToTensor(),
                                 transforms.Normalize(CLIP_MEAN, CLIP_STD)])
    chosen = [images[i % len(images)] for i in range(batch)]
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in chosen])
    return x, "shared imagenet-samples: " + ", ".join(p.name for p in chosen)


def imagenet_sample_top1(module: torch.nn.Module) -> str | None:
    """Sanity check of real ImageNet weights: top-1 on the shared samples (wnid in the file name)."""
    data = shared_dir()
    images = sample_images()
    if not images or not (data / "labels" / "imagenet_wnids.txt").exists():
        return None
    wnids = (data / "labels" / "imagenet_wnids.txt").read_text().split()
    x, _ = image_batch(SPECS["resnet50_imagenet1k_v2"], len(images), 0)
    with torch.no_grad():
        top1 = module(x)[1].argmax(dim=1).tolist()
    correct = sum(wnids[k] == p.name.split("_")[0] for k, p in zip(top1, images))
    return f"{correct}/{len(images)}"


def export_one(spec: Spec, module: torch.nn.Module, batch: int, out: Path, seed: int) -> tuple[Path, dict]:
    if spec.kind == "resnet":
        input_name, output_names = "input", ["features", "logits"] + spec.extra_outputs
    elif spec.kind == "clip_image":
        input_name, output_names = "image", ["image_embedding"]
    else:
        input_name, output_names = "tokens", ["text_embedding"]
    x, check_input = image_batch(spec, batch, seed)
    path = out / f"{spec.name}_b{batch}.onnx"
    exported, done = module, []
    if spec.kind == "resnet":
        exported = copy.deepcopy(module)
        folded = fold_batchnorms(exported)
        done.append(f"{folded} BatchNorm2d folded into the Conv2d before them (float64 numpy, fold_batchnorms)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(exported, (x,), str(raw), dynamo=False, opset_version=spec.opset,
                              input_names=[input_name], output_names=output_names,
                              do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL,
                              export_params=True, keep_initializers_as_inputs=False)
        model = onnx.load(str(raw))
    strip_doc_strings(model)
    model, prepared = prepare_graph(model, spec.wonnx)
    done += prepared
    onnx.save(model, str(path))
    for line in done:
        log(f"  {path.name}: {line}")
    # Against the module as loaded (BatchNorm not folded): the check covers the fold and the export.
    check = check_against_torch(spec, module, path, x)
    check["input"] = check_input
    return path, {"graph_preparation": done, "check": check, "input_name": input_name, "outputs": output_names}


def check_against_torch(spec: Spec, module: torch.nn.Module, path: Path, x: torch.Tensor) -> dict:
    """Run the saved ONNX with onnxruntime and compare every output with torch on the same input."""
    with torch.no_grad():
        expected = module(x)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    report = {}
    for output, e, g in zip(session.get_outputs(), expected, got):
        e = e.numpy()
        diff = float(np.abs(e - g).max())
        scale = float(np.abs(e).max())
        report[output.name] = {"max_abs_diff": diff, "max_abs_value": scale}
        log(f"  {path.name}: onnxruntime vs torch '{output.name}' {list(g.shape)}: max abs diff {diff:.3e} "
            f"(max |value| {scale:.3e})")
    main_output = "logits" if "logits" in report else next(iter(report))
    rel = report[main_output]["max_abs_diff"] / max(report[main_output]["max_abs_value"], 1e-12)
    if rel > LOGITS_REL_TOLERANCE:
        raise SystemExit(f"{path.name}: '{main_output}' differs from torch by {rel:.2e} relative "
                         f"(> {LOGITS_REL_TOLERANCE}); the export is wrong")
    report["relative_diff_" + main_output] = rel
    return report


def manifest_for(spec: Spec, path: Path, batch: int, weights: dict, info: dict, labels_file: str | None,
                 random_weights: bool, test_mirror: bool) -> dict:
    description = spec.description
    if test_mirror:
        description = f"{TEST_MIRROR_BANNER} (seeded random weights in the official file format) - " + description
    elif random_weights:
        description = ("RANDOM WEIGHTS (seeded, untrained; for tests only: its outputs mean nothing) - "
                       "same graph as " + description)
    manifest = {
        "name": spec.name,
        "description": description,
        "random_weights": random_weights,
        "test_mirror": test_mirror,
        "onnx": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "opset": spec.opset,
        "weights": weights,
    }
    if spec.kind == "resnet":
        manifest |= {
            "input": {"name": info["input_name"], "shape": [batch, 3, 224, 224]},
            "preprocessing": {"kind": "torchvision", "resize": spec.resize, "crop": 224,
                              "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
            "outputs": {"features": "features", "logits": "logits"},
            "labels": {"file": labels_file, "background_offset": 0},
            "runtimes": ["tract", "wonnx"],
        }
        if spec.extra_outputs:
            manifest["layer_means"] = {name: name for name in spec.extra_outputs}
            manifest["layer_means_note"] = ("per-channel mean over H,W of the output of torchvision's "
                                            "resnet.layerN (after the block's final ReLU)")
    elif spec.kind == "clip_image":
        manifest |= {
            "input": {"name": info["input_name"], "shape": [batch, 3, 224, 224]},
            "preprocessing": {"kind": "clip", "resize": 224, "interpolation": "bicubic", "crop": 224,
                              "mean": CLIP_MEAN, "std": CLIP_STD,
                              "note": "openai/CLIP _transform: Resize(224, BICUBIC) of the shorter side, "
                                      "CenterCrop(224), RGB, ToTensor, Normalize(mean, std)"},
            "outputs": {"embedding": "image_embedding"},
            "embedding_dim": 512, "normalized": False,
            "runtimes": ["tract"],
            "runtime_note": "CPU (tract) only: not prepared for wonnx 0.5.1 (attention ops)",
        }
    else:
        manifest |= {
            "input": {"name": info["input_name"], "shape": [batch, CLIP_CONTEXT_LENGTH], "dtype": "int64"},
            "tokenizer": {"kind": "clip_bpe", "vocab": "bpe_simple_vocab_16e6.txt.gz",
                          "context_length": CLIP_CONTEXT_LENGTH, "sot": CLIP_SOT, "eot": CLIP_EOT,
                          "pad": 0, "note": "openai/CLIP tokenize(): lower-cased, ftfy-fixed, whitespace-"
                                            "cleaned text, [sot] + BPE + [eot], zero padded to 77; the "
                                            "embedding is taken at the eot position (argmax of the ids)"},
            "outputs": {"embedding": "text_embedding"},
            "embedding_dim": 512, "normalized": False, "logit_scale": 100.0,
            "runtimes": ["tract"],
            "runtime_note": "CPU (tract) only: not prepared for wonnx 0.5.1 (int64 gather, argmax)",
        }
    manifest["export"] = {"graph_preparation": info["graph_preparation"], "onnxruntime_check": info["check"],
                          "torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    return manifest


def fetch_dissection_inputs(args) -> None:
    """CLIP's BPE vocabulary next to the CLIP graphs and the 20k concept set in <out>/../concepts/."""
    if args.random_weights or args.offline:
        return  # tests read both from shared/data; scripts/reproduce.py places them itself
    vocab = fetcher(args).get(data_pin("bpe_simple_vocab_16e6.txt.gz"), show_bar=False)
    shutil.copy(vocab, args.out / vocab.name)
    concepts = args.out.parent / "concepts"
    concepts.mkdir(parents=True, exist_ok=True)
    shutil.copy(fetcher(args).get(data_pin("20k.txt"), show_bar=False), concepts / "20k.txt")
    log(f"  wrote {vocab.name} to {args.out} and 20k.txt to {concepts}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--models", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument("--batch", type=int, nargs="+", default=[1], help="static batch size(s), one file each")
    parser.add_argument("--random-weights", action="store_true", help="seeded random init, no download")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random-weights and the check inputs")
    parser.add_argument("--cache", type=Path, default=REPO / "models" / "downloads", help="download cache")
    parser.add_argument("--places365-sha256", help="expected sha256 of resnet18_places365.pth.tar")
    parser.add_argument("--places365-categories", type=Path, help="categories_places365.txt (else shared/data "
                        "or a download)")
    parser.add_argument("--weights-dir", type=Path, help="take every weight file from this folder under its URL's "
                        "file name and download nothing (scripts/reproduce.py fetches and checks them)")
    parser.add_argument("--test-mirror", action="store_true", help=f"weights may differ from the pins; every "
                        f"manifest says '{TEST_MIRROR_BANNER}'")
    args = parser.parse_args(argv)
    args.offline = args.weights_dir is not None
    if args.offline:
        args.cache = args.weights_dir
    if args.test_mirror and args.random_weights:
        parser.error("--test-mirror loads weight files; --random-weights makes them up")
    if args.places365_sha256 and args.random_weights:
        parser.error("--places365-sha256 has no meaning with --random-weights")
    if any(b < 1 for b in args.batch):
        parser.error("--batch values must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    # One thread: float reductions then run in a fixed order, so the same seed gives the same bytes.
    torch.set_num_threads(1)

    label_files: dict[str, str] = {}

    def labels_file(kind: str) -> str:
        if kind not in label_files:
            if kind == "imagenet":
                names, origin = imagenet_labels(), "torchvision ResNet50_Weights.IMAGENET1K_V2.meta['categories']"
                file = "imagenet_labels_1000.txt"
            else:
                names, origin = places365_labels(args)
                file = "places365_labels.txt"
            (args.out / file).write_text("\n".join(names) + "\n")
            log(f"wrote {file} ({len(names)} names, from {origin})")
            label_files[kind] = file
        return label_files[kind]

    clip_cache = None
    for name in args.models:
        spec = SPECS[name]
        log(f"{name}:")
        if spec.kind == "resnet":
            module, weights = build_resnet(name, args)
            labels = labels_file("places365" if name == "resnet18_places365" else "imagenet")
            if name != "resnet18_places365":
                top1 = imagenet_sample_top1(module)
                if top1:
                    weights["imagenet_samples_top1"] = top1
                    log(f"  torch top-1 correct on the shared ImageNet samples: {top1}"
                        + (" (random weights: expect ~0)" if args.random_weights else ""))
        else:
            if clip_cache is None:
                fetch_dissection_inputs(args)
            clip_cache = clip_cache or build_clip(args)
            clip, weights = clip_cache
            module = ClipImage(clip) if spec.kind == "clip_image" else ClipText(clip)
            labels = None
        for batch in args.batch:
            path, info = export_one(spec, module.eval(), batch, args.out, args.seed)
            manifest = manifest_for(spec, path, batch, weights, info, labels, args.random_weights,
                                    args.test_mirror)
            manifest_path = path.with_suffix(".json")
            manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
            log(f"  wrote {path.name} ({manifest['bytes']:,} bytes, sha256 {manifest['sha256']}) and "
                f"{manifest_path.name}")


if __name__ == "__main__":
    sys.exit(main())
