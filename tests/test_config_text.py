"""autoqml.config_text: what YAML/JSON parsing would decide silently is made explicit (issue 14, class 6 and 8).

The refusals themselves (leading zeros, alias bombs and cycles, YTE templates) are cases of the bad-config corpus
(tests/configs/bad); here: what is now read as written, and files that are not UTF-8 text or not regular files.
"""

import os
import subprocess
import sys
import time

import pytest
import yaml

from autoqml.config import load_config, parse_text
from autoqml.config_text import MAX_VALUES
from autoqml.errors import ConfigError

CONFIG = """\
name: text
distributions: [{kind: lognormal}]
ansaetze: [{type: zoufal, repetitions: [1]}]
initializations: [{type: uniform}]
num_qubits: [3]
discriminator: {type: custom_classical_1, hparams: {lr: [1e-3]}}
optimizer: {lr: [3E-4, .5, 2.5e-1]}
"""


def test_yaml_numbers_follow_yaml_1_2_as_json_does(tmp_path):
    """1e-3 is a number in JSON and YAML 1.2; YAML 1.1 (PyYAML) would read it as the text '1e-3'."""
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    assert cfg["discriminator"][0]["hparams"]["lr"] == [0.001]
    assert cfg["optimizer"]["lr"] == [3e-4, 0.5, 0.25]
    assert parse_text("a: [0o17, 0x1F, -7, +3, .inf, 1.]", source="n.yaml") == {"a": [15, 31, -7, 3, float("inf"), 1.0]}
    assert parse_text("a: [1_000, '1e-3', 1:30, yes]", source="n.yaml") == {"a": ["1_000", "1e-3", "1:30", True]}


def test_a_quoted_number_is_blamed_on_its_quotes_and_text_is_not(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.replace("[1e-3]", "['1e-3']").replace("[3E-4, .5, 2.5e-1]", "[1_000]"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert any(line.startswith("  - discriminator[0].hparams.lr[0]: got '1e-3' (str)") and
               line.endswith("write the number without quotes") for line in lines), lines
    assert any(line.startswith("  - optimizer.lr[0]: got '1_000' (str)") and line.endswith("write a number")
               for line in lines), lines


def test_aliases_below_the_limit_still_work():
    text = "x: &x [1, 2, 3]\ny: *x\nz: {<<: {a: 1}, b: 2}\n"
    assert parse_text(text, source="a.yaml") == {"x": [1, 2, 3], "y": [1, 2, 3], "z": {"a": 1, "b": 2}}
    flat = "v: [" + ", ".join(["1"] * (MAX_VALUES - 10)) + "]\n"
    assert len(parse_text(flat, source="big.yaml")["v"]) == MAX_VALUES - 10


def test_a_config_that_is_not_utf8_names_the_file_line_and_fix(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CONFIG.replace("name: text", "name: démo").encode("latin-1"))
    with pytest.raises(ConfigError, match=r"^config file .*latin1\.yaml: not UTF-8 text \(byte b'\\xe9' at line 1\); "
                                          r"save it as UTF-8"):
        load_config(path)
    path.write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())  # a byte-order mark is fine
    assert load_config(path)["name"] == "text"


def test_cli_on_a_non_utf8_config_prints_one_message_and_no_traceback(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(CONFIG.replace("name: text", "name: démo").encode("latin-1"))
    done = subprocess.run([sys.executable, "-m", "autoqml.cli", "validate", "--schema-only", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr and "not UTF-8 text" in done.stderr


@pytest.mark.parametrize("what", ["config", "data_path"])
def test_a_fifo_is_refused_at_once_instead_of_blocking(tmp_path, what):
    """Opening a FIFO waits for a writer forever; `autoqml validate` must answer without opening it."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    config = fifo
    if what == "data_path":
        config = tmp_path / "c.yaml"
        cfg = yaml.safe_load(CONFIG)
        cfg["distributions"] = [{"data_path": str(fifo)}]
        config.write_text(yaml.safe_dump(cfg))
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autoqml.cli", "validate", str(config)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert time.monotonic() - start < 30
    assert done.returncode == 1 and "Traceback" not in done.stderr
    field = "config file" if what == "config" else "distributions[0].data_path"
    assert f"{field}: {fifo} is a FIFO (named pipe), not a regular file" in done.stderr, done.stderr
