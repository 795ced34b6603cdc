"""The search block and the search library without training: rungs, the config's checks and defaults, ids kept,
successive halving's choice, TPE's space and cells, and TPE's steps told, pruned, replayed and interrupted."""

from __future__ import annotations

import copy
import json
import math

import pytest

from autoqml import halving, tpe
from autoqml.config import validate_config
from autoqml.errors import ConfigError
from autoqml.grid import expand
from autoqml.search import COMPLETED, KEPT, PRUNED, STOPPED, Search, finish, propose, rungs
from autoqml.study import structure_id

BASE = {
    "name": "searchlib",
    "distributions": [{"kind": "lognormal", "samples": 640, "discretization": [0, 7]}],
    "split": {"validation": 0.2, "test": 0.2},
    "ansaetze": [{"type": "zoufal", "repetitions": [1, 2]}],
    "initializations": [{"type": "uniform"}, {"type": "random"}],
    "num_qubits": [2, 3],
    "batch_size": 64,
    "num_epochs": 9,
    "num_training_runs": 2,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}},
    "optimizer": {"lr": [0.001, 0.01]},
}


def config(**search) -> dict:
    return validate_config({**copy.deepcopy(BASE), "search": search})


@pytest.mark.parametrize(("min_epochs", "eta", "num_epochs", "expected"), [
    (74, 3, 2000, [74, 222, 666, 2000]),
    (1, 3, 9, [1, 3, 9]),  # divides evenly: the last geometric rung is num_epochs
    (5, 3, 20, [5, 20]),  # does not: the remainder joins the last rung (no 15 -> 20 rung)
    (10, 3, 20, [10, 20]),  # the first rung is always min_epochs
    (20, 3, 20, [20]),
    (2, 2, 9, [2, 4, 9]),
])
def test_rungs_are_geometric_and_end_at_num_epochs(min_epochs, eta, num_epochs, expected):
    assert rungs(min_epochs=min_epochs, eta=eta, num_epochs=num_epochs) == expected


def test_search_keeps_grid_ids_and_fills_defaults():
    grid = validate_config(copy.deepcopy(BASE))
    for search in ({"strategy": "successive_halving", "eta": 2}, {"strategy": "tpe", "n_trials": 3,
                                                                  "trials_per_round": 3}):
        cfg = config(**search)
        assert [c.id for c in expand(cfg)] == [c.id for c in expand(grid)]
    assert grid["search"]["strategy"] == "grid" and grid["search"]["objectives"] == ["w1_validation"]
    cfg = validate_config({**copy.deepcopy(BASE), "select_by": "kolmogorov_smirnov", "num_epochs": 2000,
                           "search": {"strategy": "successive_halving"}})
    assert cfg["search"]["objectives"] == ["ks_validation"] and cfg["search"]["min_epochs"] == 74
    assert cfg["search"]["seed"] == cfg["seed"]


@pytest.mark.parametrize(("search", "field", "message"), [
    ({"strategy": "tpe", "n_trials": 2, "trials_per_round": 3}, "search.trials_per_round",
     "more than n_trials 2; lower it"),
    ({"strategy": "tpe", "objectives": ["depth"]}, "search.objectives", "depth alone needs no training: add"),
    ({"strategy": "successive_halving", "ranges": {"optimizer.lr": {"low": 1e-4, "high": 1e-2}}},
     "search.ranges", "ranges (optimizer.lr) are for strategy: tpe"),
    ({"strategy": "tpe", "ranges": {"optimizer.lr": {"low": 1e-4, "high": 1e-2, "lg": True}}},
     "search.ranges.optimizer.lr.lg", "unknown key; did you mean 'log'?"),
    ({"strategy": "tpe", "eta": 1}, "search.eta", "got 1; must be >= 2"),
])
def test_search_errors_name_the_field_and_the_fix(search, field, message):
    with pytest.raises(ConfigError) as err:
        config(**search)
    assert any(line.startswith(f"  - {field}: ") and message in line for line in str(err.value).splitlines()), \
        str(err.value)


def test_halving_keeps_the_best_third_ties_to_the_lower_id():
    values = {"c": [2.0], "a": [1.0], "b": [1.0], "d": [math.nan], "e": [3.0], "f": [0.5]}
    assert halving.kept(values, eta=3) == ["f", "a"]
    assert halving.kept({"x": [1.0], "y": [0.0]}, eta=3) == ["y"]  # at least one continues


def test_tpe_space_and_cells_are_the_grids():
    cfg = config(strategy="tpe", ranges={"discriminator.lr": {"low": 1e-4, "high": 1e-2, "log": True}})
    space = tpe.space(cfg)
    assert space == {"ansatz": {"choices": ["zoufal k1", "zoufal k2"]},
                     "initialization": {"choices": ["uniform", "random"]}, "num_qubits": {"choices": [2, 3]},
                     "optimizer.lr": {"choices": [0.001, 0.01]},
                     "discriminator.lr": {"low": 1e-4, "high": 1e-2, "log": True}}
    grid = {c.label: c.id for c in expand(cfg)}
    cell = tpe.cell_from(cfg, {"ansatz": "zoufal k2", "initialization": "random", "num_qubits": 3,
                               "optimizer.lr": 0.01, "discriminator.lr": 0.001})
    assert grid[cell.label] == cell.id  # a trial on a grid setting has its id
    other = tpe.cell_from(cfg, {"ansatz": "zoufal k2", "initialization": "random", "num_qubits": 3,
                                "optimizer.lr": 0.01, "discriminator.lr": 0.0031})
    assert other.params["discriminator"]["lr"] == 0.0031 and other.id not in grid.values()


# --- TPE's steps, with made-up training results ----------------------------------------------------------------
def fake_results(search: Search, plan_doc: dict) -> dict[str, dict]:
    """What training would give: a validation W1 that favours lr near 3e-3, k1 and uniform, better with epochs."""
    out = {}
    for cell, p in plan_doc["cells"].items():
        quality = (abs(math.log10(p["optimizer"]["lr"] / 3e-3)) + 0.3 * p["reps"]
                   + 0.5 * (p["initialization"] == "random") + 0.1 * p["num_qubits"])
        w1 = quality + 1.0 / plan_doc["epochs"]
        out[cell] = {"cell": {"id": cell, "label": cell, "params": p}, "training": {"epochs": plan_doc["epochs"]},
                     "timings": {"seed_steps": 10 * (plan_doc["epochs"] - plan_doc["resumed_from"])},
                     "runs": [{"final": {"w1_validation": w1 + 0.01 * r}} for r in range(2)]}
    return out


def depths_of(cfg: dict) -> dict[str, list[int]]:
    return {structure_id(c.params, device=cfg["device"]): [10 * c.params["reps"] + c.params["num_qubits"]] * 2
            for c in expand(cfg)}


def run_search(search: Search, *, start: int = 0, plans: list[dict] | None = None) -> tuple[list[dict], dict]:
    """Every step from `start` (the plans before it given), then the finish, as the workflow would."""
    plans = list(plans or [])
    depths = depths_of(search.cfg)
    for step in range(start, len(search.steps)):
        previous = plans[-1] if plans else None
        results = fake_results(search, previous) if previous else {}
        plans.append(propose(search, step=step, previous=previous, results=results, depths=depths))
    final = finish(search, plans=plans, results=fake_results(search, plans[-1]), depths=depths)
    return plans, final


def tpe_search(tmp_path, **extra) -> Search:
    cfg = config(strategy="tpe", n_trials=12, trials_per_round=4, min_epochs=1, eta=3,
                 ranges={"optimizer.lr": {"low": 1e-4, "high": 1e-1, "log": True}}, **extra)
    return Search(cfg, str(tmp_path / "results" / "searchlib"))


def test_tpe_prunes_at_rungs_and_completes_the_rest(tmp_path):
    search = tpe_search(tmp_path)
    assert search.rungs == [1, 3, 9] and search.rounds == 3 and len(search.steps) == 9
    plans, final = run_search(search)
    rows = final["records"]
    assert sorted({r["trial"] for r in rows}) == list(range(12))
    decisions = {r["decision"] for r in rows}
    assert PRUNED in decisions and COMPLETED in decisions and KEPT in decisions and STOPPED not in decisions
    for row in rows:  # a trial continues only while kept, and stops once pruned or completed
        later = [r for r in rows if r["trial"] == row["trial"] and r["rung"] > row["rung"]]
        assert bool(later) == (row["decision"] == KEPT)
    assert final["cells"] == sorted({r["cell"] for r in rows if r["decision"] == COMPLETED})
    assert all(p["epochs"] == search.rungs[p["rung"]] for p in plans)
    import optuna

    study = optuna.load_study(study_name="searchlib", storage=search.storage)
    assert len(study.trials) == 12 and not [t for t in study.trials if t.state.name == "RUNNING"]


def test_tpe_replays_a_step_and_survives_an_interrupted_one(tmp_path, monkeypatch):
    search = tpe_search(tmp_path / "a")
    plans, final = run_search(search)
    assert propose(search, step=4, previous=plans[3], results=fake_results(search, plans[3]),
                   depths={}) == plans[4]  # a rerun of a step rewrites its plan from storage, tells nothing twice

    other = tpe_search(tmp_path / "b")
    db = other.path("search", "optuna.db")
    first: list[dict] = []
    for step in range(5):  # the first five steps, then the sixth killed half-way through (after its tells)
        previous = first[-1] if first else None
        first.append(propose(other, step=step, previous=previous,
                             results=fake_results(other, previous) if previous else {}, depths={}))
    before = open(db, "rb").read()
    monkeypatch.setattr(tpe, "plan", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        propose(other, step=5, previous=first[-1], results=fake_results(other, first[-1]), depths={})
    assert open(db, "rb").read() == before  # the killed step changed nothing
    monkeypatch.undo()
    again, final_again = run_search(other, start=5, plans=first)
    same = json.dumps([again, final_again]).replace(other.root, search.root)
    assert same == json.dumps([plans, final])  # same proposals, decisions and front as uninterrupted

    fresh = tpe_search(tmp_path / "c", seed=1)
    assert run_search(fresh)[0][0]["trials"] != plans[0]["trials"]  # another seed proposes otherwise


def test_tpe_two_objectives_has_one_rung_and_a_pareto_front(tmp_path):
    search = tpe_search(tmp_path, objectives=["w1_validation", "depth"])
    assert search.rungs == [9] and len(search.steps) == 3
    plans, final = run_search(search)
    assert all(r["decision"] == COMPLETED for r in final["records"]) and len(final["records"]) == 12
    front = final["pareto"]
    assert front and all(set(row) >= {"trial", "cell", "w1_validation", "depth"} for row in front)
    points = [(r["w1_validation"], r["depth"]) for r in final["records"]]
    for row in front:  # nothing completed beats a front trial in both objectives
        assert not any(w < row["w1_validation"] and d < row["depth"] for w, d in points)


def test_a_stored_search_of_another_config_is_refused(tmp_path):
    search = tpe_search(tmp_path)
    run_search(search)
    changed = Search(config(strategy="tpe", n_trials=12, trials_per_round=4, min_epochs=1, eta=2), search.root)
    with pytest.raises(tpe.SearchStorageError, match=r"of another search \(it differs in .*rungs.*\); delete"):
        propose(changed, step=0, previous=None, results={}, depths={})
