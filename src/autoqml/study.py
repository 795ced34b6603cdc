"""What the Snakemake workflow needs to know about a study: cells, shards, circuit structures, file paths.

Everything here is computed once when the Snakefile is parsed; the rules only look things up, so the parse step
stays cheap (no data is read and no circuit is built here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from autoqml.config import load_config, parse_text, validate_config
from autoqml.errors import ConfigError
from autoqml.grid import Cell, expand

#: Figures per config ``visualizations`` entry (``entropy_curve`` gives two: by initialization and by ansatz).
FIGURES = {
    "entropy_curve": ["entropy_by_initialization", "entropy_by_ansatz"],
    "entanglement_histogram": ["entangling_capability"],
    "target_histogram": ["target_vs_best"],
    "qubit_scaling": ["qubit_scaling"],
    "loss_curve": ["loss_curves"],
}
#: Seconds a training job costs before its first epoch (interpreter, torch and qiskit imports), measured ~2 s.
JOB_OVERHEAD_S = 2.0


@dataclass(frozen=True)
class Study:
    """A validated config and its grid, as the workflow sees it."""

    cfg: dict
    results: str = "results"

    @classmethod
    def from_files(cls, paths: list[str | Path], *, overrides: dict | None = None, results: str = "results") -> Study:
        """The last config file wins (as with several ``--configfile``); ``--config`` overrides apply on top."""
        if not overrides:
            return cls(load_config(paths[-1]), results)
        path = Path(paths[-1])
        try:
            raw = parse_text(path.read_text(), source=str(path))
        except OSError as err:
            raise ConfigError(f"config file {path}: cannot be read ({err.strerror}); check the path") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the config must be a mapping of keys to values")
        return cls(validate_config({**raw, **overrides}, source=f"{path} with --config overrides"), results)

    @property
    def name(self) -> str:
        return self.cfg["study"]

    @property
    def root(self) -> str:
        return f"{self.results}/{self.name}"

    @cached_property
    def cells(self) -> dict[str, Cell]:
        return {cell.id: cell for cell in expand(self.cfg)}

    # -- shards: the paper's static split of the experiments over n_containers workers -----------------------
    @cached_property
    def shard_of(self) -> dict[str, int]:
        """Cell id -> shard index: longest-estimated-cost first, each to the least loaded shard (LPT)."""
        count = min(self.cfg["n_containers"], len(self.cells))
        load = [0.0] * count
        shard = {}
        for cell in sorted(self.cells.values(), key=lambda c: (-estimated_seconds(c), c.id)):
            target = min(range(count), key=lambda i: (load[i], i))
            shard[cell.id] = target
            load[target] += estimated_seconds(cell)
        return shard

    @property
    def num_shards(self) -> int:
        return min(self.cfg["n_containers"], len(self.cells))

    def shard_cells(self, index: int) -> list[str]:
        return sorted(cell for cell, shard in self.shard_of.items() if shard == index)

    def group(self, cell: str) -> str:
        return f"shard-{self.shard_of[cell] + 1}-of-{self.num_shards}"

    # -- structures: cells that share a transpiled circuit (depth depends on the circuit and the seed only) ---
    @cached_property
    def structure_of(self) -> dict[str, str]:
        """Cell id -> structure id; a 'normal' initial state depends on the data, the others do not."""
        out = {}
        for cell in self.cells.values():
            p = cell.params
            key = {"ansatz": p["ansatz"], "reps": p["reps"], "num_qubits": p["num_qubits"],
                   "initialization": p["initialization"], "runs": p["num_training_runs"], "seed": p["seed"],
                   "device": self.cfg["device"],
                   "distribution": p["distribution"] if p["initialization"] == "normal" else None}
            out[cell.id] = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        return out

    def structure_cell(self, structure: str) -> Cell:
        """A representative cell of a structure (the first by id), from which its circuit is built."""
        return self.cells[min(c for c, s in self.structure_of.items() if s == structure)]

    # -- data -------------------------------------------------------------------------------------------------
    def data_inputs(self, cell: str) -> list[str]:
        dist = self.cells[cell].params["distribution"]
        return [dist["data_path"]] if dist["kind"] == "csv" else []

    @property
    def downloads(self) -> dict[str, dict]:
        """Data files the workflow may fetch: path -> its distribution entry (those with a ``url``)."""
        return {d["data_path"]: d for d in self.cfg["distributions"] if d["kind"] == "csv" and d.get("url")}

    @property
    def unit(self) -> str:
        return self.cfg["distributions"][0]["unit"]

    # -- targets ----------------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @property
    def shard_files(self) -> list[str]:
        n = self.num_shards
        return [self.path("raw", f"shard-{i}-of-{n}.json") for i in range(1, n + 1)]

    @property
    def depth_files(self) -> list[str]:
        return [self.path("depth", f"{s}.json") for s in sorted(set(self.structure_of.values()))]

    @property
    def ansaetze(self) -> list[str]:
        return sorted({a["type"] for a in self.cfg["ansaetze"]})

    def ansatz_grid(self, ansatz: str) -> dict[str, list[int]]:
        """The k and N values an ansatz appears with, for its entangling-capability table."""
        reps = {k for a in self.cfg["ansaetze"] if a["type"] == ansatz for k in a["repetitions"]}
        return {"reps": sorted(reps), "num_qubits": sorted(self.cfg["num_qubits"])}

    @property
    def figures(self) -> list[str]:
        return [name for v in self.cfg["visualizations"] for name in FIGURES[v]]

    def final_targets(self) -> list[str]:
        tables = [self.path("tables", f"statistics.{ext}") for ext in ("csv", "md", "tex")]
        best = [self.path("best", name) for name in ("model.json", "model.qpy", "model.pkl")]
        figures = [self.path("figures", f"{name}.{ext}") for name in self.figures for ext in ("png", "pdf")]
        return [*tables, *best, *figures]


def estimated_seconds(cell: Cell) -> float:
    """Rough training cost of a cell for balancing shards: start-up plus seed-epochs times state size and gates.

    Calibrated on the 5-qubit, 15-parameter acceptance cell (0.16 ms per seed-epoch with 10 runs batched).
    """
    p = cell.params
    work = (2 ** p["num_qubits"]) * (p["num_qubits"] * (p["reps"] + 1)) / (32 * 15)
    return JOB_OVERHEAD_S + p["num_training_runs"] * p["num_epochs"] * 1.6e-4 * max(work, 0.25)
