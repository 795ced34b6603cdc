"""autoqml.files: results are written whole, with the mode the umask gives (issue 14, class 5)."""

import os
import stat
import threading

import pytest

from autoqml.data import download
from autoqml.files import atomic_write, special_kind, temporary_beside
from autoqml.store import atomic_write as store_atomic_write


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_(mask: int) -> None:
        os.umask(mask)

    yield set_
    os.umask(saved)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o002, 0o022, 0o027, 0o077])
def test_results_get_the_mode_the_umask_gives(tmp_path, umask, mask):
    umask(mask)
    atomic_write(tmp_path / "a" / "table.csv", b"x\n")
    assert _mode(tmp_path / "a" / "table.csv") == 0o666 & ~mask
    reference = tmp_path / "plain"
    reference.write_bytes(b"x")  # what open() gives
    assert _mode(tmp_path / "a" / "table.csv") == _mode(reference)
    assert store_atomic_write is atomic_write  # the rule scripts write through the same function


def test_a_downloaded_data_file_gets_the_umask_mode_too(tmp_path, umask, epftoolbox_csv):
    """The download streams into temporary_beside; the file that lands in data/ is group-readable at umask 002."""
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    import functools

    umask(0o002)
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "DE.csv").write_bytes(epftoolbox_csv.read_bytes())
    handler = functools.partial(type("Q", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
                                directory=str(tmp_path / "srv"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            download(url=f"http://127.0.0.1:{server.server_port}/DE.csv", path=tmp_path / "data" / "DE.csv",
                     column="Price", backoff=0.01)
        finally:
            server.shutdown()
    assert _mode(tmp_path / "data" / "DE.csv") == 0o664


def test_temporary_files_are_hidden_beside_the_target(tmp_path):
    tmp = temporary_beside(tmp_path / "x" / "out.json")
    assert tmp.parent == tmp_path / "x" and tmp.name.startswith(".out.json.") and tmp.stat().st_size == 0


def test_special_files_are_named_by_kind(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert special_kind(tmp_path / "fifo") == "a FIFO (named pipe)"
    assert special_kind(tmp_path) == "a directory"
    assert special_kind("/dev/null") == "a character device"
    (tmp_path / "f").write_text("x")
    assert special_kind(tmp_path / "f") is None and special_kind(tmp_path / "missing") is None
