"""Figures from synthetic cell results: every file is written whole, and the KL curves show the best settings."""

import hashlib
from itertools import product

import matplotlib as mpl
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from autoqml import aggregate, plots
from autoqml.study import FIGURES

ANSAETZE, INITIALIZATIONS, QUBITS, REPS = ("zoufal", "herr1"), ("uniform", "random"), (2, 3), (1, 2)
EPOCHS = list(range(0, 101, 10))


def _result(rng: np.random.Generator, *, ansatz: str, initialization: str, num_qubits: int, reps: int,
            runs: int = 3, scale: float = 2.0) -> dict:
    """A valid cell result with Dirichlet distributions and noisy, decaying KL/KS/loss curves."""
    params = {"distribution": {"name": "synthetic"}, "ansatz": ansatz, "reps": reps,
              "initialization": initialization, "num_qubits": num_qubits,
              "discriminator": {"type": "custom_classical_1", "lr": 1e-4}, "optimizer": {"lr": 1e-3}}
    label = f"synthetic {ansatz} k{reps} {initialization} q{num_qubits} custom_classical_1 dlr0.0001 glr0.001"
    size, t = 2**num_qubits, np.array(EPOCHS, dtype=float)
    run_list = []
    for r in range(runs):
        decay = np.exp(-t / rng.uniform(10, 40))
        kl = scale * decay * rng.uniform(0.8, 1.2, t.size) + rng.uniform(0.005, 0.05)
        ks = np.clip(0.5 * decay + rng.uniform(0.01, 0.1), 0, 1)
        curves = {"epoch": EPOCHS, "kl": kl.tolist(), "ks": ks.tolist(),
                  "loss_d": (1.4 - 0.2 * decay + rng.normal(0, 0.02, t.size)).tolist(),
                  "loss_g": (0.7 + 0.3 * decay + rng.normal(0, 0.02, t.size)).tolist()}
        run_list.append({"run": r, "seed": r, "initial_parameters": [], "parameters": [],
                         "generated": rng.dirichlet(np.ones(size)).tolist(),
                         "final": {"kl": float(kl[-1]), "kl_qiskit": float(1.1 * kl[-1]), "ks": float(ks[-1])},
                         "curves": curves})
    return {"format": "autoqml.cell-result", "version": 1,
            "cell": {"id": hashlib.sha256(label.encode()).hexdigest()[:12], "label": label, "params": params},
            "grid": {"low": -10.0, "high": 90.0, "num_qubits": num_qubits},
            "target": rng.dirichlet(np.ones(size)).tolist(), "runs": run_list}


def _study(seed: int = 7, **kwargs) -> tuple[list[dict], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    results = [_result(rng, ansatz=a, initialization=i, num_qubits=n, reps=k, **kwargs)
               for a, i, n, k in product(ANSAETZE, INITIALIZATIONS, QUBITS, REPS)]
    return results, aggregate.statistics(aggregate.run_table(results=results))


@pytest.fixture(scope="module")
def study() -> tuple[list[dict], pd.DataFrame]:
    return _study()


def _entangling() -> pd.DataFrame:
    rows = [{"ansatz": a, "reps": k, "num_qubits": n, "entangling_capability": min(1.0, 0.2 * k + 0.05 * n + 0.1 * (a == "zoufal")),
             "samples": 200} for a, n, k in product(ANSAETZE, QUBITS, (1, 2, 3))]
    return pd.DataFrame(rows)


def _mean_curve(result: dict, key: str = "kl") -> np.ndarray:
    return np.mean([run["curves"][key] for run in result["runs"]], axis=0)


def test_every_figure_is_written_as_png_and_pdf(tmp_path, study):
    results, stats = study
    before = dict(mpl.rcParams)
    out = tmp_path / "figures" / "nested"
    plots.entropy_curves(results=results, stats=stats, by="initialization", out=out / "kl_by_initialization")
    plots.entropy_curves(results=results, stats=stats, by="ansatz", metric="kolmogorov_smirnov",
                         out=out / "kl_by_ansatz")
    plots.target_vs_generated(result=results[0], run=1, unit="EUR/MWh", out=out / "best")
    plots.qubit_scaling(results=results, stats=stats, unit="", out=out / "qubit_scaling")
    plots.entangling_capability(entangling=_entangling(), out=out / "entangling")
    plots.loss_curves(result=results[0], out=out / "loss")

    # (height, width) in pixels at 150 dpi: figure size in inches x 150.
    expected = {"kl_by_initialization": (630, 1650), "kl_by_ansatz": (630, 1125), "best": (630, 1050),
                "qubit_scaling": (930, 1110), "entangling": (570, 1350), "loss": (630, 1050)}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}{x}" for s in expected for x in (".png", ".pdf"))
    for stem, (height, width) in expected.items():
        image = matplotlib.image.imread(out / f"{stem}.png")
        assert image.shape[:2] == (height, width), stem
        assert image.std() > 0, f"{stem}.png is blank"
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")
    assert dict(mpl.rcParams) == before, "the seaborn theme leaked into global rcParams"


@pytest.mark.parametrize("metric, column", [("relative_entropy", "kl"), ("kolmogorov_smirnov", "ks")])
def test_kl_by_initialization_plots_the_best_setting_of_each_group(study, metric, column):
    results, stats = study
    by_id = {r["cell"]["id"]: r for r in results}
    fig = plots._entropy_figure(results=results, stats=stats, by="initialization", metric=metric)
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == sorted(ANSAETZE)
    chosen = set()
    for ax in panels:
        lines = {line.get_label().split(" (")[0]: line for line in ax.get_lines()}
        assert sorted(lines) == sorted(INITIALIZATIONS)
        for init, line in lines.items():
            group = stats[(stats["ansatz"] == ax.get_title()) & (stats["initialization"] == init)]
            best = aggregate.best_setting(group, metric=metric)
            assert best[f"{column}_mean"] == group[f"{column}_mean"].min()
            assert line.get_label() == f"{init} (k={best['reps']}, N={best['num_qubits']})"
            np.testing.assert_array_equal(line.get_xdata(), EPOCHS)
            np.testing.assert_allclose(line.get_ydata(), _mean_curve(by_id[best["cell"]]))
            chosen.add((best["reps"], best["num_qubits"]))
    assert fig.axes[0].get_ylabel() == "relative entropy D_KL(P‖Q)"
    assert all(ax.get_xlabel() == "epoch" for ax in panels)
    assert len(chosen) > 1, "synthetic study too uniform: every group picked the same setting"


def test_kl_by_ansatz_has_one_line_per_ansatz(study):
    results, stats = study
    by_id = {r["cell"]["id"]: r for r in results}
    (ax,) = plots._entropy_figure(results=results, stats=stats, by="ansatz", metric="relative_entropy").axes
    lines = {line.get_label().split(" (")[0]: line for line in ax.get_lines()}
    assert sorted(lines) == sorted(ANSAETZE)
    for ansatz, line in lines.items():
        best = aggregate.best_setting(stats[stats["ansatz"] == ansatz])
        assert f"{best['initialization']}, k={best['reps']}" in line.get_label()
        np.testing.assert_allclose(line.get_ydata(), _mean_curve(by_id[best["cell"]]))


def test_y_axis_is_logarithmic_only_for_wide_ranges(study):
    results, stats = study
    wide = plots._entropy_figure(results=results, stats=stats, by="ansatz", metric="relative_entropy")
    narrow_results, narrow_stats = _study(scale=0.01)
    narrow = plots._entropy_figure(results=narrow_results, stats=narrow_stats, by="ansatz",
                                   metric="relative_entropy")
    assert wide.axes[0].get_yscale() == "log"
    assert narrow.axes[0].get_yscale() == "linear"


def test_qubit_scaling_marks_missing_combinations(tmp_path, study, monkeypatch):
    results, stats = study
    keep = ~((stats["ansatz"] == "herr1") & (stats["num_qubits"] == 3))
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: figures.append(fig))
    plots.qubit_scaling(results=results, stats=stats[keep], unit="EUR/MWh", out=tmp_path / "scaling")
    (fig,) = figures
    texts = {ax.get_title(): [t.get_text() for t in ax.texts] for ax in fig.axes}
    assert texts["herr1, 3 qubits"] == ["not in grid"]
    zoufal_3 = stats[(stats["ansatz"] == "zoufal") & (stats["num_qubits"] == 3)]
    best = {r["cell"]["id"]: r for r in results}[aggregate.best_setting(zoufal_3)["cell"]]
    best_kl = min(run["final"]["kl"] for run in best["runs"])
    assert f"zoufal, 3 qubits, KL={best_kl:.3f}" in texts
    assert fig.axes[-1].get_xlabel() == "value [EUR/MWh]"


@pytest.mark.parametrize("call, message", [
    (lambda r, s, out: plots.entropy_curves(results=r, stats=s, by="reps", out=out), "by='reps'"),
    (lambda r, s, out: plots.entropy_curves(results=r, stats=s, by="ansatz", metric="mse", out=out), "'mse'"),
    (lambda r, s, out: plots.qubit_scaling(results=r, stats=s, unit="", metric="mse", out=out), "'mse'"),
    (lambda r, s, out: plots.render("violin", results=r, stats=s, entangling=None, unit="", metric="relative_entropy",
                                    out=out), "unknown figure 'violin'"),
    (lambda r, s, out: plots.render("entangling_capability", results=r, stats=s, entangling=None, unit="",
                                    metric="relative_entropy", out=out), "needs the entangling table"),
    (lambda r, s, out: plots.entropy_curves(results=r[1:], stats=s, by="ansatz", out=out), "not in the results"),
    (lambda r, s, out: plots.target_vs_generated(result=r[0], run=5, unit="", out=out), "run 5 does not exist"),
    (lambda r, s, out: plots.entangling_capability(entangling=_entangling().iloc[:0], out=out), "empty"),
])
def test_bad_inputs_are_named_and_nothing_is_written(tmp_path, study, call, message):
    results, stats = study
    if message == "not in the results":  # make sure the missing cell is one the figure needs
        stats = stats[stats["cell"] == results[0]["cell"]["id"]]
    with pytest.raises(plots.PlotError, match=message):
        call(results, stats, tmp_path / "figure")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [name for names in FIGURES.values() for name in names if name != "generalization_gap"])
def test_render_draws_every_workflow_figure(tmp_path, study, name):
    results, stats = study
    plots.render(name, results=results, stats=stats, entangling=_entangling(), unit="EUR/MWh",
                 metric="kolmogorov_smirnov", out=tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.pdf", f"{name}.png"]


def test_render_shows_the_run_the_best_model_is_taken_from(tmp_path, study, monkeypatch):
    results, stats = study
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: figures.append(fig))
    for name in ("target_vs_best", "loss_curves"):
        plots.render(name, results=results, stats=stats, entangling=None, unit="EUR/MWh",
                     metric="kolmogorov_smirnov", out=tmp_path / name)
    best = aggregate.best_setting(stats, metric="kolmogorov_smirnov")
    result = {r["cell"]["id"]: r for r in results}[best["cell"]]
    run = int(np.argmin([r["final"]["ks"] for r in result["runs"]]))
    histogram, losses = (fig.axes[0].get_title() for fig in figures)
    assert histogram.startswith(f"{best['label']}\nrun {run}: ")
    assert losses.startswith(best["label"])


def test_generalization_gap_needs_test_columns_and_draws_them(tmp_path, study, monkeypatch):
    _, stats = study
    with pytest.raises(plots.PlotError, match="no test columns; give the study a split"):
        plots.render("generalization_gap", results=[], stats=stats, entangling=None, unit="", metric="relative_entropy",
                     out=tmp_path / "gap")
    held_out = stats.assign(kl_test_mean=stats["kl_mean"] * 1.5)
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out: figures.append(fig))
    plots.generalization_gap(stats=held_out, out=tmp_path / "gap")
    points = np.concatenate([c.get_offsets() for c in figures[0].axes[0].collections])
    assert np.allclose(sorted(points[:, 1]), sorted(held_out["kl_test_mean"]))
