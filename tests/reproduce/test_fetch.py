"""scripts/reproduce.py's fetching: pins, the mirror, the test mirror, the cache, and the errors a user sees.
Standard library only: python3 -m unittest discover -s tests/reproduce -p 'test_fetch.py'"""

import hashlib
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import reproduce  # noqa: E402


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.mirror = self.tmp / "mirror"
        self.mirror.mkdir()
        self.cache = self.tmp / "cache"

    def pin(self, content: bytes, name="weights.pth") -> reproduce.Pin:
        return reproduce.Pin(f"https://example.invalid/models/{name}", sha(content), None, "test weights")

    def test_a_mirror_file_with_another_hash_is_refused_with_both_hashes(self):
        (self.mirror / "weights.pth").write_bytes(b"random weights")
        pin = self.pin(b"official weights")
        fetcher = reproduce.Fetcher(self.cache, self.mirror, test_mirror=False)
        with self.assertRaises(reproduce.Refused) as caught:
            fetcher.get(pin)
        message = str(caught.exception.code)
        self.assertIn("weights.pth", message)
        self.assertIn(sha(b"random weights"), message)
        self.assertIn(sha(b"official weights"), message)
        self.assertIn("--test-mirror", message)
        # Nothing half-fetched is left behind to be mistaken for the real file.
        self.assertEqual(sorted(p.name for p in self.cache.iterdir()), [])

    def test_the_test_mirror_accepts_it_and_records_the_mismatch(self):
        (self.mirror / "weights.pth").write_bytes(b"random weights")
        fetcher = reproduce.Fetcher(self.cache, self.mirror, test_mirror=True)
        path = fetcher.get(self.pin(b"official weights"))
        self.assertEqual(path.read_bytes(), b"random weights")
        record = fetcher.records["weights.pth"]
        self.assertFalse(record["matches_pin"])
        self.assertEqual(record["sha256"], sha(b"random weights"))

    def test_a_download_in_the_cache_is_reused_without_the_network(self):
        content = b"official weights"
        (self.mirror / "weights.pth").write_bytes(content)
        # Port 9 on the loopback refuses at once: only the cache can answer.
        pin = reproduce.Pin("http://127.0.0.1:9/models/weights.pth", sha(content), None, "test weights")
        first = reproduce.Fetcher(self.cache, self.mirror, test_mirror=False)
        self.assertEqual(first.get(pin).read_bytes(), content)
        self.assertTrue(first.records["weights.pth"]["matches_pin"])
        again = reproduce.Fetcher(self.cache, None, test_mirror=False)
        self.assertEqual(again.get(pin).read_bytes(), content)
        self.assertEqual(again.records["weights.pth"]["from"], "cache")

    def test_a_mirror_is_read_again_when_it_changes(self):
        (self.mirror / "weights.pth").write_bytes(b"random weights, version 1")
        pin = self.pin(b"official weights")
        reproduce.Fetcher(self.cache, self.mirror, test_mirror=True).get(pin)
        (self.mirror / "weights.pth").write_bytes(b"random weights, version 2")
        path = reproduce.Fetcher(self.cache, self.mirror, test_mirror=True).get(pin)
        self.assertEqual(path.read_bytes(), b"random weights, version 2")

    def test_a_cached_file_that_does_not_match_is_not_used(self):
        self.cache.mkdir()
        (self.cache / "weights.pth").write_bytes(b"left by a test mirror run")
        pin = reproduce.Pin("http://127.0.0.1:9/models/weights.pth", sha(b"official weights"), None, "w")
        fetcher = reproduce.Fetcher(self.cache, None, test_mirror=False)
        # It is dropped and fetched again (here the network refuses, so the run stops with that error).
        with self.assertRaises(reproduce.Refused) as caught:
            fetcher.get(pin, show_bar=False)
        self.assertIn("cannot download weights.pth", str(caught.exception.code))
        self.assertIn("http://127.0.0.1:9/models/weights.pth: [Errno 111] Connection refused", str(caught.exception.code))
        self.assertFalse((self.cache / "weights.pth").exists())

    def test_torchvision_prefix_pins(self):
        content = b"torchvision weights"
        pin = reproduce.Pin("https://example.invalid/resnet18-x.pth", None, sha(content)[:8], "w")
        self.assertTrue(pin.matches(sha(content)))
        self.assertFalse(pin.matches(sha(b"other")))
        self.assertIn("prefix", pin.describe())

    def test_a_file_missing_from_the_mirror_names_the_file_and_the_url(self):
        fetcher = reproduce.Fetcher(self.cache, self.mirror, test_mirror=True)
        with self.assertRaises(reproduce.Refused) as caught:
            fetcher.get(self.pin(b"x", name="ViT-B-16.pt"))
        message = str(caught.exception.code)
        self.assertIn("ViT-B-16.pt", message)
        self.assertIn("https://example.invalid/models/ViT-B-16.pt", message)

    def test_no_network_and_no_mirror_names_the_url_and_the_way_out(self):
        # Port 9 (discard) on the loopback: refused at once, like a machine without a network.
        pin = reproduce.Pin("http://127.0.0.1:9/models/resnet50-11ad3fa6.pth", None, "11ad3fa6", "w")
        fetcher = reproduce.Fetcher(self.cache, None, test_mirror=False)
        with self.assertRaises(reproduce.Refused) as caught:
            fetcher.get(pin, show_bar=False)
        message = str(caught.exception.code)
        self.assertIn("http://127.0.0.1:9/models/resnet50-11ad3fa6.pth", message)
        self.assertIn("--mirror DIR", message)
        self.assertFalse(any(self.cache.iterdir()))

    def test_every_pinned_input_has_a_distinct_file_name(self):
        # The mirror holds every download under the file name of its URL, so two inputs may not share one.
        names = [reproduce.Pin(w["url"]).file_name for w in reproduce.PINS["weights"]]
        names += [reproduce.Pin(d["url"]).file_name for d in reproduce.PINS["data"]]
        names += list(reproduce.PINS["images"]["files"])
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(len(reproduce.PINS["images"]["files"]), 1000)
        self.assertTrue(set(reproduce.PINS["images"]["seed"]) <= set(reproduce.PINS["images"]["files"]))


if __name__ == "__main__":
    unittest.main()
