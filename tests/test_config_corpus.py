"""The corpus of malformed configs in tests/configs/bad: each is refused before anything trains, with a message
that names the field path and says what to write instead, both by the library and by `autoqml validate`.

A YAML case states its expectation on its first line, ``# expect: <field path> | <regex>``, and may name a data
file on the second, ``# data: <name>`` (written from DATA as ``prices.csv`` into a temporary working directory,
so no data file lives in the repository). JSON has no comments: its expectations are in JSON_EXPECT. The field
path ``<file>`` means a whole-file problem, reported against the config file itself.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autoqml import cli
from autoqml.config import load_config
from autoqml.data import check_distributions
from autoqml.errors import AutoQMLError, ConfigError, DataError
from autoqml.grid import expand

BAD = Path(__file__).parent / "configs" / "bad"

JSON_EXPECT = {
    "paper_typo_num_qubit.json": ("num_qubit", r"unknown key; did you mean 'num_qubits'\?$"),
    "paper_typo_ansatze.json": ("ansatze", r"unknown key; did you mean 'ansaetze'\?$"),
    "paper_typo_initialization.json": ("initializations[2].type",
                                       r"got 'randm'; allowed: uniform, normal, random \(did you mean 'random'\?\)"),
    "paper_typo_n_hiden.json": ("discriminator[0].hparams.n_hiden", r"unknown key; did you mean 'n_hidden'\?"),
    "paper_typo_visualization.json": ("visualizations[1]",
                                      r"got 'entropy_curv'; allowed: .* \(did you mean 'entropy_curve'\?\)"),
    "paper_typo_missing_comma.json": ("<file>", (r"not valid JSON \(Expecting ',' delimiter at line 29 column 1\); "
                                                 r"fix the syntax there")),
    "paper_typo_lr_string.json": ("optimizer.lr[0]", r"got '1e-3' \(str\); expected number; write the number without"),
    "paper_typo_qubits_40.json": ("num_qubits[4]", r"got 40; must be <= 20"),
    "paper_backslash_path.json": ("distributions[0].data_path", (r"no file \\qGAN\\data\\eon_midnight\.csv \(write "
                                                                 r"the path with / separators, not \\\); set data_path")),
    "paper_discriminator_half_group.json": ("discriminator", (r"its keys repeat, but not in complete groups like the "
                                                              r"paper's .*got groups type, hparams / type; write a list")),
    "paper_repeated_optimizer_key.json": ("optimizer.lr", r"appears more than once in one mapping; write it once"),
    "paper_repeated_top_level_key.json": ("num_epochs", r"appears more than once in one mapping; write it once"),
    "paper_nan_lr.json": ("optimizer.lr[0]", r"got nan; NaN and infinite values are not allowed; write a finite"),
    "paper_infinite_seed.json": ("seed", r"got inf; NaN and infinite values are not allowed; write a finite number"),
    "json_infinity_discretization.json": ("distributions[0].discretization[1]",
                                          r"got inf; NaN and infinite values are not allowed"),
    "json_empty_distributions.json": ("distributions", r"got \[\]; needs at least 1 item\(s\); add a value"),
    "json_wrong_nesting_optimizer_list.json": ("optimizer", (r"got \[\{'lr': \[0\.001\]\}\] \(list\); expected "
                                                             r"object; write a mapping of keys to values")),
    "json_not_an_object.json": ("<file>", r"the config must be a mapping of keys to values, got list"),
}

_DAYS = [f"2015-01-{day:02d}" for day in range(1, 8)]
#: Data files of the data cases, written as prices.csv (text is UTF-8 unless given as bytes).
DATA: dict[str, str | bytes] = {
    "good": "date,price\n" + "".join(f"{d},{v}\n" for d, v in zip(_DAYS, (3.5, 1.0, 2.25, 7.0, 1.0, 4.5, 0.5))),
    "semicolon": "date;price\n2015-01-01;25,02\n2015-01-02;-12,11\n",
    "decimal_commas": "date,price\n2015-01-01,25,02\n2015-01-02,-12,11\n",
    "missing_value": "date,price\n2015-01-01,1.5\n2015-01-02,2\n2015-01-03,\n2015-01-04,3\n",
    "non_numeric": "date,price\n2015-01-01,1\n2015-01-02,2\n2015-01-03,3\n2015-01-04,12 EUR\n2015-01-05,5\n",
    "infinite": "date,price\n2015-01-01,1\n2015-01-02,inf\n2015-01-03,3\n",
    "single_value": "date,price\n2015-01-01,25.02\n",
    "all_equal": "date,price\n" + "".join(f"{d},25\n" for d in _DAYS[:5]),
    "hourly_constant_midnight": "timestamp,price\n" + "".join(
        f"{d}T00:00:00,7\n{d}T01:00:00,{v}\n" for d, v in zip(_DAYS[:3], (1, 2, 3))),
    "duplicate_timestamps": "date,price\n2015-01-01,1\n2015-01-02,2\n2015-01-02,2\n2015-01-03,3\n",
    "utf16": ("date,price\n2015-01-01,1\n2015-01-02,2\n").encode("utf-16"),
    "latin1": ("date,Preis für DE\n2015-01-01,1\n2015-01-02,2\n").encode("latin-1"),
    "empty": "",
    "header_only": "date,price\n",
    "no_timestamps": "price\n1\n2\n3\n",
    "duplicate_columns": "date,price,price\n2015-01-01,1,9\n2015-01-02,2,8\n2015-01-03,3,7\n",
}

#: Every message line must say what to do, not only what is wrong.
FIX = re.compile(r"did you mean|must be|write|set |add |remove|list |use |allowed|save it|give |move it|fill|replace|"
                 r"choose|quote|point |fetch|needs")


def _cases() -> list[Path]:
    return sorted(path for path in BAD.iterdir() if path.suffix in (".yaml", ".json"))


def _expectation(path: Path) -> tuple[str, str, str | None]:
    """(field path, message regex, data name) of one corpus file."""
    if path.suffix == ".json":
        return (*JSON_EXPECT[path.name], None)
    lines = path.read_text().splitlines()
    field, regex = re.fullmatch(r"# expect: (.+?) \| (.+)", lines[0]).groups()
    data = re.fullmatch(r"# data: (\w+)", lines[1]).group(1) if lines[1:2] and lines[1].startswith("# data:") else None
    return field, regex, data


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """An empty working directory: relative data paths in the corpus resolve here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _prepare(case: Path, workdir: Path) -> tuple[str, str]:
    """Write the case's data file, if any; return (field path, regex)."""
    field, regex, data = _expectation(case)
    if data is not None:
        content = DATA[data]
        (workdir / "prices.csv").write_bytes(content if isinstance(content, bytes) else content.encode())
    return field, regex


def validate(path: Path) -> None:
    """What `autoqml validate` does: load, expand the grid, load and discretize the data."""
    cfg = load_config(path)
    expand(cfg)
    check_distributions(distributions=cfg["distributions"], num_qubits=cfg["num_qubits"], seed=cfg["seed"],
                        batch_size=cfg["batch_size"])


def _assert_names_field_and_fix(message: str, case: Path, field: str, regex: str) -> None:
    if field == "<file>":
        assert message.startswith(f"{case}: "), message
        assert re.search(regex, message), f"{regex!r} not in {message!r}"
        return
    lines = [line.removeprefix("  - ") for line in message.splitlines()]
    mine = [line for line in lines if line.startswith(f"{field}: ")]
    assert mine, f"no line of the message starts with {field!r}:\n{message}"
    assert any(re.search(regex, line) for line in mine), f"{regex!r} matches no line of\n{message}"
    for line in lines[1:] if lines[0].startswith(f"{case}: ") else lines:
        assert FIX.search(line), f"this line does not say how to fix it: {line!r}"


def test_the_corpus_is_large_and_every_case_states_its_expectation():
    cases = _cases()
    assert len(cases) >= 30 and {path.suffix for path in cases} == {".yaml", ".json"}
    assert sorted(JSON_EXPECT) == sorted(path.name for path in cases if path.suffix == ".json")
    for case in cases:
        field, regex, data = _expectation(case)
        re.compile(regex)
        assert field == "<file>" or re.fullmatch(r"(<top level>|[a-z_]+)(\[\d+\]|\.[a-z_]+)*", field), case.name
        assert data is None or data in DATA, case.name
        assert len(case.read_bytes()) < 2000, f"{case.name}: keep corpus files small"


@pytest.mark.parametrize("case", _cases(), ids=lambda path: path.name)
def test_library_refuses_with_field_path_and_fix(case, workdir):
    field, regex = _prepare(case, workdir)
    with pytest.raises(AutoQMLError) as caught:
        validate(case)
    assert type(caught.value) in (ConfigError, DataError)
    message = str(caught.value)
    if isinstance(caught.value, ConfigError) and field != "<file>":
        assert message.startswith(f"{case}: ") and "fix them in the config" in message.splitlines()[0]
    _assert_names_field_and_fix(message, case, field, regex)


@pytest.fixture
def isolated_cli():
    """cli.main configures logging and the excepthook for a whole process; undo that after each in-process call."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("autoqml").level, sys.excepthook)
    yield cli.main
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("autoqml").setLevel(saved[2])
    sys.excepthook = saved[3]


@pytest.mark.parametrize("case", _cases(), ids=lambda path: path.name)
def test_cli_validate_exits_1_with_the_message_and_no_traceback(case, workdir, isolated_cli, capsys):
    field, regex = _prepare(case, workdir)
    assert isolated_cli(["validate", str(case)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    message = err.split("error: ", 1)[1].rstrip("\n")
    _assert_names_field_and_fix(message, case, field, regex)


@pytest.mark.parametrize("name", ["paper_typo_num_qubit.json", "nan_betas.yaml", "data_semicolon.yaml",
                                  "syntax_error.yaml"])
def test_cli_in_a_real_process(name, workdir):
    """The installed `autoqml` command: exit status 1, one message on stderr, nothing on stdout, no traceback."""
    case = BAD / name
    field, regex = _prepare(case, workdir)
    done = subprocess.run([sys.executable, "-m", "autoqml.cli", "validate", str(case)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
    _assert_names_field_and_fix(done.stderr.removeprefix("error: ").rstrip("\n"), case, field, regex)


# --- what is accepted on purpose ------------------------------------------------------------------------------


def test_batch_larger_than_the_data_is_valid_and_logged(workdir, epex_h00, caplog):
    """Real batches are drawn with replacement from the target histogram, so batch_size 512 on the 365 midnight
    prices (the default study and the paper's acceptance cell) is a valid choice: logged, not refused."""
    path = workdir / "c.yaml"
    path.write_text(yaml.safe_dump({
        "distributions": [{"data_path": str(epex_h00)}], "ansaetze": [{"type": "zoufal", "repetitions": [2]}],
        "initializations": ["uniform"], "num_qubits": [5], "batch_size": 512,
        "discriminator": {"type": "custom_classical_1"}, "optimizer": {"lr": [0.001]},
    }))
    with caplog.at_level(logging.INFO, logger="autoqml.data"):
        validate(path)
    assert "distributions[0]: batch_size 512 is larger than its 365 values; real batches are drawn with " \
           "replacement from the target histogram" in caplog.text


def test_each_yaml_case_differs_from_a_valid_config_in_one_place(workdir):
    """The YAML cases are built from one valid base: with the base's own lines they load (guards against a case
    failing for a reason other than the one it documents)."""
    base = (BAD / "qubits_zero.yaml").read_text().splitlines()[1:]
    path = workdir / "base.yaml"
    path.write_text("\n".join(base).replace("num_qubits: [0, 3]", "num_qubits: [3]"))
    assert len(expand(load_config(path))) == 1
