"""Paper check: the 5-qubit ``zoufal`` part of ``config/paper.json`` trained as the paper's qiskit QGAN trained it,
its Table I printed beside the paper's.

The paper's Table I (arXiv:2202.08024) reports 10 runs per initialization x k of the 5-qubit Zoufal ansatz on the
2015 EPEX midnight prices; the discriminator and generator learning rates of that table are the paper config's
first values (custom_classical_1 at 1e-4, generator 1e-3). This trains those 9 cells (10 runs x 2000 epochs, 39
steps per epoch) with the library, one process per circuit shape (k), computes the transpiled depth per run as the
workflow does, and prints Table I with the paper's values in the same rows.

Run: ``python benchmarks/bench_paper.py`` (about 4 minutes on 2 cores); ``--epochs 50`` for a quick look;
``--set optimizer.state=persistent --set steps_per_epoch=1`` measures the earlier trainer on the same cells;
``--set 'ansaetze=[{type: zoufal, repetitions: [2]}]' --set 'initializations=[{type: uniform}]'`` one cell.
The last line is ``RESULT best=<setting> mean_re=<its mean RE> paper_best=0.2434``.
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from common import REPO, apply_overrides, programs

#: The paper's Table I: (initialization, k) -> (µKS, σKS, µRE, σRE, µDepth).
PAPER = {
    ("uniform", 1): (0.1780, 0.0519, 0.5692, 0.1325, 41.18), ("uniform", 2): (0.1104, 0.0470, 0.3562, 0.0947, 77.09),
    ("uniform", 3): (0.1540, 0.0807, 0.4329, 0.2479, 104.52), ("normal", 1): (0.1570, 0.0389, 0.2793, 0.0269, 203.42),
    ("normal", 2): (0.1446, 0.0531, 0.2434, 0.0383, 238.38), ("normal", 3): (0.1516, 0.0305, 0.2510, 0.0343, 271.2),
    ("random", 1): (0.3420, 0.1676, 1.1412, 0.6072, 33.75), ("random", 2): (0.1992, 0.0970, 0.7595, 0.3290, 74.55),
    ("random", 3): (0.1536, 0.1034, 0.5494, 0.4724, 101.89),
}


def paper_cells(*, data: Path, epochs: int, runs: int, overrides: list[str]):
    """The 9 cells: config/paper.json restricted to zoufal, 5 qubits, its first discriminator and generator lr."""
    from autoqml.config import load_config, validate_config
    from autoqml.grid import expand

    cfg = copy.deepcopy(load_config(REPO / "config" / "paper.json"))
    cfg["distributions"][0]["data_path"] = str(data)
    cfg.update(ansaetze=[a for a in cfg["ansaetze"] if a["type"] == "zoufal"], num_qubits=[5],
               discriminator=cfg["discriminator"][:1], num_epochs=epochs, num_training_runs=runs)
    cfg["discriminator"][0]["hparams"]["lr"] = cfg["discriminator"][0]["hparams"]["lr"][:1]
    cfg["optimizer"]["lr"] = cfg["optimizer"]["lr"][:1]
    return expand(validate_config(apply_overrides(cfg, overrides), source="bench_paper"))


def _train_shape(cells, out: str) -> list[dict]:
    from autoqml.train import train_cells

    return train_cells(cells=cells, out=out)


def _depths(result: dict) -> list[int]:
    from autoqml.evaluate import run_depths
    from autoqml.grid import Cell
    from autoqml.train import prepare

    params = result["cell"]["params"]
    return run_depths(circuit=prepare(Cell.from_params(params)).generator.circuit, device="fake_montreal",
                      seed=params["seed"], runs=params["num_training_runs"])


def table_one(results: list[dict]) -> pd.DataFrame:
    """Our Table I rows (mean and std over runs) with the paper's values beside them."""
    from autoqml.aggregate import run_table, statistics

    stats = statistics(run_table(results=results, depths={r["cell"]["id"]: _depths(r) for r in results}))
    rows = []
    for _, s in stats.iterrows():
        paper = PAPER[(s["initialization"], s["reps"])]
        rows.append({"Initialization": s["initialization"], "k": s["reps"], "µKS": s["ks_mean"],
                     "σKS": s["ks_std"], "µRE": s["kl_mean"], "σRE": s["kl_std"], "µDepth": s["depth_mean"],
                     "paper µKS": paper[0], "paper σKS": paper[1], "paper µRE": paper[2], "paper σRE": paper[3],
                     "paper µDepth": paper[4], "µRE(Q‖P)": s["kl_qiskit_mean"]})
    order = {"uniform": 0, "normal": 1, "random": 2}
    return pd.DataFrame(rows).sort_values(["Initialization", "k"], key=lambda c: c.map(order) if c.name ==
                                          "Initialization" else c).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "epftoolbox_DE_2015.csv",
                        help="EPEX CSV in the source's format (the paper config filters column Price, hour 0, 2015)")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, dotted key and YAML value (repeatable)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the cell results (default: temporary)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from autoqml import logs

    logs.configure(None)
    cells = paper_cells(data=args.data, epochs=args.epochs, runs=args.runs, overrides=args.overrides)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-paper-"))
    shapes = programs(cells)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, python {platform.python_version()}, "
          f"{len(cells)} cells x {args.runs} runs x {args.epochs} epochs, overrides {args.overrides or 'none'}, "
          f"results in {out}", flush=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = [r for batch in pool.map(_train_shape, shapes.values(), [str(out)] * len(shapes)) for r in batch]
    wall = time.perf_counter() - start
    training = results[0]["training"]
    print(f"trained in {wall:.0f} s wall: {training['steps_per_epoch']} steps per epoch "
          f"({training['real_batches']}), {training['steps']} steps per run")
    table = table_one(results)
    print(table.to_markdown(index=False, floatfmt=".4f"))
    best = table.loc[table["µRE"].idxmin()]
    print(f"RESULT best={best['Initialization']}_k{best['k']} mean_re={best['µRE']:.4f} paper_best=0.2434")


if __name__ == "__main__":
    sys.exit(main())
