"""The resource budget: costs per cell, admission in grid order, the reasons given, and what still runs."""

import copy
import csv
import io

import pytest
from test_backends import TINY

from autoqml.budget import Cost, admit, skipped_csv
from autoqml.cli import main
from autoqml.config import validate_config
from autoqml.errors import ConfigError
from autoqml.evaluate import run_depths
from autoqml.study import Study
from autoqml.train import prepare

AXES = {**TINY, "ansaetze": [{"type": "zoufal", "repetitions": [1, 3]}],
        "backend": ["statevector", {"type": "aer", "shots": 100}]}


def _study(**changes) -> Study:
    return Study(validate_config(copy.deepcopy({**AXES, **changes})))


def test_costs_count_executions_and_shots_of_shot_based_cells_only():
    study = _study()
    for cell_id, cell in study.grid.items():
        cost, p = study.costs[cell_id], cell.params
        parameters = 2 * (p["reps"] + 1)  # zoufal: N(k + 1), N = 2
        if p["backend"] == "statevector":
            assert cost.circuit_executions == cost.shots == 0
        else:
            steps = 8 * (256 // 64)  # epochs x planned steps per epoch (samples // batch_size)
            assert cost.circuit_executions == 2 * steps * (2 * parameters + 1)  # runs x steps x (2P + 1)
            assert cost.shots == cost.circuit_executions * 100
        assert cost.seconds == pytest.approx(study.cell_seconds(cell_id)) and cost.seconds > 0
    assert not study.skipped and not study.has_budget


@pytest.mark.parametrize(("key", "field"), [("shots", "shots"), ("circuit_executions", "circuit_executions"),
                                            ("classical_seconds", "seconds")])
def test_cells_that_would_exceed_a_total_are_skipped_with_the_reason(key, field):
    costs = _study().costs
    shot_cells = [c for c, cost in costs.items() if cost.shots]
    first = getattr(costs[shot_cells[0]], field)
    cheap = sum(getattr(costs[c], field) for c in costs if c not in shot_cells) if key == "classical_seconds" else 0
    cap = cheap + first * 1.5  # room for the first shot-based cell, not the second
    study = _study(budget={key: cap if key == "classical_seconds" else int(cap)})  # counts are whole numbers
    assert list(study.skipped) == [shot_cells[1]]
    assert study.skipped[shot_cells[1]].startswith(f"budget.{key}: needs ")
    assert set(study.cells) == set(costs) - {shot_cells[1]}
    assert study.shard_files and all(cell in study.shard_of for cell in study.cells)
    (record,) = study.skipped_records
    assert record["cell"] == shot_cells[1] and record["label"].endswith("aer100")
    rows = list(csv.DictReader(io.StringIO(skipped_csv(study.skipped_records).decode())))
    assert rows[0]["cell"] == shot_cells[1] and rows[0]["reason"] == study.skipped[shot_cells[1]]


def test_max_depth_uses_the_depth_rules_first_transpilation():
    study = _study(budget={"max_depth": 1000}, backend="statevector", device="fake_montreal")
    depths = {}
    for cell_id, cell in study.grid.items():
        circuit = prepare(cell).generator.circuit
        depths[cell_id] = run_depths(circuit=circuit, device="fake_montreal", seed=cell.params["seed"], runs=1)[0]
        assert study.costs[cell_id].depth == depths[cell_id]
    shallow, deep = sorted(depths, key=depths.get)
    capped = _study(budget={"max_depth": depths[shallow]}, backend="statevector", device="fake_montreal")
    assert list(capped.cells) == [shallow]
    assert capped.skipped[deep] == f"transpiled depth {depths[deep]} > budget.max_depth {depths[shallow]}"


def test_device_evaluation_is_reserved_first_or_carried_by_each_cell():
    evaluation = {"backend": {"type": "aer"}, "shots": 5000}
    with pytest.raises(ConfigError, match=r"budget.shots: the device evaluation alone needs 5000 > 4000"):
        _ = _study(budget={"shots": 4000}, evaluation=evaluation).cells
    with pytest.raises(ConfigError, match=r"budget: admits none of the 4 cells \(the first: budget.classical_se"):
        _ = _study(budget={"classical_seconds": 1e-9}).cells
    per_cell = _study(evaluation={**evaluation, "all_cells": True})
    assert all(cost.shots >= 5000 and cost.circuit_executions >= 1 for cost in per_cell.costs.values())
    assert per_cell.total_cost().shots == sum(cost.shots for cost in per_cell.costs.values())
    best_only = _study(evaluation=evaluation)
    assert best_only.total_cost().shots == 5000 + sum(cost.shots for cost in best_only.costs.values())


def test_admission_keeps_trying_later_cheaper_cells():
    costs = {"a": Cost(shots=6), "b": Cost(shots=5), "c": Cost(shots=3), "d": Cost(shots=0)}
    assert list(admit(costs, {"shots": 10})) == ["b"]
    assert list(admit(costs, {"shots": 2}, spent=Cost(shots=5))) == ["a", "b", "c"]  # d needs none
    assert admit(costs, {"shots": None, "max_depth": None}) == {}


def test_cost_command_prints_totals_and_skipped_cells(tmp_path, capsys):
    config = tmp_path / "study.yaml"
    config.write_text(__import__("yaml").safe_dump({**AXES, "steps_per_epoch": 1}))
    assert main(["cost", str(config), "--config", "budget={circuit_executions: 300}"]) == 0
    out = capsys.readouterr().out
    assert "3 of 4 cells run (1 skipped by the budget)" in out and "circuit executions: 144" in out
    assert "shots: 14,400" in out and "budget.circuit_executions: needs 272, 156 of 300 left" in out
