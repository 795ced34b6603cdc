"""Helpers the benchmark scripts share: config overrides, the machine line, rows per program."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO / "config" / "paper.json"


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """Set each ``dotted.key=YAML value`` of `overrides` in `cfg` (list items by index: ``ansaetze.0.type``)."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. num_epochs=2 or 'num_qubits=[2, 3]'")
        *parents, last = key.split(".")
        node = cfg
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = yaml.safe_load(value)
    return cfg


def machine_line() -> str:
    """What the timings depend on: architecture, cores usable, torch's threads, load, date."""
    import torch

    return (f"machine: {platform.machine()} {platform.system()}, cpu_count={os.cpu_count()}, "
            f"affinity={len(os.sched_getaffinity(0))}, torch default threads={torch.get_num_threads()}, "
            f"load average (1 min) {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}")


def programs(cells: list) -> dict[tuple, list]:
    """Cells by :attr:`autoqml.grid.Cell.shape`: each group trains as one program of rows (:mod:`autoqml.train`)."""
    groups: dict[tuple, list] = {}
    for cell in cells:
        groups.setdefault(cell.shape, []).append(cell)
    return groups


def program_rows(*, like, config: Path = PAPER_CONFIG) -> int:
    """Rows the grid of `config` trains in one program together with the cell matching `like` (a Cell).

    The match is on what names a setting across studies (ansatz, k, N, initialization, discriminator type,
    generator lr); the program is the cells of its shape (:func:`programs`).
    """
    from autoqml.config import parse_text, validate_config
    from autoqml.grid import expand

    cells = expand(validate_config(parse_text(config.read_text(), source=str(config)), source=str(config)))

    def setting(p: dict) -> tuple:
        return (p["ansatz"], p["reps"], p["num_qubits"], p["initialization"], p["discriminator"]["type"],
                p["optimizer"]["lr"])

    matches = [cell for cell in cells if setting(cell.params) == setting(like.params)]
    if len(matches) != 1:
        raise SystemExit(f"{config}: {len(matches)} cells match the setting {setting(like.params)}; expected one")
    return sum(cell.params["num_training_runs"] for cell in programs(cells)[matches[0].shape])
