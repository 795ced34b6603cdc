"""The best model of a study: stored as the paper did (a pickle) and in a safe, portable form, and sampled.

The safe form is ``model.json`` (metadata, grid, trained parameters, probabilities) beside ``model.qpy`` (the
parametrized circuit). Loading it executes no code from the file. A pickle runs arbitrary code when loaded:
open one only from a source you trust; :func:`load` refuses it unless asked to trust it.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit, qpy
from qiskit.quantum_info import Statevector

from autoqml.errors import AutoQMLError
from autoqml.store import atomic_write


@dataclass
class BornMachine:
    """A trained generator: circuit, its parameter values, and the grid its basis states stand for."""

    circuit: QuantumCircuit
    parameters: np.ndarray
    low: float
    high: float
    metadata: dict = field(default_factory=dict)

    @property
    def values(self) -> np.ndarray:
        """Grid value of each basis state x: low + (high - low) x / (2^N - 1)."""
        return np.linspace(self.low, self.high, 2**self.circuit.num_qubits)

    def probabilities(self) -> np.ndarray:
        """Exact Born probabilities, recomputed with qiskit's Statevector (independent of the trainer)."""
        return Statevector(self.circuit.assign_parameters(self.parameters)).probabilities()

    def sample(self, *, size: int, seed: int | None = None) -> np.ndarray:
        """`size` values drawn by measuring the whole register (Born sampling), mapped to the grid."""
        probs = self.probabilities()
        rng = np.random.default_rng(seed)
        return self.values[rng.choice(len(probs), size=size, p=probs / probs.sum())]


def best_machine(*, result: dict, run: int, circuit: QuantumCircuit, selection: dict) -> BornMachine:
    """The Born machine of `run` of a cell `result`, with what is needed to know where it came from."""
    chosen = result["runs"][run]
    metadata = {
        "cell": result["cell"], "run": run, "seed": chosen["seed"], "final": chosen["final"],
        "selection": selection, "target": result["target"], "generated": chosen["generated"],
        "parameter_names": result["parameter_names"], "versions": result["versions"],
    }
    grid = result["grid"]
    return BornMachine(circuit, np.asarray(chosen["parameters"]), grid["low"], grid["high"], metadata)


def save(machine: BornMachine, *, json_path: str | Path, qpy_path: str | Path, pickle_path: str | Path) -> None:
    """Write the safe form (JSON + QPY) and the paper's pickle, each atomically."""
    buffer = io.BytesIO()
    qpy.dump(machine.circuit, buffer)
    atomic_write(qpy_path, buffer.getvalue())
    document = {"format": "autoqml.born-machine", "version": 1, "circuit": Path(qpy_path).name,
                "parameters": machine.parameters.tolist(), "low": machine.low, "high": machine.high,
                "metadata": machine.metadata}
    atomic_write(json_path, json.dumps(document, indent=1).encode())
    atomic_write(pickle_path, pickle.dumps(machine))


def load(path: str | Path, *, trust_pickle: bool = False) -> BornMachine:
    """Load ``model.json`` (safe) or, only with ``trust_pickle=True``, a pickle (runs code from the file)."""
    path = Path(path)
    if path.suffix in (".pkl", ".pickle"):
        if not trust_pickle:
            raise AutoQMLError(f"{path}: loading a pickle runs code from the file; load {path.with_suffix('.json')} "
                               "instead, or pass trust_pickle=True (--trust-pickle) if you trust its source")
        with open(path, "rb") as handle:
            return pickle.load(handle)
    try:
        document = json.loads(path.read_text())
        with open(path.parent / document["circuit"], "rb") as handle:
            (circuit,) = qpy.load(handle)
    except (OSError, KeyError, ValueError) as err:
        raise AutoQMLError(f"{path}: not a readable autoqml model ({err}); rerun the best_model rule") from None
    return BornMachine(circuit, np.asarray(document["parameters"]), document["low"], document["high"],
                       document["metadata"])


def save_selection(*, results: list[dict], choices, folder: str | Path) -> list[Path]:
    """Store every model of ``tables/best.csv`` (:func:`autoqml.aggregate.selections`) in `folder`: the overall
    choice as ``model.{json,qpy,pkl}``, the best of each distribution and qubit count as
    ``<distribution>-q<N>.{json,qpy,pkl}`` beside it. Returns the JSON paths written."""
    by_id = {result["cell"]["id"]: result for result in results}
    written = []
    for _, row in choices.iterrows():
        stem = "model" if row["choice"] == "overall" else model_stem(row["distribution"], int(row["num_qubits"]))
        selection = {"choice": row["choice"], "metric": row["selected_by"], "setting_mean": float(row["setting_mean"]),
                     "rule": "lowest mean over runs (ties: lower std, lower depth); then the setting's run with the "
                             "lowest final value; test metrics are reported, never compared"}
        machine = machine_of(result=by_id[row["cell"]], run=int(row["run"]), selection=selection)
        folder = Path(folder)
        save(machine, json_path=folder / f"{stem}.json", qpy_path=folder / f"{stem}.qpy",
             pickle_path=folder / f"{stem}.pkl")
        written.append(folder / f"{stem}.json")
    return written


def model_stem(distribution: str, num_qubits: int) -> str:
    """File stem of the best model of one distribution and qubit count under ``best/``."""
    return f"{distribution}-q{num_qubits}"


def cell_best_machine(*, result: dict, metric: str, selection: dict | None = None) -> BornMachine:
    """The run of one cell with the lowest final `metric` (:func:`autoqml.aggregate.best_run`)."""
    from autoqml.aggregate import best_run

    return machine_of(result=result, run=best_run(result, metric=metric),
                      selection=selection or {"metric": metric, "rule": "the cell's run with the lowest final value"})


def machine_of(*, result: dict, run: int, selection: dict) -> BornMachine:
    """The Born machine of one run, its circuit rebuilt from the cell's parameters and checked against the
    stored probabilities, so the model needs nothing but the raw results."""
    from autoqml.grid import Cell
    from autoqml.train import prepare

    circuit = prepare(Cell.from_params(result["cell"]["params"])).generator.circuit
    machine = best_machine(result=result, run=run, circuit=circuit, selection=selection)
    if not np.allclose(machine.probabilities(), result["runs"][run]["generated"], atol=1e-9):
        raise AutoQMLError(f"cell {result['cell']['id']}: rebuilt circuit does not reproduce the stored "
                           "probabilities; rerun the cell (was autoqml upgraded?)")
    return machine
