"""A training checkpoint: everything a batch of rows needs to continue training exactly where it stopped.

A :class:`TrainingState` is taken at an epoch boundary: the generator's parameters (and where they started), the
discriminator's weights, both optimizers' moments and step counts, each row's random stream, and the curves so
far. Continuing from it gives the numbers of
training straight through (tests/test_checkpoint.py), so a killed job loses at most the epochs since its last
checkpoint, and a search can train a setting a few epochs, look, and go on.

Every array is per row (rows first), so the state of a batch splits into its cells' states
(:meth:`TrainingState.select`) and cells' states stack into a batch (:meth:`TrainingState.stack`) whatever they were
batched with. Stored as one ``.npz`` (arrays, plus the JSON of the curves), written atomically.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from autoqml.errors import AutoQMLError
from autoqml.files import atomic_write

FORMAT = "autoqml.training-state"
VERSION = 2


class CheckpointError(AutoQMLError):
    """A stored training state cannot be used to continue this training; the message names the file and why."""


@dataclass
class TrainingState:
    """A batch of rows after ``epoch`` epochs (``steps`` optimizer steps). ``arrays`` are per row, rows first:
    ``theta0``, ``theta``, ``disc`` (flat weights), ``opt_d.<name>.<i>``, ``opt_g.<name>``, ``streams`` (each
    row's random stream). ``meta`` holds what all rows share (optimizer step counts); ``rows`` per row: seed and
    curves so far."""

    epoch: int
    steps: int
    arrays: dict[str, np.ndarray]
    meta: dict
    rows: list[dict] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [row["seed"] for row in self.rows]

    def select(self, index: list[int] | slice) -> TrainingState:
        """The state of some rows (e.g. one cell's runs out of a batch)."""
        picked = range(len(self.rows))[index] if isinstance(index, slice) else index
        picked = list(picked)
        arrays = {name: array[picked] for name, array in self.arrays.items()}
        return replace(self, arrays=arrays, rows=[self.rows[i] for i in picked])

    @classmethod
    def stack(cls, states: list[TrainingState]) -> TrainingState:
        """One state of several batches' rows; they must share epoch, steps and the shared bookkeeping."""
        first = states[0]
        for other in states[1:]:
            if (other.epoch, other.steps, other.meta) != (first.epoch, first.steps, first.meta):
                raise CheckpointError(f"states at epoch {first.epoch} (steps {first.steps}) and {other.epoch} "
                                      f"(steps {other.steps}) cannot continue as one batch")
            if other.arrays.keys() != first.arrays.keys():
                raise CheckpointError("states of different training setups cannot continue as one batch")
        arrays = {name: np.concatenate([s.arrays[name] for s in states]) for name in first.arrays}
        return replace(first, arrays=arrays, rows=[row for s in states for row in s.rows])


def save_state(path: str | Path, state: TrainingState, *, identity: dict) -> None:
    """Write `state` atomically; `identity` (what the state belongs to: cell id, format of the trainer) is stored
    and must match when it is loaded."""
    header = {"format": FORMAT, "version": VERSION, "identity": identity, "epoch": state.epoch,
              "steps": state.steps, "meta": state.meta, "rows": state.rows}
    buffer = io.BytesIO()
    np.savez(buffer, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **state.arrays)
    atomic_write(path, buffer.getvalue())


def load_state(path: str | Path, *, identity: dict) -> TrainingState:
    """Read a state written by :func:`save_state` for the same `identity`; anything else is a CheckpointError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(stored["__header__"].tobytes())
            arrays = {name: stored[name] for name in stored.files if name != "__header__"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not a readable training state ({err}); delete it to train from the start") \
            from None
    if (header.get("format"), header.get("version")) != (FORMAT, VERSION):
        raise CheckpointError(f"{path}: format {header.get('format')} v{header.get('version')}, this autoqml reads "
                              f"{FORMAT} v{VERSION}; delete it to train from the start")
    if header["identity"] != identity:
        raise CheckpointError(f"{path}: belongs to {header['identity']}, not {identity}; delete it to train from "
                              "the start")
    return TrainingState(header["epoch"], header["steps"], arrays, header["meta"], header["rows"])
