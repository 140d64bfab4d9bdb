"""The loaders of the official weight files (models/export.py, the functions the real run calls) on files in
the same formats made by models/make_test_mirror.py. Needs the export environment (torch, open_clip):
  "$(scripts/reproduce.sh --print-python)" -m unittest discover -s tests/reproduce -p 'test_official_formats.py'
"""

import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models"))
import export  # noqa: E402
import make_test_mirror  # noqa: E402


class OfficialFormatsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp())

    def test_torchvision_zip_state_dict(self):
        path = self.tmp / "resnet18-f37072fd.pth"
        make_test_mirror.write_torchvision(path, "resnet18", seed=3)
        self.assertTrue(zipfile.is_zipfile(path), "torchvision files are torch's zip format")
        state = export.load_torchvision_state_dict(path)
        expected = make_test_mirror.random_resnet("resnet18", 1000, 3).state_dict()
        self.assertEqual(list(state), list(expected))
        for name, tensor in expected.items():
            self.assertTrue(torch.equal(state[name], tensor), name)

    def test_places365_legacy_checkpoint_with_module_prefixes(self):
        path = self.tmp / "resnet18_places365.pth.tar"
        make_test_mirror.write_places365(path, seed=4)
        self.assertFalse(zipfile.is_zipfile(path), "CSAILVision saved it in torch's legacy (non-zip) format")
        raw = torch.load(path, map_location="cpu", weights_only=True)
        self.assertEqual(sorted(raw), ["arch", "best_prec1", "epoch", "state_dict"])
        self.assertTrue(all(k.startswith("module.") for k in raw["state_dict"]))
        state = export.load_places365_state_dict(path)
        expected = make_test_mirror.random_resnet("resnet18", 365, 4).state_dict()
        self.assertEqual(list(state), list(expected))
        self.assertEqual(state["fc.weight"].shape, (365, 512))
        for name, tensor in expected.items():
            self.assertTrue(torch.equal(state[name], tensor), name)

    def test_a_file_that_is_not_a_checkpoint_is_refused_by_name(self):
        path = self.tmp / "not_places.pth.tar"
        torch.save({"weights": torch.zeros(1)}, path)
        with self.assertRaises(SystemExit) as caught:
            export.load_places365_state_dict(path)
        self.assertIn("not a Places365 checkpoint", str(caught.exception))

    def test_openai_clip_torchscript_archive_in_float16(self):
        import open_clip

        path = self.tmp / "ViT-B-16.pt"
        make_test_mirror.write_openai_clip(path, seed=5)
        archive = torch.jit.load(str(path), map_location="cpu")
        state = archive.state_dict()
        self.assertEqual({t.dtype for t in state.values()}, {torch.float16})
        reference = open_clip.create_model("ViT-B-16-quickgelu", pretrained=None, device="cpu", precision="fp32")
        self.assertEqual(sorted(state), sorted(reference.state_dict()))
        for name in ["visual.proj", "text_projection", "positional_embedding", "visual.conv1.weight"]:
            self.assertIn(name, state)  # openai's parameter names
        model = export.load_openai_clip(path)
        loaded = model.state_dict()
        for name, tensor in state.items():
            self.assertEqual(loaded[name].dtype, torch.float32, name)
            self.assertTrue(torch.equal(loaded[name], tensor.float()), name)
        tokens = torch.zeros(1, 77, dtype=torch.int64)
        tokens[0, :3] = torch.tensor([49406, 320, 49407])
        with torch.no_grad():
            self.assertEqual(tuple(model.encode_text(tokens).shape), (1, 512))
            self.assertEqual(tuple(model.encode_image(torch.zeros(1, 3, 224, 224)).shape), (1, 512))

    def test_open_clip_safetensors_copy_of_the_same_weights(self):
        # CLIP's alternative source: open_clip's hub copy (a safetensors state_dict) of the weights in openai's
        # TorchScript archive. Made from the same seed, both files must load into the same model.
        from safetensors.torch import load_file

        path = self.tmp / "vit_base_patch16_clip_224.openai.safetensors"
        make_test_mirror.write_open_clip_safetensors(path, seed=6)
        stored = load_file(str(path))
        self.assertEqual({t.dtype for t in stored.values()}, {torch.float16})
        self.assertIn("visual.proj", stored)  # openai's parameter names
        model = export.load_open_clip_safetensors(path)
        loaded = model.state_dict()
        self.assertEqual(sorted(stored), sorted(loaded))
        for name, tensor in stored.items():
            self.assertEqual(loaded[name].dtype, torch.float32, name)
            self.assertTrue(torch.equal(loaded[name], tensor.float()), name)
        archive = self.tmp / "ViT-B-16-seed6.pt"
        make_test_mirror.write_openai_clip(archive, seed=6)
        reference = export.load_openai_clip(archive)
        tokens = torch.zeros(2, 77, dtype=torch.int64)
        tokens[:, :3] = torch.tensor([49406, 320, 49407])
        images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(6))
        self.assertEqual(sorted(reference.state_dict()), sorted(loaded))
        for name, tensor in reference.state_dict().items():
            self.assertTrue(torch.equal(loaded[name], tensor), name)
        # The same model up to float32 rounding (the two builders take different attention code paths: measured
        # 1.7e-6 on features of magnitude 3).
        with torch.no_grad():
            for ours, theirs in [(model.encode_text(tokens), reference.encode_text(tokens)),
                                 (model.encode_image(images), reference.encode_image(images))]:
                self.assertLess(float((ours - theirs).abs().max()), 1e-5)


if __name__ == "__main__":
    unittest.main()
