"""Expand a validated config into training cells with stable content ids.

A cell is one hyperparameter combination; its runs are ``num_training_runs`` seeds. Its id is a short hash of its
canonical parameters only, so it survives reordering the grid and edits to keys that do not change what the cell
computes (``name``, ``goal``, ``n_containers``, ``visualizations``, ``device``, ``budget``, ``evaluation``, and how
an IBM job is routed: ``channel``, ``instance``, ``mode``). The backend is an axis; its default keeps the canonical
value ``"statevector"``, so configs written before backends existed keep their ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from autoqml.backends import STATEVECTOR, canonical, is_exact
from autoqml.backends import label as backend_label
from autoqml.errors import ConfigError

ID_LENGTH = 12
#: Config keys shared by every cell of a study that change what training computes.
_TRAINING_KEYS = ("batch_size", "num_epochs", "num_training_runs", "seed", "log_every", "steps_per_epoch",
                  "discriminator_input", "precision")


@dataclass(frozen=True)
class Cell:
    """One hyperparameter combination; ``params`` is canonical, JSON-ready and everything training reads."""

    id: str
    label: str
    params: dict[str, Any]

    @property
    def shape(self) -> tuple:
        """What rows must share to train in one batch: circuit structure, the discriminator (architecture,
        arithmetic, learning rate and betas) and the schedule."""
        p = self.params
        disc = p["discriminator"]
        return (p["ansatz"], p["reps"], p["num_qubits"], disc["n_input"], tuple(disc["n_hidden"]), disc["lr"],
                tuple(disc["betas"]), p["precision"], p["batch_size"], p["num_epochs"], p["steps_per_epoch"],
                p["log_every"], p["optimizer"]["state"], json.dumps(p["backend"], sort_keys=True))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Cell:
        """The cell of canonical parameters (id and label derived from them)."""
        return cls(cell_id(params), _label(params), params)

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "label": self.label, "params": self.params}, sort_keys=True)


def cell_id(params: dict[str, Any]) -> str:
    """Content hash of canonical parameters (sorted keys, compact separators)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]


#: Columns that identify a setting in tables (Table I, the search's), in the order they list them.
SETTING_COLUMNS = ["distribution", "ansatz", "num_qubits", "discriminator", "d_lr", "g_lr", "backend",
                   "initialization", "reps"]


def setting_of(p: dict) -> dict:
    """The :data:`SETTING_COLUMNS` of a cell's parameters."""
    return {"distribution": p["distribution"]["name"], "ansatz": p["ansatz"], "num_qubits": p["num_qubits"],
            "discriminator": p["discriminator"]["type"], "d_lr": p["discriminator"]["lr"],
            "g_lr": p["optimizer"]["lr"], "backend": backend_label(p.get("backend", STATEVECTOR)),
            "initialization": p["initialization"], "reps": p["reps"]}


#: The grid's axes, in the order :func:`expand` multiplies them (the order of the cells).
AXES = ("distribution", "ansatz", "initialization", "num_qubits", "discriminator", "optimizer", "backend")


def axes(cfg: dict) -> dict[str, list]:
    """The canonical values of each grid axis of a validated config (:data:`AXES`; an ansatz is (type, k))."""
    optimizer = cfg["optimizer"]
    return {
        "distribution": [_canonical_distribution(dist) for dist in cfg["distributions"]],
        "ansatz": [(a["type"], k) for a in cfg["ansaetze"] for k in a["repetitions"]],
        "initialization": [i["type"] for i in cfg["initializations"]],
        "num_qubits": list(cfg["num_qubits"]),
        "discriminator": [discriminator(d, lr) for d in cfg["discriminator"] for lr in d["hparams"]["lr"]],
        "optimizer": [generator_optimizer(optimizer, lr) for lr in optimizer["lr"]],
        "backend": [canonical(spec) for spec in cfg["backend"]],
    }


def discriminator(entry: dict, lr: float) -> dict:
    """A cell's discriminator: one config ``discriminator`` entry at learning rate `lr`."""
    h = entry["hparams"]
    return {"type": entry["type"], "n_input": h["n_input"], "n_hidden": list(h["n_hidden"]),
            "betas": list(h["betas"]), "lr": lr}


def generator_optimizer(optimizer: dict, lr: float) -> dict:
    """A cell's generator optimizer: the config's ``optimizer`` at learning rate `lr`."""
    return {"lr": lr, "betas": list(optimizer["betas"]), "state": optimizer["state"],
            "noise_factor": optimizer["noise_factor"]}


def cell_of(cfg: dict, values: dict[str, Any]) -> Cell:
    """The cell of one value per axis (:data:`AXES`, as :func:`axes` gives them) and the config's shared keys."""
    ansatz, reps = values["ansatz"]
    return Cell.from_params({
        "distribution": values["distribution"],
        "ansatz": ansatz,
        "reps": reps,
        "initialization": values["initialization"],
        "num_qubits": values["num_qubits"],
        "discriminator": values["discriminator"],
        "optimizer": values["optimizer"],
        "backend": values["backend"],
        **{key: cfg[key] for key in _TRAINING_KEYS},
    })


def expand(cfg: dict) -> list[Cell]:
    """All cells of a validated config, in config order; duplicate combinations are a config error."""
    values = axes(cfg)
    cells: dict[str, Cell] = {}
    for combination in itertools.product(*values.values()):
        cell = cell_of(cfg, dict(zip(AXES, combination)))
        if cell.id in cells:
            raise ConfigError(f"grid: the combination '{cell.label}' appears twice (ansaetze, initializations or "
                              f"discriminator entries repeat); list each value once")
        cells[cell.id] = cell
    return list(cells.values())


def find(cells: list[Cell], wanted: str) -> Cell:
    """The cell whose id is `wanted` (or starts with it, when unambiguous)."""
    matches = [c for c in cells if c.id.startswith(wanted)]
    if len(matches) != 1:
        problem = "matches no cell" if not matches else f"matches {len(matches)} cells"
        raise ConfigError(f"cell id {wanted!r} {problem}; list the ids with `autoqml grid CONFIG`")
    return matches[0]


def _canonical_distribution(dist: dict) -> dict:
    keep = ("name", "kind", "data_path", "column", "hour", "start", "end", "samples", "discretization", "params",
            "split")
    # url, expect and unit say where data comes from and how to label it, not what is trained
    return {key: dist[key] for key in keep if key in dist}


def _label(p: dict) -> str:
    d, o = p["discriminator"], p["optimizer"]
    backend = "" if is_exact(p["backend"]) else f" {backend_label(p['backend'])}"
    return (f"{p['distribution']['name']} {p['ansatz']} k{p['reps']} {p['initialization']} q{p['num_qubits']} "
            f"{d['type']} dlr{d['lr']:g} glr{o['lr']:g}{backend}")


def planned_steps(params: dict) -> int:
    """Optimizer steps per run of a cell, known from its parameters before any data is read (for cost estimates).

    ``auto`` plans floor(samples / batch_size) steps per epoch (at least 1): exact, since a training set has
    ``samples`` values, except when an explicit discretization range drops some (then an upper bound).
    """
    steps = params["steps_per_epoch"]
    if steps == "auto":
        steps = max(1, params["distribution"]["samples"] // params["batch_size"])
    return steps * params["num_epochs"]
