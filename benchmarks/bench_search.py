"""Successive halving against the full grid on the paper's study: seed-steps, wall time and the chosen setting.

The study is ``config/paper.json`` (540 settings x 10 runs x 2000 epochs of 39 steps on the 2015 EPEX midnight
prices) with the default study's held-out weeks (``split: {validation: 0.2, test: 0.2}``: a search chooses on
validation data) and no figures. Both run through the workflow (Snakemake, ``--cores``), each in its own folder
under ``--out``:

- the full grid (``search.strategy: grid``), once; its results are reused when present (Snakemake has nothing to
  do; the wall time of the run that trained them is kept in ``grid/wall.json``);
- successive halving (``search.strategy: successive_halving``, ``--eta``, ``--min-epochs``) once per ``--seeds``
  value. Halving makes no random choice, so a search seed is the study's ``seed``, from which every run's seed
  derives: each search sees its own draw of training noise, while the grid's best is that of the first seed.

Per search it prints the seed-steps spent (``tables/search.csv``) against the grid's (runs x steps of every
cell), the wall time, and the chosen setting (``tables/best.csv``, overall) with its mean validation and test
objective beside the grid's best setting by the same validation mean. The last line is
``RESULT compute_ratio=<search/grid> objective_ratio=<chosen/grid best>``, the largest of each over the seeds.

At full size the grid took 26 minutes and each search about 6 on a 2-core AMD EPYC (2026-12-03, README "Search").
A reduced grid (216 settings; 24 minutes with the torch trainer before the compiled step):
``python benchmarks/bench_search.py --set num_epochs=27 --set 'num_qubits=[2, 3]' --set num_training_runs=3
--set n_containers=2``.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from common import PAPER_CONFIG, REPO, apply_overrides, machine_line
#: Held-out weeks of the default study (config/config.yaml).
SPLIT = {"validation": 0.2, "test": 0.2}


def study_config(*, data: Path, overrides: list[str]) -> dict:
    """config/paper.json, validated, with the EPEX file, a split, no figures and the overrides."""
    from autoqml.config import load_config, validate_config

    cfg = copy.deepcopy(load_config(PAPER_CONFIG))
    for dist in cfg["distributions"]:
        dist["data_path"] = str(data)
        dist.pop("split", None)
    cfg.update(split=SPLIT, visualizations=[])
    return validate_config(apply_overrides(cfg, overrides), source="bench_search")


def run_workflow(workdir: Path, cfg: dict, *, cores: int) -> float:
    """Run the study in `workdir`; the wall seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "study.json"
    path.write_text(json.dumps(cfg, indent=1))
    start = time.perf_counter()
    # --rerun-incomplete: a benchmark killed mid-job (hours at full size) continues where it stopped
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
                    "--cores", str(cores), "--configfile", str(path), "--rerun-incomplete"], check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def grid_seed_steps(root: Path) -> int:
    """Seed-steps of the full grid: runs x steps of every trained cell."""
    results = [json.loads(p.read_text()) for p in (root / "cells").glob("*.json")]
    return sum(len(r["runs"]) * r["training"]["steps"] for r in results)


def chosen(root: Path, column: str) -> pd.Series:
    """The overall choice of a run's tables/best.csv with its setting's Table I row."""
    best = pd.read_csv(root / "tables" / "best.csv", dtype={"cell": str})
    stats = pd.read_csv(root / "tables" / "statistics.csv", dtype={"cell": str}).set_index("cell")
    cell = best.loc[best["choice"] == "overall", "cell"].iloc[0]
    return pd.Series({"cell": cell, "label": stats.loc[cell, "label"], "validation": stats.loc[cell, f"{column}_mean"],
                      "test": stats.loc[cell, f"{column.replace('_validation', '_test')}_mean"]})


def same_as_grid(root: Path, grid_root: Path) -> bool:
    """Whether every setting the search trained to num_epochs has the trained parameters of the grid's run."""
    from autoqml.search import completed_results

    for path in completed_results(root / "search" / "final.json"):
        mine = json.loads((root.parent.parent / path).read_text())
        grid = json.loads((grid_root / "cells" / Path(path).name).read_text())
        if [r["parameters"] for r in mine["runs"]] != [r["parameters"] for r in grid["runs"]]:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "epftoolbox_DE_2015.csv",
                        help="EPEX CSV in the source's format (the paper config filters column Price, hour 0, 2015)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, dotted key and YAML value (repeatable)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2022, 1, 2])
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--min-epochs", type=int, default=None, help="first rung (default num_epochs // eta^3)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "bench-search")
    args = parser.parse_args()

    cfg = study_config(data=args.data, overrides=args.overrides)
    print(machine_line(), flush=True)
    column = cfg["search"]["objectives"][0]
    grid_dir = args.out / "grid"
    wall_file = grid_dir / "wall.json"
    seconds = run_workflow(grid_dir, {**cfg, "search": {"strategy": "grid"}}, cores=args.cores)
    if not wall_file.is_file() or json.loads(wall_file.read_text())["config"] != cfg:
        wall_file.write_text(json.dumps({"seconds": seconds, "config": cfg}))
    grid_seconds = json.loads(wall_file.read_text())["seconds"]
    grid_root = grid_dir / "results" / cfg["study"]
    grid_steps = grid_seed_steps(grid_root)
    stats = pd.read_csv(grid_root / "tables" / "statistics.csv", dtype={"cell": str})
    grid_best = chosen(grid_root, column)
    print(f"grid: {len(stats)} settings x {cfg['num_training_runs']} runs x {cfg['num_epochs']} epochs, "
          f"{grid_steps:,} seed-steps, {grid_seconds:.0f} s wall; best {grid_best['label']}: {column} "
          f"{grid_best['validation']:.4f}, test {grid_best['test']:.4f}", flush=True)
    rows = []
    for seed in args.seeds:
        search = {"strategy": "successive_halving", "eta": args.eta, "min_epochs": args.min_epochs}
        wall = run_workflow(args.out / f"halving-{seed}", {**cfg, "seed": seed, "search": search},
                            cores=args.cores)
        root = args.out / f"halving-{seed}" / "results" / cfg["study"]
        table = pd.read_csv(root / "tables" / "search.csv")
        pick = chosen(root, column)
        rows.append({"seed": seed, "rungs": "/".join(map(str, sorted(set(table["epochs"])))),
                     "seed_steps": int(table["seed_steps"].sum()), "compute_ratio": table["seed_steps"].sum() / grid_steps,
                     "wall_s": wall, "chosen": pick["label"], f"{column}": pick["validation"], "test": pick["test"],
                     "objective_ratio": pick["validation"] / grid_best["validation"]})
        if seed == cfg["seed"]:  # the same cells as the grid's: the resumed rungs must give the grid's numbers
            rows[-1]["as_grid"] = "yes" if same_as_grid(root, grid_root) else "no"
        print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    print(frame.to_markdown(index=False, floatfmt=".4f"))
    print(f"RESULT compute_ratio={frame['compute_ratio'].max():.4f} objective_ratio={frame['objective_ratio'].max():.4f}")


if __name__ == "__main__":
    sys.exit(main())
