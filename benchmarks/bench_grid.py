"""End to end: the paper's full grid through ``snakemake --cores 2`` from a clean results folder, and the reference.

Runs ``config/paper.json`` (540 cells x 10 runs x 2000 epochs) in a fresh working directory whose ``data/DE.csv``
is the given EPEX file, then reads Snakemake's per-job benchmark records. Prints wall and CPU time, peak memory per
job, time per stage (training, depth transpilation, gathering, aggregation, plots), CPU seconds per seed-epoch, and
the reference (qiskit-machine-learning's SamplerQNN, timed in this process on the acceptance cell as
``bench_cell.py`` does) extrapolated to the grid's seed-steps (qiskit's epochs: 39 steps each in the paper grid).

In the same run, after the workflow, it measures the grid's arithmetic floor (:mod:`floor`): per program shape (grid
size 2^N, discriminator widths, rows per program) the floor per seed-step, once per distinct shape, times the runs
and planned steps of every cell of that shape, summed. It prints that against the training loops' own seconds (the
cells' ``timings.train_s``, each cell's share of its program) and against the training jobs' CPU (start-up, data,
storing included). Machines of one kind differ by up to 2x, so only ratios measured in one run compare.

Run: ``python benchmarks/bench_grid.py`` (27 minutes on a 2-core AMD EPYC, 2026-12-03); a reduced grid for a quick
check: ``--epochs 2 --set 'num_qubits=[2, 3]' --set 'ansaetze=[{type: zoufal, repetitions: [1]}]'``. ``--finished DIR``
reports a grid that already ran in DIR (e.g. the full grid ``bench_search.py`` trains, ``<out>/grid``) from its
records, with the wall time it kept, instead of running one.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml
from bench_cell import WARMUP_EPOCHS, load_cell, reference_qnn, time_peer, train_reference
from common import REPO, apply_overrides, machine_line, programs
from floor import measure_floor

from autoqml.config import load_config
from autoqml.grid import expand, planned_steps
from autoqml.qgan import PRECISIONS
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
    return time_peer(lambda row, n: train_reference(qnn, cell, row, n), prepared.rows[:runs], steps)[0]


def grid_floor(grid: list, repeats: int) -> tuple[float, list]:
    """The grid's floor in seconds (one thread): per cell runs x planned steps x the floor of its program's shape,
    each distinct (grid size, widths, rows per program) measured once; and the floors measured."""
    floors: dict[tuple, object] = {}
    total = 0.0
    for members in programs(grid).values():
        p = members[0].params
        key = (2 ** p["num_qubits"], (p["discriminator"]["n_input"], *p["discriminator"]["n_hidden"]),
               sum(cell.params["num_training_runs"] for cell in members), p["precision"])
        if key not in floors:
            floors[key] = measure_floor(rows=key[2], grid_size=key[0], widths=key[1], dtype=PRECISIONS[key[3]],
                                        repeats=repeats)
        total += sum(cell.params["num_training_runs"] * planned_steps(cell.params) for cell in members) * \
            floors[key].seconds
    return total, list(floors.values())


def training_loop_seconds(root: Path) -> float:
    """Seconds inside the training loops: every cell's share (its rows of its program's) of ``timings.train_s``."""
    seconds = 0.0
    for path in root.glob("cells/*.json"):
        result = json.loads(path.read_text())
        seconds += result["timings"]["train_s"] * len(result["runs"]) / result["batch"]["rows"]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "epftoolbox_DE_2015.csv"),
                        help="EPEX file in the public source's format, used as data/DE.csv")
    parser.add_argument("--ref-data", default=str(REPO.parent / "shared" / "data" / "epex_de_2015_h00.csv"),
                        help="the acceptance cell's data for the reference timing (as bench_cell.py)")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "paper.json")
    parser.add_argument("--epochs", type=int, help="override num_epochs (quick checks); default: the config's")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, dotted key and YAML value (repeatable), as bench_paper.py's")
    parser.add_argument("--floor-repeats", type=int, default=5, help="timings per product shape of the floor")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--ref-steps", type=int, default=20)
    parser.add_argument("--ref-runs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="working directory to use and keep (default: a temporary one)")
    parser.add_argument("--finished", type=Path, help="report a grid that already ran instead of running one: its "
                        "working directory (study.json, and wall.json for the wall time: bench_search.py's grid/)")
    args = parser.parse_args()

    if args.finished:
        workdir, config = args.finished, args.finished / "study.json"
        cfg = load_config(config)
    else:
        cfg = load_config(args.config)
        if args.epochs:
            cfg["num_epochs"] = args.epochs
        apply_overrides(cfg, args.overrides)
        workdir = args.keep or Path(tempfile.mkdtemp(prefix="autoqml-grid-"))
        shutil.rmtree(workdir / "results", ignore_errors=True)
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy(args.data, workdir / "data" / "DE.csv")
        config = workdir / "study.yaml"
        config.write_text(yaml.safe_dump(cfg))
    grid = expand(load_config(config))
    cells = len(grid)
    seed_steps = sum(cell.params["num_training_runs"] * planned_steps(cell.params) for cell in grid)

    print(machine_line())
    print(f"grid: {args.config.name}{' with ' + ', '.join(args.overrides) if args.overrides else ''}: {cells} cells "
          f"x {cfg['num_training_runs']} runs x {cfg['num_epochs']} epochs = {seed_steps:,} seed-steps in "
          f"{len(programs(grid))} programs; snakemake --cores {args.cores} in {workdir}")
    if args.finished:  # the run's wall time as its benchmark kept it; CPU from the jobs' records
        records = job_records(workdir / "results" / cfg["study"])
        wall_file = workdir / "wall.json"
        wall = json.loads(wall_file.read_text())["seconds"] if wall_file.is_file() else float("nan")
        cpu = sum(r["cpu"] for r in records)
    else:
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
    loop = training_loop_seconds(workdir / "results" / cfg["study"])
    floor, floors = grid_floor(grid, args.floor_repeats)
    for measured in floors:
        print(measured.describe())
    print(f"training: {loop / seed_steps:.3g} s per seed-step in the training loops ({loop:.1f} s), "
          f"{training_cpu / seed_steps:.3g} s CPU per seed-step in the training jobs ({training_cpu:.1f} s)")
    print(f"floor: {floor / seed_steps:.3g} s per seed-step ({floor:.1f} s on one thread for the grid, "
          f"{floor / args.cores:.1f} s wall on {args.cores} cores) -> training loops {loop / floor:.2f}x the floor, "
          f"training jobs {training_cpu / floor:.2f}x")
    reference = reference_seconds_per_seed_step(args.ref_data, args.ref_steps, args.ref_runs)
    projected = reference * seed_steps
    print(f"reference: {reference:.4f} s per seed-step (SamplerQNN, {args.ref_runs} runs x {args.ref_steps} "
          f"steps of the acceptance cell) -> {projected / 3600:.1f} h for this grid, one run at a time")
    print(f"RESULT wall={wall:.1f}s reference={projected:.0f}s ratio={projected / wall:.0f}x "
          f"peak_rss={peak['max_rss']:.0f}MB seed_step={loop / seed_steps:.3g}s floor={floor / seed_steps:.3g}s "
          f"floor_ratio={loop / floor:.2f}x")


if __name__ == "__main__":
    main()
