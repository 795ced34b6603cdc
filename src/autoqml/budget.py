"""Resource budget of a study (the paper's Definition 1: a classical budget b_C and a quantum budget b_Q).

Costs are estimated per cell when the workflow is parsed, before anything runs:

* classical seconds: the shard balancer's cost model (:meth:`autoqml.study.Study.cell_seconds`);
* circuit executions: a shot-based cell binds 2P+1 parameter sets per run and step,
  ``runs x steps x (2P+1)`` with steps = epochs x steps per epoch (:func:`autoqml.grid.planned_steps`); exact
  (statevector) cells execute none;
* shots: ``circuit executions x shots``; device evaluation adds ``evaluation.shots`` per evaluated model
  (the best model is reserved before any cell, with ``all_cells`` each cell carries its own);
* transpiled depth on the study's ``device``, run 0's transpiler seed: the first value the depth rule reports,
  exactly, except for a ``normal`` initial state, prepared here from a generic normal profile because the data are
  not read at parse time (on the default study within 2 of the depth rule's value: 40 vs 42 on 3 qubits, equal on
  5). Only computed when ``budget.max_depth`` is set: one transpilation per circuit structure (the paper grid's 135
  structures take about 5 s).

Cells are admitted in grid order while every total stays within its cap; a cell that would exceed one is skipped
(later, cheaper cells may still fit) and listed with its reasons. The decision depends on the config only, so every
parse of the same config admits the same cells; editing the grid can move cells in or out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from autoqml.backends import shots_of
from autoqml.grid import planned_steps

#: budget key -> Cost field it caps (max_depth is a per-cell limit, the others are study totals).
TOTALS = {"classical_seconds": "seconds", "circuit_executions": "circuit_executions", "shots": "shots"}
SKIPPED_COLUMNS = ["cell", "label", "reason", "seconds", "circuit_executions", "shots", "depth"]


@dataclass(frozen=True)
class Cost:
    """Estimated resources of one cell (or of the device evaluation)."""

    seconds: float = 0.0
    circuit_executions: int = 0
    shots: int = 0
    depth: int | None = None

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.seconds + other.seconds, self.circuit_executions + other.circuit_executions,
                    self.shots + other.shots)


def training_cost(params: dict, *, num_parameters: int, seconds: float, depth: int | None = None,
                  evaluation: dict | None = None) -> Cost:
    """A cell's cost: its seconds, its executions and shots if shot-based, plus its own device evaluation when
    ``evaluation.all_cells`` is set."""
    shots = shots_of(params["backend"])
    executions = params["num_training_runs"] * planned_steps(params) * (2 * num_parameters + 1) if shots else 0
    cost = Cost(seconds, executions, executions * shots, depth)
    if evaluation is not None and evaluation["all_cells"]:
        cost = Cost(cost.seconds, cost.circuit_executions + 1, cost.shots + evaluation["shots"], depth)
    return cost


def reserved(evaluation: dict | None) -> Cost:
    """What the study spends whatever cells run: the best model's device evaluation."""
    if evaluation is None or evaluation["all_cells"]:
        return Cost()
    return Cost(0.0, 1, evaluation["shots"])


def admit(costs: dict[str, Cost], budget: dict, *, spent: Cost = Cost()) -> dict[str, str]:
    """Cells (in the given order) that the budget leaves out, each with its reasons; the others are admitted."""
    skipped = {}
    for cell, cost in costs.items():
        reasons = []
        if budget.get("max_depth") is not None and cost.depth is not None and cost.depth > budget["max_depth"]:
            reasons.append(f"transpiled depth {cost.depth} > budget.max_depth {budget['max_depth']}")
        for key, name in TOTALS.items():
            cap, need = budget.get(key), getattr(cost, name)
            if cap is not None and need > 0 and getattr(spent, name) + need > cap:
                reasons.append(f"budget.{key}: needs {need:.6g}, {max(cap - getattr(spent, name), 0):.6g} of "
                               f"{cap:.6g} left")
        if reasons:
            skipped[cell] = "; ".join(reasons)
        else:
            spent = spent + cost
    return skipped


def reserve_problems(budget: dict, spent: Cost) -> list[str]:
    """Caps that the reserved cost (the best model's device evaluation) exceeds on its own."""
    return [f"budget.{key}: the device evaluation alone needs {getattr(spent, name):.6g} > {budget[key]:.6g}; raise "
            "it or lower evaluation.shots" for key, name in TOTALS.items()
            if budget.get(key) is not None and getattr(spent, name) > budget[key]]


def estimated_depth(params: dict, *, device: str) -> int:
    """Transpiled depth of a cell's measured generator on `device` with run 0's transpiler seed.

    ``normal`` prepares a discretized normal centred on the grid with std = range / 6 (the data decide the true
    amplitudes; the state preparation's structure barely depends on them).
    """
    from autoqml.circuits import build_generator
    from autoqml.metrics import transpiled_depth

    n = params["num_qubits"]
    amplitudes = None
    if params["initialization"] == "normal":
        x = np.arange(2**n)
        density = np.exp(-0.5 * ((x - x.mean()) / (2**n / 6)) ** 2)
        amplitudes = np.sqrt(density / density.sum())
    generator = build_generator(ansatz=params["ansatz"], num_qubits=n, reps=params["reps"],
                                initialization=params["initialization"], normal_amplitudes=amplitudes)
    return transpiled_depth(circuit=generator.circuit, device=device, seed=params["seed"])


def skipped_csv(records: list[dict]) -> bytes:
    """The skipped cells as CSV (header only when none was skipped)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SKIPPED_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue().encode()
