"""A local HTTP server with byte-range support, for remote-read tests and bench/remote_cog.py.

Python's ``http.server`` ignores ``Range`` headers and sends whole files, which hides what GDAL's
``/vsicurl/`` really reads. This one answers ``Range: bytes=a-b`` with 206 and just those bytes
(one range per request; GDAL asks for one at a time unless told otherwise), counts the body bytes it
sends, and can be told to misbehave per URL path: ``fail_next[path] = n`` answers the next ``n``
requests with 503 (to exercise retries), ``cut[path] = n`` sends half the body of the next ``n``
requests for bytes past the file's start (so the header reads and the pixels do not) and drops
the connection, ``delay[path] = s`` waits ``s`` seconds before answering (timeouts). Files live in
``root``; anything else is a 404. It binds 127.0.0.1 on a free port and runs in a daemon thread
until :meth:`RangeServer.close`.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
TYPES = {".json": "application/json", ".html": "text/html", ".tif": "image/tiff"}


class RangeServer:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.bytes_sent = 0
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.fail_next: dict[str, int] = {}
        self.cut: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def reset_counts(self) -> None:
        with self._lock:
            self.bytes_sent = 0
            self.requests.clear()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> RangeServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real object stores do

            def log_message(self, *args):  # quiet: tests read stderr
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool):
                path = self.path.split("?", 1)[0]
                wanted = self.headers.get("Range")
                with server._lock:
                    server.requests.append((path, wanted))
                    failing = server.fail_next.get(path, 0)
                    if failing:
                        server.fail_next[path] = failing - 1
                if path in server.delay:
                    time.sleep(server.delay[path])
                if failing:
                    return self._empty(503)
                file = (server.root / path.lstrip("/")).resolve()
                if server.root.resolve() not in file.parents or not file.is_file():
                    return self._empty(404)
                data = file.read_bytes()
                start, end, status = 0, len(data) - 1, 200
                match = RANGE.match(wanted or "")
                if match and (match.group(1) or match.group(2)):
                    if match.group(1):
                        start = int(match.group(1))
                        end = min(int(match.group(2)), end) if match.group(2) else end
                    else:  # suffix range: the last n bytes
                        start = max(0, len(data) - int(match.group(2)))
                    if start > end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                chunk = data[start:end + 1]
                self.send_response(status)
                self.send_header("Content-Type", TYPES.get(file.suffix, "application/octet-stream"))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(chunk)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if body:
                    with server._lock:
                        cutting = start > 0 and server.cut.get(path, 0) > 0
                        if cutting:
                            server.cut[path] -= 1
                    if cutting:  # a transfer dropped half way
                        chunk = chunk[: len(chunk) // 2]
                        self.close_connection = True
                    self.wfile.write(chunk)
                    with server._lock:
                        server.bytes_sent += len(chunk)

            def _empty(self, status: int):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
