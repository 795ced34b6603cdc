"""What the Snakemake workflow needs to know about a study: cells, shards, circuit structures, file paths.

Everything here is computed once when the Snakefile is parsed; the rules only look things up, so the parse step
stays cheap: no data is read, and circuits are built only to count parameters (and, when the budget caps depth,
transpiled once per structure).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from autoqml.backends import routing, sampler_seconds, shots_of
from autoqml.budget import Cost, admit, estimated_depth, reserve_problems, reserved, training_cost
from autoqml.circuits import build_ansatz
from autoqml.config import load_config, parse_text, read_config_text, validate_config
from autoqml.errors import ConfigError
from autoqml.aggregate import ranking
from autoqml.files import atomic_write
from autoqml.grid import Cell, expand, planned_steps
from autoqml.model import model_stem
from autoqml.search import RESULTS, Search

#: Figures per config ``visualizations`` entry (``entropy_curve`` gives two: by initialization and by ansatz).
FIGURES = {
    "entropy_curve": ["entropy_by_initialization", "entropy_by_ansatz"],
    "entanglement_histogram": ["entangling_capability"],
    "target_histogram": ["target_vs_best", "best_by_qubits"],
    "qubit_scaling": ["qubit_scaling"],
    "loss_curve": ["loss_curves"],
    "generalization_gap": ["generalization_gap"],
}
#: Seconds a training job costs before its first epoch (interpreter, torch and qiskit imports), measured ~2 s.
JOB_OVERHEAD_S = 2.0


@dataclass(frozen=True)
class Study:
    """A validated config and its grid, as the workflow sees it."""

    cfg: dict
    results: str = RESULTS
    local_files: bool = True

    @classmethod
    def from_files(cls, paths: list[str | Path], *, overrides: dict | None = None, results: str = RESULTS,
                   local_files: bool = True) -> Study:
        """The last config file wins (as with several ``--configfile``); ``--config`` overrides apply on top."""
        if not overrides:
            cfg = load_config(paths[-1])
        else:
            path = Path(paths[-1])
            raw = parse_text(read_config_text(path), source=str(path))
            if not isinstance(raw, dict):
                validate_config(raw, source=str(path))  # raises the loader's own message (not a mapping, repeats)
            cfg = validate_config({**raw, **overrides}, source=f"{path} with --config overrides")
        study = cls(cfg, results, local_files)
        study.cells  # noqa: B018 - the budget's decisions fail here, as config errors, not later in a rule
        problems = study.storage_problems()
        if problems:
            raise ConfigError("\n".join(problems))
        return study

    @property
    def name(self) -> str:
        return self.cfg["study"]

    @property
    def root(self) -> str:
        return f"{self.results}/{self.name}"

    @cached_property
    def search(self) -> Search | None:
        """The study's adaptive search (:mod:`autoqml.search`); None for ``search.strategy: grid``."""
        if self.cfg["search"]["strategy"] == "grid":
            return None
        return Search(self.cfg, self.root)

    @cached_property
    def grid(self) -> dict[str, Cell]:
        """Every cell of the config, in grid order, whether the budget admits it or not."""
        return {cell.id: cell for cell in expand(self.cfg)}

    @cached_property
    def cells(self) -> dict[str, Cell]:
        """The cells that run: the grid without those the budget skips."""
        return {cell_id: cell for cell_id, cell in self.grid.items() if cell_id not in self.skipped}

    # -- budget (the paper's Definition 1) ---------------------------------------------------------------------
    @property
    def has_budget(self) -> bool:
        return any(value is not None for value in self.cfg["budget"].values())

    @cached_property
    def costs(self) -> dict[str, Cost]:
        """Estimated cost of every cell of the grid; depth only when the budget caps it (it needs transpiling)."""
        depth = self.cfg["budget"].get("max_depth") is not None
        return {
            cell_id: training_cost(cell.params, num_parameters=_num_parameters(*_structure(cell.params)),
                                   seconds=self.cell_seconds(cell_id), evaluation=self.cfg["evaluation"],
                                   depth=estimated_depth(cell.params, device=self.cfg["device"]) if depth else None)
            for cell_id, cell in self.grid.items()
        }

    @cached_property
    def skipped(self) -> dict[str, str]:
        """Cell id -> why the budget does not start it (empty without a budget)."""
        if not self.has_budget:
            return {}
        spent = reserved(self.cfg["evaluation"])
        problems = reserve_problems(self.cfg["budget"], spent)
        if problems:
            raise ConfigError("\n".join(problems))
        skipped = admit(self.costs, self.cfg["budget"], spent=spent)
        if len(skipped) == len(self.grid):
            first = next(iter(skipped.values()))
            raise ConfigError(f"budget: admits none of the {len(self.grid)} cells (the first: {first}); raise the "
                              "budget or shrink the grid")
        return skipped

    @property
    def skipped_records(self) -> list[dict]:
        """Rows of ``tables/skipped.csv``: each skipped cell, the reason and its estimated cost."""
        return [{"cell": cell_id, "label": self.grid[cell_id].label, "reason": reason,
                 "seconds": round(self.costs[cell_id].seconds, 3),
                 "circuit_executions": self.costs[cell_id].circuit_executions, "shots": self.costs[cell_id].shots,
                 "depth": self.costs[cell_id].depth}
                for cell_id, reason in self.skipped.items()]

    def total_cost(self) -> Cost:
        """Estimated cost of everything that runs: admitted cells and the device evaluation."""
        total = reserved(self.cfg["evaluation"])
        for cell_id in self.cells:
            total = total + self.costs[cell_id]
        return total

    @property
    def training_options(self) -> dict:
        """How training jobs run, beyond what the cells compute: fault checkpoints and the torch device."""
        return {"checkpoints": f"{self.root}/checkpoints", "checkpoint_every": self.cfg["checkpoint_every"],
                "torch_device": self.cfg["torch_device"]}

    @property
    def routing(self) -> dict[str, dict]:
        """Per ibm device, how its jobs are routed (channel, instance, mode): for the training and evaluation jobs."""
        specs = [*self.cfg["backend"], *([self.cfg["evaluation"]["backend"]] if self.cfg["evaluation"] else [])]
        return {spec["device"]: routing(spec) for spec in specs if spec["type"] == "ibm"}

    # -- shards: the paper's static split of the experiments over n_containers workers -----------------------
    @property
    def num_shards(self) -> int:
        return min(self.cfg["n_containers"], len(self.cells))

    @cached_property
    def units(self) -> list[list[str]]:
        """Cells that train as one batch: those of one circuit shape, halved while there are fewer than shards."""
        return batch_units(self.cells, self.num_shards)

    @cached_property
    def shard_of(self) -> dict[str, int]:
        """Cell id -> shard index: units by estimated cost, longest first onto the least loaded shard (LPT)."""
        return balance(self.units, self.num_shards, self.estimated_seconds)

    def shard_cells(self, index: int) -> list[str]:
        return sorted(cell for cell, shard in self.shard_of.items() if shard == index)

    def group(self, index: int) -> str:
        """Snakemake job group of shard `index` (from 0): one cluster job, as one of the paper's containers."""
        return f"shard-{index + 1}-of-{self.num_shards}"

    def estimated_seconds(self, cells: list[str]) -> float:
        """Rough cost of training `cells` in one process, batched by shape (for balancing shards and runtimes)."""
        return JOB_OVERHEAD_S + sum(self.cell_seconds(cell) for cell in cells)

    def cell_seconds(self, cell: str) -> float:
        """Estimated training seconds of one cell of the grid, without process start-up (:func:`params_seconds`)."""
        return params_seconds(self.grid[cell].params)

    def pending(self, cells: list[str]) -> list[str]:
        """The cells without a complete stored result newer than their data, as the file system shows now.

        Only pending cells get a training rule, so adding an axis value trains only the new cells even though
        cells train in batches. With remote storage the local files say nothing: every cell is listed, and
        Snakemake skips the batches whose outputs all exist.
        """
        if not self.local_files:
            return list(cells)
        return [cell for cell in cells if not self._stored(cell)]

    def _stored(self, cell: str) -> bool:
        files = [Path(self.path("cells", f"{cell}{ext}")) for ext in (".json", ".qpy", ".npz")]
        if not all(f.is_file() for f in files):
            return False
        written = files[0].stat().st_mtime
        return all(Path(d).stat().st_mtime <= written for d in self.data_inputs(cell) if Path(d).exists())

    def batch_id(self, cells: list[str]) -> str:
        """Content hash of a batch's members: names its log and benchmark files."""
        return hashlib.sha256(",".join(sorted(cells)).encode()).hexdigest()[:12]

    def cell_files(self, cells: list[str]) -> list[str]:
        return [self.path("cells", f"{cell}{ext}") for cell in cells for ext in (".json", ".qpy", ".npz")]

    # -- structures: cells that share a transpiled circuit (depth depends on the circuit and the seed only) ---
    # Depth is computed per ansatz, one process for all its structures: a transpilation costs 5-40 ms, a
    # process start about 2 s.
    @cached_property
    def structure_of(self) -> dict[str, str]:
        """Cell id -> structure id; a 'normal' initial state depends on the data, the others do not."""
        return {cell.id: structure_id(cell.params, device=self.cfg["device"]) for cell in self.cells.values()}

    def structures(self, ansatz: str) -> dict[str, dict]:
        """Structure id -> parameters of a representative cell (the first by id), for one ansatz's depth job."""
        out: dict[str, dict] = {}
        for cell in sorted(self.cells):
            if self.cells[cell].params["ansatz"] == ansatz:
                out.setdefault(self.structure_of[cell], self.cells[cell].params)
        return out

    def ansatz_data(self, ansatz: str) -> list[str]:
        return self.data_inputs_of([c for c, cell in self.cells.items() if cell.params["ansatz"] == ansatz])

    # -- data -------------------------------------------------------------------------------------------------
    def data_inputs(self, cell: str) -> list[str]:
        dist = self.cells[cell].params["distribution"]
        return [dist["data_path"]] if dist["kind"] == "csv" else []

    def data_inputs_of(self, cells: list[str]) -> list[str]:
        return sorted({path for cell in cells for path in self.data_inputs(cell)})

    @property
    def downloads(self) -> dict[str, dict]:
        """Data files the workflow may fetch: path -> its distribution entry (those with a ``url``)."""
        return {d["data_path"]: d for d in self.cfg["distributions"] if d["kind"] == "csv" and d.get("url")}

    @property
    def uploads(self) -> list[str]:
        """With remote storage: the local data files (those without a ``url``) that the workflow uploads first."""
        if self.local_files:
            return []
        return sorted({d["data_path"] for d in self.cfg["distributions"] if d["kind"] == "csv" and not d.get("url")})

    def storage_problems(self) -> list[str]:
        """Data files that remote storage cannot hold: a blob is named by a path relative to the working directory."""
        if self.local_files:
            return []
        return [f"distributions[{i}].data_path: got {d['data_path']!r}, an absolute path; with remote storage (e.g. "
                f"--profile azure) every file is a blob named by its path relative to the working directory: copy "
                f"the file into the repository (e.g. data/{Path(d['data_path']).name}) and point data_path there, "
                f"so that the workflow uploads it"
                for i, d in enumerate(self.cfg["distributions"])
                if d["kind"] == "csv" and Path(d["data_path"]).is_absolute()]

    @property
    def unit(self) -> str:
        return self.cfg["distributions"][0]["unit"]

    # -- the grid manifest: what aggregation must cover, with an mtime that moves only when the grid does ------
    @property
    def manifest(self) -> str:
        """``grid.json``: the cells that run, by shard. Gathering and aggregation take it as an input."""
        return self.path("grid.json")

    def write_manifest(self) -> bool:
        """Write the manifest when its content changed (atomically); returns whether it was written.

        Snakemake decides reruns by file times and by its own metadata. Without the metadata (results copied to
        another folder) or with ``--rerun-triggers mtime``, a job whose outputs exist is not rerun for an input
        that is merely missing, so a new cell's files would never be asked for and Table I would keep the old
        grid. A manifest that is newer than the raw shards whenever the grid changed makes the gathering, and
        with it the training of the new cells, run under every rerun trigger.
        """
        document = {"study": self.name, "cells": sorted(self.cells),
                    "shards": [self.shard_cells(i) for i in range(self.num_shards)]}
        payload = json.dumps(document, indent=1).encode()
        path = Path(self.manifest)
        if path.is_file() and path.read_bytes() == payload:
            return False
        atomic_write(path, payload)
        return True

    # -- targets ----------------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    @property
    def aggregated(self) -> str:
        """The manifest aggregation proves the raw shards against: the grid's, or a search's final manifest (the
        settings it trained to ``num_epochs``)."""
        return self.search.final_path if self.search else self.manifest

    @property
    def aggregated_structures(self) -> dict[str, str]:
        """Cell id -> structure id of the grid's cells, for Table I's depths; empty for a search, whose final
        manifest lists the structures of its own settings (read by the statistics rule)."""
        return {} if self.search else self.structure_of

    @property
    def shard_files(self) -> list[str]:
        """The raw files aggregation reads: one per shard, or a search's one file of its final settings."""
        if self.search:
            return [self.path("raw", "search.json")]
        n = self.num_shards
        return [self.path("raw", f"shard-{i}-of-{n}.json") for i in range(1, n + 1)]

    @property
    def depth_files(self) -> list[str]:
        return [self.path("depth", f"{ansatz}.json") for ansatz in self.ansaetze]

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

    @property
    def device_files(self) -> list[str]:
        """Outputs of the device evaluation (none when the config has no ``evaluation``)."""
        if self.cfg["evaluation"] is None:
            return []
        return [self.path("device", "samples.json"), *(self.path("tables", f"device.{ext}") for ext in ("csv", "md"))]

    @property
    def ranking(self) -> str:
        """The metric (column) that picks runs and settings: validation data with a split (:func:`ranking`)."""
        return ranking(self.cfg)

    @property
    def best_per_qubits(self) -> list[str]:
        """Files of the best model of each distribution and qubit count, beside the overall one in ``best/`` (a
        search's final settings may leave qubit counts out: it stores those it has, undeclared)."""
        if self.search:
            return []
        return [self.path("best", f"{model_stem(d['name'], n)}.{ext}") for d in self.cfg["distributions"]
                for n in sorted(self.cfg["num_qubits"]) for ext in ("json", "qpy", "pkl")]

    def final_targets(self) -> list[str]:
        tables = [*(self.path("tables", f"statistics.{ext}") for ext in ("csv", "md", "tex")),
                  self.path("tables", "best.csv")]
        best = [self.path("best", name) for name in ("model.json", "model.qpy", "model.pkl")] + self.best_per_qubits
        figures = [self.path("figures", f"{name}.{ext}") for name in self.figures for ext in ("png", "pdf")]
        searched = [*self.search.tables, *self.search.figures] if self.search else []
        return [*tables, self.path("tables", "skipped.csv"), *best, *figures, *self.device_files, *searched]


def _structure(params: dict) -> tuple[str, int, int]:
    return params["ansatz"], params["num_qubits"], params["reps"]


@cache
def _num_parameters(ansatz: str, num_qubits: int, reps: int) -> int:
    return build_ansatz(name=ansatz, num_qubits=num_qubits, reps=reps).num_parameters


def structure_id(params: dict, *, device: str) -> str:
    """What a cell's transpiled depth depends on, hashed: circuit, runs, seed, device (and the data of a 'normal'
    initial state); cells that differ only in learning rates or discriminators share it."""
    key = {"ansatz": params["ansatz"], "reps": params["reps"], "num_qubits": params["num_qubits"],
           "initialization": params["initialization"], "runs": params["num_training_runs"], "seed": params["seed"],
           "device": device,
           "distribution": params["distribution"] if params["initialization"] == "normal" else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def params_seconds(p: dict) -> float:
    """Estimated training seconds of a cell's parameters, without process start-up.

    Exact part, per row-step (:func:`autoqml.grid.planned_steps`): a fixed 20 us, plus 2^N times (33 ns per
    circuit parameter + 0.45 ns per discriminator multiply-add); fitted to the paper grid's shapes at 60 rows
    (0.05-0.18 ms per row-step). Shot-based cells add per step one sampler call plus, per executed circuit, a
    fixed cost and a cost per shot (:func:`autoqml.backends.sampler_seconds`: measured for Aer and local
    testing mode, assumed for a real device).
    """
    d = p["discriminator"]
    widths = [1, d["n_input"], *d["n_hidden"], 1]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    parameters = _num_parameters(*_structure(p))
    per_row_step = 2e-5 + 2 ** p["num_qubits"] * (3.3e-8 * parameters + 4.5e-10 * macs)
    steps = planned_steps(p)
    seconds = p["num_training_runs"] * steps * per_row_step
    shots = shots_of(p["backend"])
    if shots:
        call, execution, shot = sampler_seconds(p["backend"])
        executions = p["num_training_runs"] * (2 * parameters + 1)
        seconds += steps * (call + executions * (execution + shots * shot))
    return seconds


def batch_units(cells: dict[str, Cell], num_shards: int) -> list[list[str]]:
    """Cell ids that train as one batch: those of one circuit shape, halved while there are fewer than shards."""
    by_shape: dict[tuple, list[str]] = {}
    for cell in sorted(cells.values(), key=lambda c: c.id):
        by_shape.setdefault(cell.shape, []).append(cell.id)
    units = sorted(by_shape.values())
    while len(units) < num_shards and max(map(len, units)) > 1:
        largest = max(units, key=len)
        units.remove(largest)
        units += [largest[: len(largest) // 2], largest[len(largest) // 2 :]]
    return units


def balance(units: list[list[str]], num_shards: int, seconds) -> dict[str, int]:
    """Cell id -> shard index: `units` by `seconds` (of a list of ids), longest first onto the least loaded
    shard (LPT; ties: the lower shard)."""
    load = [0.0] * num_shards
    shard = {}
    for unit in sorted(units, key=lambda u: (-seconds(u), u[0])):
        target = min(range(num_shards), key=lambda i: (load[i], i))
        shard.update(dict.fromkeys(unit, target))
        load[target] += seconds(unit)
    return shard
