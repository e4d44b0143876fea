"""A local HTTP server to download the test files from."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; ``/cut/NAME`` announces NAME's full length but sends only half of it;
    ``/endless/NAME`` streams 300 MB of zeros with no length announced, and ``/huge/NAME`` announces
    300 MB (the bytes it got out are counted in ``server.sent``)."""

    def do_GET(self) -> None:
        if self.path.startswith(("/endless/", "/huge/")):
            return self._stream_300_mb(announce=self.path.startswith("/huge/"))
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        body = (Path(self.directory) / self.path.removeprefix("/cut/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def _stream_300_mb(self, *, announce: bool) -> None:
        self.send_response(200)
        if announce:
            self.send_header("Content-Length", str(300 << 20))
        self.end_headers()
        chunk = bytes(1 << 16)
        try:
            for _ in range((300 << 20) // len(chunk)):
                self.wfile.write(chunk)
                self.server.sent += len(chunk)  # type: ignore[attr-defined]
        except OSError:  # the client hung up, as it should
            pass
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_and_httpd(tmp_path_factory):
    """``(directory, base_url, httpd)`` of an HTTP server on 127.0.0.1 serving that directory."""
    root = tmp_path_factory.mktemp("served")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.sent = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def server(server_and_httpd):
    """``(directory, base_url)`` of an HTTP server on 127.0.0.1 serving that directory."""
    root, url, _ = server_and_httpd
    return root, url
