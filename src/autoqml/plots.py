"""The study's figures (paper Figs. 4-6 and loss curves), each written as ``<stem>.png`` and ``<stem>.pdf``.

Figures are built as bare :class:`matplotlib.figure.Figure` objects, never through pyplot: nothing is registered
in pyplot's figure manager (so nothing needs closing or leaks in long Snakemake jobs) and rendering always uses
the non-interactive Agg/PDF canvases, whatever backend the caller selected. The seaborn theme is applied inside
:func:`matplotlib.rc_context`, so importing or calling this module leaves global matplotlib state untouched.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import product
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from autoqml import aggregate
from autoqml.errors import AutoQMLError
from autoqml.store import atomic_write

#: Colours of Figs. 4 and 5: target light blue, generated dark blue.
TARGET_COLOR, GENERATED_COLOR = "lightskyblue", "navy"
KL_LABEL = "relative entropy D_KL(P‖Q)"
_LOG_DECADES = 1.5


class PlotError(AutoQMLError, ValueError):
    """A figure cannot be drawn from the inputs given; the message names the input and the fix."""


def render(figure: str, *, results: list[dict], stats: pd.DataFrame, entangling: pd.DataFrame | None, unit: str,
           metric: str, out: str | Path, choices: pd.DataFrame | None = None) -> None:
    """Draw one figure by its workflow name (values of ``autoqml.study.FIGURES``), so one rule serves them all.

    ``target_vs_best`` and ``loss_curves`` show the best setting and, for the histogram, its run with the lowest
    final metric (`metric`: a validation column with a split); ``best_by_qubits`` the models of `choices`
    (``tables/best.csv``): the models that :func:`autoqml.model.save_selection` stores.
    """
    _check_metric(metric)
    best = None
    if figure in ("target_vs_best", "loss_curves"):
        best = _result(_index(results), aggregate.best_setting(stats, metric=metric))
    if figure == "best_by_qubits":
        if choices is None:  # the workflow passes tables/best.csv; the same choice, made here
            choices = aggregate.selections(aggregate.run_table(results=results), stats, metric=metric)
        best_by_qubits(results=results, choices=choices, unit=unit, out=out)
    elif figure == "generalization_gap":
        generalization_gap(stats=stats, out=out)
    elif figure in ("entropy_by_initialization", "entropy_by_ansatz"):
        entropy_curves(results=results, stats=stats, by=figure.removeprefix("entropy_by_"), metric=metric, out=out)
    elif figure == "entangling_capability":
        if entangling is None:
            raise PlotError("entangling_capability needs the entangling table; pass the entangling/*.json inputs")
        entangling_capability(entangling=entangling, out=out)
    elif figure == "target_vs_best":
        target_vs_generated(result=best, run=aggregate.best_run(best, metric=metric), unit=unit, out=out)
    elif figure == "qubit_scaling":
        qubit_scaling(results=results, stats=stats, unit=unit, metric=metric, out=out)
    elif figure == "loss_curves":
        loss_curves(result=best, out=out)
    else:
        raise PlotError(f"unknown figure {figure!r}; use entropy_by_initialization, entropy_by_ansatz, "
                        "entangling_capability, target_vs_best, best_by_qubits, qubit_scaling, loss_curves or "
                        "generalization_gap")


def entropy_curves(*, results: list[dict], stats: pd.DataFrame, by: str, metric: str = "relative_entropy",
                   out: str | Path) -> None:
    """Fig. 6 top (``by="initialization"``) or middle (``by="ansatz"``): KL vs epoch of the best settings."""
    with _themed():
        _save(_entropy_figure(results=results, stats=stats, by=by, metric=metric), out)


def target_vs_generated(*, result: dict, run: int, unit: str, out: str | Path) -> None:
    """Fig. 4: the target histogram against what one run of a cell generates, titled with its KL and KS."""
    with _themed():
        fig = Figure(figsize=(7, 4.2), layout="tight")
        ax = fig.subplots()
        final = _histogram(ax, result, run)
        ax.set(xlabel=_value_label(unit), ylabel="probability")
        ax.set_title(f"{result['cell']['label']}\nrun {run}: KL={final['kl']:.4f}, KS={final['ks']:.4f}",
                     fontsize="medium")
        ax.legend()
        _save(fig, out)


def qubit_scaling(*, results: list[dict], stats: pd.DataFrame, unit: str, metric: str = "relative_entropy",
                  out: str | Path) -> None:
    """Fig. 5: per (ansatz, N) the best setting's best run, so one sees how each ansatz scales with qubits."""
    _check_metric(metric)
    by_id = _index(results)
    ansaetze, qubits = sorted(stats["ansatz"].unique()), sorted(stats["num_qubits"].unique())
    with _themed():
        fig = Figure(figsize=(3.4 * len(qubits) + 0.6, 2.8 * len(ansaetze) + 0.6), layout="tight")
        axes = fig.subplots(len(ansaetze), len(qubits), squeeze=False)
        for (i, ansatz), (j, n) in product(enumerate(ansaetze), enumerate(qubits)):
            ax, group = axes[i, j], stats[(stats["ansatz"] == ansatz) & (stats["num_qubits"] == n)]
            if group.empty:
                ax.text(0.5, 0.5, "not in grid", ha="center", va="center", transform=ax.transAxes)
                ax.set(xticks=[], yticks=[], title=f"{ansatz}, {n} qubits")
                continue
            result = _result(by_id, aggregate.best_setting(group, metric=metric))
            final = _histogram(ax, result, aggregate.best_run(result, metric=metric))
            ax.set_title(f"{ansatz}, {n} qubits, KL={final['kl']:.3f}", fontsize="medium")
            ax.set(xlabel=_value_label(unit) if i == len(ansaetze) - 1 else "",
                   ylabel="probability" if j == 0 else "")
        next(ax for ax in axes.flat if ax.patches).legend(fontsize="small")
        fig.suptitle(f"best run of the best setting per ansatz and N (ranked by {metric})")
        _save(fig, out)


def best_by_qubits(*, results: list[dict], choices: pd.DataFrame, unit: str, out: str | Path) -> None:
    """Fig. 4 per qubit count: the training target against the chosen model of each distribution and N, titled
    with the data each number is computed on (W1 in the data's unit on validation and test days)."""
    by_id = _index(results)
    rows = choices[choices["choice"] != "overall"].reset_index(drop=True)
    with _themed():
        fig = Figure(figsize=(4.4 * len(rows) + 0.6, 3.9), layout="tight")
        for ax, (_, row) in zip(fig.subplots(1, len(rows), squeeze=False)[0], rows.iterrows()):
            result = _result(by_id, row)
            final = _histogram(ax, result, int(row["run"]))
            held_out = (f"\nW1 validation {final['w1_validation']:.2f}, test {final['w1_test']:.2f} {unit}"
                        if "w1_validation" in final else "")
            ax.set_title(f"{row['distribution']}, {row['num_qubits']} qubits: {row['ansatz']} k{row['reps']} "
                         f"{row['initialization']}\nrun {row['run']}: training KL {final['kl']:.3f}{held_out}",
                         fontsize="small")
            ax.set(xlabel=_value_label(unit), ylabel="probability")
        fig.axes[0].legend(fontsize="small")
        fig.suptitle(f"best model per qubit count (selected by {rows['selected_by'].iloc[0]})", fontsize="medium")
        _save(fig, out)


def generalization_gap(*, stats: pd.DataFrame, out: str | Path) -> None:
    """Mean final KL per setting on the training data against the same on the test data, per qubit count: points
    above the diagonal fit the training days better than unseen days (overfitting)."""
    if stats["kl_test_mean"].isna().all():
        raise PlotError("generalization_gap: the statistics have no test columns; give the study a split")
    with _themed():
        fig = Figure(figsize=(5.6, 4.8), layout="tight")
        ax = fig.subplots()
        for n, group in stats.groupby("num_qubits", sort=True):
            ax.scatter(group["kl_mean"], group["kl_test_mean"], label=f"{n} qubits", alpha=0.8)
        top = float(np.nanmax(stats[["kl_mean", "kl_test_mean"]].to_numpy())) * 1.05
        ax.plot([0, top], [0, top], color="grey", linewidth=1, linestyle="--", label="test = training")
        ax.set(xlim=(0, top), ylim=(0, top), xlabel=f"training data: mean {KL_LABEL}",
               ylabel=f"test data: mean {KL_LABEL}", title="generalization gap, one point per setting")
        ax.legend(fontsize="small")
        _save(fig, out)


#: Axis labels of search objectives (means over a setting's runs).
_OBJECTIVE_LABELS = {"w1_validation": "validation data: mean W1", "kl_validation": f"validation data: mean {KL_LABEL}",
                     "ks_validation": "validation data: mean KS", "depth": "mean transpiled depth"}


def pareto_front(*, trials: pd.DataFrame, front: pd.DataFrame, objectives: list[str], unit: str,
                 out: str | Path) -> None:
    """A two-objective search: every completed trial, its Pareto front joined as a step line, per qubit count."""
    if len(objectives) != 2 or front.empty:
        raise PlotError(f"pareto: needs two objectives and a non-empty front; got {objectives} and "
                        f"{len(front)} front trials")
    x, y = objectives
    labels = [_OBJECTIVE_LABELS[o] + (f" [{unit}]" if o == "w1_validation" and unit else "") for o in objectives]
    with _themed():
        fig = Figure(figsize=(5.8, 4.6), layout="tight")
        ax = fig.subplots()
        for n, group in trials.groupby("num_qubits", sort=True):
            ax.scatter(group[x], group[y], alpha=0.6, label=f"{n} qubits")
        line = front.sort_values([x, y])
        ax.step(line[x], line[y], where="post", color="black", linewidth=1.2, label="Pareto front")
        ax.scatter(line[x], line[y], facecolors="none", edgecolors="black", s=80)
        ax.set(xlabel=labels[0], ylabel=labels[1], title=f"search: {len(trials)} completed trials, "
                                                             f"{len(front)} on the front")
        ax.legend(fontsize="small")
        _save(fig, out)


def entangling_capability(*, entangling: pd.DataFrame, out: str | Path) -> None:
    """Fig. 6 bottom: Meyer-Wallach entangling capability vs layers k, per ansatz, one panel per qubit count."""
    if entangling.empty:
        raise PlotError("entangling_capability: the entangling table is empty; compute it for at least one ansatz")
    qubits = sorted(entangling["num_qubits"].unique())
    with _themed():
        fig = Figure(figsize=(4.2 * len(qubits) + 0.6, 3.8), layout="tight")
        for ax, n in zip(fig.subplots(1, len(qubits), squeeze=False, sharey=True)[0], qubits):
            panel = entangling[entangling["num_qubits"] == n]
            for ansatz, rows in panel.groupby("ansatz", sort=True):
                rows = rows.sort_values("reps")
                ax.plot(rows["reps"], rows["entangling_capability"], marker="o", label=ansatz)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set(xlabel="layers k", ylim=(0, 1), title=f"{n} qubits")
            ax.legend(fontsize="small")
        fig.axes[0].set_ylabel("entangling capability (Meyer-Wallach)")
        samples = sorted(entangling["samples"].unique())
        fig.suptitle(f"mean over {', '.join(map(str, samples))} random parameter draws")
        _save(fig, out)


def loss_curves(*, result: dict, out: str | Path) -> None:
    """Discriminator and generator loss vs epoch (mean ± std over runs), to check the game stayed balanced."""
    with _themed():
        fig = Figure(figsize=(7, 4.2), layout="tight")
        ax = fig.subplots()
        for key, name in (("loss_d", "discriminator"), ("loss_g", "generator")):
            epochs, mean, std = _curve_stats(result, key)
            _band(ax, epochs, mean, std, label=name)
        ax.set(xlabel="epoch", ylabel="loss (binary cross-entropy, nats)")
        ax.set_title(f"{result['cell']['label']}\nmean ± std over {len(result['runs'])} runs", fontsize="medium")
        ax.legend()
        _save(fig, out)


def _entropy_figure(*, results: list[dict], stats: pd.DataFrame, by: str, metric: str) -> Figure:
    """The figure :func:`entropy_curves` saves, returned so tests can check what is plotted."""
    if by not in ("initialization", "ansatz"):
        raise PlotError(f"entropy_curves: by={by!r} is not supported; use 'initialization' or 'ansatz'")
    _check_metric(metric)
    by_id = _index(results)
    panels = sorted(stats["ansatz"].unique()) if by == "initialization" else [None]
    fig = Figure(figsize=(max(7.5, 5.2 * len(panels) + 0.6), 4.2), layout="tight")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    means = []
    for ax, ansatz in zip(axes, panels):
        group = stats if ansatz is None else stats[stats["ansatz"] == ansatz]
        for _, lines in group.groupby(by, sort=True):
            best = aggregate.best_setting(lines, metric=metric)
            epochs, mean, std = _curve_stats(_result(by_id, best), "kl")
            _band(ax, epochs, mean, std, label=_setting_name(best, by, stats))
            means.append(mean)
        ax.set(xlabel="epoch", title=ansatz or "")
        ax.legend(fontsize="small")
    axes[0].set_ylabel(KL_LABEL)
    positive = np.concatenate(means)
    positive = positive[positive > 0]
    if positive.size and np.log10(positive.max() / positive.min()) > _LOG_DECADES:
        axes[0].set_yscale("log")
    fig.suptitle(f"best setting per {by} (ranked by {metric}), mean ± std over runs", fontsize="medium")
    return fig


def _check_metric(metric: str) -> None:
    if metric not in aggregate.RANKING:
        raise PlotError(f"metric={metric!r} is unknown; use one of {sorted(aggregate.RANKING)}")


def _curve_stats(result: dict, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean and sample std (ddof=1, as in Table I) over a cell's runs of one logged curve."""
    values = np.array([run["curves"][key] for run in result["runs"]], dtype=float)
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])
    return np.asarray(result["runs"][0]["curves"]["epoch"]), values.mean(axis=0), std


def _band(ax: Axes, x: np.ndarray, mean: np.ndarray, std: np.ndarray, *, label: str) -> None:
    """A mean line with its ±1 std band in the same colour."""
    (line,) = ax.plot(x, mean, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def _histogram(ax: Axes, result: dict, run: int) -> dict:
    """Target (wide, light) and generated (narrow, dark) bars at the grid values; returns the run's final metrics."""
    runs = {r["run"]: r for r in result["runs"]}
    if run not in runs:
        raise PlotError(f"cell {result['cell']['label']}: run {run} does not exist; runs are {sorted(runs)}")
    grid = result["grid"]
    x = np.linspace(grid["low"], grid["high"], 2 ** grid["num_qubits"])
    step = x[1] - x[0] if grid["high"] > grid["low"] else 1.0
    ax.bar(x, result["target"], width=0.9 * step, color=TARGET_COLOR, linewidth=0, label="target")
    ax.bar(x, runs[run]["generated"], width=0.45 * step, color=GENERATED_COLOR, linewidth=0,
           label="generated")
    return runs[run]["final"]


def _setting_name(row: pd.Series, by: str, stats: pd.DataFrame) -> str:
    """A short legend name led by the `by` value; discriminator and learning rates only where the study varies."""
    parts = [row["initialization"]] if by == "ansatz" else []
    parts += [f"k={row['reps']}", f"N={row['num_qubits']}"]
    parts += [f"{col}={row[col]:g}" if col != "discriminator" else str(row[col])
              for col in ("discriminator", "d_lr", "g_lr") if stats[col].nunique() > 1]
    return f"{row[by]} ({', '.join(parts)})"


def _value_label(unit: str) -> str:
    return f"value [{unit}]" if unit else "value"


def _index(results: list[dict]) -> dict[str, dict]:
    return {result["cell"]["id"]: result for result in results}


def _result(by_id: dict[str, dict], row: pd.Series) -> dict:
    """The result of a statistics row; the two inputs must come from the same study."""
    try:
        return by_id[row["cell"]]
    except KeyError:
        raise PlotError(f"cell {row['cell']} ({row['label']}) is in the statistics but not in the results; "
                        "compute the statistics from the same results") from None


@contextmanager
def _themed() -> Iterator[None]:
    """Seaborn's whitegrid theme for one figure; rcParams are restored on exit (colour codes are left alone)."""
    with mpl.rc_context():
        sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95, color_codes=False)
        yield


def _save(fig: Figure, out: str | Path) -> None:
    """Write ``<out>.png`` (150 dpi) and ``<out>.pdf`` atomically; PDF without a timestamp, so reruns are stable."""
    out = Path(out)
    for suffix, options in ((".png", {"dpi": 150}), (".pdf", {"metadata": {"CreationDate": None}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], **options)
        atomic_write(out.with_name(out.name + suffix), buffer.getvalue())
