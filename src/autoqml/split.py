"""Held-out data: a distribution's values split into training, validation and test parts.

The paper's Definition 1 (arXiv:2202.08024) scores a model on D_test, not on the data it trained on. A config
``split`` (of a distribution, or of the study for every distribution) holds ``validation`` and ``test``
fractions and ``block_days``:

* a csv with timestamps is split by whole days: day d belongs to block floor((d - first day) / block_days), so
  every block is ``block_days`` consecutive calendar days (day-ahead prices are autocorrelated: a random day
  between two training days would leak its neighbours' prices), and a seeded draw assigns round(fraction x
  blocks) blocks, at least one, to validation, as many to test, the rest to training;
* a csv without timestamps is split the same way in blocks of ``block_days`` consecutive rows;
* a parametric distribution trains on its ``samples`` draws (the same as without a split) and draws
  round(fraction x samples) independent values for validation and for test, each from its own seed stream.

The grid and the training target come from the training part only (:func:`autoqml.data.training_values`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoqml.data import at_most_samples, csv_values, parametric_samples
from autoqml.errors import DataError

#: The held-out parts, in the order tables list them.
HELD_OUT = ("validation", "test")
#: Spawn keys of the split's draws (block permutation; parametric validation and test draws).
_STREAMS = {"blocks": 11, "validation": 12, "test": 13}


@dataclass(frozen=True)
class Parts:
    """The values of each part; ``days`` (csv with timestamps) the calendar days of each part's values."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    days: dict[str, np.ndarray] | None = None

    def held_out(self) -> dict[str, np.ndarray]:
        return {part: getattr(self, part) for part in HELD_OUT}


def split_parts(*, distribution: dict, seed: int) -> Parts:
    """The training, validation and test values of a config `distributions` entry that has a ``split``.

    The training part is capped at ``samples`` values (a seeded subset, as without a split); held-out parts are
    kept whole. Raises :class:`DataError` naming ``split`` when a part would be empty.
    """
    spec = distribution["split"]
    if distribution["kind"] != "csv":
        draws = {part: parametric_samples(kind=distribution["kind"], params=distribution["params"],
                                          samples=max(1, round(spec[part] * distribution["samples"])),
                                          seed=np.random.SeedSequence(spec["seed"], spawn_key=(_STREAMS[part],)))
                 for part in HELD_OUT}
        train = parametric_samples(kind=distribution["kind"], params=distribution["params"],
                                   samples=distribution["samples"], seed=seed)
        return Parts(train, draws["validation"], draws["test"])
    values, stamps = csv_values(distribution=distribution, with_times=True)
    units = (np.arange(values.size) if stamps is None
             else stamps.astype("datetime64[D]").astype(np.int64))
    part_of = _assign(units, spec, where=distribution["data_path"], per="rows" if stamps is None else "days")
    train = values[part_of == "train"]
    if np.unique(train).size < 2:
        raise DataError(f"split: the training days of {distribution['data_path']} hold fewer than two distinct "
                        f"values; lower split.validation and split.test, or use more data")
    days = None if stamps is None else {
        part: np.unique(stamps[part_of == part].astype("datetime64[D]")) for part in ("train", *HELD_OUT)}
    return Parts(at_most_samples(train, distribution=distribution, seed=seed),
                 values[part_of == "validation"], values[part_of == "test"], days)


def _assign(units: np.ndarray, spec: dict, *, where: str, per: str) -> np.ndarray:
    """The part ("train", "validation", "test") of every value, whole blocks of ``block_days`` units at a time."""
    blocks = (units - units.min()) // spec["block_days"]
    ids = np.unique(blocks)
    counts = {part: max(1, round(spec[part] * ids.size)) for part in HELD_OUT}
    if counts["validation"] + counts["test"] >= ids.size:
        raise DataError(f"split: {where} has {ids.size} block(s) of {spec['block_days']} {per}; validation "
                        f"{counts['validation']} and test {counts['test']} leave none for training: lower "
                        f"split.block_days or the fractions, or use more data")
    rng = np.random.default_rng(np.random.SeedSequence(spec["seed"], spawn_key=(_STREAMS["blocks"],)))
    order = rng.permutation(ids)
    label = dict.fromkeys(order[counts["validation"] + counts["test"]:].tolist(), "train")
    label.update(dict.fromkeys(order[:counts["validation"]].tolist(), "validation"))
    label.update(dict.fromkeys(order[counts["validation"]:counts["validation"] + counts["test"]].tolist(), "test"))
    return np.array([label[b] for b in blocks.tolist()])


def held_out_parts(*, distribution: dict, seed: int) -> dict[str, np.ndarray]:
    """Validation and test values of a distribution entry; empty when it has no ``split``."""
    if not distribution.get("split"):
        return {}
    return split_parts(distribution=distribution, seed=seed).held_out()


def summary(*, distribution: dict, seed: int) -> dict | None:
    """Values (and days) per part, for the data check's ``tables/data.json``; None without a split."""
    if not distribution.get("split"):
        return None
    parts = split_parts(distribution=distribution, seed=seed)
    out = {part: {"values": int(getattr(parts, part).size)} for part in ("train", *HELD_OUT)}
    for part, days in (parts.days or {}).items():
        out[part]["days"] = int(days.size)
    return out
