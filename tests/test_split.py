"""Held-out data (autoqml.split): whole days in seeded blocks, grid and target from the training days only,
held-out metrics on every run, and a selection that never reads the test columns."""

import copy

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from autoqml import aggregate
from autoqml.config import validate_config
from autoqml.data import Grid, grid_indices, load_csv, training_values
from autoqml.errors import ConfigError, DataError
from autoqml.grid import expand
from autoqml.split import split_parts
from autoqml.train import train_cell
from autoqml.training_set import training_set

SPLIT = {"validation": 0.2, "test": 0.2, "block_days": 7}


def _config(dist: dict, **top) -> dict:
    return validate_config({
        "distributions": [dist], "ansaetze": [{"type": "zoufal", "repetitions": [1]}],
        "initializations": [{"type": "uniform"}], "num_qubits": [2], "batch_size": 64, "num_epochs": 2,
        "num_training_runs": 2, "log_every": 1, "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [1e-3]}},
        "optimizer": {"lr": [1e-3]}, **top})


def _hourly(path) -> dict:
    return {"name": "de", "data_path": str(path), "samples": 20000}


def test_days_never_appear_in_two_parts_and_blocks_stay_whole(epex_hourly):
    dist = _config(_hourly(epex_hourly), split=SPLIT)["distributions"][0]
    parts = split_parts(distribution=dist, seed=0)
    days = {part: set(parts.days[part].tolist()) for part in ("train", "validation", "test")}
    assert not (days["train"] & days["validation"] or days["train"] & days["test"] or days["validation"] & days["test"])
    assert sum(map(len, days.values())) == 365
    first = min(min(d) for d in days.values())
    for part, members in days.items():  # every block of 7 days lies in one part
        blocks = {(day - first).days // 7 for day in members}
        assert all(day in members for block in blocks for day in
                   (first + np.timedelta64(7 * block + i, "D") for i in range(7)) if day <= np.datetime64("2015-12-31"))
    assert {len(days["validation"]), len(days["test"])} == {77}  # round(0.2 x 53 blocks) = 11 blocks each
    values, _ = load_csv(path=epex_hourly, with_times=True)
    assert parts.train.size + parts.validation.size + parts.test.size == values.size  # all 24 hours of a day move


def test_the_split_is_seeded_and_the_seed_changes_it(epex_h00):
    dist = _config({"data_path": str(epex_h00)}, split=SPLIT)["distributions"][0]
    a, b = split_parts(distribution=dist, seed=0), split_parts(distribution=dist, seed=0)
    assert np.array_equal(a.test, b.test)
    other = {**dist, "split": {**dist["split"], "seed": dist["split"]["seed"] + 1}}
    assert not np.array_equal(split_parts(distribution=other, seed=0).days["test"], a.days["test"])


def test_grid_and_target_come_from_training_days_only(epex_h00, tmp_path):
    dist = _config({"data_path": str(epex_h00), "samples": 512}, split=SPLIT)["distributions"][0]
    parts = split_parts(distribution=dist, seed=3)
    data = training_set(distribution=dist, num_qubits=3, seed=3)
    grid, indices = grid_indices(samples=parts.train, num_qubits=3, method="optimal")
    assert (data.grid.low, data.grid.high) == (grid.low, grid.high)
    assert np.allclose(data.target, np.bincount(indices, minlength=8) / indices.size)
    # a held-out day's price made extreme moves neither the grid nor the target
    frame = pd.read_csv(epex_h00)
    test_day = str(parts.days["test"][0])
    frame.loc[frame["date"] == test_day, "price_eur_mwh"] = 5000.0
    edited = tmp_path / "edited.csv"
    frame.to_csv(edited, index=False)
    moved = training_set(distribution={**dist, "data_path": str(edited)}, num_qubits=3, seed=3)
    assert (moved.grid.low, moved.grid.high) == (data.grid.low, data.grid.high)
    assert np.array_equal(moved.target, data.target)
    assert 5000.0 in split_parts(distribution={**dist, "data_path": str(edited)}, seed=3).test


def test_parametric_held_out_parts_are_independent_draws():
    dist = _config({"kind": "lognormal", "samples": 1000}, split=SPLIT)["distributions"][0]
    none = _config({"kind": "lognormal", "samples": 1000})["distributions"][0]
    parts = split_parts(distribution=dist, seed=5)
    assert np.array_equal(parts.train, training_values(distribution=none, seed=5))  # training as without a split
    assert parts.validation.size == parts.test.size == 200
    assert not np.intersect1d(parts.validation, parts.test).size and not np.intersect1d(parts.train, parts.test).size


def test_split_none_keeps_cell_ids_and_a_split_changes_them():
    dist = {"kind": "lognormal", "samples": 1000}
    ids = {name: expand(_config(dist, **top))[0].id for name, top in
           (("absent", {}), ("none", {"split": "none"}), ("split", {"split": SPLIT}))}
    assert ids["absent"] == ids["none"] != ids["split"]
    own = expand(_config({**dist, "split": SPLIT}))[0].id
    assert own == ids["split"]  # a distribution's own split is the same as the study's


@pytest.mark.parametrize("top, dist, message", [
    ({"split": {"validation": 0.5, "test": 0.5}}, {}, r"split: validation 0.5 \+ test 0.5 leave nothing to train"),
    ({"split": {"validation": 0, "test": 0.2}}, {}, r"split"),
    ({"visualizations": ["generalization_gap"]}, {}, r"visualizations: generalization_gap .* add a `split` block"),
])
def test_bad_splits_name_the_field_and_the_fix(top, dist, message):
    with pytest.raises(ConfigError, match=message):
        _config({"kind": "lognormal", **dist}, **top)


def test_a_mixed_split_is_refused():
    raw = {"distributions": [{"kind": "lognormal", "split": SPLIT}, {"kind": "triangular"}],
           "ansaetze": [{"type": "zoufal", "repetitions": [1]}], "initializations": [{"type": "uniform"}],
           "num_qubits": [2], "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [1e-3]}},
           "optimizer": {"lr": [1e-3]}}
    with pytest.raises(ConfigError, match=r"distributions\[1\].split: none, but other distributions have a split"):
        validate_config(raw)


def test_too_few_blocks_name_split_and_the_fix(epex_h00):
    dist = _config({"data_path": str(epex_h00)}, split={"validation": 0.4, "test": 0.4, "block_days": 120})
    with pytest.raises(DataError, match=r"split: .* 4 block\(s\) of 120 days; .* leave none for training: lower"):
        split_parts(distribution=dist["distributions"][0], seed=0)


def test_held_out_metrics_of_a_trained_cell_match_scipy(tmp_path):
    (cell,) = expand(_config({"kind": "lognormal", "samples": 256, "discretization": [0, 7]}, split=SPLIT))
    result = train_cell(cell=cell, out=tmp_path)
    grid = Grid(result["grid"]["low"], result["grid"]["high"], 2)
    for run in result["runs"]:
        for part in ("validation", "test"):
            values = np.asarray(result["held_out"][part]["values"])
            w1 = scipy.stats.wasserstein_distance(grid.values, values, u_weights=run["generated"])
            assert run["final"][f"w1_{part}"] == pytest.approx(w1, rel=1e-9)
            assert run["curves"][f"w1_{part}"][-1] == run["final"][f"w1_{part}"]
            assert len(run["curves"][f"kl_{part}"]) == len(run["curves"]["epoch"])
    assert result["held_out"]["test"]["histogram"] != result["target"]


# --- selection reads validation only --------------------------------------------------------------------------

def _synthetic_runs(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for n in (3, 5):
        for init in ("uniform", "normal", "random"):
            cell = f"{n}{init[0]}" + "0" * 10
            for run in range(4):
                rows.append({"distribution": "de", "ansatz": "zoufal", "num_qubits": n, "discriminator": "c1",
                             "d_lr": 1e-3, "g_lr": 1e-3, "backend": "statevector", "initialization": init, "reps": 1,
                             "cell": cell, "label": f"q{n} {init}", "run": run, "seed": run, "depth": 10 * n + run,
                             "kl_qiskit": 0.1, **{c: rng.uniform(0.01, 1) for c in
                                                  ["kl", "ks", *aggregate.HELD_OUT_COLUMNS]}})
    return pd.DataFrame(rows)


def test_selection_never_reads_test_columns():
    runs = _synthetic_runs()
    choice = aggregate.selections(runs, aggregate.statistics(runs), metric="w1_validation")
    for seed in range(5):
        perturbed = runs.copy()
        rng = np.random.default_rng(100 + seed)
        for column in ("kl_test", "ks_test", "w1_test"):
            perturbed[column] = rng.permutation(perturbed[column].to_numpy()) * rng.uniform(0.1, 10)
        again = aggregate.selections(perturbed, aggregate.statistics(perturbed), metric="w1_validation")
        assert again[["choice", "cell", "run"]].equals(choice[["choice", "cell", "run"]])
        assert not again["w1_test"].equals(choice["w1_test"])  # the test numbers are reported, and they moved


def test_selection_picks_the_lowest_validation_mean_per_qubit_count_and_overall():
    runs = _synthetic_runs(1)
    stats = aggregate.statistics(runs)
    choice = aggregate.selections(runs, stats, metric="w1_validation").set_index("choice")
    assert list(choice.index) == ["3 qubits", "5 qubits", "overall"]
    for n in (3, 5):
        group = stats[stats["num_qubits"] == n]
        best = group.loc[group["w1_validation_mean"].idxmin(), "cell"]
        row = choice.loc[f"{n} qubits"]
        assert row["cell"] == best and row["selected_by"] == "w1_validation"
        members = runs[runs["cell"] == best]
        assert row["run"] == members.loc[members["w1_validation"].idxmin(), "run"]
    assert choice.loc["overall", "cell"] == stats.loc[stats["w1_validation_mean"].idxmin(), "cell"]


def test_table_one_gains_validation_and_test_tables_after_the_papers(tmp_path):
    runs = _synthetic_runs()
    stats = aggregate.statistics(runs)
    paths = {ext: tmp_path / f"s.{ext}" for ext in ("csv", "md", "tex")}
    aggregate.write_tables(stats, csv=paths["csv"], markdown=paths["md"], latex=paths["tex"])
    text = paths["md"].read_text()
    first = text.index("(training data)")
    assert first < text.index(": validation data") < text.index(": test data")
    assert "| Initialization   |   k |    µKS |" in text  # the paper's columns lead, as before
    assert {"w1_validation_mean", "w1_test_std", "kl_test_mean"} <= set(pd.read_csv(paths["csv"]).columns)


def test_without_a_split_the_ranking_is_the_studys_metric_on_training_data():
    cfg = _config({"kind": "lognormal"})
    assert aggregate.ranking(cfg) == "relative_entropy"
    assert aggregate.ranking(_config({"kind": "lognormal"}, split=SPLIT)) == "w1_validation"
    assert aggregate.ranking(_config({"kind": "lognormal"}, split=SPLIT, select_by="relative_entropy")) \
        == "kl_validation"
    assert copy.deepcopy(cfg)["split"] == "none"
