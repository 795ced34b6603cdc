"""Resumable training: a state taken after e epochs continues to the numbers of training to e' in one go."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from test_qgan import BATCH, _rows

from autoqml.checkpoint import CheckpointError, TrainingState, load_state, save_state
from autoqml.config import load_config
from autoqml.grid import expand
from autoqml.qgan import Schedule, Training
from autoqml.store import read_result
from autoqml.train import train_cells


def _training(gen, rows, epochs, steps_per_epoch, precision, state=None):
    schedule = Schedule(batch_size=BATCH, num_epochs=epochs, log_every=2, steps_per_epoch=steps_per_epoch)
    return Training(ansatz=gen.ansatz, rows=rows, widths=[50, 20], schedule=schedule, precision=precision,
                    state=state)


def _assert_identical(a, b):
    assert np.array_equal(a.parameters, b.parameters) and np.array_equal(a.generated, b.generated)
    assert np.array_equal(a.initial_parameters, b.initial_parameters)
    assert a.curves == b.curves
    for key in a.discriminator:
        assert np.array_equal(a.discriminator[key], b.discriminator[key])


@pytest.mark.parametrize(("steps_per_epoch", "state", "precision"), [
    (None, "per_step", "float32"), (3, "persistent", "float64"), (11, "per_step", "float64")])
def test_continuing_from_a_saved_state_equals_training_in_one_go(tmp_path, steps_per_epoch, state, precision):
    """Through a file, from epoch 3 (mid-way in a chunk of with-replacement draws when 11 steps per epoch) to 7."""
    gen, _, rows = _rows(3, "uniform", seeds=[4, 5], lrs=(1e-2, 3e-3), samples=700, state=state)
    straight = _training(gen, rows, 7, steps_per_epoch, precision)
    straight.run()
    first = _training(gen, rows, 7, steps_per_epoch, precision)
    first.run(3)
    save_state(tmp_path / "s.npz", first.state(), identity={"cell": "x"})
    resumed = _training(gen, rows, 7, steps_per_epoch, precision,
                        state=load_state(tmp_path / "s.npz", identity={"cell": "x"}))
    resumed.run()
    for a, b in zip(straight.results(), resumed.results()):
        _assert_identical(a, b)
        assert b.schedule["resumed_from"] == 3 and b.schedule["epochs"] == 7
    stopped = first.results()[0]
    assert stopped.curves["epoch"] == [0, 2, 3] and stopped.schedule["epochs"] == 3


def test_a_cells_state_continues_in_another_batch():
    """States split per cell and stack with other cells' states: a row continues exactly whatever its batch."""
    gen, _, rows = _rows(3, "uniform", seeds=[4, 5, 6], samples=700)
    straight = _training(gen, rows, 5, None, "float32")
    straight.run()
    partial = _training(gen, rows, 5, None, "float32")
    partial.run(2)
    state = partial.state()
    reordered = TrainingState.stack([state.select([2]), state.select(slice(0, 2))])
    resumed = _training(gen, [rows[2], rows[0], rows[1]], 5, None, "float32", state=reordered)
    resumed.run()
    for a, b in zip(straight.results(), [*resumed.results()[1:], resumed.results()[0]]):
        _assert_identical(a, b)


def test_a_state_is_refused_by_other_training(tmp_path):
    gen, _, rows = _rows(3, "uniform", seeds=[4], samples=700)
    training = _training(gen, rows, 4, None, "float64")
    training.run(1)
    save_state(tmp_path / "s.npz", training.state(), identity={"cell": "a"})
    with pytest.raises(CheckpointError, match="belongs to"):
        load_state(tmp_path / "s.npz", identity={"cell": "b"})
    other = _rows(3, "uniform", seeds=[9], samples=700)[2]
    with pytest.raises(CheckpointError, match="seeds"):
        _training(gen, other, 4, None, "float64", state=training.state())
    (tmp_path / "bad.npz").write_bytes(b"not a state")
    with pytest.raises(CheckpointError, match="delete it"):
        load_state(tmp_path / "bad.npz", identity={"cell": "a"})


def _cells(tmp_path, epex_h00, epochs):
    config = tmp_path / "study.yaml"
    config.write_text(json.dumps({
        "study": "ckpt", "distributions": [{"name": "h00", "data_path": str(epex_h00), "column": "price_eur_mwh",
                                            "samples": 600}],
        "ansaetze": [{"type": "zoufal", "repetitions": [1]}], "initializations": [{"type": "uniform"}],
        "num_qubits": [3], "batch_size": 64, "num_epochs": epochs, "num_training_runs": 2, "log_every": 2,
        "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [1e-3], "n_hidden": [20], "n_input": 50,
                                                                   "betas": [0.9, 0.999]}},
        "optimizer": {"lr": [1e-3, 1e-2], "betas": [0.7, 0.99]}}))
    return expand(load_config(config))


def _numbers(path):
    result = read_result(path)
    return [(run["parameters"], run["generated"], run["curves"]) for run in result["runs"]]


def test_train_cells_in_rungs_equals_training_to_the_end(tmp_path, epex_h00):
    """epochs + resume (how a search trains a setting rung by rung) give the result of num_epochs in one go."""
    cells = _cells(tmp_path, epex_h00, 6)
    train_cells(cells=cells, out=tmp_path / "one")
    train_cells(cells=cells, out=tmp_path / "r1", epochs=2)
    train_cells(cells=cells, out=tmp_path / "r2", epochs=6, resume=tmp_path / "r1")
    for cell in cells:
        assert read_result(tmp_path / "r1" / f"{cell.id}.json")["training"]["epochs"] == 2
        assert (tmp_path / "r1" / f"{cell.id}.state.npz").exists()
        resumed = read_result(tmp_path / "r2" / f"{cell.id}.json")
        assert resumed["training"]["resumed_from"] == 2 and resumed["timings"]["seed_steps"] == 2 * 4 * 9
        assert _numbers(tmp_path / "r2" / f"{cell.id}.json") == _numbers(tmp_path / "one" / f"{cell.id}.json")


def test_a_killed_training_job_resumes_from_its_last_checkpoint(tmp_path, epex_h00):
    """A real kill: the job process dies after its first checkpoint; the rerun continues from it (fewer steps)
    and stores exactly the numbers of an uninterrupted job."""
    cells = _cells(tmp_path, epex_h00, 400)
    train_cells(cells=cells, out=tmp_path / "whole")
    script = (f"from autoqml.config import load_config; from autoqml.grid import expand; "
              f"from autoqml.train import train_cells; "
              f"train_cells(cells=expand(load_config({str(tmp_path / 'study.yaml')!r})), out={str(tmp_path / 'job')!r}, "
              f"checkpoints={str(tmp_path / 'ckpt')!r}, checkpoint_every=50)")
    job = subprocess.Popen([sys.executable, "-c", script])
    states = [tmp_path / "ckpt" / f"{cell.id}.state.npz" for cell in cells]
    deadline = time.monotonic() + 120
    while not all(s.exists() for s in states) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    job.kill()
    job.wait()
    assert all(s.exists() for s in states), "the job finished or failed before its first checkpoint"
    assert not any((tmp_path / "job" / f"{cell.id}.json").exists() for cell in cells)
    train_cells(cells=cells, out=tmp_path / "job", checkpoints=tmp_path / "ckpt", checkpoint_every=50)
    for cell in cells:
        rerun = read_result(tmp_path / "job" / f"{cell.id}.json")
        assert rerun["training"]["resumed_from"] >= 50
        assert _numbers(tmp_path / "job" / f"{cell.id}.json") == _numbers(tmp_path / "whole" / f"{cell.id}.json")
    assert not any(s.exists() for s in states), "a stored cell's checkpoint is removed"
