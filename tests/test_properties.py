"""Property-based tests (hypothesis) of the config loader and the grid.

Whatever a config holds, loading it either succeeds or raises the documented ConfigError (never a KeyError,
TypeError, ...); cell ids depend only on what the cells compute: not on key order, axis order or bookkeeping keys,
but on every training key. Examples are derandomized, so CI sees the same cases on every run.
"""

from __future__ import annotations

import copy
import itertools
import json
import random

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoqml.config import parse_text, schema, validate_config
from autoqml.errors import ConfigError
from autoqml.grid import _TRAINING_KEYS, expand

#: The CI profile: fixed examples (derandomize), no wall-clock deadline (the first call imports qiskit's fake
#: devices), no example database on disk; counts kept small so the file runs in well under 30 s.
settings.register_profile("autoqml-ci", deadline=None, derandomize=True, database=None, max_examples=150,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CI = settings.get_profile("autoqml-ci")

BASES = {
    "lognormal": {
        "distributions": [{"kind": "lognormal", "samples": 200}],
        "ansaetze": [{"type": "zoufal", "repetitions": [1, 2]}],
        "initializations": [{"type": "uniform"}, {"type": "random"}],
        "num_qubits": [2, 3],
        "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [1e-4], "betas": [0.9, 0.999]}},
        "optimizer": {"lr": [1e-3], "betas": [0.7, 0.99]},
    },
    "csv": {
        "name": "csv study",
        "distributions": [{"data_path": "data/DE.csv", "column": "Price", "hour": 0, "start": "2015-01-01",
                           "end": "2016-01-01", "samples": 400, "discretization": [0, 60]}],
        "ansaetze": [{"type": "herr1", "repetitions": [1]}],
        "initializations": ["normal"],
        "num_qubits": 3,
        "discriminator": [{"type": "custom_classical_2"}, {"type": "mine", "hparams": {"n_input": 4,
                                                                                    "n_hidden": [3]}}],
        "optimizer": {"lr": 1e-3},
        "seed": 5,
    },
}

#: Every place a user can put a value: each top-level key of the schema, and each key nested in the base configs.
PLACES = sorted(
    {(key,) for key in schema()["properties"]}
    | {("unknown_key",), ("distributions", 0), ("ansaetze", 0), ("initializations", 0), ("discriminator", 0),
       ("num_qubits", 0), ("optimizer", "lr", 0), ("optimizer", "betas", 1), ("ansaetze", 0, "repetitions", 0)}
    | {("distributions", 0, key) for key in schema()["properties"]["distributions"]["items"]["properties"]}
    | {("distributions", 0, "expect", key) for key in ("rows", "count", "mean", "other")}
    | {("distributions", 0, "params", key) for key in ("mu", "sigma", "other")}
    | {("distributions", 0, "discretization", 0)}
    | {("ansaetze", 0, key) for key in ("type", "repetitions", "other")}
    | {("initializations", 0, key) for key in ("type", "other")}
    | {("discriminator", 0, key) for key in ("type", "hparams", "other")}
    | {("discriminator", 0, "hparams", key) for key in ("lr", "n_input", "n_hidden", "betas", "other")}
    | {("optimizer", key) for key in ("lr", "betas", "other")},
    key=str,
)

NAMES = st.sampled_from(["type", "lr", "zoufal", "uniform", "optimal", "csv", "2015-01-01", "yes", "fake_montreal",
                         "custom_classical_1", "relative entropy", "entropy curve", "", "\x00", "2016-01-01"])
#: Values that broke or fooled the loader before (NaN, inf, 2.0 for an integer, huge numbers, booleans, ...).
NASTY = st.sampled_from([float("nan"), float("inf"), -float("inf"), 2.0, 512.0, 0, -1, 1, 2, True, False, None, 10**400,
                         1e308, -1e308, 5e-324, [], {}, [0, 0], [1, 1], [0.9, 1.0], [5, 5], [2, 1], "1e-3", "3"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12) | NAMES | NASTY)
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8) | NAMES, inner, max_size=4), max_leaves=12)
#: What a field gets: mostly single values (the common mistakes), then short lists, then any nesting.
VALUES = st.one_of(NASTY, SCALARS, st.lists(SCALARS | NASTY, max_size=3), JSONISH)


def _put(raw: dict, place: tuple, value) -> dict:
    """`raw` with `value` at `place`; containers on the way are created or coerced as needed."""
    raw = copy.deepcopy(raw)
    node = raw
    for here, nxt in itertools.pairwise(place):
        if isinstance(node, dict):
            child = node.get(here)
        else:
            child = node[here] if here < len(node) else None
        if isinstance(nxt, int):
            child = child if isinstance(child, list) and child else [child if child is not None else {}]
        else:
            child = child if isinstance(child, dict) else {}
        node[here] = child
        node = child
    last = place[-1]
    if isinstance(node, list):
        node[min(last, len(node) - 1)] = value
    else:
        node[last] = value
    return raw


def _load(raw) -> list:
    """validate_config then expand; only ConfigError may escape."""
    return expand(validate_config(raw, source="fuzz.yaml"))


@pytest.mark.parametrize("place", PLACES, ids=lambda place: ".".join(map(str, place)))
@settings(CI, max_examples=25)
@given(base=st.sampled_from(sorted(BASES)), value=VALUES)
def test_any_value_anywhere_gives_a_config_or_a_config_error(place, base, value):
    try:
        cells = _load(_put(BASES[base], place, value))
    except ConfigError as err:
        message = str(err)
        assert message.startswith("fuzz.yaml: ") and "\n  - " in message  # one line per problem, after the file
        return
    assert cells and all(len(cell.id) == 12 for cell in cells)
    for cell in cells:
        _assert_trainable(cell.params)


def _assert_trainable(p: dict) -> None:
    """What training reads has the types it needs: plain finite JSON, true integers, a real grid range."""
    json.dumps(p, allow_nan=False)
    for key in ("reps", "num_qubits", *_TRAINING_KEYS[:4], "log_every"):
        assert type(p[key]) is int and p[key] >= 0, key
    assert 1 <= p["num_qubits"] <= 20 and p["reps"] >= 1 and p["num_epochs"] >= 1
    disc, opt = p["discriminator"], p["optimizer"]
    assert type(disc["n_input"]) is int and all(type(w) is int and w >= 1 for w in disc["n_hidden"])
    for lr, betas in ((disc["lr"], disc["betas"]), (opt["lr"], opt["betas"])):
        assert 0 < lr <= 10 and len(betas) == 2 and all(0 <= b < 1 for b in betas)
    dist = p["distribution"]
    if isinstance(dist["discretization"], list):
        low, high = dist["discretization"]
        assert low < high
    assert isinstance(dist["samples"], int) and dist["samples"] >= 2


@CI
@given(raw=st.dictionaries(st.sampled_from(sorted(schema()["properties"])) | st.text(max_size=6), JSONISH,
                           max_size=8) | JSONISH)
def test_any_document_gives_a_config_or_a_config_error(raw):
    try:
        _load(raw)
    except ConfigError:
        pass


@CI
@given(text=st.text(max_size=80) | st.sampled_from([
    "a: !!float abc", "a: !!int x", "a: !!timestamp foo", "? [1, 2]\n: 3", "{1: 2, a: 3}", "[[[[[[", "a: &x [*x]",
    '{"a": NaN, "a": Infinity}', "num_qubits: 3\nnum_qubits: 4", "- 1\n- 2", "", "   ", "\x00", "{'a': }",
]), suffix=st.sampled_from([".yaml", ".json", ".txt"]))
def test_any_text_parses_or_gives_a_config_error(text, suffix):
    try:
        _load(parse_text(text, source=f"fuzz{suffix}"))
    except ConfigError:
        pass


@CI
@given(place=st.sampled_from(PLACES), value=VALUES)
def test_json_and_yaml_texts_of_a_config_load_alike(place, value):
    """The same config written as JSON and as YAML: the same cells, or a ConfigError from both."""
    raw = _put(BASES["csv"], place, value)
    outcomes = []
    for text, suffix in ((json.dumps(raw), ".json"), (yaml.safe_dump(raw), ".yaml")):
        try:
            outcomes.append(sorted(cell.id for cell in _load(parse_text(text, source=f"fuzz{suffix}"))))
        except ConfigError:
            outcomes.append("error")
    assert outcomes[0] == outcomes[1]


# --- cell ids ------------------------------------------------------------------------------------------------

AXES = ("distributions", "ansaetze", "initializations", "num_qubits", "discriminator")


@st.composite
def valid_configs(draw) -> dict:
    """Small valid grids over every axis."""
    kinds = draw(st.lists(st.sampled_from(["lognormal", "triangular", "bimodal"]), min_size=1, max_size=3,
                          unique=True))
    types = draw(st.lists(st.sampled_from(["zoufal", "vallecorsa", "herr1", "real_amplitudes"]), min_size=1,
                          max_size=3, unique=True))
    return {
        "distributions": [{"kind": kind, "samples": draw(st.integers(2, 500)),
                           "discretization": draw(st.sampled_from(["optimal", "minmax", [0, 10]]))}
                          for kind in kinds],
        "ansaetze": [{"type": t, "repetitions": draw(st.lists(st.integers(1, 4), min_size=1, max_size=3,
                                                              unique=True))} for t in types],
        "initializations": [{"type": t} for t in draw(st.lists(st.sampled_from(["uniform", "normal", "random"]),
                                                               min_size=1, max_size=3, unique=True))],
        "num_qubits": draw(st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True)),
        "discriminator": [{"type": t, "hparams": {"lr": draw(st.lists(st.sampled_from([1e-4, 1e-3, 0.01]),
                                                                      min_size=1, max_size=2, unique=True))}}
                          for t in draw(st.lists(st.sampled_from(["custom_classical_1", "custom_classical_2"]),
                                                 min_size=1, max_size=2, unique=True))],
        "optimizer": {"lr": draw(st.lists(st.sampled_from([1e-4, 1e-3, 0.005]), min_size=1, max_size=2,
                                          unique=True)),
                      "betas": [0.7, 0.99]},
        "batch_size": draw(st.integers(1, 1024)),
        "num_epochs": draw(st.integers(1, 3000)),
        "num_training_runs": draw(st.integers(1, 12)),
        "seed": draw(st.integers(0, 2**32 - 1)),
        "log_every": draw(st.integers(1, 50)),
    }


def _ids(raw: dict) -> list[str]:
    return [cell.id for cell in expand(validate_config(copy.deepcopy(raw)))]


def _shuffled(node, rng: random.Random, *, axes: bool):
    """Every mapping's keys in a random order; with `axes`, the grid axes' lists too (not betas or widths)."""
    if isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        out = {}
        for key, value in items:
            value = _shuffled(value, rng, axes=axes)
            if axes and isinstance(value, list) and key in (*AXES, "repetitions", "lr"):
                value = rng.sample(value, len(value))
            out[key] = value
        return out
    if isinstance(node, list):
        return [_shuffled(item, rng, axes=axes) for item in node]
    return node


@CI
@given(raw=valid_configs(), seed=st.integers(0, 2**16))
def test_ids_survive_key_and_axis_reordering(raw, seed):
    ids = _ids(raw)
    assert len(set(ids)) == len(ids)
    rng = random.Random(seed)
    assert _ids(_shuffled(raw, rng, axes=False)) == ids  # key order changes nothing, not even the cell order
    assert sorted(_ids(_shuffled(raw, rng, axes=True))) == sorted(ids)
    as_yaml = parse_text(yaml.safe_dump(_shuffled(raw, rng, axes=True)), source="c.yaml")
    assert sorted(_ids(as_yaml)) == sorted(ids)


@CI
@given(raw=valid_configs(), key=st.sampled_from(_TRAINING_KEYS), data=st.data())
def test_ids_change_when_a_training_key_changes(raw, key, data):
    before = set(_ids({**raw, "backend": "statevector"}))
    if key == "backend":  # one backend exists today; a second one must change every id too
        params = [cell.params for cell in expand(validate_config(copy.deepcopy(raw)))]
        from autoqml.grid import cell_id

        assert before.isdisjoint(cell_id({**p, "backend": "other"}) for p in params)
        return
    choices = {"discriminator_input": ["standardized", "raw"], "precision": ["float32", "float64"]}
    if key in choices:
        value = data.draw(st.sampled_from(choices[key]))
    else:
        value = data.draw(st.integers(0, 2**32 - 1) if key == "seed" else st.integers(1, 4000))
    defaults = {"discriminator_input": "standardized", "steps_per_epoch": "auto", "precision": "float32"}
    if value == raw.get(key, defaults.get(key)):
        return
    assert before.isdisjoint(_ids({**raw, key: value}))


@CI
@given(raw=valid_configs(), name=st.text(min_size=1, max_size=10).filter(str.strip), shards=st.integers(1, 50),
       figures=st.lists(st.sampled_from(["entropy_curve", "loss_curve", "qubit_scaling"]), unique=True),
       device=st.sampled_from(["fake_montreal", "fake_toronto", "FakeMontrealV2"]))
def test_ids_ignore_bookkeeping_keys(raw, name, shards, figures, device):
    changed = {**raw, "name": name, "goal": name, "n_containers": shards, "visualizations": figures,
               "device": device}
    assert _ids(changed) == _ids(raw)


@CI
@given(raw=valid_configs(), data=st.data())
def test_adding_an_axis_value_keeps_every_old_id(raw, data):
    more = copy.deepcopy(raw)
    extra = data.draw(st.integers(1, 8).filter(lambda n: n not in raw["num_qubits"]))
    more["num_qubits"].append(extra)
    old, new = set(_ids(raw)), set(_ids(more))
    assert old < new and len(new) == len(old) // len(raw["num_qubits"]) * len(more["num_qubits"])
