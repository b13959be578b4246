"""A local HTTP file server on 127.0.0.1 for download tests (never the internet).

    with FileServer({"a.npz": data}) as srv:
        srv.mode["a.npz"] = "truncated"      # or "ok", "wrong", "norange", "404", "500", "stall"
        download_k49(d, base_url=srv.base_url, ...)
        srv.bytes_served["a.npz"]             # body bytes actually sent

Modes: "ok" honours `Range: bytes=N-` with 206; "norange" ignores Range and sends 200 with the
whole file; "truncated" promises the full Content-Length but sends half and closes; "wrong"
sends a same-size body with different bytes (md5 mismatch); "404"/"500" send that status;
"stall" sends `stall_after` bytes, then waits for `release` (set it to end the response);
"mute" accepts the connection but answers nothing until `release`; "range0" answers any
Range with a 206 for the whole file (Content-Range "bytes 0-...").
"""

from __future__ import annotations

import re
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

PREFIX = "/k49/"


class FileServer:
    def __init__(self, files: dict[str, bytes], chunk: int = 4096) -> None:
        self.files = dict(files)
        self.mode: dict[str, str] = {}
        self.bytes_served: Counter[str] = Counter()
        self.requests: list[tuple[str, str | None]] = []  # (name, Range header)
        self.chunk = chunk
        self.stall_after = 8192
        self.stalled = threading.Event()  # set once a "stall" response has sent stall_after bytes
        self.release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: closing ends the body

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass  # keep test output clean

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)

    def _send(self, h: BaseHTTPRequestHandler, name: str, body: bytes) -> None:
        for i in range(0, len(body), self.chunk):
            piece = body[i:i + self.chunk]
            try:
                h.wfile.write(piece)
                h.wfile.flush()
            except OSError:  # the client hung up (a cancelled download)
                return
            with self._lock:
                self.bytes_served[name] += len(piece)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        name = h.path[len(PREFIX):] if h.path.startswith(PREFIX) else None
        rng = h.headers.get("Range")
        with self._lock:
            self.requests.append((name or h.path, rng))
        mode = self.mode.get(name, "ok") if name in self.files else "404"
        if mode == "mute":
            self.release.wait(10)
            return
        if mode in ("404", "500"):
            h.send_error(int(mode))
            return
        data = self.files[name]
        if mode == "wrong":
            data = bytes(b ^ 0x5A for b in data)
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and mode not in ("norange", "truncated"):
            start = 0 if mode == "range0" else int(m.group(1))
            if start >= len(data):
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(data)}")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if mode == "truncated":
            body = body[: len(body) // 2]
        if mode == "stall":
            self._send(h, name, body[: self.stall_after])
            self.stalled.set()
            self.release.wait(10)
            body = body[self.stall_after:]
        self._send(h, name, body)


def closed_port() -> int:
    """A local port nobody listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
