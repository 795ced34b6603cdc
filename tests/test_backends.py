"""The backend setting (config, cell ids, routing), the IBM Runtime path in local testing mode, and evaluation of
trained models on a backend."""

import copy
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import qiskit_ibm_runtime
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from test_grid import BASE

from autoqml import backends
from autoqml.aggregate import run_table, statistics
from autoqml.config import validate_config
from autoqml.device import device_table, evaluate_machines
from autoqml.errors import ConfigError
from autoqml.grid import expand
from autoqml.model import cell_best_machine
from autoqml.store import read_result
from autoqml.study import Study
from autoqml.train import train_cell, train_cells

TINY = {
    "distributions": [{"kind": "lognormal", "samples": 256, "discretization": [0, 7]}],  # 3 steps per epoch
    "ansaetze": [{"type": "zoufal", "repetitions": [1]}],
    "initializations": [{"type": "uniform"}],
    "num_qubits": [2],
    "batch_size": 64,
    "num_epochs": 8,
    "num_training_runs": 2,
    "log_every": 4,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}},
    "optimizer": {"lr": [0.005], "betas": [0.7, 0.99]},
}


def _cells(raw: dict):
    return expand(validate_config(copy.deepcopy(raw)))


def test_default_backend_is_the_canonical_statevector():
    """Writing the default backend, by name or object, changes no id (ids pinned when the precision key came in)."""
    cells = _cells(BASE)
    assert cells[0].id == "7e37e76ec288" and cells[-1].id == "23ae685fa913"
    assert {c.params["backend"] for c in cells} == {"statevector"}
    assert [c.id for c in _cells({**BASE, "backend": "statevector"})] == [c.id for c in cells]
    assert [c.id for c in _cells({**BASE, "backend": {"type": "statevector"}})] == [c.id for c in cells]


def test_backend_names_objects_and_lists():
    (cell,) = _cells({**TINY, "backend": "aer"})
    assert cell.params["backend"] == {"type": "aer", "shots": 1024, "noise_model": None}
    assert cell.label.endswith(" aer1024")
    noisy = {"type": "aer", "shots": 300, "noise_model": "FakeManilaV2"}
    axis = _cells({**TINY, "backend": ["statevector", noisy, {"type": "ibm", "device": "fake_manila"}]})
    assert [backends.label(c.params["backend"]) for c in axis] == ["statevector", "aer300+fake_manila",
                                                                   "fake_manila1024"]
    assert axis[0].id == _cells(TINY)[0].id  # adding backends to the axis keeps the statevector cells
    assert len({c.shape for c in axis}) == 3  # each backend trains in its own batch


def test_routing_changes_no_id_and_stays_out_of_cells():
    ibm = {"type": "ibm", "device": "ibm_torino", "shots": 100}
    one = _cells({**TINY, "backend": {**ibm, "instance": "crn:a", "channel": "ibm_cloud", "mode": "session"}})
    two = _cells({**TINY, "backend": ibm})
    assert [c.id for c in one] == [c.id for c in two]
    assert one[0].params["backend"] == {"type": "ibm", "device": "ibm_torino", "shots": 100}
    study = Study(validate_config({**TINY, "backend": {**ibm, "instance": "crn:a", "mode": "session"}}))
    assert study.routing == {"ibm_torino": {"channel": None, "instance": "crn:a", "mode": "session"}}


@pytest.mark.parametrize(("backend", "message"), [
    ({"type": "aer", "device": "x"}, r"backend\.device: not a setting of a aer backend; allowed: noise_model, shots"),
    ({"type": "ibm"}, r"backend\.device: an ibm backend needs the device name"),
    ({"type": "aer", "noise_model": "fake_manilla"},
     r"backend\.noise_model: unknown fake IBM backend 'fake_manilla'; did you mean fake_manila"),
    ({"type": "aer", "noise_model": "fake_athens"},
     r"backend: fake_athens has 5 qubits, the grid's largest num_qubits is 6; choose a device"),
    (["aer", {"type": "aer"}], r"is listed twice"),
    ({"type": "gpu"}, r"backend.type: got 'gpu'; allowed: statevector, aer, ibm"),
    ([{"type": "ibm", "device": "ibm_x", "shots": 1}, {"type": "ibm", "device": "ibm_x", "mode": "job"}],
     r"device ibm_x appears with different channel/instance/mode"),
])
def test_bad_backends_are_reported_with_their_field(backend, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({**TINY, "num_qubits": [2, 6], "backend": backend})


def test_evaluation_backend_and_shots():
    cfg = validate_config({**TINY, "evaluation": {"backend": {"type": "aer", "shots": 300}}})
    assert cfg["evaluation"] == {"backend": {"type": "aer", "shots": 300, "noise_model": None}, "shots": 300,
                                 "all_cells": False}
    cfg = validate_config({**TINY, "evaluation": {"backend": "aer", "shots": 50}})
    assert cfg["evaluation"]["shots"] == cfg["evaluation"]["backend"]["shots"] == 50
    assert validate_config({**TINY, "evaluation": {"backend": "aer"}})["evaluation"]["shots"] == 10000
    with pytest.raises(ConfigError, match="evaluation.backend: statevector is exact"):
        validate_config({**TINY, "evaluation": {"backend": "statevector"}})


class _SpyBatch(qiskit_ibm_runtime.Batch):
    opened: ClassVar[list] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.closed = False
        _SpyBatch.opened.append(self)

    def close(self):
        self.closed = True
        super().close()


def test_ibm_path_trains_in_a_batch_in_local_testing_mode(tmp_path, monkeypatch):
    """A fake device as the runtime's mode: SamplerV2 inside a Batch, as on a real device; one call per step."""
    monkeypatch.setattr(qiskit_ibm_runtime, "Batch", _SpyBatch)
    _SpyBatch.opened.clear()
    (cell,) = _cells({**TINY, "backend": {"type": "ibm", "device": "fake_manila", "shots": 200}})
    result = train_cell(cell=cell, out=tmp_path)
    assert len(_SpyBatch.opened) == 1 and _SpyBatch.opened[0].closed
    stored = read_result(tmp_path / f"{cell.id}.json")
    quantum, steps = stored["quantum"], stored["training"]["steps"]
    assert steps == 8 * (stored["training"]["training_set_size"] // 64) == 24  # 8 epochs of 3 steps
    executions = steps * 2 * (2 * 4 + 1)  # steps x runs x (2P + 1), P = 4
    assert quantum["sampler_calls"] == steps and quantum["circuit_executions"] == executions
    assert quantum["shots"] == executions * 200 and quantum["device"] == "fake_manila"
    machine = cell_best_machine(result=result, metric="relative_entropy")  # the stored distribution is exact
    assert abs(machine.probabilities().sum() - 1) < 1e-12


def test_a_real_device_is_looked_up_with_the_routing_and_no_token(tmp_path, monkeypatch):
    """Everything but the service lookup is the local-mode path: stub the service, check what it was given."""
    calls = []

    class Service:
        def __init__(self, **kwargs):
            calls.append(kwargs)

        def backend(self, name):
            calls.append(name)
            return backends._fresh_fake("fake_manila")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Service)
    monkeypatch.setenv("QISKIT_IBM_TOKEN", "secret-token-never-logged")
    spec, _ = backends.normalize({"type": "ibm", "device": "ibm_torino", "shots": 10}, where="backend")
    with backends.open_sampler(spec, routing={"channel": "ibm_cloud", "instance": "crn:x", "mode": "job"}) as s:
        isa = s.transpile(_bell(), seed=1)
        (counts,) = s.counts([(isa, np.zeros((1, 0)))], shots=10, seed=1)
    assert calls == [{"channel": "ibm_cloud", "instance": "crn:x"}, "ibm_torino"]
    assert counts.sum() == 10


def _bell():
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    return qc


def test_unreachable_device_says_how_to_set_up_an_account(monkeypatch):
    class Service:
        def __init__(self, **kwargs):
            raise qiskit_ibm_runtime.accounts.AccountNotFoundError("Unable to find account.")

    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Service)
    spec, _ = backends.normalize({"type": "ibm", "device": "ibm_torino"}, where="backend")
    with pytest.raises(backends.BackendError, match="save_account.*QISKIT_IBM_TOKEN"), backends.open_sampler(spec):
        pass


def test_evaluation_on_backends(tmp_path):
    """Ideal Aer samples match the exact distribution within shot noise (so bit order and decoding are right);
    a fake device's noise model and the IBM local mode give scores too; the table adds device columns."""
    cells = _cells({**TINY, "initializations": [{"type": "uniform"}, {"type": "random"}]})
    results = train_cells(cells=cells, out=tmp_path)
    machines = [cell_best_machine(result=r, metric="relative_entropy") for r in results]
    shots = 20000
    ideal = evaluate_machines(machines=machines, spec=backends.normalize("aer", where="e")[0], shots=shots, seed=1)
    for machine, row in zip(machines, ideal):
        p = machine.probabilities()
        assert np.all(np.abs(np.array(row["counts"]) / shots - p) < 5 * np.sqrt(p * (1 - p) / shots) + 1e-12)
        assert row["kl_device"] == pytest.approx(row["kl_run"], abs=0.02) and row["device_shots"] == shots
    noisy = evaluate_machines(machines=machines, spec={"type": "aer", "shots": shots, "noise_model": "fake_manila"},
                              shots=shots, seed=1)
    local = evaluate_machines(machines=machines[:1], spec=backends.normalize(
        {"type": "ibm", "device": "fake_manila"}, where="e")[0], shots=2000, seed=1)
    assert all(n["device_depth"] > i["device_depth"] for n, i in zip(noisy, ideal))  # native gates and routing
    assert local[0]["device"] == "fake_manila" and sum(local[0]["counts"]) == 2000
    table = device_table(statistics(run_table(results=results)), noisy)
    assert len(table) == 2 and {"kl_mean", "kl_device", "ks_device", "device_shots"} <= set(table.columns)
    assert isinstance(table, pd.DataFrame) and set(table["cell"]) == {c.id for c in cells}


def test_calls_beyond_the_ibm_job_limit_are_split_by_rows():
    """IBM accepts at most 10M executions x shots per Sampler job; larger calls become several jobs."""
    spec, _ = backends.normalize({"type": "ibm", "device": "fake_manila"}, where="backend")
    circuit = QuantumCircuit(2, name="flip")
    circuit.ry(Parameter("a"), 0)
    with backends.open_sampler(spec) as sampler:
        assert sampler.max_job_shots == 10_000_000
        isa = sampler.transpile(circuit, seed=1)
        sampler.max_job_shots = 3 * 2 * 50  # three rows of (2 sets x 50 shots) per job
        values = [np.zeros((4, 2, 1)), np.full((2, 2, 1), np.pi)]
        counts = sampler.counts([(isa, v) for v in values], shots=50, seed=1)
    assert [c.shape for c in counts] == [(4, 2, 4), (2, 2, 4)] and all((c.sum(-1) == 50).all() for c in counts)
    assert sampler.usage["sampler_calls"] == 2 and sampler.usage["circuit_executions"] == 12
    assert (counts[0][..., 0] > 40).all() and (counts[1][..., 1] > 40).all()  # rows stay with their values


def test_shipped_hardware_config_selects_each_kind_of_backend():
    from pathlib import Path

    from autoqml.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "hardware.yaml")
    study = Study(cfg)
    assert len(study.cells) == 8 and not study.skipped
    assert {backends.label(c.params["backend"]) for c in study.cells.values()} == {"statevector",
                                                                                  "aer500+fake_manila"}
    assert cfg["evaluation"]["backend"]["device"] == "fake_manila" and backends.is_local(cfg["evaluation"]["backend"])
    assert study.device_files and study.total_cost().shots == 35_232_000
