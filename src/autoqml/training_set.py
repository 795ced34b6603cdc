"""The training set of a cell: the values its real batches are drawn from, as grid indices, and its target.

qiskit's QGAN trains on an array of ``samples`` data values; an epoch shuffles and walks it
(:mod:`autoqml.batches`). Ours is built from a config ``distributions`` entry:

* its values (:func:`autoqml.data.training_values`): a parametric distribution's ``samples`` draws, or a CSV's
  rows (a seeded subset of ``samples`` when the file has more);
* the grid and the target come from those values (:func:`autoqml.data.grid_indices`); an explicit range drops the
  values outside it, as qiskit truncates;
* a CSV with fewer rows than ``samples`` (365 daily prices, ``samples: 20000`` in the paper's config) is drawn with
  replacement up to ``samples`` values, seeded and logged, so that an epoch has the paper's floor(samples /
  batch_size) steps. The target stays the histogram of the rows themselves, not of the resampled copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from autoqml.data import Grid, grid_indices, training_values

logger = logging.getLogger(__name__)

#: Spawn key of the resampling draw, so that it never shares a stream with the subset draw of the same seed.
_RESAMPLE_STREAM = 1


@dataclass(frozen=True)
class TrainingSet:
    """Grid, target probabilities P, and the grid index of every training value."""

    grid: Grid
    target: np.ndarray
    indices: np.ndarray


def training_set(*, distribution: dict, num_qubits: int, seed: int) -> TrainingSet:
    """The training set of one config `distributions` entry on `num_qubits` qubits (seeded by the study seed)."""
    values = training_values(distribution=distribution, seed=seed)
    grid, indices = grid_indices(samples=values, num_qubits=num_qubits, method=distribution["discretization"])
    target = np.bincount(indices, minlength=2**num_qubits).astype(np.float64) / indices.size
    samples = distribution["samples"]
    if distribution["kind"] == "csv" and len(values) < samples:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_RESAMPLE_STREAM,)))
        indices = indices[rng.integers(indices.size, size=samples)]
        logger.info("%s: %d values, fewer than samples: %d; the training set draws %d of them with replacement",
                    distribution["data_path"], len(values), samples, samples)
    return TrainingSet(grid, target, indices)
