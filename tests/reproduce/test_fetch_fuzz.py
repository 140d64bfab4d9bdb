"""Fuzzing the fetch stage (scripts/fetch.py): what a host answers, the archives it serves, and models/pins.json.

Three seeded targets, each a bounded number of cases (GLASSBOX_FETCH_FUZZ_CASES scales them; a failure prints
the seed and the case, which alone reproduce it):
  responses  a raw-socket server on 127.0.0.1 answers each request from a seeded script of good and broken
             answers: statuses from 100 to 999, redirects anywhere, Content-Length missing, short, long, negative
             or not a number, Content-Range wrong or junk, Retry-After junk or huge, bodies cut, padded or
             corrupted, junk instead of HTTP, connections closed at once or left silent past the timeout, and a
             leftover .partial of random bytes in the cache. The fetcher must either return the pinned bytes
             exactly or raise its own error (fetch.Refused, with the file's name) and keep no file under the
             final name; any other exception is a defect.
  archives   bit flips, truncations and junk in a GitHub tarball from the mirror: every kept file matches its
             pin, the rest are fetched one by one, nothing raises.
  pins       field mutations (keys dropped, values of other types, hashes and URLs broken, lists emptied) and
             byte mutations of models/pins.json: load_pins returns pins every accessor can use, or refuses
             with fetch.Refused naming the place.
Standard library only: python3 -m unittest discover -s tests/reproduce -p 'test_fetch_fuzz.py'"""

import contextlib
import copy
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import socket
import socketserver
import sys
import tarfile
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "scripts")]
import fetch  # noqa: E402

SEED = int(os.environ.get("GLASSBOX_FETCH_FUZZ_SEED", "1"))
SCALE = float(os.environ.get("GLASSBOX_FETCH_FUZZ_CASES", "1"))
# How long the fetcher waits for a byte; the silent answers last longer than this.
TIMEOUT = 0.4


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cases(base: int) -> int:
    return max(1, int(base * SCALE))


class ScriptedServer:
    """Answers each request with `script(rng, path, range_start, content)` bytes, raw, then closes. 127.0.0.1
    only; stops by itself after `lifetime` seconds."""

    def __init__(self, files: dict[str, bytes], seed: int, lifetime: float = 600.0):
        self.files, self.rng, self.lock = files, random.Random(seed), threading.Lock()
        self.requests = 0
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                server._serve(self.request)

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.tcp.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.tcp.server_address[1]}/"
        self.thread = threading.Thread(target=self.tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.thread.start()
        self.timer.start()

    def stop(self):
        self.timer.cancel()
        self.tcp.shutdown()
        self.tcp.server_close()

    def _serve(self, conn: socket.socket):
        conn.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
        except OSError:
            return
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1].lstrip("/") if len(lines[0].split(" ")) > 1 else ""
        start = None
        for line in lines[1:]:
            if line.lower().startswith("range: bytes="):
                start = int(line.split("=", 1)[1].split("-")[0])
        with self.lock:
            self.requests += 1
            answer, silent = answer_for(self.rng, path, start, self.files)
        try:
            conn.sendall(answer)
            if silent:
                time.sleep(TIMEOUT * 2)
        except OSError:
            pass


def answer_for(rng: random.Random, path: str, start: int | None, files: dict[str, bytes]) -> tuple[bytes, bool]:
    """One answer: (raw bytes, then stay silent past the fetcher's timeout?)."""
    content = files.get(path.rsplit("/", 1)[-1])
    if content is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", False
    body = content[start:] if start is not None and start < len(content) else content
    status = 206 if start is not None and start < len(content) else 200
    headers = {"Content-Length": str(len(body))}
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
    silent = False
    kind = rng.choices(["good", "status", "retry", "redirect", "cut", "pad", "length", "range", "corrupt",
                        "junk", "close", "headless", "silent", "range416"],
                       [30, 8, 8, 5, 8, 4, 8, 6, 5, 3, 3, 3, 2, 4])[0]
    if kind == "status":
        status = rng.choice([100, 101, 199, 204, 299, 304, 400, 401, 403, 404, 410, 418, 451, 500, 501, 502, 503,
                             504, 599, 600, 999])
        body = rng.choice([b"", b"error", rng.randbytes(rng.randrange(64))])
        headers = {"Content-Length": str(len(body))} if rng.random() < 0.7 else {}
    elif kind == "retry":
        status = rng.choice([429, 503, 500])
        headers = {"Retry-After": rng.choice(["0", "1", "3", "-1", "1.5", "abc", "", "99999999999999999999",
                                              "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                                              "Mon, 99 Foo 2020 99:99:99 GMT", " 2 ", "\u00e9"]),
                   "Content-Length": "0"}
        body = b""
    elif kind == "redirect":
        status = rng.choice([301, 302, 303, 307, 308])
        name = path.rsplit("/", 1)[-1]
        headers = {"Location": rng.choice([f"/s2/{name}", f"/s1/{name}", "/nowhere", "ftp://127.0.0.1/x", "",
                                           "http://[::1", "//", "http://127.0.0.1:1/refused", "javascript:x",
                                           f"/{name}?{'a' * 200}"]),
                   "Content-Length": "0"}
        body = b""
    elif kind == "cut":
        body = body[:rng.randrange(len(body) + 1)]
    elif kind == "pad":
        body = body + rng.randbytes(rng.randrange(1, 64))
        if rng.random() < 0.5:
            headers["Content-Length"] = str(len(body))
    elif kind == "length":
        headers["Content-Length"] = rng.choice(["abc", "-5", "", "1e3", "99999999999999999999", "0x10", " 12 ",
                                                str(len(body) + rng.randrange(1, 1000)), "0", "12, 12"])
    elif kind == "range":
        status = rng.choice([200, 206])
        headers["Content-Range"] = rng.choice([
            "junk", "bytes */0", f"bytes 0-{len(content) - 1}/{len(content)}", f"bytes {rng.randrange(99)}-5/3",
            f"bytes {start or 0}-", "", f"bytes {(start or 0) + 1}-{len(content)}/{len(content)}"])
    elif kind == "corrupt" and body:
        body = bytearray(body)
        body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        body = bytes(body)
    elif kind == "range416":
        status = 416
        body = b""
        headers = {"Content-Range": rng.choice([f"bytes */{len(content)}", f"bytes */{start or 0}", "junk", ""]),
                   "Content-Length": "0"}
    elif kind == "junk":
        return rng.randbytes(rng.randrange(1, 300)), False
    elif kind == "close":
        return b"", False
    elif kind == "headless":
        return f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n".encode(), False
    elif kind == "silent":
        silent = True
        body = body[:rng.randrange(len(body) + 1)]
    head = f"HTTP/1.1 {status} Whatever\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + \
        "Connection: close\r\n\r\n"
    return head.encode("utf-8") + body, silent


class Recorder:
    """The fetcher's sleeps, recorded and skipped (the code path is the real one; the waits are not)."""

    def __init__(self):
        self.waits = []

    def __call__(self, seconds: float):
        self.waits.append(seconds)


class FetchFuzz(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fail_case(self, target: str, case: int, error: BaseException):
        self.fail(f"{target} case {case} (GLASSBOX_FETCH_FUZZ_SEED={SEED}): {type(error).__name__}: {error}")

    def test_responses(self):
        rng = random.Random(SEED)
        contents = {f"file{i}.bin": rng.randbytes(rng.choice([0, 1, 100, 5000, 200_000])) for i in range(8)}
        server = ScriptedServer(contents, SEED)
        self.addCleanup(server.stop)
        outcomes = {"fetched": 0, "refused": 0, "unavailable": 0}
        started = time.monotonic()
        for case in range(cases(300)):
            name = rng.choice(sorted(contents))
            content = contents[name]
            cache = self.tmp / f"cache{case}"
            cache.mkdir()
            if rng.random() < 0.3:
                # A leftover from an earlier run: a prefix of the file, random bytes, or longer than the file.
                leftover = rng.choice([content[:rng.randrange(len(content) + 1)], rng.randbytes(rng.randrange(300)),
                                       content + b"extra"])
                (cache / (name + ".partial")).write_bytes(leftover)
            pin = fetch.Pin(server.url + "s1/" + name, sha(content), None, "fuzzed file",
                            (server.url + "s2/" + name,))
            patience = fetch.Patience(tries=4, first=0.01, longest=1, budget=60, sleep=Recorder())
            fetcher = fetch.Fetcher(cache, None, test_mirror=False, patience=patience, timeout=TIMEOUT)
            try:
                with mock.patch.object(fetch, "log"), contextlib.redirect_stderr(io.StringIO()):
                    path = fetcher.get(pin, show_bar=rng.random() < 0.2)
            except fetch.Refused as error:
                message = str(error.code)
                self.assertTrue(message.startswith("reproduce: "), message)
                self.assertIn(name, message)
                self.assertFalse((cache / name).exists(), f"case {case}: a refused file was kept")
                outcomes["unavailable" if isinstance(error, fetch.Unavailable) else "refused"] += 1
                continue
            except Exception as error:  # noqa: BLE001 (any other exception is what this test looks for)
                self.fail_case("responses", case, error)
            self.assertEqual(path, cache / name)
            self.assertEqual(sha(path.read_bytes()), sha(content), f"case {case}: other bytes than the pin's")
            self.assertEqual(fetcher.records[name]["sha256"], sha(content))
            outcomes["fetched"] += 1
        print(f"\n  responses: {cases(300)} cases, {server.requests} requests, {outcomes}, "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr)
        # The script answers well often enough that most fetches end with the file; a fetcher that gave up on
        # every broken answer, or accepted every one, would fail here.
        self.assertGreater(outcomes["fetched"], cases(300) // 3)
        self.assertGreater(outcomes["unavailable"] + outcomes["refused"], 0)

    def test_archives(self):
        rng = random.Random(SEED + 1)
        files = {f"data/{name}": rng.randbytes(rng.randrange(1, 3000)) for name in ("a.txt", "b.txt", "c/d.txt")}
        commit = "0" * 40
        archive = fetch.Archive("someone/repo", commit, ["https://example.invalid/repo.tar.gz"])
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for member, data in files.items():
                info = tarfile.TarInfo(f"repo-{commit}/{member}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        good = buffer.getvalue()
        raw = gzip.decompress(good)
        kept_total = 0
        for case in range(cases(300)):
            mutant = bytearray(rng.choice([good, gzip.compress(raw, mtime=0)]))
            how = rng.choice(["flip", "cut", "junk", "inner"])
            if how == "flip":
                for _ in range(rng.randrange(1, 4)):
                    mutant[rng.randrange(len(mutant))] ^= 1 << rng.randrange(8)
            elif how == "cut":
                del mutant[rng.randrange(len(mutant)):]
            elif how == "junk":
                mutant = bytearray(rng.randbytes(rng.randrange(1, 400)))
            else:
                # A valid gzip of a damaged tar: the tar reader meets the damage, not the inflater.
                inner = bytearray(raw)
                for _ in range(rng.randrange(1, 6)):
                    inner[rng.randrange(len(inner))] = rng.randrange(256)
                mutant = bytearray(gzip.compress(bytes(inner), mtime=0))
            mirror = self.tmp / f"mirror{case}"
            mirror.mkdir()
            (mirror / archive.file_name).write_bytes(bytes(mutant))
            pins = {member: fetch.Pin(f"https://example.invalid/{member}", sha(data), None, member,
                                      name=member.replace("/", "_"))
                    for member, data in files.items()}
            fetcher = fetch.Fetcher(self.tmp / f"cache{case}", mirror, test_mirror=False)
            try:
                with mock.patch.object(fetch, "log"):
                    found = fetcher._extract(archive, pins)
            except Exception as error:  # noqa: BLE001
                self.fail_case("archives", case, error)
            for member, path in found.items():
                self.assertEqual(path.read_bytes(), files[member], f"case {case}: {member}")
            kept_total += len(found)
            leftovers = [p.name for p in (self.tmp / f"cache{case}").iterdir()
                         if p.name not in {pin.file_name for pin in pins.values()}]
            self.assertEqual(leftovers, [], f"case {case}: partial files left")
        print(f"\n  archives: {cases(300)} cases, {kept_total} files kept", file=sys.stderr)
        self.assertGreater(kept_total, 0)

    def test_pins(self):
        rng = random.Random(SEED + 2)
        text = (fetch.REPO / "models" / "pins.json").read_text(encoding="utf-8")
        original = json.loads(text)
        places = list(paths(original))
        outcomes = {"loaded": 0, "refused": 0}
        for case in range(cases(3000)):
            if rng.random() < 0.75:
                pins = copy.deepcopy(original)
                for _ in range(rng.randrange(1, 3)):
                    mutate_field(rng, pins, rng.choice(places))
                mutated = json.dumps(pins)
            else:
                data = bytearray(text.encode("utf-8"))
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                mutated = data.decode("utf-8", errors="replace")
            try:
                loaded = fetch.load_pins(mutated, "pins.json")
            except fetch.Refused as error:
                message = str(error.code)
                self.assertTrue(message.startswith("reproduce: pins.json"), message)
                outcomes["refused"] += 1
                continue
            except Exception as error:  # noqa: BLE001
                self.fail_case("pins", case, error)
            try:
                with mock.patch.object(fetch, "PINS", loaded):
                    for pin in [*fetch.weight_pins().values(), *sum(fetch.alternative_pins().values(), []),
                                *(pin for pin, _ in fetch.data_pins()), *fetch.image_pins().values()]:
                        self.assertTrue(pin.file_name and "/" not in pin.file_name and pin.urls and pin.describe(),
                                        f"pins case {case} (GLASSBOX_FETCH_FUZZ_SEED={SEED}): {pin}")
                    fetch.archives()
            except AssertionError:
                raise
            except Exception as error:  # noqa: BLE001
                self.fail_case("pins (accessors after a successful load)", case, error)
            outcomes["loaded"] += 1
        print(f"\n  pins: {cases(3000)} cases, {outcomes}", file=sys.stderr)
        self.assertGreater(outcomes["refused"], 0)

    def test_the_checked_in_pins_load(self):
        pins = fetch.load_pins((fetch.REPO / "models" / "pins.json").read_text(encoding="utf-8"))
        self.assertEqual(pins, fetch.PINS)

    def test_a_pin_with_a_typo_names_its_place(self):
        pins = copy.deepcopy(fetch.PINS)
        pins["weights"][1]["sha256_prefx"] = pins["weights"][1].pop("sha256_prefix")
        with self.assertRaises(fetch.Refused) as caught:
            fetch.load_pins(json.dumps(pins), "pins.json")
        message = str(caught.exception.code)
        self.assertIn("weights[1]", message)
        self.assertIn("'sha256_prefx'", message)


def paths(value, prefix=()):
    """Every place in a JSON value: the path of keys and indices to it."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            yield from paths(item, (*prefix, index))


def mutate_field(rng: random.Random, root, path):
    if not path:
        return
    parent = root
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return
    key = path[-1]
    try:
        current = parent[key]
    except (KeyError, IndexError, TypeError):
        return
    choice = rng.randrange(9)
    if choice == 0 and isinstance(parent, dict):
        del parent[key]
    elif choice == 1 and isinstance(parent, dict):
        parent[key + rng.choice(["_", "x", "s"])] = parent.pop(key)
    elif choice == 2:
        parent[key] = rng.choice([None, 0, -1, 1e39, True, "", [], {}, "x" * 300])
    elif choice == 3 and isinstance(current, str):
        parent[key] = current[:rng.randrange(len(current) + 1)]
    elif choice == 4 and isinstance(current, str) and current:
        chars = list(current)
        chars[rng.randrange(len(chars))] = rng.choice("G/:.\u00e9 \x00")
        parent[key] = "".join(chars)
    elif choice == 5 and isinstance(current, list):
        parent[key] = current[:rng.randrange(len(current) + 1)] * rng.randrange(3)
    elif choice == 6 and isinstance(current, dict):
        parent[key] = list(current.values())
    elif choice == 7 and isinstance(parent, list):
        parent.append(copy.deepcopy(current))
    else:
        parent[key] = rng.choice([current, str(current), [current]])


if __name__ == "__main__":
    unittest.main()
