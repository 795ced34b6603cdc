"""Train one cell of the grid: its target, its generator, all its runs as one batch, and the stored result."""

from __future__ import annotations

import hashlib
import logging
import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np

from autoqml import __version__
from autoqml.backends import is_exact
from autoqml.backends import label as backend_label
from autoqml.circuits import PARAMETER_SPREAD, Generator, build_generator
from autoqml.data import Grid, normal_amplitudes
from autoqml.grid import Cell
from autoqml.checkpoint import TrainingState, load_state, save_state
from autoqml.qgan import TRAINER, Row, Schedule, Training, discriminator_input
from autoqml.metrics import held_out_histogram
from autoqml.simulator import initial_state
from autoqml.split import HELD_OUT, held_out_parts
from autoqml.store import write_result
from autoqml.training_set import training_set

logger = logging.getLogger(__name__)
#: Curve names that end so are held-out metrics, stored as final values too (``w1_validation``, ...).
HELD_OUT_SUFFIXES = tuple(f"_{part}" for part in HELD_OUT)
_LIBRARIES = ("qiskit", "qiskit-aer", "qiskit-ibm-runtime", "torch", "numpy", "scipy")


def run_seed(*, root: int, cell_id: str, run: int) -> int:
    """The seed of one run, derived from the study seed and the run's identity (cell id, run index)."""
    return int(hashlib.sha256(f"{root}/{cell_id}/{run}".encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Prepared:
    """A cell made ready to train: its grid and target, its generator, one row per run, its epoch schedule."""

    grid: Grid
    target: np.ndarray
    generator: Generator
    rows: list[Row]
    steps_per_epoch: int | None
    held_out: dict[str, dict] = field(default_factory=dict)


def prepare(cell: Cell) -> Prepared:
    """Load the cell's data, build its generator and the rows of its runs (seeds derived from the cell id)."""
    p = cell.params
    data = training_set(distribution=p["distribution"], num_qubits=p["num_qubits"], seed=p["seed"])
    amplitudes = (normal_amplitudes(grid=data.grid, probabilities=data.target)
                  if p["initialization"] == "normal" else None)
    generator = build_generator(ansatz=p["ansatz"], num_qubits=p["num_qubits"], reps=p["reps"],
                                initialization=p["initialization"], normal_amplitudes=amplitudes)
    psi0 = initial_state(generator.initial)
    d_input = discriminator_input(kind=p["discriminator_input"], grid=data.grid)
    held_out = {part: {"histogram": held_out_histogram(values=values, grid=data.grid,
                                                       explicit=isinstance(p["distribution"]["discretization"], list)),
                       "values": values}
                for part, values in held_out_parts(distribution=p["distribution"], seed=p["seed"]).items()}
    disc, opt = p["discriminator"], p["optimizer"]
    rows = [
        Row(seed=run_seed(root=p["seed"], cell_id=cell.id, run=r), target=data.target, initial_state=psi0,
            parameter_spread=PARAMETER_SPREAD[p["initialization"]],
            generator_lr=opt["lr"], generator_betas=tuple(opt["betas"]),
            discriminator_lr=disc["lr"], discriminator_betas=tuple(disc["betas"]), training_set=data.indices,
            discriminator_input=d_input, generator_state=opt["state"], generator_noise_factor=opt["noise_factor"],
            held_out={part: (h["histogram"], h["values"]) for part, h in held_out.items()},
            grid_values=data.grid.values)
        for r in range(p["num_training_runs"])
    ]
    return Prepared(data.grid, data.target, generator, rows, _steps_per_epoch(cell, len(data.indices)),
                    {part: {key: array.tolist() for key, array in h.items()} for part, h in held_out.items()})


def _steps_per_epoch(cell: Cell, size: int) -> int | None:
    """None for qiskit's epoch walk (``auto``); an integer for that many with-replacement batches per epoch.

    ``auto`` with a training set smaller than one batch (qiskit refuses it) trains one with-replacement batch
    per epoch, and says so.
    """
    steps, batch = cell.params["steps_per_epoch"], cell.params["batch_size"]
    if steps != "auto":
        return steps
    if size < batch:
        logger.warning("cell %s: training set of %d values is smaller than batch_size %d: one batch per epoch, "
                       "drawn with replacement", cell.id, size, batch)
        return 1
    return None


def train_cell(*, cell: Cell, out: str | Path, **options) -> dict:
    """Train every run of `cell`, write ``<out>/<id>.json`` (+ .qpy, .npz) atomically and return the result."""
    return train_cells(cells=[cell], out=out, **options)[0]


def train_cells(*, cells: list[Cell], out: str | Path, progress_every: int | None = None,
                routing: dict | None = None, epochs: int | None = None, resume: str | Path | None = None,
                checkpoints: str | Path | None = None, checkpoint_every: int = 0,
                torch_device: str = "cpu") -> list[dict]:
    """Train `cells`, those of one circuit shape as one batch of rows, and store each cell's result.

    Batching many cells' runs costs far less per run than training them one cell at a time, and a row trains
    exactly as alone, so a cell's result does not depend on what it was batched with (exact backend; see
    :mod:`autoqml.shots` for the shot-based one). `routing` maps an ibm device name to its ``channel``,
    ``instance`` and ``mode`` (:func:`autoqml.backends.routing`).

    Resumable training (:mod:`autoqml.checkpoint`): ``epochs`` stops every cell after that many epochs (its id,
    seeds and schedule stay those of its ``num_epochs``, so a shorter training is a prefix of the longer one);
    ``resume`` is a folder of ``<id>.state.npz`` to continue from. With either, each cell's state after training
    is written beside its result as ``<out>/<id>.state.npz``. ``checkpoints`` is a folder where the state of
    every unfinished cell is saved every ``checkpoint_every`` epochs and found again when the job is rerun after
    being killed (removed once the cell's result is stored).
    """
    shapes: dict[tuple, list[Cell]] = {}
    for cell in cells:
        shapes.setdefault(cell.shape, []).append(cell)
    saving = _Saving(out=Path(out), resume=Path(resume) if resume else None,
                     checkpoints=Path(checkpoints) if checkpoints else None, every=checkpoint_every,
                     keep_state=epochs is not None or resume is not None)
    results = {}
    for members in shapes.values():
        for cell, result in zip(members, _train_shape(members, saving, epochs, progress_every, routing or {},
                                                      torch_device)):
            results[cell.id] = result
    return [results[cell.id] for cell in cells]


@dataclass(frozen=True)
class _Saving:
    """Where training states come from and go: the result folder, a resume folder, the fault checkpoints."""

    out: Path
    resume: Path | None
    checkpoints: Path | None
    every: int
    keep_state: bool

    @staticmethod
    def identity(cell: Cell) -> dict:
        return {"cell": cell.id, "trainer": TRAINER}

    def start(self, cell: Cell) -> TrainingState | None:
        """The state to continue `cell` from: its fault checkpoint when the job was killed, else the resume
        folder's state, else None (train from the start)."""
        for folder in (self.checkpoints, self.resume):
            if folder is not None and (folder / f"{cell.id}.state.npz").exists():
                return load_state(folder / f"{cell.id}.state.npz", identity=self.identity(cell))
        return None

    def save(self, folder: Path, cells: list[Cell], state: TrainingState, sizes: list[int]) -> None:
        start = 0
        for cell, size in zip(cells, sizes):
            save_state(folder / f"{cell.id}.state.npz", state.select(slice(start, start + size)),
                       identity=self.identity(cell))
            start += size


def _train_shape(cells: list[Cell], saving: _Saving, epochs: int | None, progress_every: int | None,
                 routing: dict, torch_device: str) -> list[dict]:
    started = time.perf_counter()
    prepared = [prepare(cell) for cell in cells]
    states = [saving.start(cell) for cell in cells]
    ready = time.perf_counter()
    programs: dict[tuple, list[int]] = {}
    for i, (prep, state) in enumerate(zip(prepared, states)):
        programs.setdefault((prep.steps_per_epoch, state.epoch if state else 0), []).append(i)
    results: dict[int, dict] = {}
    for members in programs.values():
        member_states = [states[i] for i in members]
        state = TrainingState.stack(member_states) if member_states[0] is not None else None
        stored = _train_batch([cells[i] for i in members], [prepared[i] for i in members], state, saving, epochs,
                              progress_every, routing, torch_device,
                              prepare_s=(ready - started) * len(members) / len(cells))
        results.update(zip(members, stored))
    return [results[i] for i in range(len(cells))]


def _train_batch(cells: list[Cell], prepared: list[Prepared], state: TrainingState | None, saving: _Saving,
                 epochs: int | None, progress_every: int | None, routing: dict, torch_device: str, *,
                 prepare_s: float) -> list[dict]:
    """Train cells of one shape, one epoch schedule and one starting epoch as one batch of rows; store each."""
    rows = [row for p in prepared for row in p.rows]
    sizes = [len(p.rows) for p in prepared]
    p = cells[0].params
    disc = p["discriminator"]
    until = p["num_epochs"] if epochs is None else epochs
    logger.info("%d cell(s) of shape %s k%d q%d: %d runs, epochs %d to %d in one batch on %s", len(cells),
                p["ansatz"], p["reps"], p["num_qubits"], len(rows), state.epoch if state else 0, until,
                backend_label(p["backend"]))
    schedule = Schedule(batch_size=p["batch_size"], num_epochs=p["num_epochs"], log_every=p["log_every"],
                        steps_per_epoch=prepared[0].steps_per_epoch, progress_every=progress_every)
    options = {"ansatz": prepared[0].generator.ansatz, "rows": rows, "widths": [disc["n_input"], *disc["n_hidden"]],
               "schedule": schedule, "precision": p["precision"], "device": torch_device}
    quantum = None
    ready = time.perf_counter()
    if is_exact(p["backend"]):
        training = Training(**options, state=state)
        ready = time.perf_counter()  # train_s leaves out building the compiled step (once per machine and shape)
        checkpoint = None
        if saving.checkpoints is not None:
            def checkpoint(t: Training) -> None:
                saving.save(saving.checkpoints, cells, t.state(), sizes)
        training.run(until, checkpoint=checkpoint, every=saving.every)
        runs = training.results()
    else:
        if state is not None or epochs is not None:
            raise ValueError("shot-based training cannot stop early or resume (its sampler's randomness is not "
                             "part of a training state); train it to num_epochs in one go")
        from autoqml.backends import open_sampler
        from autoqml.shots import train_rows_shots

        spec = p["backend"]
        circuits = [prep.generator.circuit for prep in prepared for _ in prep.rows]
        with open_sampler(spec, routing=routing.get(spec.get("device"))) as sampler:
            runs = train_rows_shots(**options, circuits=circuits, sampler=sampler, shots=spec["shots"],
                                    seed=p["seed"])
        quantum = {"backend": backend_label(spec), "device": sampler.backend.name, **sampler.usage}
        training = None
    trained = time.perf_counter()
    schedule_done = runs[0].schedule
    seed_steps = len(rows) * schedule_done["steps_per_epoch"] * (schedule_done["epochs"]
                                                                 - schedule_done["resumed_from"])
    batch = {"cells": len(cells), "rows": len(rows), "prepare_s": prepare_s, "train_s": trained - ready,
             "seed_steps": seed_steps, "seconds_per_seed_step": (trained - ready) / max(seed_steps, 1)}
    if training is not None and saving.keep_state:
        saving.save(saving.out, cells, training.state(), sizes)
    results, start = [], 0
    for cell, prep in zip(cells, prepared):
        results.append(_store(cell, prep, runs[start:start + len(prep.rows)], batch, saving.out, quantum))
        start += len(prep.rows)
        if saving.checkpoints is not None:
            (saving.checkpoints / f"{cell.id}.state.npz").unlink(missing_ok=True)
    return results


def _store(cell: Cell, prepared: Prepared, runs: list, batch: dict, out: Path, quantum: dict | None) -> dict:
    """Assemble one cell's result from its rows of a batch and write it atomically."""
    kl = np.array([run.curves["kl"][-1] for run in runs])
    ks = np.array([run.curves["ks"][-1] for run in runs])
    kl_qiskit = [run.curves["kl_qiskit"][-1] for run in runs]
    result = {
        "format": "autoqml.cell-result",
        "version": 2,
        "cell": {"id": cell.id, "label": cell.label, "params": cell.params},
        "grid": {"low": prepared.grid.low, "high": prepared.grid.high, "num_qubits": prepared.grid.num_qubits},
        "target": prepared.target.tolist(),
        **({"held_out": prepared.held_out} if prepared.held_out else {}),
        "parameter_names": [param.name for param in prepared.generator.circuit.parameters],
        "runs": [
            {"run": r, "seed": run.seed, "initial_parameters": run.initial_parameters.tolist(),
             "parameters": run.parameters.tolist(), "generated": run.generated.tolist(),
             "final": {"kl": float(kl[r]), "kl_qiskit": kl_qiskit[r], "ks": float(ks[r]),
                       **{name: curve[-1] for name, curve in run.curves.items() if name.endswith(HELD_OUT_SUFFIXES)}},
             "curves": run.curves}
            for r, run in enumerate(runs)
        ],
        "summary": {"kl_mean": float(kl.mean()), "kl_std": float(kl.std(ddof=1)) if len(kl) > 1 else 0.0,
                    "ks_mean": float(ks.mean()), "ks_std": float(ks.std(ddof=1)) if len(ks) > 1 else 0.0,
                    "best_run": int(kl.argmin())},
        "training": {**runs[0].schedule, "training_set_size": len(prepared.rows[0].training_set)},
        "timings": {key: value for key, value in batch.items() if key not in ("cells", "rows", "seed_steps")}
        | {"seed_steps": batch["seed_steps"] * len(runs) // batch["rows"]},
        "batch": {"cells": batch["cells"], "rows": batch["rows"]},
        **({"quantum": _share(quantum, len(runs) / batch["rows"])} if quantum else {}),
        "versions": {"autoqml": __version__, "python": platform.python_version(),
                     **{lib: version(lib) for lib in _LIBRARIES}},
    }
    write_result(out / f"{cell.id}.json", result=result, circuit=prepared.generator.circuit,
                 discriminators=[run.discriminator for run in runs])
    logger.info("cell %s (%s): KL %.4f +- %.4f, KS %.4f", cell.id, cell.label, result["summary"]["kl_mean"],
                result["summary"]["kl_std"], result["summary"]["ks_mean"])
    return result


def _share(quantum: dict, fraction: float) -> dict:
    """A cell's part of what its batch ran: every sampler call served every row alike, so executions and shots
    split exactly by rows; seconds proportionally; sampler calls are the batch's."""
    share = {key: round(quantum[key] * fraction) for key in ("circuit_executions", "shots")}
    return {**quantum, **share, "sampler_seconds": quantum["sampler_seconds"] * fraction}
