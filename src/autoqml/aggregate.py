"""From raw cell results to the paper's Table I: per-run rows, per-setting statistics, the best setting.

A *setting* is one cell (one hyperparameter combination); its statistics are the mean and sample standard
deviation over its runs of the final KL divergence, the KS statistic and the transpiled depth, and of the KL
divergence in qiskit's direction (``kl_qiskit``, +inf for a run whose target has empty bins: qiskit's value).
With a split (:mod:`autoqml.split`) also of KL, KS and W1 on the validation and the test data
(``kl_validation`` ... ``w1_test``).

Selection (:func:`selections`) reads one column: the study's ranking metric, a validation column with a split.
Test columns are reported beside every choice and read by none.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from autoqml.backends import STATEVECTOR
from autoqml.data import Grid
from autoqml.errors import AutoQMLError
from autoqml.grid import SETTING_COLUMNS, setting_of
from autoqml.metrics import held_out_metrics, ks_statistic, relative_entropy, relative_entropy_qiskit
from autoqml.split import HELD_OUT

#: Held-out metrics of every run: KL and KS on the run's grid, W1 against the held-out values.
HELD_OUT_METRICS = ("kl", "ks", "w1")
#: Run columns of the held-out metrics, validation first (``kl_validation``, ..., ``w1_test``).
HELD_OUT_COLUMNS = [f"{metric}_{part}" for part in HELD_OUT for metric in HELD_OUT_METRICS]
#: Config ``select_by`` value -> its metric's column prefix (the split's validation column ranks).
SELECTION = {"wasserstein": "w1", "relative_entropy": "kl", "kolmogorov_smirnov": "ks"}
#: Config ``metrics`` value (or a held-out column) -> run and statistics column that ranks settings.
RANKING = {"relative_entropy": "kl", "kolmogorov_smirnov": "ks", **{c: c for c in HELD_OUT_COLUMNS}}
_LABELS = {"initialization": "Initialization", "reps": "k", "ks_mean": "µKS", "ks_std": "σKS",
           "kl_mean": "µRE", "kl_std": "σRE", "depth_mean": "µDepth", "depth_std": "σDepth",
           "kl_qiskit_mean": "µRE(Q‖P)", "kl_qiskit_std": "σRE(Q‖P)",
           **{f"{m}_{part}_{s}": f"{'µ' if s == 'mean' else 'σ'}{dict(kl='RE', ks='KS', w1='W1')[m]}"
              for m in HELD_OUT_METRICS for part in HELD_OUT for s in ("mean", "std")}}


def run_table(*, results: list[dict], depths: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """One row per run: setting columns, cell id and label, seed, final KL (both directions; None stored for
    qiskit's is +inf) and KS, and (if known) depth.

    `depths` maps a cell id to the transpiled depth of each of its runs (transpiler seeded per run).
    """
    rows = []
    for result in results:
        cell = result["cell"]
        setting = setting_of(cell["params"])
        cell_depths = (depths or {}).get(cell["id"])
        for run in result["runs"]:
            depth = cell_depths[run["run"]] if cell_depths is not None else np.nan
            rows.append({**setting, "cell": cell["id"], "label": cell["label"], "run": run["run"],
                         "seed": run["seed"], "kl": run["final"]["kl"], "ks": run["final"]["ks"], "depth": depth,
                         "kl_qiskit": _infinite_if_none(run["final"]["kl_qiskit"]),
                         **{c: run["final"].get(c, np.nan) for c in HELD_OUT_COLUMNS}})
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
                        kl_qiskit_mean=("kl_qiskit", "mean"), kl_qiskit_std=("kl_qiskit", "std"),
                        **{f"{c}_{s}": (c, s) for c in HELD_OUT_COLUMNS for s in ("mean", "std")}).reset_index()
    stats[["ks_std", "kl_std", "depth_std"]] = stats[["ks_std", "kl_std", "depth_std"]].fillna(0.0)
    return stats.sort_values(SETTING_COLUMNS, kind="stable").reset_index(drop=True)


def read_statistics(path: str | Path) -> pd.DataFrame:
    """The statistics CSV back as written (cell ids stay strings even when they look like numbers)."""
    return read_runs(path)


def best_setting(stats: pd.DataFrame, *, metric: str = "relative_entropy") -> pd.Series:
    """The setting with the lowest mean of the study's metric; ties go to the lower std, then lower depth."""
    column = RANKING[metric]
    order = stats.sort_values([f"{column}_mean", f"{column}_std", "depth_mean", "cell"], kind="stable")
    return order.iloc[0]


def best_run(result: dict, *, metric: str = "relative_entropy") -> int:
    """The run of a cell result with the lowest final value of `metric` (ties: the lower run index)."""
    return min(result["runs"], key=lambda r: (r["final"][RANKING[metric]], r["run"]))["run"]


def ranking(cfg: dict) -> str:
    """What ranks runs and settings: the validation column of the config's ``select_by`` when its distributions
    are split, else the config's ``metrics`` on the training data (the paper's rule)."""
    if cfg["distributions"][0].get("split"):
        return f"{SELECTION[cfg['select_by']]}_validation"
    return cfg["metrics"]


#: Columns of ``tables/best.csv`` after the choice and the setting: what was chosen and how it scores.
BEST_COLUMNS = ["cell", "label", "run", "seed", "selected_by", "setting_mean", *HELD_OUT_COLUMNS, "kl", "ks",
                "depth"]


def selections(runs: pd.DataFrame, stats: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """``tables/best.csv``: the best setting per (distribution, qubit count) and overall, each with its best run.

    Both choices read only `metric`'s column (a setting by its mean over runs, ties: std, depth, cell id; a run by
    its final value, ties: run index); every other column, test metrics included, is reported, never compared.
    """
    column = RANKING[metric]
    chosen = [(f"{n} qubits", best_setting(group, metric=metric))
              for (_, n), group in stats.groupby(["distribution", "num_qubits"], sort=True)]
    chosen.append(("overall", best_setting(stats, metric=metric)))
    rows = []
    for choice, setting in chosen:
        candidates = runs[runs["cell"] == setting["cell"]]
        run = candidates.sort_values([column, "run"], kind="stable").iloc[0]
        rows.append({"choice": choice, **{c: setting[c] for c in SETTING_COLUMNS}, "cell": setting["cell"],
                     "label": setting["label"], "run": int(run["run"]), "seed": int(run["seed"]),
                     "selected_by": column, "setting_mean": setting[f"{column}_mean"],
                     **{c: run[c] for c in [*HELD_OUT_COLUMNS, "kl", "ks", "depth"]}})
    return pd.DataFrame(rows, columns=["choice", *SETTING_COLUMNS, *BEST_COLUMNS])


def read_runs(path: str | Path) -> pd.DataFrame:
    """The per-run table (``tables/runs.csv``) back as written."""
    return pd.read_csv(path, dtype={"cell": str, "label": str})


def write_tables(stats: pd.DataFrame, *, csv: str | Path, markdown: str | Path, latex: str | Path) -> None:
    """Table I as CSV (every column), Markdown and LaTeX (one table per distribution, ansatz, N, optimizers)."""
    from autoqml.store import atomic_write

    atomic_write(csv, stats.to_csv(index=False).encode())
    md_parts, tex_parts = [], []
    for title, table in _tables(stats):
        md_parts.append(f"### {title}\n\n{table.to_markdown(index=False, floatfmt='.4f')}\n")
        tex_parts.append(table.to_latex(index=False, float_format="%.4f", caption=title.replace("_", r"\_"),
                                        escape=True))
    atomic_write(markdown, "\n".join(md_parts).encode())
    atomic_write(latex, "\n".join(tex_parts).encode())


#: Columns whose values give each of Table I's tables its own title.
_TABLE_KEYS = ["distribution", "ansatz", "num_qubits", "discriminator", "d_lr", "g_lr", "backend"]


def _table_one(stats: pd.DataFrame):
    """Tables laid out like the paper's: rows initialization x k, columns µKS σKS µRE σRE µDepth σDepth, then
    qiskit's direction µRE(Q‖P) σRE(Q‖P)."""
    for values, group in _groups(stats):
        setting = dict(zip(_TABLE_KEYS, values))
        title = (f"{setting['distribution']}: {setting['num_qubits']}-qubit {setting['ansatz']} ansatz, "
                 f"{setting['discriminator']} (lr {setting['d_lr']:g}), generator lr {setting['g_lr']:g}"
                 + ("" if setting["backend"] == STATEVECTOR else f", trained on {setting['backend']}"))
        table = group[["initialization", "reps", "ks_mean", "ks_std", "kl_mean", "kl_std", "depth_mean",
                       "depth_std", "kl_qiskit_mean", "kl_qiskit_std"]].rename(columns=_LABELS)
        yield title, table.reset_index(drop=True)


def _tables(stats: pd.DataFrame):
    """Per group the paper's table, then (with a split) one table per held-out part: µ and σ of RE, KS, W1."""
    held_out = stats[HELD_OUT_COLUMNS[0] + "_mean"].notna().any() if len(stats) else False
    for (title, paper), (_, group) in zip(_table_one(stats), _groups(stats)):
        yield f"{title} (training data)" if held_out else title, paper
        for part in HELD_OUT if held_out else ():
            columns = [f"{m}_{part}_{s}" for m in HELD_OUT_METRICS for s in ("mean", "std")]
            yield (f"{title}: {part} data",
                   group[["initialization", "reps", *columns]].rename(columns=_LABELS).reset_index(drop=True))


def _groups(stats: pd.DataFrame):
    return stats.groupby(_TABLE_KEYS, sort=True)


# --- what aggregation reads, proved: every averaged number recomputed, every cell of the grid present ----------

#: Per-run final metric -> how it follows from the result's stored ``target`` and the run's ``generated``
#: distributions (``inf`` where the metric is unbounded; stored as null). A new final metric is one line here.
FINAL_METRICS = {
    "kl": lambda result, generated: relative_entropy(target=result["target"], generated=generated),
    "kl_qiskit": lambda result, generated: relative_entropy_qiskit(target=result["target"], generated=generated),
    "ks": lambda result, generated: ks_statistic(target=result["target"], generated=generated),
    **{f"{metric}_{part}": (lambda result, generated, metric=metric, part=part:
                            _held_out_metrics(result, part, generated)[metric])
       for part in HELD_OUT for metric in HELD_OUT_METRICS},
}


def _held_out_metrics(result: dict, part: str, generated: np.ndarray) -> dict:
    """KL, KS (on the grid) and W1 (at the grid values) of `generated` against the result's stored `part`."""
    grid, stored = result["grid"], result.get("held_out", {}).get(part)
    if stored is None:
        raise KeyError(f"held_out.{part}")
    return held_out_metrics(generated=generated, values=Grid(grid["low"], grid["high"], grid["num_qubits"]).values,
                            histogram=stored["histogram"], data=stored["values"])
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
    for run in result["runs"]:
        for name, recompute in FINAL_METRICS.items():
            if name not in run["final"]:
                continue
            try:
                value = float(recompute(result, np.asarray(run["generated"], dtype=np.float64)))
            except KeyError as missing:
                return f"run {run['run']}: final.{name} is stored, but the result has no {missing.args[0]} data"
            stored = run["final"][name]
            stored_value = math.inf if stored is None else float(stored)
            if not (stored_value == value or math.isclose(stored_value, value, rel_tol=METRIC_TOLERANCE,
                                                          abs_tol=METRIC_TOLERANCE)):
                return f"run {run['run']}: final.{name} is {stored}, but its distributions give {value!r}"
    return None

