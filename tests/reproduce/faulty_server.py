"""A file server on 127.0.0.1 that misbehaves on purpose, for the fetch tests (test_fetch.py) and the quick
run's --mirror URL (scripts/test-reproduce.sh). Standard library only. It serves the files under a folder and
answers Range requests; the faults, each optional:
  rate_limit_first  the first request for every path answers 429 with Retry-After
  drop              path -> bytes: the first full transfer of that path stops after so many bytes and the
                    connection is closed
  drop_each         path -> bytes: every answer for that path stops after so many bytes
  missing           paths answered 404
  corrupt           paths served with one byte changed (the middle one), every time
It stops by itself after `lifetime` seconds or `max_requests` requests, whichever comes first.

  python3 tests/reproduce/faulty_server.py --root DIR [--rate-limit-first] [--drop NAME=BYTES] [--lifetime S]
prints its URL (http://127.0.0.1:PORT/) on the first line of stdout and serves until it stops.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Faults:
    rate_limit_first: bool = False
    retry_after: str = "1"
    drop: dict[str, int] = field(default_factory=dict)
    drop_each: dict[str, int] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)


class FaultyServer:
    def __init__(self, root: Path, faults: Faults, lifetime: float = 60.0, max_requests: int = 5000):
        self.root, self.faults, self.max_requests = root.resolve(), faults, max_requests
        # (path, Range header or None, status) of every request, in order.
        self.requests: list[tuple[str, str | None, int]] = []
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._dropped: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server._answer(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def start(self) -> str:
        self._thread.start()
        self._timer.start()
        return self.url

    def stop(self) -> None:
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self) -> None:
        self._thread.join()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.lstrip("/")
        wanted = handler.headers.get("Range")
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        file = (self.root / path).resolve()
        with self._lock:
            first = path not in self._seen
            self._seen.add(path)
            too_many = len(self.requests) >= self.max_requests
            if too_many:
                status = 503
            elif self.faults.rate_limit_first and first:
                status = 429
            elif path in self.faults.missing or self.root not in file.parents or not file.is_file():
                status = 404
            elif start >= file.stat().st_size:
                status = 416
            else:
                status = 206 if wanted else 200
            self.requests.append((path, wanted, status))
            drop = self.faults.drop_each.get(path)
            if status == 200 and path in self.faults.drop and path not in self._dropped:
                drop = self.faults.drop[path]
                self._dropped.add(path)
        if too_many:
            threading.Thread(target=self.stop, daemon=True).start()
        if status not in (200, 206):
            handler.send_response(status)
            if status == 429:
                handler.send_header("Retry-After", self.faults.retry_after)
            if status == 416:
                handler.send_header("Content-Range", f"bytes */{file.stat().st_size}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data = bytearray(file.read_bytes())
        if path in self.faults.corrupt:
            data[len(data) // 2] ^= 0xFF
        handler.send_response(status)
        if wanted:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.send_header("Content-Length", str(len(data) - start))
        handler.end_headers()
        body = bytes(data[start:])
        if drop is not None and drop < len(body):
            handler.wfile.write(body[:drop])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--rate-limit-first", action="store_true")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--drop", action="append", default=[], help="NAME=BYTES")
    parser.add_argument("--lifetime", type=float, default=1800.0)
    args = parser.parse_args(argv)
    drop = {name: int(count) for name, count in (d.split("=", 1) for d in args.drop)}
    server = FaultyServer(args.root, Faults(args.rate_limit_first, args.retry_after, drop), args.lifetime)
    print(server.start(), flush=True)
    started = time.monotonic()
    server.wait()
    statuses = [status for _, _, status in server.requests]
    print(f"faulty_server: {len(statuses)} requests in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{statuses.count(s)} x {s}" for s in sorted(set(statuses))), file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
