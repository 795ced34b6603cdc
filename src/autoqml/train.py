"""Train one cell of the grid: its target, its generator, all its runs as one batch, and the stored result."""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import numpy as np

from autoqml import __version__
from autoqml.circuits import PARAMETER_SPREAD, Generator, build_generator
from autoqml.data import Grid, normal_amplitudes, target_distribution
from autoqml.grid import Cell
from autoqml.qgan import Row, train_rows
from autoqml.simulator import initial_state
from autoqml.store import write_result

logger = logging.getLogger(__name__)
_LIBRARIES = ("qiskit", "qiskit-aer", "qiskit-ibm-runtime", "torch", "numpy", "scipy")


def run_seed(*, root: int, cell_id: str, run: int) -> int:
    """The seed of one run, derived from the study seed and the run's identity (cell id, run index)."""
    return int(hashlib.sha256(f"{root}/{cell_id}/{run}".encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Prepared:
    """A cell made ready to train: its grid and target, its generator, one row per run."""

    grid: Grid
    target: np.ndarray
    generator: Generator
    rows: list[Row]


def prepare(cell: Cell) -> Prepared:
    """Load the cell's data, build its generator and the rows of its runs (seeds derived from the cell id)."""
    p = cell.params
    grid, target = target_distribution(distribution=p["distribution"], num_qubits=p["num_qubits"], seed=p["seed"])
    amplitudes = normal_amplitudes(grid=grid, probabilities=target) if p["initialization"] == "normal" else None
    generator = build_generator(ansatz=p["ansatz"], num_qubits=p["num_qubits"], reps=p["reps"],
                                initialization=p["initialization"], normal_amplitudes=amplitudes)
    psi0 = initial_state(generator.initial)
    disc, opt = p["discriminator"], p["optimizer"]
    rows = [
        Row(seed=run_seed(root=p["seed"], cell_id=cell.id, run=r), target=target, initial_state=psi0,
            parameter_spread=PARAMETER_SPREAD[p["initialization"]],
            generator_lr=opt["lr"], generator_betas=tuple(opt["betas"]),
            discriminator_lr=disc["lr"], discriminator_betas=tuple(disc["betas"]))
        for r in range(p["num_training_runs"])
    ]
    return Prepared(grid, target, generator, rows)


def train_cell(*, cell: Cell, out: str | Path, progress_every: int | None = None) -> dict:
    """Train every run of `cell`, write ``<out>/<id>.json`` (+ .qpy, .npz) atomically and return the result."""
    p, started = cell.params, time.perf_counter()
    prepared = prepare(cell)
    grid, target, generator, rows = prepared.grid, prepared.target, prepared.generator, prepared.rows
    disc = p["discriminator"]
    ready = time.perf_counter()
    logger.info("cell %s (%s): %d runs x %d epochs", cell.id, cell.label, len(rows), p["num_epochs"])
    runs = train_rows(ansatz=generator.ansatz, rows=rows, widths=[disc["n_input"], *disc["n_hidden"]],
                      batch_size=p["batch_size"], num_epochs=p["num_epochs"], log_every=p["log_every"],
                      progress_every=progress_every)
    trained = time.perf_counter()
    kl = np.array([run.curves["kl"][-1] for run in runs])
    ks = np.array([run.curves["ks"][-1] for run in runs])
    result = {
        "format": "autoqml.cell-result",
        "version": 1,
        "cell": {"id": cell.id, "label": cell.label, "params": p},
        "grid": {"low": grid.low, "high": grid.high, "num_qubits": grid.num_qubits},
        "target": target.tolist(),
        "parameter_names": [param.name for param in generator.circuit.parameters],
        "runs": [
            {"run": r, "seed": run.seed, "initial_parameters": run.initial_parameters.tolist(),
             "parameters": run.parameters.tolist(), "generated": run.generated.tolist(),
             "final": {"kl": float(kl[r]), "ks": float(ks[r])}, "curves": run.curves}
            for r, run in enumerate(runs)
        ],
        "summary": {"kl_mean": float(kl.mean()), "kl_std": float(kl.std(ddof=1)) if len(kl) > 1 else 0.0,
                    "ks_mean": float(ks.mean()), "ks_std": float(ks.std(ddof=1)) if len(ks) > 1 else 0.0,
                    "best_run": int(kl.argmin())},
        "timings": {"prepare_s": ready - started, "train_s": trained - ready,
                    "seconds_per_seed_epoch": (trained - ready) / (len(rows) * p["num_epochs"])},
        "versions": {"autoqml": __version__, "python": platform.python_version(),
                     **{lib: version(lib) for lib in _LIBRARIES}},
    }
    write_result(Path(out) / f"{cell.id}.json", result=result, circuit=generator.circuit,
                 discriminators=[run.discriminator for run in runs])
    logger.info("cell %s: KL %.4f +- %.4f, KS %.4f in %.1f s", cell.id, result["summary"]["kl_mean"],
                result["summary"]["kl_std"], result["summary"]["ks_mean"], trained - started)
    return result
