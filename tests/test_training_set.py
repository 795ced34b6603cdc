"""The training set: the paper's `samples` values, drawn from the rows when a CSV has fewer; target from the rows."""

import logging

import numpy as np

from autoqml.data import discretize, load_csv
from autoqml.training_set import training_set


def _csv(path, samples):
    return {"kind": "csv", "name": "epex", "data_path": str(path), "samples": samples, "discretization": "optimal"}


def test_fewer_rows_than_samples_are_drawn_with_replacement_and_logged(epex_h00, caplog):
    caplog.set_level(logging.INFO, logger="autoqml")
    data = training_set(distribution=_csv(epex_h00, 20000), num_qubits=5, seed=7)
    grid, target = discretize(samples=load_csv(path=epex_h00), num_qubits=5, method="optimal")
    assert data.indices.size == 20000 and data.grid == grid
    assert np.array_equal(data.target, target), "the target is the rows' histogram, not the resampled copy"
    assert set(np.unique(data.indices)) == set(np.flatnonzero(target))
    resampled = np.bincount(data.indices, minlength=32) / 20000
    assert np.abs(resampled - target).max() < 0.01  # 365 rows, ~55 copies each
    assert "draws 20000 of them with replacement" in caplog.text
    again = training_set(distribution=_csv(epex_h00, 20000), num_qubits=5, seed=7)
    other = training_set(distribution=_csv(epex_h00, 20000), num_qubits=5, seed=8)
    assert np.array_equal(data.indices, again.indices) and not np.array_equal(data.indices, other.indices)


def test_more_rows_than_samples_give_a_subset_without_repeats(epex_hourly):
    data = training_set(distribution=_csv(epex_hourly, 1000), num_qubits=4, seed=1)
    assert data.indices.size == 1000
    assert np.array_equal(np.bincount(data.indices, minlength=16) / 1000, data.target)


def test_an_explicit_range_keeps_the_draws_inside_it():
    lognormal = {"kind": "lognormal", "name": "ln", "params": {}, "samples": 5000, "discretization": [0, 7]}
    data = training_set(distribution=lognormal, num_qubits=3, seed=1)
    assert 4000 < data.indices.size < 5000  # qiskit truncates: no resampling of a parametric distribution
    assert np.array_equal(np.bincount(data.indices, minlength=8) / data.indices.size, data.target)
