"""End to end: the paper's full grid through ``snakemake --cores 2`` from a clean results folder, and the reference.

Runs ``config/paper.json`` (540 cells x 10 runs x 2000 epochs) in a fresh working directory whose ``data/DE.csv``
is the given EPEX file, then reads Snakemake's per-job benchmark records. Prints wall and CPU time, peak memory per
job, time per stage (training, depth transpilation, gathering, aggregation, plots), CPU seconds per seed-epoch, and
the reference (qiskit-machine-learning's SamplerQNN, timed in this process on the acceptance cell as
``bench_cell.py`` does) extrapolated to the grid's seed-steps (qiskit's epochs: 39 steps each in the paper grid).

Run: ``python benchmarks/bench_grid.py`` (hours on 2 cores at qiskit's epochs); ``--epochs 20`` for a quick check.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from bench_cell import REPO, WARMUP_EPOCHS, load_cell, reference_qnn, train_reference
from autoqml.batches import planned_steps
from autoqml.config import load_config
from autoqml.grid import expand
from autoqml.train import prepare

STAGES = {"train": "training", "depth": "depth transpilation", "entangling": "entangling capability",
          "gather_shard": "gathering shards", "statistics": "aggregation", "best_model": "aggregation",
          "figure": "plots"}


def run_grid(workdir: Path, config: Path, cores: int) -> tuple[float, float]:
    """Wall and CPU seconds (children) of one ``snakemake`` run of `config` in `workdir`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(workdir / "snakemake.log", "w") as log:
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                        "--cores", str(cores), "--configfile", str(config)], check=True, stdout=log, stderr=log)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def job_records(root: Path) -> list[dict]:
    """Snakemake's benchmark records (seconds, peak RSS in MB, CPU seconds), one per job, with the rule's stage."""
    records = []
    for path in sorted(root.glob("benchmarks/**/*.tsv")):
        rule = path.stem if path.parent.name == "benchmarks" else path.parent.name
        stage = next((name for prefix, name in STAGES.items() if rule.startswith(prefix)), rule)
        with path.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        records.append({"stage": stage, "job": f"{rule}/{path.stem}", "s": float(row["s"]),
                        "max_rss": float(row["max_rss"]), "cpu": float(row["cpu_time"])})
    return records


def reference_seconds_per_seed_step(data: str, steps: int, runs: int) -> float:
    """SamplerQNN + TorchConnector on the acceptance cell, one run at a time (see bench_cell.py)."""
    cell = load_cell(data, WARMUP_EPOCHS)
    prepared = prepare(cell)
    qnn = reference_qnn(prepared.generator)
    train_reference(qnn, cell, prepared.rows[0], 2)
    seconds = sum(train_reference(qnn, cell, row, steps) for row in prepared.rows[:runs])
    return seconds / (runs * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "epftoolbox_DE_2015.csv"),
                        help="EPEX file in the public source's format, used as data/DE.csv")
    parser.add_argument("--ref-data", default=str(REPO.parent / "shared" / "data" / "epex_de_2015_h00.csv"),
                        help="the acceptance cell's data for the reference timing (as bench_cell.py)")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.json")
    parser.add_argument("--epochs", type=int, help="override num_epochs (quick checks); default: the config's")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--ref-steps", type=int, default=20)
    parser.add_argument("--ref-runs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="working directory to use and keep (default: a temporary one)")
    args = parser.parse_args()

    cfg = load_config(args.config)
    if args.epochs:
        cfg["num_epochs"] = args.epochs
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="autoqml-grid-"))
    shutil.rmtree(workdir / "results", ignore_errors=True)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(args.data, workdir / "data" / "DE.csv")
    config = workdir / "study.yaml"
    config.write_text(yaml.safe_dump(cfg))
    grid = expand(load_config(config))
    cells = len(grid)
    seed_steps = sum(cell.params["num_training_runs"] * planned_steps(cell.params) for cell in grid)

    print(f"machine: {platform.machine()} {platform.system()}, cpu_count={os.cpu_count()}, "
          f"load average (1 min) {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"grid: {args.config.name}: {cells} cells x {cfg['num_training_runs']} runs x {cfg['num_epochs']} epochs "
          f"= {seed_steps:,} seed-steps; snakemake --cores {args.cores} in {workdir}")
    wall, cpu = run_grid(workdir, config, args.cores)
    records = job_records(workdir / "results" / cfg["study"])
    stages: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        stages[record["stage"]].append(record)
    print(f"\n{'stage':24} {'jobs':>5} {'wall s (sum)':>13} {'CPU s':>8} {'peak RSS MB':>12}")
    for stage, group in stages.items():
        print(f"{stage:24} {len(group):5d} {sum(r['s'] for r in group):13.1f} {sum(r['cpu'] for r in group):8.1f} "
              f"{max(r['max_rss'] for r in group):12.0f}")
    peak = max(records, key=lambda r: r["max_rss"])
    training_cpu = sum(r["cpu"] for r in stages["training"])
    print(f"\nwall {wall:.1f} s ({wall / 60:.2f} min), CPU {cpu:.1f} s, jobs {len(records)}, "
          f"peak memory per job {peak['max_rss']:.0f} MB ({peak['job']})")
    print(f"training: {training_cpu / seed_steps * 1e3:.4f} ms CPU per seed-step")
    reference = reference_seconds_per_seed_step(args.ref_data, args.ref_steps, args.ref_runs)
    projected = reference * seed_steps
    print(f"reference: {reference:.4f} s per seed-step (SamplerQNN, {args.ref_runs} runs x {args.ref_steps} "
          f"steps of the acceptance cell) -> {projected / 3600:.1f} h for this grid, one run at a time")
    print(f"RESULT wall={wall:.1f}s reference={projected:.0f}s ratio={projected / wall:.0f}x "
          f"peak_rss={peak['max_rss']:.0f}MB")


if __name__ == "__main__":
    main()
