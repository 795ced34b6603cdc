"""Logging for workflow jobs: everything, including an uncaught exception's traceback, goes to the job's log."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def configure(path: str | Path | None = None) -> None:
    """Send autoqml's records (INFO and up; other libraries' from WARNING) to `path`, else stderr; uncaught too."""
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if path:  # a workflow job: its log file only, Snakemake's console stays readable
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(path, mode="w")]
    logging.basicConfig(level=logging.WARNING, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("autoqml").setLevel(logging.INFO)  # libraries below (qiskit, ...) only from WARNING

    def log_uncaught(kind, value, traceback) -> None:
        logging.getLogger("autoqml").error("uncaught exception", exc_info=(kind, value, traceback))

    sys.excepthook = log_uncaught
