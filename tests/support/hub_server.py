"""A Hugging Face-style file server on loopback: ``/{repo}/resolve/{revision}/{file}`` with the
headers the hub client reads (commit, ETag, size) and byte ranges, sent in small pieces so
progress can be seen."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubServer:
    def __init__(self, files: dict[str, bytes], hold: threading.Event | None = None) -> None:
        """*files* maps ``repo/filename`` to the file's bytes. With *hold*, a download stalls
        before its first byte until the event is set (a slow network)."""
        self.files = files
        self.hold = hold
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):  # noqa: N802 - http.server's name
                self._serve(body=False)

            def do_GET(self):  # noqa: N802
                self._serve(body=True)

            def log_message(self, *args):
                pass

            def _serve(self, body: bool) -> None:
                server.requests.append(f"{self.command} {self.path}")
                parts = urlsplit(self.path).path.strip("/").split("/")
                key = "/".join(parts[:2] + parts[4:]) if len(parts) >= 5 and parts[2] == "resolve" else None
                data = server.files.get(key)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound" if key else "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                ranged = self.headers.get("Range")
                if ranged:
                    start = int(ranged.split("=")[1].split("-")[0])
                self.send_response(206 if ranged else 200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if body:
                    if server.hold is not None:
                        self.wfile.flush()
                        server.hold.wait(60)
                    for offset in range(start, len(data), 256 * 1024):
                        self.wfile.write(data[offset : offset + 256 * 1024])

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
