"""Files as autoqml writes and reads them: whole or not at all, with the user's permissions, and only regular files.

- :func:`atomic_write` writes to a temporary file beside the target and renames it into place, so a reader sees
  all of a file or nothing. :func:`temporary_beside` is that temporary file (the download streams into one).
  ``tempfile.mkstemp`` creates files as mode 0600 whatever the umask; here they get ``0666 & ~umask``, the mode
  ``open()`` would give, so that a group can read ``results/`` on a shared cluster file system when the umask
  lets it.
- :func:`regular_file` refuses a FIFO, socket or device before anything opens it: opening a FIFO blocks until
  another process writes to it, so a config or ``data_path`` naming one would hang ``validate`` and ``check_data``.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()
_KINDS = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
          stat.S_ISBLK: "a block device", stat.S_ISDIR: "a directory"}


def umask() -> int:
    """The process's umask (read by setting it and putting it back; the lock keeps threads of this module apart)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def temporary_beside(path: str | Path, *, suffix: str = ".tmp") -> Path:
    """A new, empty file in `path`'s folder (created if needed), with the mode a plain ``open()`` would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~umask())
    finally:
        os.close(fd)
    return Path(name)


def atomic_write(path: str | Path, payload: bytes) -> None:
    """Write `payload` to `path` via a temporary file and a rename, so readers see all of it or nothing."""
    tmp = temporary_beside(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def special_kind(path: str | Path) -> str | None:
    """What `path` is when it exists but is not a regular file (``'a FIFO (named pipe)'``, ...), else None.

    >>> special_kind("/dev/null")
    'a character device'
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return next((kind for test, kind in _KINDS.items() if test(mode)), None)


def regular_file(path: str | Path, *, field: str, fix: str, error: type[Exception] = ValueError) -> None:
    """Raise `error` naming `field` when `path` is a FIFO, socket, device or directory (nothing is opened)."""
    kind = special_kind(path)
    if kind:
        raise error(f"{field}: {path} is {kind}, not a regular file; {fix}")
