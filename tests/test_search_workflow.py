"""A search through the real workflow: successive halving keeps the right settings per rung and trains only them,
continuing from their stored state; a two-objective TPE search writes its Pareto front; a search killed between
rounds and rerun ends exactly as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from autoqml.store import read_result

REPO = Path(__file__).resolve().parents[1]

STUDY = {
    "visualizations": [],
    "distributions": [{"kind": "lognormal", "samples": 640, "discretization": [0, 7]}],
    "split": {"validation": 0.2, "test": 0.2},
    "ansaetze": [{"type": "zoufal", "repetitions": [1, 2]}],
    "initializations": [{"type": "uniform"}, {"type": "random"}],
    "num_qubits": [2],
    "batch_size": 64,
    "num_training_runs": 2,
    "discriminator": {"type": "custom_classical_1", "hparams": {"lr": [0.001]}},
    "entangling_samples": 20,
}
HALVING = {**STUDY, "name": "halving", "n_containers": 2, "num_epochs": 9, "optimizer": {"lr": [0.001, 0.01]},
           "search": {"strategy": "successive_halving", "min_epochs": 1, "eta": 3}}  # 8 settings, rungs 1, 3, 9
PARETO = {**STUDY, "name": "pareto", "num_epochs": 4, "optimizer": {"lr": [0.001]},
          "search": {"strategy": "tpe", "objectives": ["w1_validation", "depth"], "n_trials": 4,
                     "trials_per_round": 2, "ranges": {"optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True}}}}


def command(workdir: Path, cfg: dict) -> list[str]:
    path = workdir / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
            "--configfile", str(path)]


def snakemake(workdir: Path, cfg: dict, *args: str) -> None:
    subprocess.run([*command(workdir, cfg), *args], capture_output=True, text=True, check=True, timeout=600)


def plans(root: Path) -> list[dict]:
    return [json.loads((root / "search" / f"plan-{step}.json").read_text())
            for step in range(len(list((root / "search").glob("plan-*.json"))))]


@pytest.fixture(scope="module")
def halving(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("halving")
    snakemake(workdir, HALVING)
    return workdir / "results" / "halving"


def test_halving_keeps_the_best_third_per_rung_and_trains_only_them(halving):
    steps = plans(halving)
    assert [p["epochs"] for p in steps] == [1, 3, 9] and [len(p["cells"]) for p in steps] == [8, 2, 1]
    for step, plan in enumerate(steps):
        files = {p.stem.removesuffix(".state") for d in (halving / "search").glob(f"step-{step}/shard-*")
                 for p in d.iterdir() if not p.name.startswith(".")}  # Snakemake's own .snakemake_timestamp
        assert files == set(plan["cells"])  # only the kept settings trained
        results = {cell: read_result(halving / "search" / f"step-{step}" / f"shard-{shard}" / f"{cell}.json")
                   for shard, cells in enumerate(plan["shards"]) for cell in cells}
        for result in results.values():  # each rung continues the stored state of the rung before
            assert result["training"]["epochs"] == plan["epochs"]
            assert result["training"]["resumed_from"] == plan["resumed_from"]
        if step + 1 < len(steps):  # the next step's settings: the best floor(n / 3) by mean validation W1
            mean = {c: np.mean([r["final"]["w1_validation"] for r in res["runs"]]) for c, res in results.items()}
            best = sorted(mean, key=lambda c: (mean[c], c))[: max(1, len(mean) // 3)]
            assert sorted(steps[step + 1]["cells"]) == sorted(best)
    assert len(steps[0]["shards"]) == 2  # a step's training is shard jobs like the grid's
    table = pd.read_csv(halving / "tables" / "search.csv", dtype={"cell": str})
    assert len(table) == 8 + 2 + 1 and set(table["decision"]) == {"kept", "stopped", "completed"}
    final = table[table["decision"] == "completed"]
    assert len(final) == 1 and final["epochs"].iloc[0] == 9
    best = pd.read_csv(halving / "tables" / "best.csv", dtype={"cell": str})
    assert (best["cell"] == final["cell"].iloc[0]).all()  # the best model is the setting trained to the end
    stats = pd.read_csv(halving / "tables" / "statistics.csv", dtype={"cell": str})
    assert list(stats["cell"]) == list(final["cell"]) and stats["depth_mean"].notna().all()
    grid_steps = 8 * 9 * table["seed_steps"].iloc[0]  # every setting for 9 epochs (rung 0 is one epoch)
    assert table["seed_steps"].sum() == (8 * 1 + 2 * 2 + 1 * 6) * table["seed_steps"].iloc[0] < grid_steps / 3


def test_killed_between_rounds_a_rerun_ends_as_an_uninterrupted_search(tmp_path):
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    killed.mkdir()
    reference.mkdir()
    # the uninterrupted search beside the killed one: a search is a chain of jobs, mostly one at a time
    uninterrupted = subprocess.Popen(command(reference, PARETO), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    process = subprocess.Popen(command(killed, PARETO), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    plan = killed / "results" / "pareto" / "search" / "plan-1.json"
    deadline = time.time() + 300
    while time.time() < deadline and not plan.exists():  # the first round's training is told, the second asked
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert plan.exists() and not (killed / "results" / "pareto" / "search" / "final.json").exists()
    snakemake(killed, PARETO, "--unlock")
    snakemake(killed, PARETO, "--rerun-incomplete")
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()
    for name in ("tables/search.csv", "tables/pareto.csv", "tables/best.csv", "tables/statistics.csv"):
        assert (killed / "results" / "pareto" / name).read_bytes() == \
            (reference / "results" / "pareto" / name).read_bytes(), name
    root = reference / "results" / "pareto"
    table = pd.read_csv(root / "tables" / "search.csv")
    assert sorted(table["trial"]) == [0, 1, 2, 3] and (table["decision"] == "completed").all()
    front = pd.read_csv(root / "tables" / "pareto.csv")
    assert len(front) >= 1 and set(front["trial"]) <= set(table["trial"])
    for _, row in front.iterrows():  # no completed trial beats a front trial in both objectives
        assert not ((table["w1_validation"] < row["w1_validation"]) & (table["depth"] < row["depth"])).any()
    assert (root / "figures" / "pareto.png").stat().st_size > 10_000
    assert (root / "search" / "optuna.db").is_file()
