"""Pins, downloads, hashes and the test-mirror banner of the real run, shared by scripts/reproduce.py and
models/export.py. Python standard library only: it runs before any virtual environment exists.

Every input is pinned in models/pins.json by its sha256 (or torchvision's prefix of it). A file is fetched
  - from the cache, when it is there and matches its pin (no network);
  - else, for the files of a pinned GitHub commit (images, concept sets, published labels), from one archive
    of that commit (GitHub's tarball): each extracted file is checked against its own pin, since the
    archive's bytes are not stable but the files are; a file the archive lacks or holds with another hash is
    then downloaded on its own;
  - else from its URLs in order (the same bytes published elsewhere, all checked against the one hash), and
    for CLIP, when every URL of openai's archive fails, from its alternative: open_clip's copy of the same
    weights in another format (models/export.py has a loader for each).
With --mirror DIR or --mirror URL (http://host/dir/) every file comes from DIR/<file name> or <URL><file name>
instead. Each download is retried on 429, 5xx, timeouts and dropped connections with exponential backoff and
jitter, never sooner than the server's Retry-After, within a number of tries and a time budget per URL counted
since the last byte received; an interrupted download stays in <file>.partial and resumes from there with an
HTTP Range request (in this run or the next). Other answers (404, 403, no such host) move on to the next
source at once.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import ssl
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
TEST_MIRROR_BANNER = "TEST MIRROR \u2014 not the official weights"
# What the weights record of a manifest says of a file from a test mirror.
TEST_MIRROR_WEIGHTS = {"test_mirror": True, "checked": TEST_MIRROR_BANNER + ": hash not checked"}


def with_banner(text: str, test_mirror: bool) -> str:
    """`text` as an output shows it: behind the banner when it was made from a test mirror."""
    return f"{TEST_MIRROR_BANNER}: {text}" if test_mirror else text


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def human(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Refused(SystemExit):
    """A clear, final error: printed as it is, exit status 1."""

    def __init__(self, message: str):
        super().__init__(f"reproduce: {message}")


class Unavailable(Refused):
    """No source could deliver the file (as opposed to a source delivering other bytes than the pin's)."""


# ------------------------------------------------------------------------------------------------ pins


@dataclass
class Pin:
    url: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    what: str = ""
    # The same bytes elsewhere, tried in order after `url`.
    other_urls: tuple[str, ...] = ()
    # The name in the cache and in a mirror (default: the file name of `url`).
    name: str | None = None

    @property
    def file_name(self) -> str:
        return self.name or self.url.rsplit("/", 1)[1]

    @property
    def urls(self) -> list[str]:
        return [self.url, *self.other_urls]

    def describe(self) -> str:
        if self.sha256:
            return self.sha256
        if self.sha256_prefix:
            return f"{self.sha256_prefix}... (torchvision's prefix)"
        return "none published"

    def matches(self, digest: str) -> bool:
        if self.sha256:
            return digest == self.sha256
        if self.sha256_prefix:
            return digest.startswith(self.sha256_prefix)
        return True


@dataclass
class Archive:
    """GitHub's tarball of a pinned commit. Its bytes are not pinned (GitHub does not promise stable archives);
    the files extracted from it are, one by one."""

    repo: str
    commit: str
    urls: list[str]

    @property
    def file_name(self) -> str:
        # The archive's own top folder is REPO-COMMIT/.
        return f"{self.repo.split('/')[1]}-{self.commit}.tar.gz"


class _PinsSchema:
    """models/pins.json checked once, on load, so that a pin added by hand with a missing key, a wrong type or a
    malformed hash stops the run at once with the entry's place in the file, not with a KeyError halfway through
    a three-hour run."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> None:
        raise Refused(f"{self.source}: {where}: {problem}. Fix the entry (models/README.md describes every key).")

    def mapping(self, value, where: str, required: dict, optional: dict | None = None) -> dict:
        """`required` and `optional`: key -> check(value, where); unknown keys are refused too (a typo in an
        optional key would otherwise be ignored in silence)."""
        if not isinstance(value, dict):
            self.fail(where, f"expected an object, found {type(value).__name__}")
        optional = optional or {}
        for key in value:
            if key not in required and key not in optional and not key.startswith("_"):
                self.fail(where, f"unknown key {key!r} (known: {', '.join(sorted({*required, *optional}))})")
        for key, check in required.items():
            if key not in value:
                self.fail(where, f"missing key {key!r}")
            check(value[key], f"{where}.{key}")
        for key, check in optional.items():
            if key in value:
                check(value[key], f"{where}.{key}")
        return value

    def text(self, value, where: str) -> None:
        if not isinstance(value, str) or not value:
            self.fail(where, f"expected a non-empty string, found {value!r:.80}")

    def url(self, value, where: str) -> None:
        """The URL of one file: its last part names the file in the cache (unless `file` says otherwise)."""
        self.base_url(value, where, folder=False)
        self.file_name(value.rsplit("/", 1)[1], where)

    def base_url(self, value, where: str, folder: bool = True) -> None:
        self.text(value, where)
        if not value.startswith(("http://", "https://")) or "/" not in value.split("://", 1)[1] or \
                value.endswith("/") != folder:
            self.fail(where, f"expected an http(s) URL {'ending in /' if folder else 'to a file'}, "
                             f"found {value!r:.80}")

    def file_name(self, value, where: str) -> None:
        """A name in the download cache: one plain file name, nothing that leaves the folder."""
        self.text(value, where)
        if "/" in value or "\\" in value or value in {".", ".."} or "\0" in value:
            self.fail(where, f"expected a plain file name, found {value!r:.80}")

    def urls(self, value, where: str) -> None:
        if not isinstance(value, list) or not value:
            self.fail(where, "expected a non-empty list of URLs")
        for index, url in enumerate(value):
            self.url(url, f"{where}[{index}]")

    def hex_digits(self, value, where: str, lengths: tuple[int, ...]) -> None:
        if not (isinstance(value, str) and len(value) in lengths and all(c in "0123456789abcdef" for c in value)):
            self.fail(where, f"expected {' or '.join(map(str, lengths))} lowercase hex digits, found {value!r:.80}")

    def sha256(self, value, where: str) -> None:
        self.hex_digits(value, where, (64,))

    def sha256_or_none(self, value, where: str) -> None:
        if value is not None:
            self.sha256(value, where)

    def sha256_prefix(self, value, where: str) -> None:
        self.hex_digits(value, where, tuple(range(8, 64)))

    def items(self, value, where: str, check) -> None:
        if not isinstance(value, list) or not value:
            self.fail(where, "expected a non-empty list")
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")

    def pinned(self, item, where: str, extra_required: dict, extra_optional: dict) -> None:
        """A downloadable file: its URL(s) and exactly one of sha256 (null: none published) or sha256_prefix."""
        self.mapping(item, where, {"url": self.url, **extra_required},
                     {"sha256": self.sha256_or_none, "sha256_prefix": self.sha256_prefix, "other_urls": self.urls,
                      "file": self.file_name, **extra_optional})
        if ("sha256" in item) == ("sha256_prefix" in item):
            self.fail(where, "give exactly one of 'sha256' (null when none is published) and 'sha256_prefix'")

    def image_files(self, value, where: str) -> None:
        """images.files: file name -> sha256, at least one."""
        if not isinstance(value, dict) or not value:
            self.fail(where, "expected a non-empty object of file name -> sha256")
        for name, digest in value.items():
            self.file_name(name, f"{where} key {name!r:.80}")
            self.sha256(digest, f"{where}.{name}")

    def check(self, pins) -> dict:
        names = {"name": self.text, "format": self.text}
        alternative = functools.partial(self.pinned, extra_required={"format": self.text}, extra_optional={})
        weight = functools.partial(
            self.pinned, extra_required=names,
            extra_optional={"why": self.text, "alternatives": lambda v, w: self.items(v, w, alternative)})
        archive = functools.partial(
            self.mapping, required={"repo": self.text, "commit": lambda v, w: self.hex_digits(v, w, (40,)),
                                    "urls": self.urls})
        data = functools.partial(self.pinned, extra_required={"kind": self.text, "path": self.text},
                                 extra_optional={"archive": self.text, "member": self.text})
        dataset = functools.partial(self.pinned, extra_required=names, extra_optional={"why": self.text})
        images = functools.partial(
            self.mapping, required={"repo": self.text, "commit": lambda v, w: self.hex_digits(v, w, (40,)),
                                    "base_url": self.base_url, "archive": self.text,
                                    "seed": lambda v, w: self.items(v, w, self.text),
                                    "files": self.image_files})
        self.mapping(pins, "the file", {
            "weights": lambda v, w: self.items(v, "weights", weight),
            "archives": lambda v, w: self.items(v, "archives", archive),
            "data": lambda v, w: self.items(v, "data", data),
            "images": lambda v, w: images(v, "images"),
            "datasets": lambda v, w: self.items(v, "datasets", dataset),
        })
        # What refers to something else must find it.
        repos = {a["repo"] for a in pins["archives"]}
        for index, item in enumerate(pins["data"]):
            if ("archive" in item) != ("member" in item):
                self.fail(f"data[{index}]", "'archive' and 'member' go together")
            if "archive" in item and item["archive"] not in repos:
                self.fail(f"data[{index}].archive", f"{item['archive']!r} is not one of archives[].repo")
        if pins["images"]["archive"] not in repos:
            self.fail("images.archive", f"{pins['images']['archive']!r} is not one of archives[].repo")
        for name in pins["images"]["seed"]:
            if name not in pins["images"]["files"]:
                self.fail("images.seed", f"{name!r} is not one of images.files")
        for kind in ("weights", "datasets"):
            seen = [item["name"] for item in pins[kind]]
            if len(set(seen)) != len(seen):
                self.fail(kind, "two entries have the same name")
        return pins


def load_pins(text: str, source: str = "models/pins.json") -> dict:
    try:
        pins = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        raise Refused(f"{source} is not valid JSON ({error}); restore it from git") from None
    return _PinsSchema(source).check(pins)


PINS = load_pins((REPO / "models" / "pins.json").read_text(encoding="utf-8"))


def pin_of(item: dict, what: str, sha256: str | None = None) -> Pin:
    return Pin(item["url"], sha256 or item.get("sha256"), item.get("sha256_prefix"), what,
               tuple(item.get("other_urls", ())), item.get("file"))


def weight_pins(places365_sha256: str | None = None) -> dict[str, Pin]:
    pins = {}
    for w in PINS["weights"]:
        sha = places365_sha256 if w["name"] == "resnet18_places365" and places365_sha256 else None
        pins[w["name"]] = pin_of(w, f"{w['name']} weights ({w['format']})", sha)
    return pins


def alternative_pins() -> dict[str, list[Pin]]:
    """Per weight file, the same weights in another format, tried when every URL of the file itself fails."""
    return {w["name"]: [pin_of(a, f"{w['name']} weights, alternative: {a['format']}") for a in w["alternatives"]]
            for w in PINS["weights"] if w.get("alternatives")}


def archives() -> dict[str, Archive]:
    return {a["repo"]: Archive(a["repo"], a["commit"], a["urls"]) for a in PINS["archives"]}


def data_pins() -> list[tuple[Pin, dict]]:
    return [(pin_of(d, d["path"]), d) for d in PINS["data"]]


def data_pin(file_name: str) -> Pin:
    """The data file of that name."""
    return next(pin for pin, _ in data_pins() if pin.file_name == file_name)


def dataset_pin(name: str, sha256: str | None) -> Pin:
    """The data set of that name (Broden), checked against `sha256` when given (it has no published one)."""
    entry = next(d for d in PINS["datasets"] if d["name"] == name)
    return pin_of(entry, f"{name} ({entry['format']})", sha256)


def image_pins() -> dict[str, Pin]:
    images = PINS["images"]
    return {name: Pin(images["base_url"] + name, sha, None, f"image of {images['repo']}@{images['commit'][:8]}")
            for name, sha in images["files"].items()}


# --------------------------------------------------------------------------------------------- fetching


@dataclass
class Patience:
    """How long one URL is tried: exponential backoff with jitter (each wait drawn between half and all of
    first * 2^try, at most `longest`), never sooner than the server's Retry-After, at most `tries` tries and
    `budget` seconds without a byte received. `sleep` and `random` are injectable so that tests run the same
    code in seconds."""

    tries: int = 8
    first: float = 2.0
    longest: float = 120.0
    budget: float = 1800.0
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random

    def wait(self, tries_so_far: int, retry_after: float | None) -> float:
        backoff = min(self.longest, self.first * 2 ** (tries_so_far - 1)) * (0.5 + 0.5 * self.random())
        return max(backoff, retry_after or 0.0)


# Answers worth another try: rate limits and server trouble. Any other status (404, 403, ...) moves on to the
# next source at once.
def transient_status(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def transient_network_error(reason) -> bool:
    """A network failure worth another try: a reset or aborted connection, a timeout, a name lookup that failed
    for now (EAI_AGAIN, as runners' resolvers do under load), a TLS session cut short. Not: no such host, a
    refused connection, an invalid URL."""
    if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, TimeoutError, socket.timeout,
                           ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return True
    return isinstance(reason, socket.gaierror) and reason.errno == socket.EAI_AGAIN


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Dropped(Exception):
    """The connection ended before the announced length."""


class Fetcher:
    """Fetches pinned files into the cache: a download is written to <name>.partial and renamed only when
    complete and its hash checked; a cached file whose hash matches its pin is reused. `mirror` is a folder or
    a URL ending in '/' that replaces every source; `offline` allows the cache only."""

    def __init__(self, cache: Path, mirror: Path | str | None, test_mirror: bool, offline: bool = False,
                 patience: Patience | None = None, timeout: float = 60.0):
        self.cache, self.mirror, self.test_mirror, self.offline = cache, mirror, test_mirror, offline
        self.patience = patience or Patience()
        self.timeout = timeout
        self.records: dict[str, dict] = {}
        cache.mkdir(parents=True, exist_ok=True)

    @property
    def mirror_url(self) -> str | None:
        return self.mirror if isinstance(self.mirror, str) else None

    # --- one file

    def get(self, pin: Pin, show_bar: bool = True) -> Path:
        cached = self.cached(pin)
        if cached:
            return cached
        target = self.cache / pin.file_name
        partial = target.with_name(target.name + ".partial")
        if isinstance(self.mirror, Path):
            source = self.mirror / pin.file_name
            if not source.is_file():
                raise Unavailable(f"{pin.file_name} ({pin.what}) is not in the mirror {self.mirror}: a mirror holds "
                                  f"every download under its file name ({pin.url})")
            shutil.copyfile(source, partial)
            origin, digest = f"mirror {source}", sha256_file(partial)
            if not pin.matches(digest) and not self.test_mirror:
                partial.unlink()
                raise Refused(f"{pin.file_name} from {origin}: sha256 {digest}, expected {pin.describe()}. The file "
                              "is not the pinned one; nothing was kept. (A test mirror of random weights needs "
                              "--test-mirror, and nothing made from it is a real result.)")
        else:
            digests = {}

            def check(url: str) -> str | None:
                digest = sha256_file(partial)
                if pin.matches(digest) or self.test_mirror:
                    digests[url] = digest
                    return None
                partial.unlink()
                return (f"sha256 {digest}, expected {pin.describe()}: not the pinned file, refused, nothing of it "
                        "kept")

            origin = self._first_source(pin.file_name, pin.what, self._sources(pin.file_name, pin.urls), partial,
                                        show_bar, check)
            digest = digests[origin]
        os.replace(partial, target)
        return self._record(pin, target, digest, origin)

    def get_any(self, pins: list[Pin], show_bar: bool = True) -> Path:
        """The first of `pins` (a file and its alternatives in other formats) that can be fetched. Only an
        unavailable file moves on to the next; a file with the wrong hash stops the run."""
        failures = []
        for index, pin in enumerate(pins):
            try:
                path = self.get(pin, show_bar)
            except Unavailable as error:
                failures.append(str(error.code).removeprefix("reproduce: "))
                if index + 1 < len(pins):
                    log("  " + failures[-1].replace("\n", "\n  ") +
                        f"\n  trying {pins[index + 1].file_name} ({pins[index + 1].what})")
                continue
            if index:
                log(f"  using {pin.file_name} ({pin.what}) instead of {pins[0].file_name}")
            return path
        raise Unavailable("\n".join(failures))

    def cached(self, pin: Pin) -> Path | None:
        """The cached file if it matches its pin. A mirror is always read again (it may have changed)."""
        target = self.cache / pin.file_name
        if self.mirror is not None or not target.exists():
            if self.offline:
                raise Unavailable(f"{target} is missing: every input is expected in {self.cache} under its file "
                                  f"name ({pin.url}); run scripts/reproduce.sh, which fetches them")
            return None
        digest = sha256_file(target)
        if pin.matches(digest) or self.test_mirror:
            return self._record(pin, target, digest, "cache")
        if self.offline:
            raise Refused(f"{target}: sha256 {digest}, expected {pin.describe()}; delete it and run "
                          "scripts/reproduce.sh again")
        log(f"  {target}: sha256 {digest} does not match the pin {pin.describe()}; fetching it again")
        target.unlink()
        return None

    def _record(self, pin: Pin, path: Path, digest: str, origin: str) -> Path:
        self.records[pin.file_name] = {"url": pin.url, "sha256": digest, "pin": pin.describe(),
                                       "matches_pin": pin.matches(digest), "from": origin,
                                       "bytes": path.stat().st_size}
        if pin.sha256 is None and pin.sha256_prefix is None and not self.test_mirror:
            log(f"  {pin.file_name}: sha256 {digest} NOT checked (no published checksum); recorded in inputs.json")
        return path

    # --- downloads

    def _sources(self, name: str, urls: list[str]) -> list[str]:
        return [self.mirror_url + name] if self.mirror_url else urls

    def _first_source(self, name: str, what: str, urls: list[str], partial: Path, show_bar: bool,
                      check: Callable[[str], str | None] = lambda url: None) -> str:
        """Downloads from the first source that delivers a file `check` accepts; returns its URL."""
        failures, refused = [], False
        label = f"{name} ({what})" if what else name
        for url in urls:
            failure = self._download(url, partial, show_bar)
            if failure is None:
                failure = check(url)
                refused = refused or failure is not None
            if failure is None:
                return url
            failures.append(f"  {url}: {failure}")
            if url is not urls[-1]:
                log(f"  {url}: {failure}; trying the next source")
        if refused:
            raise Refused(f"{label}: no source delivered the pinned file:\n" + "\n".join(failures))
        resume = (f"{partial.name} holds the {partial.stat().st_size:,} bytes fetched so far; a rerun resumes from "
                  "there. " if partial.exists() else "")
        raise Unavailable(f"cannot download {label}:\n" + "\n".join(failures) + "\n" + resume +
                          "Rerun the same command later, or fetch the files elsewhere and pass --mirror DIR or "
                          "--mirror URL (every file under its name above; models/make_test_mirror.py makes a "
                          "test mirror with random weights)")

    def _download(self, url: str, partial: Path, show_bar: bool) -> str | None:
        """One URL, with retries; None when `partial` holds the whole file, else why it failed. The tries and the
        time budget count since the last byte received: a large file on a flaky line goes on while it advances."""
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            retry_after = None
            before = partial.stat().st_size if partial.exists() else 0
            try:
                self._transfer(url, partial, show_bar)
                return None
            except urllib.error.HTTPError as error:
                problem = f"HTTP {error.code} {error.reason}"
                if error.code == 416 and before:
                    if error.headers.get("Content-Range") == f"bytes */{before}":
                        return None  # the partial file was complete already (its hash is checked next)
                    # Longer than what the server has now: not a prefix of it; start again from byte 0.
                    partial.unlink()
                elif not transient_status(error.code):
                    return problem
                retry_after = retry_after_seconds(error.headers.get("Retry-After"))
                if retry_after is not None:
                    problem += f" (Retry-After {retry_after:.0f} s)"
            except urllib.error.URLError as error:
                if not transient_network_error(error.reason):
                    return str(error.reason)  # no such host, connection refused: another try will not help
                problem = f"{error.reason}"
            except _Dropped as error:
                problem = str(error)
            except (http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout) as error:
                problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            have = partial.stat().st_size if partial.exists() else 0
            if have > before:
                started, tries = time.monotonic(), 1
            spent = time.monotonic() - started
            gave_up = f"{problem}; gave up after {tries} {'try' if tries == 1 else 'tries'} in {human(spent)}"
            if tries >= self.patience.tries:
                return gave_up
            wait = self.patience.wait(tries, retry_after)
            if spent + wait > self.patience.budget:
                return (f"{gave_up} (the next wait, {human(wait)}, would pass the budget of "
                        f"{human(self.patience.budget)} without progress)")
            log(f"  {url}: {problem}; try {tries + 1} of {self.patience.tries} in {wait:.1f} s"
                + (f", resuming at byte {have:,}" if have else ""))
            self.patience.sleep(wait)

    def _transfer(self, url: str, partial: Path, show_bar: bool) -> None:
        have = partial.stat().st_size if partial.exists() else 0
        headers = {"User-Agent": "glassbox-reproduce"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout)
        except ValueError as error:
            # urllib's URL parsing, on the URL itself or on a redirect's Location (e.g. "http://[::1"): no other
            # try will mend it.
            raise urllib.error.URLError(f"invalid URL ({error})") from None
        with response:
            if have and response.status == 206:
                if not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
                    partial.unlink()
                    raise _Dropped(f"asked for bytes {have}- and got {response.headers.get('Content-Range')}; "
                                   "starting again from byte 0")
                mode, done = "ab", have
            else:
                # A 200 answers a Range request with the whole file: start again.
                mode, done = "wb", 0
            # http.client's reading of Content-Length (None when missing, negative or not a number), taken
            # before the first read lowers it.
            announced = response.length
            total = done + announced if announced is not None else 0
            name = partial.name.removesuffix(".partial")
            started, last = time.monotonic(), 0.0
            with open(partial, mode) as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    now = time.monotonic()
                    if show_bar and (now - last > 0.5 or done == total):
                        last = now
                        rate = (done - (have if mode == "ab" else 0)) / max(now - started, 1e-6)
                        if total:
                            bar = "=" * int(30 * done / total)
                            eta = human((total - done) / max(rate, 1))
                            line = f"  {name} [{bar:<30}] {done / 1e6:.1f}/{total / 1e6:.1f} MB " \
                                   f"{rate / 1e6:.1f} MB/s eta {eta}"
                        else:
                            line = f"  {name} {done / 1e6:.1f} MB {rate / 1e6:.1f} MB/s"
                        print("\r" + line, end="", file=sys.stderr, flush=True)
            if show_bar:
                print(file=sys.stderr)
            if total and done < total:
                raise _Dropped(f"connection dropped after {done:,} of {total:,} bytes")

    # --- archives

    def get_from_archive(self, archive: Archive, members: dict[str, Pin]) -> dict[str, Path]:
        """`members`: path inside the commit -> pin. Files not cached come from one archive of the commit;
        each is checked against its own pin, and the ones the archive does not deliver are fetched one by
        one (their own URLs, or the mirror)."""
        found: dict[str, Path] = {}
        missing = {}
        for member, pin in members.items():
            path = self.cached(pin)
            if path:
                found[member] = path
            else:
                missing[member] = pin
        if missing:
            found |= self._extract(archive, missing)
        for member, pin in missing.items():
            if member not in found:
                found[member] = self.get(pin, show_bar=False)
        return found

    def _extract(self, archive: Archive, members: dict[str, Pin]) -> dict[str, Path]:
        partial = self.cache / (archive.file_name + ".partial")
        try:
            if isinstance(self.mirror, Path):
                path = self.mirror / archive.file_name
                if not path.is_file():
                    log(f"  {archive.file_name} is not in the mirror {self.mirror}; taking the files one by one")
                    return {}
                origin = f"mirror {path}"
            else:
                origin = self._first_source(archive.file_name, f"{archive.repo}@{archive.commit[:8]}",
                                            self._sources(archive.file_name, archive.urls), partial, True)
                path = partial
        except Unavailable as error:
            log(str(error.code).removeprefix("reproduce: ") + "\n  taking the files one by one instead")
            return {}
        found = {}
        try:
            with tarfile.open(path, "r:gz") as tar:
                for entry in tar:
                    # Members are named by the archive's top folder (REPO-COMMIT/) and the path in the commit;
                    # only the pinned paths are read, each into a file named by its pin.
                    member = entry.name.split("/", 1)[1] if "/" in entry.name else ""
                    pin = members.get(member)
                    if pin is None or not entry.isfile():
                        continue
                    kept = self._keep(pin, tar.extractfile(entry), f"{archive.file_name} from {origin}")
                    if kept:
                        found[member] = kept
        except (tarfile.TarError, EOFError, OSError) as error:
            log(f"  {archive.file_name} from {origin} is not a readable tar.gz ({error}); taking the files one by one")
        finally:
            partial.unlink(missing_ok=True)
        log(f"  {archive.file_name}: {len(found)} of {len(members)} files" +
            ("" if len(found) == len(members) else "; the others one by one"))
        return found

    def _keep(self, pin: Pin, stream, origin: str) -> Path | None:
        target = self.cache / pin.file_name
        partial = target.with_name(target.name + ".partial")
        digest = hashlib.sha256()
        try:
            with open(partial, "wb") as out:
                while chunk := stream.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            # A damaged archive fails mid-member: nothing half-written stays behind.
            partial.unlink(missing_ok=True)
            raise
        if not pin.matches(digest.hexdigest()) and not self.test_mirror:
            partial.unlink()
            log(f"  {pin.file_name} in {origin}: sha256 {digest.hexdigest()}, expected {pin.describe()}; "
                "refused, nothing of it kept")
            return None
        os.replace(partial, target)
        return self._record(pin, target, digest.hexdigest(), origin)


def as_mirror(value: str) -> Path | str:
    """--mirror: a URL (http:// or https://, read as <URL><file name>) or a folder."""
    if value.startswith(("http://", "https://")):
        return value if value.endswith("/") else value + "/"
    return Path(value).resolve()
