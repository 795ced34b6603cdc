"""The Snakemake workflow for real: the default study end to end, incremental reruns, and killed jobs."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autoqml.aggregate import read_statistics
from autoqml.model import load
from autoqml.store import read_result, read_shards

REPO = Path(__file__).resolve().parents[1]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                           "--cores", "2", *args], capture_output=True, text=True, check=check, timeout=900)


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Job counts per rule of a dry run."""
    out = snakemake(workdir, "-n", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.M) if m[1] != "total"}


def _workdir_with_data(tmp_path: Path, epftoolbox_csv: Path) -> Path:
    """A working directory where data/DE.csv exists (the source's 2015 rows), so nothing is downloaded."""
    (tmp_path / "data").mkdir(parents=True)
    shutil.copy(epftoolbox_csv, tmp_path / "data" / "DE.csv")
    return tmp_path


#: The default study's grid, runs and data as shipped, at a twentieth of its epochs (qiskit's 39-step epochs) and a
#: tenth of its entangling-capability samples (the figure's histogram is drawn either way).
DEFAULT_EPOCHS = ("num_epochs=10", "entangling_samples=200")


@pytest.fixture(scope="module")
def default_study(tmp_path_factory, epftoolbox_csv):
    workdir = _workdir_with_data(tmp_path_factory.mktemp("default"), epftoolbox_csv)
    snakemake(workdir, "--configfile", str(REPO / "config" / "config.yaml"), "--config", *DEFAULT_EPOCHS)
    root = workdir / "results" / "epex-2015-midnight"
    snakemake(workdir, "--configfile", str(REPO / "config" / "config.yaml"), "--config", *DEFAULT_EPOCHS,
              "--report", str(root / "report.html"))
    return workdir, root


def test_default_study_table_matches_the_cell_results(default_study):
    _, root = default_study
    stats = read_statistics(root / "tables" / "statistics.csv")
    assert len(stats) == 24 and (stats["runs"] == 10).all()
    results = {r["cell"]["id"]: r for r in read_shards(sorted((root / "raw").glob("shard-*-of-2.json")))}
    assert set(results) == set(stats["cell"]) and len(list((root / "raw").glob("*.json"))) == 2
    for _, row in stats.iterrows():
        kl = [run["final"]["kl"] for run in results[row["cell"]]["runs"]]
        assert row["kl_mean"] == pytest.approx(np.mean(kl)) and row["kl_std"] == pytest.approx(np.std(kl, ddof=1))
    depths = [d for p in (root / "depth").glob("*.json") for d in json.loads(p.read_text())["depths"].values()]
    assert len(depths) == 24 and all(len(d) == 10 for d in depths)  # one structure per cell in this study
    assert (stats["depth_mean"] > 0).all()
    normal = stats[stats["initialization"] == "normal"]["depth_mean"].mean()
    assert normal > stats[stats["initialization"] == "uniform"]["depth_mean"].mean()  # state preparation is deep
    markdown = (root / "tables" / "statistics.md").read_text()
    assert markdown.count("| Initialization") == 3 * 2 * 3 and "µRE" in markdown  # training, validation, test
    assert markdown.count("(training data)") == markdown.count(": validation data") == markdown.count(": test data") == 6
    assert r"\begin{tabular}" in (root / "tables" / "statistics.tex").read_text()


def test_default_study_best_model(default_study, tmp_path):
    _, root = default_study
    stats = read_statistics(root / "tables" / "statistics.csv")
    machine = load(root / "best" / "model.json")
    assert machine.metadata["cell"]["id"] == stats.loc[stats["w1_validation_mean"].idxmin(), "cell"]
    best = pd.read_csv(root / "tables" / "best.csv", dtype={"cell": str})
    assert list(best["choice"]) == ["3 qubits", "5 qubits", "overall"] and (best["selected_by"] == "w1_validation").all()
    for _, row in best.iterrows():  # each choice's model is stored, the run it names
        stem = "model" if row["choice"] == "overall" else f"epex_de_2015_h00-q{row['num_qubits']}"
        chosen = load(root / "best" / f"{stem}.json")
        assert (chosen.metadata["cell"]["id"], chosen.metadata["run"]) == (row["cell"], row["run"])
        assert chosen.metadata["final"]["w1_test"] == pytest.approx(row["w1_test"])
        group = stats[stats["num_qubits"] == row["num_qubits"]]
        if row["choice"] != "overall":
            assert row["cell"] == group.loc[group["w1_validation_mean"].idxmin(), "cell"]
    assert np.allclose(machine.probabilities(), machine.metadata["generated"], atol=1e-9)
    with pytest.raises(Exception, match="runs code from the file"):
        load(root / "best" / "model.pkl")
    pickled = load(root / "best" / "model.pkl", trust_pickle=True)
    assert np.array_equal(pickled.parameters, machine.parameters)
    out = subprocess.run([sys.executable, "-m", "autoqml.cli", "sample", str(root / "best" / "model.json"), "-n",
                          "2000", "--seed", "1"], capture_output=True, text=True, check=True).stdout.split()
    values = np.array([float(v) for v in out])
    assert len(values) == 2000 and machine.low <= values.min() and values.max() <= machine.high
    assert set(np.round(values, 6)) <= set(np.round(machine.values, 6))


def test_default_study_figures_and_report(default_study):
    _, root = default_study
    names = ["entropy_by_initialization", "entropy_by_ansatz", "entangling_capability", "target_vs_best",
             "best_by_qubits", "qubit_scaling", "loss_curves", "generalization_gap"]
    for name in names:
        assert (root / "figures" / f"{name}.png").stat().st_size > 10_000
        assert (root / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    report = (root / "report.html").read_text(errors="ignore")
    assert all(name in report for name in names) and "statistics.csv" in report
    log = next((root / "logs" / "train").glob("*.log")).read_text()
    assert re.search(r"epoch 10/10 +mean KL \d", log)


def test_lint_and_format_are_clean(default_study):
    workdir, _ = default_study
    lint = snakemake(workdir, "--configfile", str(REPO / "config" / "config.yaml"), "--lint")
    assert "Congratulations" in lint.stdout + lint.stderr
    subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow"], cwd=REPO, check=True,
                   capture_output=True)


SMALL = {
    "name": "incremental",
    "n_containers": 2,
    "visualizations": [],  # figures: the default study's tests
    "distributions": [{"name": "epex", "data_path": "data/DE.csv", "column": "Price", "hour": 0,
                       "start": "2015-01-01", "end": "2016-01-01", "samples": 320}],  # 5 steps per epoch
    "ansaetze": [{"type": "zoufal", "repetitions": [1]}],
    "initializations": [{"type": "uniform"}, {"type": "random"}],
    "num_qubits": [2],
    "batch_size": 64,
    "num_epochs": 10,
    "num_training_runs": 2,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}},
    "optimizer": {"lr": [0.001]},
    "entangling_samples": 50,
}


def _write(workdir: Path, cfg: dict) -> str:
    path = workdir / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _cells(workdir: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in (workdir / "results" / "incremental" / "cells").glob("*.json")}


def _train_logs(workdir: Path) -> set[Path]:
    return set((workdir / "results" / "incremental" / "logs" / "train").glob("*.log"))


def test_incremental_reruns(tmp_path, epftoolbox_csv):
    workdir = _workdir_with_data(tmp_path, epftoolbox_csv)
    config = _write(workdir, SMALL)
    snakemake(workdir, "--configfile", config)
    before = _cells(workdir)
    assert len(before) == 2

    for change in ({"n_containers": 1}, {"visualizations": ["target_histogram", "entropy_curve"]},
                   {"name": "incremental", "goal": "edited"}):
        plan = planned_jobs(workdir, "--configfile", _write(workdir, {**SMALL, **change}))
        assert not any(rule.startswith("train") for rule in plan), (change, plan)

    more = {**SMALL, "num_qubits": [2, 3], "ansaetze": [*SMALL["ansaetze"], {"type": "herr1", "repetitions": [1]}],
            "optimizer": {"lr": [0.001, 0.003]}}  # a new value of an axis inside a batch, too
    old_logs = _train_logs(workdir)
    snakemake(workdir, "--configfile", _write(workdir, more))
    after = _cells(workdir)
    assert len(after) == 16 and all(after[name] == mtime for name, mtime in before.items())
    trained = {f"{cell}.json" for log in _train_logs(workdir) - old_logs
               for cell in re.findall(r"cell ([0-9a-f]{12}) \(", log.read_text())}
    assert trained == set(after) - set(before)

    longer = {**more, "num_epochs": SMALL["num_epochs"] + 1}
    assert sum(n for rule, n in planned_jobs(workdir, "--configfile", _write(workdir, longer)).items()
               if rule.startswith("train_shard_")) == 2


def test_killed_job_leaves_nothing_read_as_complete(tmp_path, epftoolbox_csv):
    workdir = _workdir_with_data(tmp_path, epftoolbox_csv)
    slow = {**SMALL, "num_epochs": 1000, "num_qubits": [4], "batch_size": 256, "num_training_runs": 10}
    config = _write(workdir, slow)
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
               "--configfile", config]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    logs = workdir / "results" / "incremental" / "logs" / "train"
    deadline = time.time() + 120
    while time.time() < deadline and not any("epoch 300/" in p.read_text() for p in logs.glob("*.log")):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    cells = workdir / "results" / "incremental" / "cells"
    for path in cells.glob("*.json"):
        read_result(path)  # anything under a final name is complete and valid
    assert not (workdir / "results" / "incremental" / "raw").exists()
    snakemake(workdir, "--configfile", config, "--unlock")  # the killed run still holds the directory lock
    rerun = snakemake(workdir, "--configfile", config, "--rerun-incomplete")
    assert "Finished" in rerun.stdout + rerun.stderr
    results = [read_result(p) for p in sorted(cells.glob("*.json"))]
    assert len(results) == 2
    assert pd.read_csv(workdir / "results" / "incremental" / "tables" / "statistics.csv").shape[0] == 2

    reference = _workdir_with_data(tmp_path / "reference", epftoolbox_csv)
    snakemake(reference, "--configfile", _write(reference, slow))
    for result in results:
        again = read_result(reference / "results" / "incremental" / "cells" / f"{result['cell']['id']}.json")
        assert [r["parameters"] for r in again["runs"]] == [r["parameters"] for r in result["runs"]]
    assert pd.read_csv(reference / "results" / "incremental" / "tables" / "statistics.csv").shape[0] == 2


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # no access log on the test's stderr
        pass


def test_missing_data_is_downloaded_and_checked(tmp_path, epftoolbox_csv):
    """The download rule against a loopback server serving a file in the public source's format."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(epftoolbox_csv, served / "DE.csv")
    with ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served))) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        source = {"url": f"http://127.0.0.1:{httpd.server_port}/DE.csv",
                  "expect": {"rows": 8760, "count": 365, "mean": 25.1698}}
        good, bad = tmp_path / "good", tmp_path / "bad"
        for workdir, expect in ((good, source["expect"]), (bad, {**source["expect"], "mean": 30.0})):
            workdir.mkdir()
            dist = {**SMALL["distributions"][0], **source, "expect": expect}
            config = _write(workdir, {**SMALL, "distributions": [dist]})
            run = snakemake(workdir, "data/DE.csv", "--configfile", config, check=False)
            log = (workdir / "logs" / "download_data" / "DE.csv.log").read_text()
            assert source["url"] in log
        httpd.shutdown()
    assert (good / "data" / "DE.csv").read_bytes() == epftoolbox_csv.read_bytes()
    assert run.returncode != 0 and "does not match" in log and not (bad / "data" / "DE.csv").exists()


BACKENDS = {
    "name": "backends",
    "n_containers": 2,
    "visualizations": [],  # figures in the report: the default study's
    "distributions": [{"kind": "lognormal", "samples": 2000, "discretization": [0, 7]}],
    "ansaetze": [{"type": "zoufal", "repetitions": [1, 2]}],
    "initializations": [{"type": "uniform"}],
    "num_qubits": [2],
    "batch_size": 64,
    "num_epochs": 10,
    "num_training_runs": 2,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}},
    "optimizer": {"lr": [0.005]},
    "steps_per_epoch": 1,
    "backend": ["statevector", {"type": "aer", "shots": 200}, {"type": "ibm", "device": "fake_manila", "shots": 100}],
    # executions per cell: 10 epochs x 1 step x 2 runs x (2P + 1), P = 4 (k1), 6 (k2), + 1 evaluation; the last
    # one skips
    "budget": {"circuit_executions": 800},
    "evaluation": {"backend": {"type": "aer", "noise_model": "fake_manila"}, "shots": 4000, "all_cells": True},
    "entangling_samples": 50,
}


def test_backends_budget_and_device_evaluation(tmp_path):
    """A backend axis (exact, Aer, IBM Runtime local mode), a budget that skips one cell, every cell's best run
    evaluated on a noisy fake device, and all of it in the report."""
    config = _write(tmp_path, BACKENDS)
    snakemake(tmp_path, "--configfile", config)
    root = tmp_path / "results" / "backends"
    skipped = pd.read_csv(root / "tables" / "skipped.csv")
    assert len(skipped) == 1 and skipped["label"][0].endswith("zoufal k2 uniform q2 custom_classical_1 dlr0.001 "
                                                              "glr0.005 fake_manila100")
    assert skipped["reason"][0] == "budget.circuit_executions: needs 261, 175 of 800 left"
    stats = read_statistics(root / "tables" / "statistics.csv")
    assert len(stats) == 5 and set(stats["backend"]) == {"statevector", "aer200", "fake_manila100"}
    assert skipped["cell"][0] not in set(stats["cell"])
    results = {r["cell"]["id"]: r for r in read_shards(sorted((root / "raw").glob("*.json")))}
    for result in results.values():
        backend = result["cell"]["params"]["backend"]
        if backend != "statevector":
            parameters = 2 * (result["cell"]["params"]["reps"] + 1)
            assert result["quantum"]["circuit_executions"] == 10 * 2 * (2 * parameters + 1)
            assert result["quantum"]["shots"] == result["quantum"]["circuit_executions"] * backend["shots"]
    device = pd.read_csv(root / "tables" / "device.csv", dtype={"cell": str})
    assert set(device["cell"]) == set(stats["cell"]) and (device["device_backend"] == "aer4000+fake_manila").all()
    assert (device["device_shots"] == 4000).all() and device["kl_device"].between(0, 10).all()
    assert "RE (device)" in (root / "tables" / "device.md").read_text()
    snakemake(tmp_path, "--configfile", config, "--report", str(root / "report.html"))
    report = (root / "report.html").read_text(errors="ignore")
    assert "device.csv" in report and "skipped.csv" in report
    lint = snakemake(tmp_path, "--configfile", config, "--lint")
    assert "Congratulations" in lint.stdout + lint.stderr
