"""autoqml.data.download against a real HTTP server on 127.0.0.1 (no mocks): the source file's own format."""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from autoqml.data import download, load_csv
from autoqml.errors import DataError

FILTERS = {"column": "Price", "hour": 0, "start": "2015-01-01", "end": "2016-01-01"}
EXPECT = {"rows": 8760, "count": 365, "mean": 25.1698}
FAST = {"backoff": 0.01, "timeout": 5.0}  # keep retries quick; the default backoff is 2 s


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves the fixture directory; counts requests per server; no access log on stderr."""

    def log_message(self, format, *args):  # silence the access log
        pass

    def count(self) -> int:
        with self.server.lock:
            self.server.requests += 1
            return self.server.requests


class _CountingHandler(_QuietHandler):
    def do_GET(self):
        self.count()
        super().do_GET()


class _FlakyHandler(_QuietHandler):
    """HTTP 500 for the first two requests, then the file."""

    def do_GET(self):
        if self.count() <= 2:
            self.send_error(500, "temporarily broken")
        else:
            super().do_GET()


class _RedirectHandler(_QuietHandler):
    """/old/DE.csv redirects (302) to /DE.csv, as a download link may."""

    def do_GET(self):
        self.count()
        if self.path.startswith("/old/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/old"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            super().do_GET()


class _SlowHandler(_QuietHandler):
    """Answers later than the client's timeout."""

    def do_GET(self):
        self.count()
        time.sleep(0.6)
        try:
            super().do_GET()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up, as intended
            pass


@pytest.fixture
def served(tmp_path, epftoolbox_csv) -> Path:
    """A directory holding the source's 2015 rows as DE.csv and an HTML page, outside the destination folder."""
    root = tmp_path / "www"
    root.mkdir()
    shutil.copyfile(epftoolbox_csv, root / "DE.csv")
    (root / "page.html").write_text(
        "<!DOCTYPE html>\n<html><head><title>Zenodo</title></head>\n"
        "<body><p>Please log in to download DE.csv</p></body></html>\n"
    )
    return root


@pytest.fixture
def server(served) -> Iterator:
    """Start a loopback server with a given handler class; returns (base URL, httpd); shut down afterwards."""
    started = []

    def start(handler: type[_QuietHandler] = _CountingHandler) -> tuple[str, ThreadingHTTPServer]:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
        httpd.daemon_threads = True
        httpd.lock = threading.Lock()
        httpd.requests = 0
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}", httpd

    yield start
    for httpd, thread in started:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_checks_and_saves_the_source_file(server, epftoolbox_csv, tmp_path):
    base, httpd = server()
    dest = tmp_path / "data" / "DE.csv"
    stats = download(url=f"{base}/DE.csv", path=dest, expect=EXPECT, **FILTERS, **FAST)
    assert _sha256(dest) == _sha256(epftoolbox_csv)
    assert stats["sha256"] == _sha256(epftoolbox_csv)
    assert stats["bytes"] == epftoolbox_csv.stat().st_size
    assert (stats["rows"], stats["count"]) == (8760, 365)
    assert stats["mean"] == pytest.approx(25.1698, abs=1e-4)
    assert stats["url"] == f"{base}/DE.csv" and stats["path"] == str(dest)
    assert _leftovers(dest.parent) == ["DE.csv"]
    assert httpd.requests == 1
    # The saved file is what training reads.
    assert load_csv(path=dest, **FILTERS).size == 365


def test_wrong_expectation_leaves_nothing(server, tmp_path):
    base, _ = server()
    dest = tmp_path / "data" / "DE.csv"
    with pytest.raises(DataError) as info:
        download(url=f"{base}/DE.csv", path=dest, expect={**EXPECT, "mean": 30.0}, **FILTERS, **FAST)
    message = str(info.value)
    assert f"{base}/DE.csv" in message
    assert "mean expected 30.0 (+-0.001), got 25.1698" in message
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_wrong_row_count_is_refused(server, tmp_path):
    base, _ = server()
    dest = tmp_path / "DE.csv"
    with pytest.raises(DataError, match="rows expected 52416, got 8760"):
        download(url=f"{base}/DE.csv", path=dest, expect={"rows": 52416}, **FILTERS, **FAST)
    assert _leftovers(tmp_path) == ["www"]


def test_http_404_fails_at_once(server, tmp_path):
    base, httpd = server(_CountingHandler)
    dest = tmp_path / "data" / "DE.csv"
    began = time.monotonic()
    with pytest.raises(DataError) as info:
        download(url=f"{base}/missing.csv", path=dest, retries=3)  # default 2 s backoff: a retry would show
    assert time.monotonic() - began < 1.5
    assert httpd.requests == 1
    message = str(info.value)
    assert f"{base}/missing.csv" in message and "404" in message and f"place the file at {dest}" in message
    assert _leftovers(dest.parent) == []


def test_http_500_is_retried(server, epftoolbox_csv, tmp_path):
    base, httpd = server(_FlakyHandler)
    dest = tmp_path / "data" / "DE.csv"
    stats = download(url=f"{base}/DE.csv", path=dest, expect=EXPECT, retries=3, **FILTERS, **FAST)
    assert httpd.requests == 3
    assert stats["sha256"] == _sha256(epftoolbox_csv) == _sha256(dest)
    assert _leftovers(dest.parent) == ["DE.csv"]


def test_http_500_beyond_retries_fails(server, tmp_path):
    base, httpd = server(_FlakyHandler)
    dest = tmp_path / "data" / "DE.csv"
    with pytest.raises(DataError, match="after 2 attempt"):
        download(url=f"{base}/DE.csv", path=dest, retries=1, **FILTERS, **FAST)
    assert httpd.requests == 2
    assert _leftovers(dest.parent) == []


def test_redirect_is_followed(server, epftoolbox_csv, tmp_path):
    base, httpd = server(_RedirectHandler)
    dest = tmp_path / "DE.csv"
    stats = download(url=f"{base}/old/DE.csv", path=dest, expect=EXPECT, **FILTERS, **FAST)
    assert httpd.requests == 2
    assert stats["sha256"] == _sha256(epftoolbox_csv)


def test_html_page_is_refused(server, tmp_path):
    base, _ = server()
    dest = tmp_path / "data" / "DE.csv"
    with pytest.raises(DataError) as info:
        download(url=f"{base}/page.html", path=dest, expect=EXPECT, **FILTERS, **FAST)
    message = str(info.value)
    assert f"{base}/page.html" in message and "did not serve the expected CSV" in message
    assert ".part" not in message  # the temp name is not shown
    assert not dest.exists() and _leftovers(dest.parent) == []


def test_unreachable_port_fails_after_retries(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "data" / "DE.csv"
    url = f"http://127.0.0.1:{port}/DE.csv"
    began = time.monotonic()
    with pytest.raises(DataError) as info:
        download(url=url, path=dest, retries=2, timeout=0.5, backoff=0.01)
    assert time.monotonic() - began < 3
    message = str(info.value)
    assert url in message and "after 3 attempt" in message and "check the network" in message
    assert _leftovers(dest.parent) == []


def test_timeout_is_retried_then_fails(server, tmp_path):
    base, httpd = server(_SlowHandler)
    dest = tmp_path / "DE.csv"
    with pytest.raises(DataError, match="after 2 attempt"):
        download(url=f"{base}/DE.csv", path=dest, retries=1, timeout=0.2, backoff=0.01)
    assert httpd.requests == 2
    assert _leftovers(tmp_path) == ["www"]


@pytest.mark.parametrize(
    ("expect", "match"),
    [({"row": 1}, "unknown key"), ({"rows": "8760"}, "expect.rows"), ({"mean": float("nan")}, "expect.mean")],
)
def test_bad_expect_fails_before_any_request(server, tmp_path, expect, match):
    base, httpd = server()
    with pytest.raises(DataError, match=match):
        download(url=f"{base}/DE.csv", path=tmp_path / "DE.csv", expect=expect)
    assert httpd.requests == 0
