"""Cells and their ids: stable under reordering and unrelated edits, new when training changes."""

import copy

import pytest

from autoqml.config import validate_config
from autoqml.errors import ConfigError
from autoqml.grid import expand, find

BASE = {
    "distributions": [{"kind": "lognormal", "samples": 500}, {"kind": "triangular", "samples": 500}],
    "ansaetze": [{"type": "zoufal", "repetitions": [1, 2]}, {"type": "herr1", "repetitions": [1]}],
    "initializations": [{"type": "uniform"}, {"type": "random"}],
    "num_qubits": [2, 3],
    "discriminator": [{"type": "custom_classical_1", "hparams": {"lr": [1e-4, 1e-3]}},
                      {"type": "custom_classical_2"}],
    "optimizer": {"lr": [1e-3, 1e-4]},
}


def _ids(raw: dict) -> set[str]:
    return {c.id for c in expand(validate_config(copy.deepcopy(raw)))}


def test_size_is_the_product_of_the_axes():
    assert len(_ids(BASE)) == 2 * 3 * 2 * 2 * 3 * 2


def test_ids_survive_reordering_and_unrelated_keys():
    shuffled = copy.deepcopy(BASE)
    for key in ("distributions", "ansaetze", "initializations", "num_qubits", "discriminator"):
        shuffled[key].reverse()
    shuffled["ansaetze"][1]["repetitions"].reverse()
    shuffled = dict(reversed(list(shuffled.items())))
    unrelated = {**BASE, "name": "other", "goal": "x", "n_containers": 7, "visualizations": ["entropy_curve"],
                 "device": "fake_toronto"}
    assert _ids(shuffled) == _ids(BASE) == _ids(unrelated)


def test_adding_a_value_adds_only_new_cells():
    more = copy.deepcopy(BASE)
    more["num_qubits"].append(4)
    assert _ids(BASE) < _ids(more) and len(_ids(more)) == len(_ids(BASE)) * 3 // 2


def test_changing_training_keys_changes_every_id():
    for key, value in (("num_epochs", 10), ("batch_size", 64), ("num_training_runs", 3), ("seed", 1)):
        assert _ids(BASE).isdisjoint(_ids({**BASE, key: value}))


def test_duplicate_combinations_are_refused():
    twice = copy.deepcopy(BASE)
    twice["ansaetze"].append({"type": "zoufal", "repetitions": [2]})
    with pytest.raises(ConfigError, match=r"ansaetze\[2\]\.repetitions: zoufal with k=2 is already in ansaetze\[0\]"):
        validate_config(twice)
    cfg = validate_config(copy.deepcopy(BASE))
    cfg["ansaetze"].append({"type": "zoufal", "repetitions": [2]})  # past validation: expand still refuses
    with pytest.raises(ConfigError, match="appears twice"):
        expand(cfg)


def test_find_by_prefix_and_labels():
    cells = expand(validate_config(copy.deepcopy(BASE)))
    cell = cells[5]
    assert find(cells, cell.id[:8]) is cell
    assert cell.label.startswith("lognormal zoufal k2 ") or " q" in cell.label
    with pytest.raises(ConfigError, match="matches no cell"):
        find(cells, "zzzz")
