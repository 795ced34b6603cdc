"""Results that cannot be silently wrong (issue 14, classes 3, 4 and 5), on real Snakemake runs of a tiny study.

Aggregation recomputes every run's final metrics from the result's own distributions and checks that the raw
shards hold exactly the grid manifest's cells; the manifest's time moves whenever the grid changes, so a new cell
trains under every rerun trigger and without Snakemake's metadata; result files get the umask's mode.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autoqml.aggregate import FINAL_METRICS, read_results
from autoqml.store import ResultError, read_shards

REPO = Path(__file__).resolve().parents[1]
STUDY = "trust"
TINY = {
    "name": STUDY, "n_containers": 1, "visualizations": ["target_histogram"], "entangling_samples": 20,
    "distributions": [{"kind": "lognormal", "samples": 2000, "discretization": [0, 7]}],
    "split": {"validation": 0.2, "test": 0.2},  # the held-out metrics are proved too
    "ansaetze": [{"type": "zoufal", "repetitions": [1]}], "initializations": [{"type": "uniform"}],
    "num_qubits": [2], "batch_size": 64, "num_epochs": 20, "num_training_runs": 2,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}}, "optimizer": {"lr": [0.001]},
}


def snakemake(workdir: Path, cfg: dict, *args: str, check: bool = True, umask: int | None = None):
    (workdir / "study.yaml").write_text(yaml.safe_dump(cfg))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
               "--configfile", str(workdir / "study.yaml"), *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=workdir,
                         preexec_fn=None if umask is None else (lambda: os.umask(umask)))
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def _root(workdir: Path) -> Path:
    return workdir / "results" / STUDY


def _table_cells(workdir: Path) -> set[str]:
    return set(pd_read(_root(workdir) / "tables" / "statistics.csv")["cell"])


def pd_read(path: Path):
    import pandas as pd

    return pd.read_csv(path, dtype={"cell": str})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The tiny study run once, with umask 002 (a group-shared results folder); tests copy it before editing."""
    workdir = tmp_path_factory.mktemp("trained")
    snakemake(workdir, TINY, umask=0o002)
    return workdir


def _copy(trained: Path, tmp_path: Path) -> Path:
    """The results in a new folder, as `cp -r` leaves them: new times, no .snakemake metadata."""
    workdir = tmp_path / "copy"
    shutil.copytree(trained / "results", workdir / "results")
    return workdir


# --- class 5: the umask --------------------------------------------------------------------------------------

def test_results_are_group_readable_under_umask_002(trained):
    files = [p for p in _root(trained).rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o664}, \
        {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}


# --- class 3: aggregation proves what it reads ---------------------------------------------------------------

def _edit_kl(path: Path, *, raw: bool) -> None:
    document = json.loads(path.read_text())
    result = document["cells"][0] if raw else document
    result["runs"][0]["final"]["kl"] = result["runs"][0]["final"]["kl"] / 2  # still valid JSON and schema
    path.write_text(json.dumps(document))


def test_an_edited_kl_in_a_raw_shard_is_refused_naming_the_file(trained, tmp_path):
    workdir = _copy(trained, tmp_path)
    shard = _root(workdir) / "raw" / "shard-1-of-1.json"
    _edit_kl(shard, raw=True)
    out = snakemake(workdir, TINY, check=False)
    assert out.returncode != 0
    log = (_root(workdir) / "logs" / "statistics.log").read_text()
    assert f"results/{STUDY}/raw/shard-1-of-1.json: cell " in log and "run 0: final.kl is" in log and "the stored distributions contradict it" in log
    assert "run the workflow again to rebuild it" in log


def test_an_edited_kl_in_a_cell_result_is_refused_too(trained, tmp_path):
    workdir = _copy(trained, tmp_path)
    cell = next((_root(workdir) / "cells").glob("*.json"))
    _edit_kl(cell, raw=False)
    out = snakemake(workdir, TINY, check=False)  # the newer cell is regathered; aggregation refuses it
    assert out.returncode != 0
    assert "final.kl is" in (_root(workdir) / "logs" / "statistics.log").read_text()


def test_every_final_metric_is_recomputed_from_the_stored_distributions(trained):
    results = read_results(shards=[_root(trained) / "raw" / "shard-1-of-1.json"], grid=_root(trained) / "grid.json")
    for result in results:
        for run in result["runs"]:
            assert set(run["final"]) >= set(FINAL_METRICS)


@pytest.mark.parametrize("metric", ["w1_test", "kl_validation"])
def test_an_edited_held_out_metric_is_refused(trained, tmp_path, metric):
    shard = tmp_path / "shard.json"
    document = json.loads((_root(trained) / "raw" / "shard-1-of-1.json").read_text())
    document["cells"][0]["runs"][1]["final"][metric] *= 1.5
    shard.write_text(json.dumps(document))
    with pytest.raises(ResultError, match=f"run 1: final.{metric} is .* the stored distributions contradict it"):
        read_results(shards=[shard], grid=_root(trained) / "grid.json")


def test_aggregation_refuses_shards_that_miss_or_add_cells(trained, tmp_path):
    shard = _root(trained) / "raw" / "shard-1-of-1.json"
    (cell,) = [r["cell"]["id"] for r in read_shards([shard])]
    for cells, words in (([cell, "0123456789ab"], "missing 0123456789ab"), ([], f"not in the grid {cell}")):
        grid = tmp_path / "grid.json"
        grid.write_text(json.dumps({"cells": cells}))
        with pytest.raises(ResultError, match=f"do not hold exactly the grid's cells .*{words}.*run the workflow"):
            read_results(shards=[shard], grid=grid)
    with pytest.raises(ResultError, match=f"more than once {cell}"):
        read_results(shards=[shard, shard], grid=_root(trained) / "grid.json")


# --- class 4: a new axis value trains and reaches Table I under every rerun trigger ----------------------------

@pytest.mark.parametrize("how", ["copied without metadata", "rerun-triggers mtime"])
def test_a_new_axis_value_trains_and_reaches_table_one(trained, tmp_path, how):
    if how == "copied without metadata":
        workdir, args = _copy(trained, tmp_path), ()
    else:
        workdir, args = tmp_path / "inplace", ("--rerun-triggers", "mtime")
        shutil.copytree(trained, workdir)
    before = _table_cells(workdir)
    more = {**TINY, "initializations": [{"type": "uniform"}, {"type": "random"}]}
    out = snakemake(workdir, more, *args)
    assert "Nothing to be done" not in out.stdout + out.stderr
    after = _table_cells(workdir)
    assert len(after) == 2 and before < after
    again = snakemake(workdir, more, *args)
    assert "Nothing to be done" in again.stdout + again.stderr


# --- class 8: a budget that admits nothing is a config error, not stack frames --------------------------------

def test_a_budget_that_admits_nothing_prints_one_message(tmp_path):
    out = snakemake(tmp_path, {**TINY, "budget": {"classical_seconds": 1e-9}}, "-n", check=False)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "budget: admits none of the 1 cells" in text and "raise the budget or shrink the grid" in text
    # as every config error: Snakemake names the line of the Snakefile that stopped, and no frame of autoqml
    assert "Traceback" not in text and "autoqml/" not in text and text.count('File "') == 1
