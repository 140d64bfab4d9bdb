"""The fetch stage (scripts/fetch.py, called by scripts/reproduce.py): pins, the mirror, the test mirror, the
cache, archives, retries, resumes, fallback sources, and the errors a user sees. The network is a local
server with injected faults (faulty_server.py, 127.0.0.1 only, stops by itself); the waits are recorded and
scaled down, the code path is the real one.
Standard library only: python3 -m unittest discover -s tests/reproduce -p 'test_fetch.py'"""

import contextlib
import functools
import hashlib
import io
import json
import random
import shutil
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "scripts")]
import fetch  # noqa: E402
import reproduce  # noqa: E402
from faulty_server import Faults, FaultyServer  # noqa: E402


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FetchTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.mirror = self.tmp / "mirror"
        self.mirror.mkdir()
        self.cache = self.tmp / "cache"

    def pin(self, content: bytes, name="weights.pth") -> reproduce.Pin:
        return fetch.Pin(f"https://example.invalid/models/{name}", sha(content), None, "test weights")

    def test_a_mirror_file_with_another_hash_is_refused_with_both_hashes(self):
        (self.mirror / "weights.pth").write_bytes(b"random weights")
        pin = self.pin(b"official weights")
        fetcher = fetch.Fetcher(self.cache, self.mirror, test_mirror=False)
        with self.assertRaises(fetch.Refused) as caught:
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
        fetcher = fetch.Fetcher(self.cache, self.mirror, test_mirror=True)
        path = fetcher.get(self.pin(b"official weights"))
        self.assertEqual(path.read_bytes(), b"random weights")
        record = fetcher.records["weights.pth"]
        self.assertFalse(record["matches_pin"])
        self.assertEqual(record["sha256"], sha(b"random weights"))

    def test_a_download_in_the_cache_is_reused_without_the_network(self):
        content = b"official weights"
        (self.mirror / "weights.pth").write_bytes(content)
        # Port 9 on the loopback refuses at once: only the cache can answer.
        pin = fetch.Pin("http://127.0.0.1:9/models/weights.pth", sha(content), None, "test weights")
        first = fetch.Fetcher(self.cache, self.mirror, test_mirror=False)
        self.assertEqual(first.get(pin).read_bytes(), content)
        self.assertTrue(first.records["weights.pth"]["matches_pin"])
        again = fetch.Fetcher(self.cache, None, test_mirror=False)
        self.assertEqual(again.get(pin).read_bytes(), content)
        self.assertEqual(again.records["weights.pth"]["from"], "cache")

    def test_a_mirror_is_read_again_when_it_changes(self):
        (self.mirror / "weights.pth").write_bytes(b"random weights, version 1")
        pin = self.pin(b"official weights")
        fetch.Fetcher(self.cache, self.mirror, test_mirror=True).get(pin)
        (self.mirror / "weights.pth").write_bytes(b"random weights, version 2")
        path = fetch.Fetcher(self.cache, self.mirror, test_mirror=True).get(pin)
        self.assertEqual(path.read_bytes(), b"random weights, version 2")

    def test_a_cached_file_that_does_not_match_is_not_used(self):
        self.cache.mkdir()
        (self.cache / "weights.pth").write_bytes(b"left by a test mirror run")
        pin = fetch.Pin("http://127.0.0.1:9/models/weights.pth", sha(b"official weights"), None, "w")
        fetcher = fetch.Fetcher(self.cache, None, test_mirror=False)
        # It is dropped and fetched again (here the network refuses, so the run stops with that error).
        with self.assertRaises(fetch.Refused) as caught:
            fetcher.get(pin, show_bar=False)
        self.assertIn("cannot download weights.pth", str(caught.exception.code))
        self.assertIn("http://127.0.0.1:9/models/weights.pth: [Errno 111] Connection refused",
                      str(caught.exception.code))
        self.assertFalse((self.cache / "weights.pth").exists())

    def test_torchvision_prefix_pins(self):
        content = b"torchvision weights"
        pin = fetch.Pin("https://example.invalid/resnet18-x.pth", None, sha(content)[:8], "w")
        self.assertTrue(pin.matches(sha(content)))
        self.assertFalse(pin.matches(sha(b"other")))
        self.assertIn("prefix", pin.describe())

    def test_a_file_missing_from_the_mirror_names_the_file_and_the_url(self):
        fetcher = fetch.Fetcher(self.cache, self.mirror, test_mirror=True)
        with self.assertRaises(fetch.Refused) as caught:
            fetcher.get(self.pin(b"x", name="ViT-B-16.pt"))
        message = str(caught.exception.code)
        self.assertIn("ViT-B-16.pt", message)
        self.assertIn("https://example.invalid/models/ViT-B-16.pt", message)

    def test_no_network_and_no_mirror_names_the_url_and_the_way_out(self):
        # Port 9 (discard) on the loopback: refused at once, like a machine without a network.
        pin = fetch.Pin("http://127.0.0.1:9/models/resnet50-11ad3fa6.pth", None, "11ad3fa6", "w")
        fetcher = fetch.Fetcher(self.cache, None, test_mirror=False)
        with self.assertRaises(fetch.Refused) as caught:
            fetcher.get(pin, show_bar=False)
        message = str(caught.exception.code)
        self.assertIn("http://127.0.0.1:9/models/resnet50-11ad3fa6.pth", message)
        self.assertIn("--mirror DIR", message)
        self.assertFalse(any(self.cache.iterdir()))

    def test_every_pinned_input_has_a_distinct_file_name(self):
        # The cache and a mirror hold every file under its name, so two inputs may not share one.
        names = [p.file_name for p in fetch.weight_pins().values()]
        names += [p.file_name for pins in fetch.alternative_pins().values() for p in pins]
        names += [p.file_name for p, _ in fetch.data_pins()]
        names += [p.file_name for p in fetch.image_pins().values()]
        names += [a.file_name for a in fetch.archives().values()]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(len(fetch.PINS["images"]["files"]), 1000)
        self.assertTrue(set(fetch.PINS["images"]["seed"]) <= set(fetch.PINS["images"]["files"]))

    def test_files_and_data_sets_are_pinned_by_name_and_test_mirror_outputs_carry_the_banner(self):
        # What reproduce.py and export.py both take from fetch.py.
        self.assertEqual(fetch.data_pin("20k.txt").file_name, "20k.txt")
        self.assertEqual(fetch.dataset_pin("broden1_224", None).file_name, "broden1_224.zip")
        self.assertIsNone(fetch.dataset_pin("broden1_224", None).sha256)
        self.assertEqual(fetch.dataset_pin("broden1_224", "ab" * 32).sha256, "ab" * 32)
        self.assertEqual(fetch.with_banner("Broden", False), "Broden")
        self.assertEqual(fetch.with_banner("Broden", True), "TEST MIRROR \u2014 not the official weights: Broden")
        self.assertEqual(fetch.TEST_MIRROR_WEIGHTS["checked"], f"{fetch.TEST_MIRROR_BANNER}: hash not checked")

    def test_only_what_the_run_reads_is_pinned_and_every_github_file_has_its_archive(self):
        # The data files the run reads (update the list with the run: a pinned file nothing reads is a download
        # for nothing).
        self.assertEqual(sorted(p.file_name for p, _ in fetch.data_pins()),
                         ["20k.txt", "bpe_simple_vocab_16e6.txt.gz", "broden_labels_clean.txt",
                          "categories_places365.txt", "imagenet_labels.txt", "resnet18_places_imagenet_broden.csv"])
        archives = fetch.archives()
        for pin, item in fetch.data_pins():
            self.assertIn("archive", item, f"{pin.file_name} is a file of a pinned GitHub commit: give it \"archive\" "
                          "and \"member\" so that it comes from the commit's tarball, not one more raw download")
            archive = archives[item["archive"]]
            # The per-file fallback is the same file: the raw URL of that commit and path.
            self.assertIn(f"https://raw.githubusercontent.com/{archive.repo}/{archive.commit}/{item['member']}",
                          pin.urls)
            self.assertTrue(pin.sha256)
        images = fetch.PINS["images"]
        self.assertEqual(archives[images["archive"]].commit, images["commit"])
        for archive in archives.values():
            self.assertEqual(archive.urls[0],
                             f"https://codeload.github.com/{archive.repo}/tar.gz/{archive.commit}")
        clip = fetch.weight_pins()["clip_vit_b16"]
        self.assertEqual(len(clip.urls), 2)
        self.assertTrue(all(url.endswith(f"/{clip.sha256}/ViT-B-16.pt") for url in clip.urls))


def tarball(path: Path, top: str, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


class Waits:
    """Patience's sleep in the tests: records every wait and sleeps a hundredth of it."""

    def __init__(self):
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        import time
        time.sleep(min(seconds / 100, 0.05))


class FaultyNetworkTest(unittest.TestCase):
    """The fetch stage (Run.fetch through reproduce.main --until fetch) against a server that rate-limits,
    drops, misses and corrupts."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.root = self.tmp / "www"
        self.waits = Waits()
        patience = functools.partial(fetch.Patience, first=0.01, longest=0.05, budget=60, sleep=self.waits,
                                     random=lambda: 0.5)
        patcher = mock.patch.object(fetch, "Patience", patience)
        patcher.start()
        self.addCleanup(patcher.stop)

    def serve(self, faults: Faults) -> str:
        server = FaultyServer(self.root, faults, lifetime=30, max_requests=500)
        self.server = server
        url = server.start()
        self.addCleanup(server.stop)
        return url

    def put(self, relative: str, data: bytes) -> bytes:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def test_the_fetch_stage_survives_429s_a_dropped_connection_a_404_and_a_corrupt_file(self):
        rng = random.Random(0)
        big = self.put("a/big.pth", rng.randbytes(3 << 20))
        small = self.put("a/small.pth", rng.randbytes(5000))
        self.put("bad/small.pth", small)
        concepts = b"dog\ncat\n"
        labels = self.put("a/labels.txt", b"/a/abbey 0\n")
        published = b"layer,unit,description\nlayer4,0,sky\n"
        images = {f"n0000000{i}_thing.JPEG": rng.randbytes(2000) for i in range(3)}
        for name, data in images.items():
            self.put(f"img/{name}", data)
        broken = dict(images)
        first = sorted(images)[0]
        broken[first] = bytes([images[first][0] ^ 1]) + images[first][1:]
        self.root.joinpath("arc").mkdir(parents=True)
        tarball(self.root / "arc" / "data.tar.gz", "data-c0ffee", {"data/20k.txt": concepts,
                                                                   "data/pub/x.csv": published})
        tarball(self.root / "arc" / "images.tar.gz", "images-beef", broken)
        url = self.serve(Faults(rate_limit_first=True, retry_after="2", drop={"a/big.pth": 1 << 20},
                                missing={"gone/small.pth"}, corrupt={"bad/small.pth"}))
        pins = {
            "weights": [
                {"name": "big", "url": url + "a/big.pth", "sha256": sha(big), "format": "test"},
                {"name": "small", "url": url + "gone/small.pth", "other_urls": [url + "bad/small.pth",
                                                                                 url + "a/small.pth"],
                 "sha256": sha(small), "format": "test"}],
            "archives": [{"repo": "t/data", "commit": "c0ffee", "urls": [url + "arc/data.tar.gz"]},
                         {"repo": "t/images", "commit": "beef", "urls": [url + "arc/images.tar.gz"]}],
            "data": [
                {"url": url + "raw/20k.txt", "sha256": sha(concepts), "kind": "concepts", "path": "20k.txt",
                 "archive": "t/data", "member": "data/20k.txt"},
                {"url": url + "raw/x.csv", "sha256": sha(published), "kind": "published_results",
                 "path": "pub/x.csv", "archive": "t/data", "member": "data/pub/x.csv"},
                # A data file outside any pinned archive comes on its own.
                {"url": url + "a/labels.txt", "sha256": sha(labels), "kind": "labels", "path": "labels.txt"}],
            "images": {"repo": "t/images", "commit": "beef", "base_url": url + "img/", "archive": "t/images",
                       "seed": [first], "files": {name: sha(data) for name, data in images.items()}},
        }
        out, cache = self.tmp / "out", self.tmp / "cache"
        stderr = io.StringIO()
        with mock.patch.dict(fetch.PINS, pins, clear=True), contextlib.redirect_stderr(stderr):
            code = reproduce.main(["--out", str(out), "--cache", str(cache), "--until", "fetch", "--probe", "imagenet-samples"])
        log = stderr.getvalue()
        self.assertEqual(code, 0, log)

        # Every file correct, nothing half-fetched left behind.
        self.assertEqual((cache / "big.pth").read_bytes(), big)
        self.assertEqual((cache / "small.pth").read_bytes(), small)
        self.assertEqual((out / "data" / "concepts" / "20k.txt").read_bytes(), concepts)
        self.assertEqual((out / "data" / "clip-dissect-results" / "pub" / "x.csv").read_bytes(), published)
        self.assertEqual((out / "data" / "labels" / "labels.txt").read_bytes(), labels)
        for name, data in images.items():
            self.assertEqual((out / "data" / "imagenet-probe" / name).read_bytes(), data, name)
        self.assertEqual((out / "data" / "imagenet-samples" / first).read_bytes(), images[first])
        self.assertEqual(sorted(p.name for p in cache.iterdir() if p.name.endswith((".partial", ".tar.gz"))), [])
        inputs = json.loads((out / "inputs.json").read_text())
        self.assertEqual(len(inputs), 2 + 3 + 3)
        self.assertTrue(all(r["matches_pin"] for r in inputs.values()), inputs)

        requests = self.server.requests
        # 1. Every file first answers 429; the fetcher waits the server's Retry-After (2 s), not its own backoff.
        for path in ["a/big.pth", "gone/small.pth", "bad/small.pth", "a/small.pth", "a/labels.txt",
                     "arc/data.tar.gz", "arc/images.tar.gz", "img/" + first]:
            self.assertEqual([s for p, _, s in requests if p == path][0], 429, path)
        self.assertIn("HTTP 429 Too Many Requests (Retry-After 2 s); try 2 of 8 in 2.0 s", log)
        self.assertEqual(sum(1 for w in self.waits.seconds if w == 2.0), 8, self.waits.seconds)
        # 2. The large file's connection drops after 1 MiB; it resumes from there with Range.
        self.assertEqual([(r, s) for p, r, s in requests if p == "a/big.pth"],
                         [(None, 429), (None, 200), (f"bytes={1 << 20}-", 206)])
        self.assertIn(f"  {url}a/big.pth: connection dropped after 1,048,576 of 3,145,728 bytes; try 2 of 8 in "
                      "0.0 s, resuming at byte 1,048,576\n", log)
        # 3. A source answering 404 moves on to the next at once.
        self.assertEqual([s for p, _, s in requests if p == "gone/small.pth"], [429, 404])
        self.assertIn(f"{url}gone/small.pth: HTTP 404 Not Found; trying the next source", log)
        # 4. Wrong bytes are refused, nothing of them kept: from a source (the next one serves the file) and
        #    inside an archive (that one file is then fetched on its own, the others come from the archive).
        self.assertIn(f"{url}bad/small.pth: sha256 {sha(corrupted(small))}, expected {sha(small)}: not the "
                      "pinned file, refused, nothing of it kept; trying the next source", log)
        self.assertIn(f"{first} in images-beef.tar.gz from {url}arc/images.tar.gz: sha256 {sha(broken[first])}, "
                      f"expected {sha(images[first])}; refused, nothing of it kept", log)
        self.assertIn("images-beef.tar.gz: 2 of 3 files; the others one by one", log)
        self.assertEqual([p for p, _, _ in requests if p.startswith("img/")], ["img/" + first] * 2)
        self.assertEqual(inputs[first]["from"], f"{url}img/{first}")
        self.assertEqual(inputs[sorted(images)[1]]["from"], f"images-beef.tar.gz from {url}arc/images.tar.gz")
        # No raw per-file downloads of what the archive delivered.
        self.assertFalse(any(p.startswith("raw/") for p, _, _ in requests))

        # A second run takes everything from the cache: no request at all.
        before = len(requests)
        shutil.rmtree(out)
        with mock.patch.dict(fetch.PINS, pins, clear=True), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(reproduce.main(["--out", str(out), "--cache", str(cache), "--until", "fetch", "--probe", "imagenet-samples"]), 0)
        self.assertEqual(len(self.server.requests), before)
        self.assertTrue(all(r["from"] == "cache" for r in json.loads((out / "inputs.json").read_text()).values()))

    def test_after_the_last_try_the_error_names_the_url_the_status_the_time_and_what_to_do(self):
        data = self.put("w/weights.pth", b"weights")
        url = self.serve(Faults(rate_limit_first=False))
        self.server.faults.missing = set()
        pin = fetch.Pin(url + "busy/weights.pth", sha(data), None, "test weights")
        # Always 503: a server in trouble.
        with mock.patch.object(FaultyServer, "_answer", lambda server, handler: busy(server, handler)):
            fetcher = fetch.Fetcher(self.tmp / "cache", None, False, patience=fetch.Patience(
                tries=3, first=0.01, sleep=self.waits, random=lambda: 0.5))
            with self.assertRaises(fetch.Unavailable) as caught, contextlib.redirect_stderr(io.StringIO()):
                fetcher.get(pin, show_bar=False)
        message = str(caught.exception.code)
        self.assertIn(f"cannot download weights.pth (test weights):\n  {url}busy/weights.pth: HTTP 503 Service "
                      "Unavailable (Retry-After 1 s); gave up after 3 tries in 0 s", message)
        self.assertIn("Rerun the same command later", message)
        self.assertIn("--mirror DIR or --mirror URL", message)
        self.assertEqual(self.waits.seconds, [1.0, 1.0])

    def test_a_retry_after_beyond_the_budget_stops_at_once_and_says_so(self):
        data = self.put("a/w.pth", b"weights")
        url = self.serve(Faults(rate_limit_first=True, retry_after="3600"))
        fetcher = fetch.Fetcher(self.tmp / "cache", None, False, patience=fetch.Patience(
            budget=600, sleep=self.waits))
        with self.assertRaises(fetch.Unavailable) as caught, contextlib.redirect_stderr(io.StringIO()):
            fetcher.get(fetch.Pin(url + "a/w.pth", sha(data)), show_bar=False)
        self.assertIn("HTTP 429 Too Many Requests (Retry-After 3600 s); gave up after 1 try in 0 s (the next "
                      "wait, 60 min 00 s, would pass the budget of 10 min 00 s without progress)",
                      str(caught.exception.code))
        self.assertEqual(self.waits.seconds, [])

    def test_a_line_that_drops_again_and_again_goes_on_while_the_file_advances(self):
        data = self.put("a/big.pth", random.Random(1).randbytes(5000))
        url = self.serve(Faults(drop_each={"a/big.pth": 1000}))
        fetcher = fetch.Fetcher(self.tmp / "cache", None, False, patience=fetch.Patience(
            tries=2, first=0.01, sleep=self.waits))
        with contextlib.redirect_stderr(io.StringIO()):
            path = fetcher.get(fetch.Pin(url + "a/big.pth", sha(data)), show_bar=False)
        self.assertEqual(path.read_bytes(), data)
        # Four drops with only two tries allowed: each drop advanced the file, so none was a try without progress.
        self.assertEqual([r for p, r, _ in self.server.requests],
                         [None, "bytes=1000-", "bytes=2000-", "bytes=3000-", "bytes=4000-"])

    def test_a_partial_file_that_was_complete_is_checked_and_kept(self):
        # A run stopped between the last byte and the rename: the server answers the Range with 416.
        data = self.put("a/w.pth", b"complete weights")
        url = self.serve(Faults())
        cache = self.tmp / "cache"
        cache.mkdir()
        (cache / "w.pth.partial").write_bytes(data)
        with contextlib.redirect_stderr(io.StringIO()):
            path = fetch.Fetcher(cache, None, False).get(fetch.Pin(url + "a/w.pth", sha(data)), show_bar=False)
        self.assertEqual(path.read_bytes(), data)
        self.assertEqual(self.server.requests, [("a/w.pth", f"bytes={len(data)}-", 416)])

    def test_mirror_url_reads_url_plus_file_name_and_refuses_a_corrupt_file_keeping_nothing(self):
        good = self.put("m/resnet18-f37072fd.pth", b"torchvision weights")
        self.put("m/ViT-B-16.pt", b"openai weights")
        url = self.serve(Faults(corrupt={"m/ViT-B-16.pt"}))
        cache = self.tmp / "cache"
        fetcher = fetch.Fetcher(cache, fetch.as_mirror(url + "m"), False)
        pin = fetch.Pin("https://download.example/models/resnet18-f37072fd.pth", sha(good))
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(fetcher.get(pin, show_bar=False).read_bytes(), good)
        self.assertEqual(fetcher.records["resnet18-f37072fd.pth"]["from"], url + "m/resnet18-f37072fd.pth")
        clip = fetch.Pin("https://cdn.example/ViT-B-16.pt", sha(b"openai weights"))
        with self.assertRaises(fetch.Refused) as caught, contextlib.redirect_stderr(io.StringIO()):
            fetcher.get(clip, show_bar=False)
        self.assertNotIsInstance(caught.exception, fetch.Unavailable)
        self.assertIn("not the pinned file, refused, nothing of it kept", str(caught.exception.code))
        self.assertEqual(sorted(p.name for p in cache.iterdir()), ["resnet18-f37072fd.pth"])

    def test_clip_falls_back_to_its_alternative_format_only_when_unavailable(self):
        alternative = self.put("hub/vit.safetensors", b"open_clip copy")
        url = self.serve(Faults())
        primary = fetch.Pin(url + "gone/ViT-B-16.pt", sha(b"openai"), None, "clip", (url + "gone2/ViT-B-16.pt",))
        alt = fetch.Pin(url + "hub/vit.safetensors", None, None, "clip, alternative", (), "vit.safetensors")
        fetcher = fetch.Fetcher(self.tmp / "cache", None, False)
        log = io.StringIO()
        with contextlib.redirect_stderr(log):
            path = fetcher.get_any([primary, alt], show_bar=False)
        self.assertEqual(path.read_bytes(), alternative)
        self.assertEqual(path.name, "vit.safetensors")
        self.assertIn(f"  cannot download ViT-B-16.pt (clip):\n    {url}gone/ViT-B-16.pt: HTTP 404 Not Found\n    "
                      f"{url}gone2/ViT-B-16.pt: HTTP 404 Not Found\n", log.getvalue())
        self.assertIn("  trying vit.safetensors (clip, alternative)\n", log.getvalue())
        self.assertIn("using vit.safetensors (clip, alternative) instead of ViT-B-16.pt", log.getvalue())
        # Its hash is recorded (no checksum is published for it).
        self.assertEqual(fetcher.records["vit.safetensors"]["sha256"], sha(alternative))
        self.assertIn("NOT checked", log.getvalue())
        # A primary that answers with other bytes is an error, not a reason to take the alternative.
        self.put("bad/ViT-B-16.pt", b"tampered")
        wrong = fetch.Pin(url + "bad/ViT-B-16.pt", sha(b"openai"), None, "clip")
        with self.assertRaises(fetch.Refused) as caught, contextlib.redirect_stderr(io.StringIO()):
            fetch.Fetcher(self.tmp / "cache2", None, False).get_any([wrong, alt], show_bar=False)
        self.assertNotIsInstance(caught.exception, fetch.Unavailable)

    def test_a_server_that_ignores_range_restarts_from_byte_0(self):
        data = self.put("a/w.pth", bytes(range(256)) * 100)
        url = self.serve(Faults())
        cache = self.tmp / "cache"
        cache.mkdir()
        (cache / "w.pth.partial").write_bytes(b"stale bytes from another file")
        with mock.patch.object(FaultyServer, "_answer", ignoring_range):
            with contextlib.redirect_stderr(io.StringIO()):
                path = fetch.Fetcher(cache, None, False).get(fetch.Pin(url + "a/w.pth", sha(data)), show_bar=False)
        self.assertEqual(path.read_bytes(), data)


    def test_a_name_lookup_failing_for_now_and_a_tls_cut_are_retried_no_such_host_is_not(self):
        import socket
        import ssl
        self.assertTrue(fetch.transient_network_error(socket.gaierror(socket.EAI_AGAIN, "Temporary failure")))
        self.assertTrue(fetch.transient_network_error(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")))
        self.assertTrue(fetch.transient_network_error(ConnectionResetError()))
        self.assertFalse(fetch.transient_network_error(socket.gaierror(socket.EAI_NONAME, "Name or service not known")))
        self.assertFalse(fetch.transient_network_error(ConnectionRefusedError()))
        self.assertFalse(fetch.transient_network_error("invalid URL"))


class BrodenTest(unittest.TestCase):
    """The Broden archive as dlbroden.sh leaves it, and what happens when the download is not Broden."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def zip_of(self, members: dict[str, bytes]) -> Path:
        import zipfile
        path = self.tmp / "broden1_224.zip"
        with zipfile.ZipFile(path, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return path

    def test_the_masks_and_top_level_txt_files_are_left_out_once_per_archive(self):
        archive = self.zip_of({"broden1_224/images/ade20k/a.jpg": b"jpeg", "broden1_224/images/ade20k/a_object.png":
                               b"png", "broden1_224/c_scene.csv": b"code,number,name,frequency\n",
                               "broden1_224/readme.txt": b"text", "broden1_224/index.csv": b"image\n"})
        folder = reproduce.extract_broden(archive, sha(archive.read_bytes()), self.tmp / "broden1_224")
        kept = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self.assertEqual(kept, [".complete", "c_scene.csv", "images/ade20k/a.jpg", "index.csv"])
        # Extracted once: a second call with the same archive and rules touches nothing.
        (folder / "images" / "ade20k" / "a.jpg").write_bytes(b"kept")
        reproduce.extract_broden(archive, sha(archive.read_bytes()), folder)
        self.assertEqual((folder / "images" / "ade20k" / "a.jpg").read_bytes(), b"kept")

    def test_an_error_page_or_a_cut_zip_is_deleted_with_a_clear_message(self):
        whole = self.zip_of({"broden1_224/images/ade20k/a.jpg": b"jpeg" * 1000, "broden1_224/c_scene.csv": b"x"})
        cut = whole.read_bytes()[:-40]
        for content in [b"<html>429 Too Many Requests</html>", cut]:
            whole.write_bytes(content)
            with self.assertRaises(fetch.Refused) as caught:
                reproduce.extract_broden(whole, sha(content), self.tmp / "broden1_224")
            message = str(caught.exception.code)
            self.assertIn("broden1_224.zip is not a readable zip", message)
            self.assertIn("run the same command again", message)
            self.assertFalse(whole.exists(), "the damaged archive stays in the cache: every rerun would fail")
            self.assertFalse((self.tmp / "broden1_224").exists())

    def test_a_zip_that_is_not_broden_is_refused_and_deleted(self):
        archive = self.zip_of({"something/else.jpg": b"jpeg"})
        with self.assertRaises(fetch.Refused) as caught:
            reproduce.extract_broden(archive, sha(archive.read_bytes()), self.tmp / "broden1_224")
        self.assertIn("not the Broden archive", str(caught.exception.code))
        self.assertFalse(archive.exists())


class ExportEnvironmentTest(unittest.TestCase):
    """The python stage's pip commands (recorded, not run): torch's CPU wheels and PyPI's build are the same
    install with another index, in venvs of their own."""

    def commands(self, *argv: str) -> tuple[list[list[str]], str]:
        home = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, home, ignore_errors=True)
        run = reproduce.Run(reproduce.parse_args(["--out", str(home / "out"), *argv]))
        recorded = []

        def sh(_, command):
            recorded.append([str(c) for c in command])
            if command[1:3] == ["-m", "venv"]:
                Path(command[3]).mkdir(parents=True)

        with mock.patch.dict("os.environ", {"XDG_CACHE_HOME": str(home)}), mock.patch.object(reproduce.Run, "sh", sh):
            python = run.python_env()["python"]
        return recorded, python

    def test_cpu_wheels_come_first_from_pytorchs_index_then_the_rest_from_pypi(self):
        commands, python = self.commands("--torch", "cpu")
        requirements = (reproduce.REPO / "models" / "requirements.txt").read_text().splitlines()
        torch_pins = [r for r in requirements if r.startswith(("torch==", "torchvision=="))]
        self.assertEqual(len(torch_pins), 2)
        self.assertEqual(commands[1][-4:], ["--index-url", "https://download.pytorch.org/whl/cpu", *torch_pins])
        self.assertEqual(commands[2][-2:], ["-r", str(reproduce.REPO / "models" / "requirements.txt")])
        self.assertNotIn("--index-url", commands[2])
        self.assertRegex(python, r"/glassbox/venv-[0-9a-f]{12}-cpu/bin/python$")

    def test_pypi_keeps_the_cuda_build_in_its_own_venv(self):
        commands, python = self.commands("--torch", "pypi")
        self.assertEqual(len(commands), 2)  # the venv, then one install from PyPI
        self.assertFalse(any("--index-url" in c for c in commands))
        self.assertRegex(python, r"/glassbox/venv-[0-9a-f]{12}/bin/python$")

    def test_the_default_is_the_cpu_index_on_linux_x86_64_unless_glassbox_torch_says_otherwise(self):
        with mock.patch("platform.system", return_value="Linux"), mock.patch("platform.machine",
                                                                             return_value="x86_64"):
            with mock.patch.dict("os.environ", {}, clear=False) as env:
                env.pop("GLASSBOX_TORCH", None)
                self.assertEqual(reproduce.default_torch(), "cpu")
                env["GLASSBOX_TORCH"] = "pypi"
                self.assertEqual(reproduce.default_torch(), "pypi")
        with mock.patch("platform.system", return_value="Darwin"), mock.patch.dict("os.environ", {}) as env:
            env.pop("GLASSBOX_TORCH", None)
            self.assertEqual(reproduce.default_torch(), "pypi")


def corrupted(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def busy(server, handler) -> None:
    server.requests.append((handler.path.lstrip("/"), handler.headers.get("Range"), 503))
    handler.send_response(503)
    handler.send_header("Retry-After", "1")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


_answer = FaultyServer._answer


def ignoring_range(server, handler) -> None:
    del handler.headers["Range"]
    _answer(server, handler)

if __name__ == "__main__":
    unittest.main()
