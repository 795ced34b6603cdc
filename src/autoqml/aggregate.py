"""From raw cell results to the paper's Table I: per-run rows, per-setting statistics, the best setting.

A *setting* is one cell (one hyperparameter combination); its statistics are the mean and sample standard
deviation over its runs of the final KL divergence, the KS statistic and the transpiled depth, and of the KL
divergence in qiskit's direction (``kl_qiskit``, +inf for a run whose target has empty bins: qiskit's value).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from autoqml.backends import STATEVECTOR
from autoqml.backends import label as backend_label
from autoqml.errors import AutoQMLError
from autoqml.metrics import ks_statistic, relative_entropy, relative_entropy_qiskit

#: Columns that identify a setting, in the order tables list them.
SETTING_COLUMNS = ["distribution", "ansatz", "num_qubits", "discriminator", "d_lr", "g_lr", "backend",
                   "initialization", "reps"]
#: Config ``metrics`` value -> statistics column that ranks settings.
RANKING = {"relative_entropy": "kl", "kolmogorov_smirnov": "ks"}
_LABELS = {"initialization": "Initialization", "reps": "k", "ks_mean": "µKS", "ks_std": "σKS",
           "kl_mean": "µRE", "kl_std": "σRE", "depth_mean": "µDepth", "depth_std": "σDepth",
           "kl_qiskit_mean": "µRE(Q‖P)", "kl_qiskit_std": "σRE(Q‖P)"}


def run_table(*, results: list[dict], depths: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """One row per run: setting columns, cell id and label, seed, final KL (both directions; None stored for
    qiskit's is +inf) and KS, and (if known) depth.

    `depths` maps a cell id to the transpiled depth of each of its runs (transpiler seeded per run).
    """
    rows = []
    for result in results:
        cell, p = result["cell"], result["cell"]["params"]
        setting = {
            "distribution": p["distribution"]["name"], "ansatz": p["ansatz"], "num_qubits": p["num_qubits"],
            "discriminator": p["discriminator"]["type"], "d_lr": p["discriminator"]["lr"],
            "g_lr": p["optimizer"]["lr"], "backend": backend_label(p.get("backend", STATEVECTOR)),
            "initialization": p["initialization"], "reps": p["reps"],
        }
        cell_depths = (depths or {}).get(cell["id"])
        for run in result["runs"]:
            depth = cell_depths[run["run"]] if cell_depths is not None else np.nan
            rows.append({**setting, "cell": cell["id"], "label": cell["label"], "run": run["run"],
                         "seed": run["seed"], "kl": run["final"]["kl"], "ks": run["final"]["ks"], "depth": depth,
                         "kl_qiskit": _infinite_if_none(run["final"]["kl_qiskit"])})
    if not rows:
        raise AutoQMLError("no results to aggregate: train at least one cell first")
    return pd.DataFrame(rows)


def _infinite_if_none(value: float | None) -> float:
    return np.inf if value is None else value


def load_depths(*, depth_files: list[str | Path], structure_of: dict[str, str]) -> dict[str, list[int]]:
    """Per cell, the per-run depths of its circuit structure (each file maps structure ids to depths)."""
    by_structure = {s: d for f in depth_files for s, d in json.loads(Path(f).read_text())["depths"].items()}
    return {cell: by_structure[s] for cell, s in structure_of.items() if s in by_structure}


def statistics(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sample std (ddof=1) over runs of KS, KL and depth per setting, sorted like Table I; a setting
    with an infinite qiskit-direction KL gets mean inf and std NaN there."""
    grouped = runs.groupby(["cell", "label", *SETTING_COLUMNS], sort=False)
    stats = grouped.agg(runs=("run", "size"), ks_mean=("ks", "mean"), ks_std=("ks", "std"),
                        kl_mean=("kl", "mean"), kl_std=("kl", "std"),
                        depth_mean=("depth", "mean"), depth_std=("depth", "std"),
                        kl_qiskit_mean=("kl_qiskit", "mean"), kl_qiskit_std=("kl_qiskit", "std")).reset_index()
    stats[["ks_std", "kl_std", "depth_std"]] = stats[["ks_std", "kl_std", "depth_std"]].fillna(0.0)
    return stats.sort_values(SETTING_COLUMNS, kind="stable").reset_index(drop=True)


def read_statistics(path: str | Path) -> pd.DataFrame:
    """The statistics CSV back as written (cell ids stay strings even when they look like numbers)."""
    return pd.read_csv(path, dtype={"cell": str, "label": str})


def best_setting(stats: pd.DataFrame, *, metric: str = "relative_entropy") -> pd.Series:
    """The setting with the lowest mean of the study's metric; ties go to the lower std, then lower depth."""
    column = RANKING[metric]
    order = stats.sort_values([f"{column}_mean", f"{column}_std", "depth_mean", "cell"], kind="stable")
    return order.iloc[0]


def write_tables(stats: pd.DataFrame, *, csv: str | Path, markdown: str | Path, latex: str | Path) -> None:
    """Table I as CSV (every column), Markdown and LaTeX (one table per distribution, ansatz, N, optimizers)."""
    from autoqml.store import atomic_write

    atomic_write(csv, stats.to_csv(index=False).encode())
    md_parts, tex_parts = [], []
    for title, table in _table_one(stats):
        md_parts.append(f"### {title}\n\n{table.to_markdown(index=False, floatfmt='.4f')}\n")
        tex_parts.append(table.to_latex(index=False, float_format="%.4f", caption=title.replace("_", r"\_"),
                                        escape=True))
    atomic_write(markdown, "\n".join(md_parts).encode())
    atomic_write(latex, "\n".join(tex_parts).encode())


def _table_one(stats: pd.DataFrame):
    """Tables laid out like the paper's: rows initialization x k, columns µKS σKS µRE σRE µDepth σDepth, then
    qiskit's direction µRE(Q‖P) σRE(Q‖P)."""
    keys = ["distribution", "ansatz", "num_qubits", "discriminator", "d_lr", "g_lr", "backend"]
    for values, group in stats.groupby(keys, sort=True):
        setting = dict(zip(keys, values))
        title = (f"{setting['distribution']}: {setting['num_qubits']}-qubit {setting['ansatz']} ansatz, "
                 f"{setting['discriminator']} (lr {setting['d_lr']:g}), generator lr {setting['g_lr']:g}"
                 + ("" if setting["backend"] == STATEVECTOR else f", trained on {setting['backend']}"))
        table = group[["initialization", "reps", "ks_mean", "ks_std", "kl_mean", "kl_std", "depth_mean",
                       "depth_std", "kl_qiskit_mean", "kl_qiskit_std"]].rename(columns=_LABELS)
        yield title, table.reset_index(drop=True)


# --- what aggregation reads, proved: every averaged number recomputed, every cell of the grid present ----------

#: Per-run final metric -> how it follows from the result's stored ``target`` and the run's ``generated``
#: distributions (``inf`` where the metric is unbounded; stored as null). A new final metric is one line here.
FINAL_METRICS = {
    "kl": lambda target, generated: relative_entropy(target=target, generated=generated),
    "kl_qiskit": lambda target, generated: relative_entropy_qiskit(target=target, generated=generated),
    "ks": lambda target, generated: ks_statistic(target=target, generated=generated),
}
#: Relative and absolute tolerance of a stored final metric against its recomputation (float64 round trips).
METRIC_TOLERANCE = 1e-9
_REGATHER = ("delete the file (and the cells' .json, .qpy and .npz files if they are wrong too) and run the "
             "workflow again to rebuild it")


def read_results(*, shards: list[str | Path], grid: str | Path) -> list[dict]:
    """The cell results of the raw shard files, after proving them.

    Each run's stored final metrics must follow from the result's own ``target`` and the run's ``generated``
    distributions (:data:`FINAL_METRICS`), and the shards together must hold exactly the cells of the grid
    manifest (``grid.json``, the cells the config admits). Raises :class:`ResultError` naming the file and the fix.
    """
    from autoqml.store import ResultError, read_shards

    results = []
    for path in map(str, shards):
        for result in read_shards([path]):
            problem = _contradiction(result)
            if problem:
                raise ResultError(f"{path}: cell {result['cell']['id']}: {problem}; the stored distributions "
                                  f"contradict it, so the result was edited or corrupted: {_REGATHER}")
            results.append(result)
    expected = set(json.loads(Path(grid).read_text())["cells"])
    found = [result["cell"]["id"] for result in results]
    missing, extra = sorted(expected - set(found)), sorted(set(found) - expected)
    repeated = sorted({cell for cell in found if found.count(cell) > 1})
    if missing or extra or repeated:
        parts = [f"{label} {', '.join(cells)}" for label, cells in
                 (("missing", missing), ("not in the grid", extra), ("more than once", repeated)) if cells]
        raise ResultError(f"{', '.join(map(str, shards))}: the raw shards do not hold exactly the grid's cells "
                          f"({grid}): {'; '.join(parts)}; they are stale: {_REGATHER}")
    return results


def _contradiction(result: dict) -> str | None:
    """The first stored final metric that its result's distributions contradict, described; else None."""
    target = np.asarray(result["target"], dtype=np.float64)
    for run in result["runs"]:
        for name, recompute in FINAL_METRICS.items():
            if name not in run["final"]:
                continue
            stored, value = run["final"][name], float(recompute(target, np.asarray(run["generated"])))
            stored_value = math.inf if stored is None else float(stored)
            if not (stored_value == value or math.isclose(stored_value, value, rel_tol=METRIC_TOLERANCE,
                                                          abs_tol=METRIC_TOLERANCE)):
                return f"run {run['run']}: final.{name} is {stored}, but its distributions give {value!r}"
    return None

