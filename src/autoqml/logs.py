"""Logging for workflow jobs: everything, including an uncaught exception's traceback, goes to the job's log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def configure(path: str | Path | None = None) -> None:
    """Send autoqml's log records (INFO and up) to `path` (or stderr) and log uncaught exceptions there too."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def log_uncaught(kind, value, traceback) -> None:
        logging.getLogger("autoqml").error("uncaught exception", exc_info=(kind, value, traceback))

    sys.excepthook = log_uncaught
