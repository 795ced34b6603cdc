"""A cell end to end through the CLI: stored result is complete, valid and re-checkable from QPY alone."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from qiskit.quantum_info import Statevector

from autoqml.cli import main
from autoqml.config import load_config, validate_config
from autoqml.data import target_distribution
from autoqml.grid import expand
from autoqml.metrics import ks_statistic, relative_entropy
from autoqml.store import ResultError, load_circuit, load_discriminators, read_result
from autoqml.train import train_cell, train_cells

CONFIGS = Path(__file__).parent / "configs"
#: Training-set size of the small cells: 4 steps per epoch at batch 512 (the 365 rows drawn with replacement).
SAMPLES = 2048


def _small_config(tmp_path: Path, epex_h00: Path, **overrides) -> Path:
    raw = yaml.safe_load((CONFIGS / "epex_done_when.yaml").read_text())
    raw["distributions"][0].update(data_path=str(epex_h00), samples=SAMPLES)
    raw.update({"num_epochs": 60, "num_training_runs": 3, "log_every": 20, **overrides})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _train(config: Path, out: Path) -> Path:
    (cell,) = expand(load_config(config))
    assert main(["train-cell", str(config), cell.id[:6], "--out", str(out)]) == 0
    return out / f"{cell.id}.json"


def test_result_is_complete_and_recomputable_from_qpy(tmp_path, epex_h00):
    config = _small_config(tmp_path, epex_h00, initializations=[{"type": "normal"}])
    path = _train(config, tmp_path / "cells")
    result = read_result(path)
    circuit = load_circuit(path)
    assert [p.name for p in circuit.parameters] == result["parameter_names"]
    for run in result["runs"]:
        recomputed = Statevector(circuit.assign_parameters(run["parameters"])).probabilities()
        assert np.abs(recomputed - run["generated"]).max() <= 1e-10
        assert run["final"]["kl"] == pytest.approx(relative_entropy(target=result["target"], generated=recomputed))
        assert run["final"]["ks"] == pytest.approx(ks_statistic(target=result["target"], generated=recomputed))
        assert run["curves"]["epoch"] == [0, 20, 40, 60]
    grid, target = target_distribution(distribution=result["cell"]["params"]["distribution"], num_qubits=5,
                                       seed=2022)
    assert np.allclose(result["target"], target) and result["grid"]["low"] == grid.low
    assert result["training"] == {"steps_per_epoch": SAMPLES // 512, "steps": 60 * (SAMPLES // 512),
                                  "real_batches": "epoch_walk", "training_set_size": SAMPLES, "epochs": 60,
                                  "resumed_from": 0}
    for run in result["runs"]:  # qiskit's direction is infinite: the 32-bin EPEX target has empty bins
        assert run["final"]["kl_qiskit"] is None and (np.asarray(result["target"]) == 0).any()
    weights = load_discriminators(path)
    assert len(weights) == 3 and weights[0]["layers.0.weight"].shape == (50, 1)
    assert set(result["versions"]) >= {"qiskit", "torch", "autoqml"} and result["timings"]["train_s"] > 0
    assert not list(path.parent.glob(".*tmp")), "temporary files must be renamed or removed"


def test_same_cell_trains_identically_in_a_fresh_process(tmp_path, epex_h00):
    config = _small_config(tmp_path, epex_h00)
    first = read_result(_train(config, tmp_path / "a"))
    second_path = tmp_path / "b"
    (cell,) = expand(load_config(config))
    subprocess.run([sys.executable, "-m", "autoqml.cli", "train-cell", str(config), cell.id, "--out",
                    str(second_path)], check=True, capture_output=True)
    second = read_result(second_path / f"{cell.id}.json")
    assert [r["parameters"] for r in first["runs"]] == [r["parameters"] for r in second["runs"]]


def test_corrupted_or_incomplete_results_are_detected(tmp_path, epex_h00):
    path = _train(_small_config(tmp_path, epex_h00), tmp_path / "cells")
    broken = tmp_path / "broken"
    shutil.copytree(path.parent, broken)
    (broken / path.name).write_text(path.read_text()[:200])
    with pytest.raises(ResultError, match="not a readable result"):
        read_result(broken / path.name)
    shutil.copy(path, broken / path.name)
    (broken / path.with_suffix(".npz").name).write_bytes(b"garbage")
    with pytest.raises(ResultError, match="does not match the hash"):
        read_result(broken / path.name)
    data = json.loads(path.read_text())
    data["runs"][0]["final"]["ks"] = 3.0
    (broken / path.name).write_text(json.dumps(data))
    with pytest.raises(ResultError, match="invalid result at runs/0/final/ks"):
        read_result(broken / path.name, verify_files=False)


@pytest.mark.parametrize(("change", "message"), [
    ({"data_path": "nowhere.csv"}, r"distributions\[0\]\.data_path: no file nowhere\.csv"),
    ({"discretization": [500, 600]}, r"leaves every bin without support"),
    ({"column": "Price"}, r"no column 'Price'"),
])
def test_bad_data_fails_before_training(tmp_path, epex_h00, capsys, change, message):
    config = _small_config(tmp_path, epex_h00)
    raw = yaml.safe_load(config.read_text())
    raw["distributions"][0].update(change)
    config.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(config)]) == 1
    assert __import__("re").search(message, capsys.readouterr().err)
    (cell,) = expand(load_config(config))
    assert main(["train-cell", str(config), cell.id, "--out", str(tmp_path / "cells")]) == 1
    assert not (tmp_path / "cells").exists()


def test_acceptance_cell(tmp_path, epex_h00):
    """The acceptance cell's shape and runs (10 runs x 2000 epochs, batch 512) at one step per epoch, the paper's
    78,000 steps being a benchmark (benchmarks/bench_paper.py); every run re-checked from QPY."""
    config = _small_config(tmp_path, epex_h00, num_epochs=2000, num_training_runs=10, log_every=10,
                           steps_per_epoch=1)
    path = _train(config, tmp_path / "cells")
    result = read_result(path)
    circuit = load_circuit(path)
    for run in result["runs"]:
        recomputed = Statevector(circuit.assign_parameters(run["parameters"])).probabilities()
        assert np.abs(recomputed - run["generated"]).max() <= 1e-10
    assert len(result["runs"]) == 10 and len(result["runs"][0]["curves"]["kl"]) == 201
    assert len({run["seed"] for run in result["runs"]}) == 10


def test_cells_batched_by_shape_equal_cells_trained_alone(tmp_path, epex_h00):
    """Cells of one shape share a batch (different initial states, learning rates, seeds) yet match alone."""
    raw = yaml.safe_load((CONFIGS / "epex_done_when.yaml").read_text())
    raw["distributions"][0].update(data_path=str(epex_h00), samples=SAMPLES)
    raw.update({"num_epochs": 20, "num_training_runs": 2, "log_every": 5, "num_qubits": [3],
                "initializations": [{"type": "uniform"}, {"type": "normal"}, {"type": "random"}],
                "optimizer": {"lr": [0.001, 0.01], "betas": [0.7, 0.99]}})
    cells = expand(validate_config(raw))
    assert len({cell.shape for cell in cells}) == 1 and len(cells) == 6
    together = train_cells(cells=cells, out=tmp_path / "together")
    assert {r["batch"]["rows"] for r in together} == {12}
    for cell, batched in zip(cells, together):
        alone = train_cell(cell=cell, out=tmp_path / "alone")
        for a, b in zip(batched["runs"], alone["runs"]):
            assert np.abs(np.subtract(a["parameters"], b["parameters"])).max() <= 1e-6
            assert np.abs(np.subtract(a["generated"], b["generated"])).max() <= 1e-6
            assert np.allclose(a["curves"]["kl"], b["curves"]["kl"], rtol=0, atol=1e-6)
