"""Config loading: the paper's example as printed, our shipped configs, and one clear error per mistake."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from autoqml.config import load_config, parse_text, validate_config
from autoqml.errors import ConfigError
from autoqml.grid import expand

CONFIGS = Path(__file__).parent / "configs"
REPO = Path(__file__).resolve().parents[1]


def test_paper_example_loads_as_printed():
    """Section IV-A: repeated discriminator keys, a trailing comma, 'Random', 'relative entropy'."""
    cfg = load_config(CONFIGS / "paper_as_printed.json")
    assert [d["type"] for d in cfg["discriminator"]] == ["custom_classical_1", "custom_classical_2"]
    assert cfg["discriminator"][1]["hparams"]["n_hidden"] == [40, 10]
    assert [i["type"] for i in cfg["initializations"]] == ["uniform", "normal", "random"]
    assert cfg["metrics"] == "relative_entropy"
    assert cfg["visualizations"] == ["entanglement_histogram", "entropy_curve"]
    assert len(expand(cfg)) == 3 * 3 * 3 * 5 * 2 * 2 == 540


def test_shipped_paper_config_is_the_same_grid():
    shipped, printed = load_config(REPO / "config" / "paper.json"), load_config(CONFIGS / "paper_as_printed.json")
    strip = lambda cells: sorted(
        json.dumps({k: v for k, v in c.params.items() if k != "distribution"}, sort_keys=True) for c in cells)
    assert strip(expand(shipped)) == strip(expand(printed))


def test_defaults_are_filled_and_presets_applied():
    cfg = validate_config(_minimal())
    assert cfg["batch_size"] == 512 and cfg["num_epochs"] == 2000 and cfg["seed"] == 2022
    assert cfg["discriminator"][0]["hparams"] == {"lr": [0.0001], "betas": [0.9, 0.999], "n_input": 50,
                                                  "n_hidden": [20]}
    assert cfg["distributions"][0]["discretization"] == "optimal" and cfg["study"] == "study"


def test_yaml_and_scalars_for_axes(tmp_path):
    raw = _minimal()
    raw["num_qubits"] = 4
    raw["optimizer"]["lr"] = 0.01
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert cfg["num_qubits"] == [4] and cfg["optimizer"]["lr"] == [0.01]


def _minimal() -> dict:
    return {
        "distributions": [{"kind": "lognormal", "samples": 1000}],
        "ansaetze": [{"type": "zoufal", "repetitions": [1]}],
        "initializations": [{"type": "uniform"}],
        "num_qubits": [3],
        "discriminator": {"type": "custom_classical_1"},
        "optimizer": {"lr": [0.001]},
    }


def _with(path: str, value) -> dict:
    raw = copy.deepcopy(_minimal())
    node = raw
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[int(last) if last.isdigit() else last] = value
    return raw


@pytest.mark.parametrize(("path", "value", "message"), [
    ("ansaetze.0.type", "zoufall", r"ansaetze\[0\]\.type: got 'zoufall'; allowed: .*did you mean 'zoufal'"),
    ("initializations.0.type", "gaussian", r"initializations\[0\]\.type: got 'gaussian'; allowed: uniform"),
    ("num_qubits", [0], r"num_qubits\[0\]: got 0; must be >= 1"),
    ("num_qubits", [40], r"num_qubits\[0\]: got 40; must be <= 20"),
    ("num_epochs", 0, r"num_epochs: got 0; must be >= 1"),
    ("batch_size", -5, r"batch_size: got -5; must be >= 1"),
    ("optimizer.lr", [0.0], r"optimizer\.lr\[0\]: got 0\.0; must be > 0"),
    ("optimizer.betas", [0.9, 1.0], r"optimizer\.betas\[1\]: got 1\.0; must be < 1"),
    ("optimizer.betas", [-0.1, 0.9], r"optimizer\.betas\[0\]: got -0\.1; must be >= 0"),
    ("num_trainig_runs", 3, r"num_trainig_runs: unknown key; did you mean 'num_training_runs'"),
    ("num_qubits", [3, 3], r"num_qubits: got \[3, 3\]; values repeat"),
    ("ansaetze", [], r"ansaetze: got \[\]; needs at least 1"),
    ("batch_size", "512", r"batch_size: got '512' \(str\); expected integer"),
    ("distributions.0.kind", "csv", r"distributions\[0\]\.data_path: required for a csv distribution"),
    ("distributions.0.discretization", [3, 1], r"distributions\[0\]\.discretization: .* needs low < high"),
    ("device", "fake_montral", r"device: unknown fake IBM backend 'fake_montral'; did you mean fake_montreal"),
])
def test_bad_input_names_field_value_and_fix(path, value, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_with(path, value), source="my.yaml")


def test_every_problem_is_reported_at_once():
    raw = _with("num_epochs", 0)
    raw["batch_size"] = 0
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as err:
        validate_config(raw)
    assert "num_epochs" in str(err.value) and "batch_size" in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": ')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listing)


# --- YAML read like the paper's JSON: repeated keys kept, dates as written ------------------------------------

GRID_YAML = """\
distributions: [{kind: lognormal, samples: 1000}]
ansaetze: [{type: zoufal, repetitions: [1]}]
initializations: [uniform]
num_qubits: [3]
"""


def test_yaml_with_the_papers_repeated_discriminator_keys_gives_both(tmp_path):
    """A plain YAML reader keeps only the last `type`/`hparams`: one discriminator silently lost."""
    path = tmp_path / "c.yaml"
    path.write_text(GRID_YAML + "optimizer: {lr: [0.001]}\n"
                    "discriminator:\n  type: custom_classical_1\n  hparams: {lr: [0.0001]}\n"
                    "  type: custom_classical_2\n  hparams: {lr: [0.0001], n_hidden: [40, 10], n_input: 50}\n")
    cfg = load_config(path)
    assert [d["type"] for d in cfg["discriminator"]] == ["custom_classical_1", "custom_classical_2"]


def test_yaml_merge_keys_override_without_counting_as_repeats(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(GRID_YAML + "optimizer: &adam {lr: [0.01], betas: [0.5, 0.9]}\n"
                    "discriminator:\n  type: custom_classical_1\n  hparams:\n    <<: *adam\n    lr: [0.02]\n")
    hparams = load_config(path)["discriminator"][0]["hparams"]
    assert hparams["lr"] == [0.02] and hparams["betas"] == [0.5, 0.9]


def test_unquoted_yaml_dates_are_the_text_written(tmp_path):
    quoted, bare = tmp_path / "q.yaml", tmp_path / "b.yaml"
    rest = GRID_YAML.split("\n", 1)[1] + "discriminator: {type: custom_classical_1}\noptimizer: {lr: [0.001]}\n"
    entry = "distributions: [{{data_path: x.csv, start: {0}2015-01-01{0}, end: {0}2016-01-01{0}}}]\n"
    quoted.write_text(entry.format('"') + rest)
    bare.write_text(entry.format("") + rest)
    assert load_config(bare)["distributions"][0]["start"] == "2015-01-01"
    assert [c.id for c in expand(load_config(bare))] == [c.id for c in expand(load_config(quoted))]


@pytest.mark.parametrize(("text", "message"), [
    ("a: !!float abc", r"not valid YAML or JSON \(could not convert string to float: 'abc'\); fix the syntax"),
    ("a: !!int x", r"not valid YAML or JSON \(invalid literal"),
    ("? [1, 2]\n: 3", r"not valid YAML or JSON \(found a key that is a list or mapping at line 1 column 3"),
    ("[" * 5000, r"not valid YAML or JSON|nested too deeply"),
])
def test_exotic_yaml_is_a_config_error(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.parametrize(("path", "value", "message"), [
    ("num_epochs", 100.0, r"num_epochs: got 100\.0 \(float\); expected integer; write a whole number"),
    ("num_qubits", [True], r"num_qubits\[0\]: got True \(bool\); expected integer; write a number, not true/false"),
    ("optimizer.lr", [float("nan")], r"optimizer\.lr\[0\]: got nan; NaN and infinite values are not allowed"),
    ("distributions.0.discretization", [0, float("inf")], r"distributions\[0\]\.discretization\[1\]: got inf"),
    ("distributions.0.discretization", [-1e308, 1e308], r"the range is too wide to compute with"),
    ("distributions.0.params", {"mu": 10**400}, r"params\.mu: 1000.* is not a finite number"),
    ("distributions.0.params", {"sigma": -1}, r"distributions\[0\]\.params\.sigma: -1 must be positive"),
    ("distributions.0.hour", 3, r"distributions\[0\]\.hour: only csv distributions read files; remove hour"),
    ("initializations", ["uniform", "UNIFORM"],
     r"initializations\[1\]\.type: 'uniform' is already initializations\[0\]"),
    ("seed", {"a": 1}, r"seed: got \{'a': 1\} \(dict\); expected integer"),
])
def test_values_that_were_accepted_or_crashed_before(path, value, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(_with(path, value), source="my.yaml")


def test_keys_must_be_text_and_must_not_repeat():
    with pytest.raises(ConfigError, match=r"<top level>: key 1 \(int\) is not a name; write keys as text"):
        validate_config({**_minimal(), 1: "x"})
    text = json.dumps({**_minimal(), "optimizer": "X"}).replace('"X"', '{"lr": [0.1], "lr": [0.2]}')
    with pytest.raises(ConfigError, match=r"optimizer\.lr: appears more than once in one mapping; write it once"):
        validate_config(parse_text(text))


def test_deep_nesting_is_a_config_error():
    deep = "[" * 950 + "]" * 950
    with pytest.raises(ConfigError, match="nested too deeply"):
        validate_config(parse_text('{"goal": ' + deep + "}", source="c.json"))
