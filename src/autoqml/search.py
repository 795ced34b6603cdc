"""Adaptive search over a study's settings: rungs of epochs, rounds of trials, the objective, the step files.

A search (config ``search.strategy`` other than ``grid``) runs as a sequence of *steps*. A step is one rung of one
round: the settings it trains, each to the rung's epochs, continuing from the state its previous rung stored.

- **Rungs** (:func:`rungs`): ``min_epochs``, ``min_epochs * eta``, ``min_epochs * eta^2``, ... while eta times
  the rung still fits within ``num_epochs``, then ``num_epochs`` itself, so the last rung always trains to the
  study's epochs; when they are not ``min_epochs`` times a power of ``eta`` the remainder joins the last rung.
- **Rounds**: successive halving (:mod:`autoqml.halving`) has one round over the whole grid; TPE
  (:mod:`autoqml.tpe`) has ceil(n_trials / trials_per_round) rounds of proposed trials, each through every rung
  (with two objectives a round has one rung: Optuna prunes single-objective studies only).
- **Objective** (:func:`scores`): per setting the mean over its runs of a validation metric (``w1_validation``,
  ``kl_validation``, ``ks_validation``; never a test metric), or ``depth``, the mean transpiled depth of its runs.
  Everything is minimized; ties go to the lower cell id.

Each step is a Snakemake checkpoint that writes ``search/plan-<step>.json`` (:func:`plan`): the trials and cells
the step trains, their shards, where each continues from, and the records of the step before (objective values,
kept or stopped). The training of a step is ordinary shard jobs (:func:`train_step`); after the last step
:func:`finish` writes ``search/final.json``, the manifest of the settings trained to ``num_epochs`` that Table I,
the best model and the figures aggregate, and the records as ``tables/search.csv``.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from autoqml.files import atomic_write
from autoqml.grid import SETTING_COLUMNS, Cell, setting_of

#: Strategies that search (``grid`` trains every cell and needs none of this module).
STRATEGIES = ("successive_halving", "tpe")
#: Objectives: validation metrics (mean over a setting's runs) and the mean transpiled depth.
VALIDATION_OBJECTIVES = ("w1_validation", "kl_validation", "ks_validation")
DEPTH = "depth"
#: Decisions recorded per trial and rung in ``tables/search.csv``.
KEPT, STOPPED, PRUNED, COMPLETED = "kept", "stopped", "pruned", "completed"
#: Where studies live (``results/<study>``), as :class:`autoqml.study.Study` places them.
RESULTS = "results"
#: Config keys that change nothing a search decides (the step checkpoints do not take them).
_NOT_SEARCHED = ("name", "goal", "visualizations", "evaluation", "entangling_samples")


def rungs(*, min_epochs: int, eta: int, num_epochs: int) -> list[int]:
    """Epochs of each rung: ``min_epochs``, then ``min_epochs * eta^i`` while eta times it still fits within
    `num_epochs`, then `num_epochs`.

    When `num_epochs` is not ``min_epochs`` times a power of `eta`, the remainder is merged into the last rung,
    which is then between eta and eta^2 times the rung before (never a rung of a few epochs just below the end).

    >>> rungs(min_epochs=74, eta=3, num_epochs=2000)
    [74, 222, 666, 2000]
    >>> rungs(min_epochs=5, eta=3, num_epochs=20)
    [5, 20]
    """
    out, epochs = [], min_epochs
    while epochs < num_epochs and (not out or epochs * eta <= num_epochs):
        out.append(epochs)
        epochs *= eta
    return [*out, num_epochs]


def search_problems(cfg: dict, *, grid_checked: bool = True) -> list[str]:
    """Check the ``search`` block against the rest of the config and fill its derived defaults.

    Fills ``objectives`` (the validation column of ``select_by``), ``min_epochs`` (num_epochs // eta^3, at
    least 1) and ``seed`` (the study's). Each problem names the field and the fix. TPE's search space is checked
    only when the rest of the config was found sound (`grid_checked`): it reads the grid's axes.
    """
    from autoqml.aggregate import SELECTION

    spec = cfg["search"]
    strategy = spec["strategy"]
    if spec["objectives"] is None:
        spec["objectives"] = [f"{SELECTION[cfg['select_by']]}_validation"]
    if spec["min_epochs"] is None:
        spec["min_epochs"] = max(1, cfg["num_epochs"] // spec["eta"] ** 3)
    if spec["seed"] is None:
        spec["seed"] = cfg["seed"]
    if strategy == "grid":
        return []
    problems = []
    if not any(d.get("split") for d in cfg["distributions"]):
        problems.append(f"search.strategy: {strategy} chooses settings on validation data, but the study has no "
                        f"split; add `split: {{validation: 0.2, test: 0.2}}` (config/README.md, Held-out data) "
                        f"or use strategy: grid")
    objectives = spec["objectives"]
    if not set(objectives) & set(VALIDATION_OBJECTIVES):
        problems.append(f"search.objectives: got {objectives}; depth alone needs no training: add a validation "
                        f"metric ({', '.join(VALIDATION_OBJECTIVES)})")
    if strategy == "successive_halving" and len(objectives) > 1:
        problems.append(f"search.objectives: got {objectives}; successive_halving ranks settings by one "
                        f"objective: give one, or use strategy: tpe for a Pareto front of two")
    if spec["min_epochs"] > cfg["num_epochs"]:
        problems.append(f"search.min_epochs: got {spec['min_epochs']}, more than num_epochs {cfg['num_epochs']}; "
                        f"the first rung must not train beyond the last: set it to at most num_epochs")
    if any(value is not None for value in cfg["budget"].values()):
        problems.append("budget: caps which grid cells start, but a search decides that itself by its rungs; "
                        "remove budget, or use search.strategy: grid")
    if strategy == "successive_halving" and spec["ranges"]:
        problems.append(f"search.ranges: successive_halving searches the grid's listed values; ranges "
                        f"({', '.join(spec['ranges'])}) are for strategy: tpe: remove them or switch strategy")
    for axis, bounds in spec["ranges"].items():
        if not bounds["low"] < bounds["high"]:
            problems.append(f"search.ranges.{axis}: got low {bounds['low']}, high {bounds['high']}; "
                            f"a range needs low < high")
    if strategy == "tpe" and grid_checked:
        if spec["trials_per_round"] > spec["n_trials"]:
            problems.append(f"search.trials_per_round: got {spec['trials_per_round']}, more than n_trials "
                            f"{spec['n_trials']}; lower it to at most n_trials")
        from autoqml.tpe import space

        if not space(cfg):
            problems.append("search.strategy: tpe has nothing to choose (every grid axis has one value and "
                            "search.ranges is empty); list more values or give a range")
    return problems


@dataclass(frozen=True)
class Search:
    """A study's search: its strategy, rungs, rounds and steps, and where each step's files are."""

    cfg: dict
    root: str

    @classmethod
    def of(cls, cfg: dict) -> Search:
        """The search of a validated config, in ``results/<study>`` (for jobs, without the whole study model)."""
        return cls(cfg, f"{RESULTS}/{cfg['study']}")

    @property
    def spec(self) -> dict:
        return self.cfg["search"]

    @property
    def strategy(self) -> str:
        return self.spec["strategy"]

    @property
    def objectives(self) -> list[str]:
        return list(self.spec["objectives"])

    @cached_property
    def rungs(self) -> list[int]:
        """Epochs of the rungs of a round (one rung, num_epochs, for a two-objective TPE: nothing prunes)."""
        if self.strategy == "tpe" and len(self.objectives) > 1:
            return [self.cfg["num_epochs"]]
        return rungs(min_epochs=self.spec["min_epochs"], eta=self.spec["eta"], num_epochs=self.cfg["num_epochs"])

    @property
    def rounds(self) -> int:
        if self.strategy == "tpe":
            return math.ceil(self.spec["n_trials"] / self.spec["trials_per_round"])
        return 1

    def round_trials(self, round_: int) -> range:
        """Trial numbers of a TPE round (trials_per_round each, the last round the rest)."""
        per = self.spec["trials_per_round"]
        return range(round_ * per, min((round_ + 1) * per, self.spec["n_trials"]))

    @property
    def steps(self) -> list[tuple[int, int]]:
        """(round, rung) of every step, in order."""
        return [(r, g) for r in range(self.rounds) for g in range(len(self.rungs))]

    @property
    def last_step(self) -> int:
        return len(self.steps) - 1

    @property
    def final_steps(self) -> list[int]:
        """The steps that train to ``num_epochs`` (every round's last rung)."""
        return [step for step, (_, rung) in enumerate(self.steps) if rung == len(self.rungs) - 1]

    @property
    def needs_depth(self) -> bool:
        return DEPTH in self.objectives

    @property
    def decided_cfg(self) -> dict:
        """The config keys the step checkpoints read (labels and figures left out, so editing them reruns none)."""
        return {key: value for key, value in self.cfg.items() if key not in _NOT_SEARCHED}

    def shard_seconds(self, plan_doc: dict, cells: list[str]) -> float:
        """Estimated seconds of one shard job of a step (for its cluster runtime)."""
        return step_seconds(self, rung=plan_doc["rung"], params=[plan_doc["cells"][cell] for cell in cells])

    # -- paths --------------------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def plan_path(self, step: int | str) -> str:
        return self.path("search", f"plan-{step}.json")

    def train_dir(self, step: int | str, shard: int | str) -> str:
        return self.path("search", f"step-{step}", f"shard-{shard}")

    @property
    def final_path(self) -> str:
        return self.path("search", "final.json")

    @property
    def storage(self) -> str:
        """Optuna's storage: the config's URL, else SQLite in ``results/<study>/search/optuna.db``."""
        return self.spec["storage"] or f"sqlite:///{self.path('search', 'optuna.db')}"

    @property
    def tables(self) -> list[str]:
        out = [self.path("tables", "search.csv")]
        return [*out, self.path("tables", "pareto.csv")] if len(self.objectives) > 1 else out

    @property
    def figures(self) -> list[str]:
        if len(self.objectives) < 2:
            return []
        return [self.path("figures", f"pareto.{ext}") for ext in ("png", "pdf")]


# -- what a step's training gave: objective values per cell -------------------------------------------------------
def read_step_results(plan_doc: dict, dirs: list[str | Path]) -> dict[str, dict]:
    """Cell id -> result of a step's training (``<dir>/<id>.json``, proved by :func:`autoqml.store.read_result`)."""
    from autoqml.store import read_result

    return {cell: read_result(Path(dirs[shard]) / f"{cell}.json")
            for shard, cells in enumerate(plan_doc["shards"]) for cell in cells}


def scores(results: dict[str, dict], *, objectives: list[str], depths: dict[str, list[int]] | None = None,
           device: str | None = None) -> dict[str, list[float]]:
    """Cell id -> its objective values: each validation metric's mean over the cell's runs, or the mean depth of
    its runs (`depths`: structure id -> per-run depths, the depth rule's files; `device` names their device)."""
    from autoqml.study import structure_id

    out = {}
    for cell, result in results.items():
        values = []
        for objective in objectives:
            if objective == DEPTH:
                values.append(float(np.mean(depths[structure_id(result["cell"]["params"], device=device)])))
            else:
                values.append(float(np.mean([run["final"][objective] for run in result["runs"]])))
        out[cell] = values
    return out


def load_depths(paths: list[str | Path]) -> dict[str, list[int]]:
    """Structure id -> per-run depths, from the depth rule's files."""
    return {s: d for path in paths for s, d in json.loads(Path(path).read_text())["depths"].items()}


def ranked(values: dict[str, list[float]]) -> list[str]:
    """Cell ids, best first: by the first objective, then the others, ties to the lower id (NaN last)."""
    return sorted(values, key=lambda cell: ([math.inf if math.isnan(v) else v for v in values[cell]], cell))


def records(plan_doc: dict, results: dict[str, dict], values: dict[str, list[float]], decisions: dict[int, str],
            *, objectives: list[str]) -> list[dict]:
    """Rows of ``tables/search.csv`` for a trained step: one per trial, with its setting, epochs, seed-steps
    trained in this rung, objective values and decision."""
    rows = []
    for trial in plan_doc["trials"]:
        cell, result = trial["cell"], results[trial["cell"]]
        rows.append({"trial": trial["trial"], "cell": cell, "label": result["cell"]["label"],
                     **setting_of(result["cell"]["params"]), "round": plan_doc["round"], "rung": plan_doc["rung"],
                     "epochs": result["training"]["epochs"], "seed_steps": result["timings"]["seed_steps"],
                     **dict(zip(objectives, values[cell])), "decision": decisions[trial["trial"]]})
    return rows


# -- a step's plan ------------------------------------------------------------------------------------------------
def plan(search: Search, *, step: int, trials: list[tuple[int, Cell]], previous: dict | None,
         rows: list[dict]) -> dict:
    """The plan of `step`: its trials (trial number, cell), cells, shards and where each cell continues from.

    `previous` is the plan of the step before (None for the first); a cell of a later rung continues from the
    state its previous rung stored (``resume``: that step's shard folder). `rows` are the records of the step
    before, decided by this one.
    """
    from autoqml.study import balance, batch_units

    round_, rung = search.steps[step]
    cells = {cell.id: cell for _, cell in trials}
    shards = min(search.cfg["n_containers"], len(cells))
    resumed = search.rungs[rung - 1] if rung else 0
    params = {cell_id: cell.params for cell_id, cell in cells.items()}
    shard_of = balance(batch_units(cells, shards), shards,
                       lambda unit: step_seconds(search, rung=rung, params=[params[c] for c in unit]))
    where = {}
    if rung and previous is not None:
        where = {cell: search.train_dir(step - 1, shard) for shard, members in enumerate(previous["shards"])
                 for cell in members}
    return {"format": "autoqml.search-step", "strategy": search.strategy, "step": step, "round": round_,
            "rung": rung, "epochs": search.rungs[rung], "resumed_from": resumed,
            "trials": [{"trial": number, "cell": cell.id} for number, cell in trials],
            "cells": {cell_id: cell.params for cell_id, cell in sorted(cells.items())},
            "shards": [sorted(c for c, s in shard_of.items() if s == i) for i in range(shards)],
            "resume": {cell: where[cell] for cell in sorted(cells)} if rung else {},
            "records": rows}


def step_seconds(search: Search, *, rung: int, params: list[dict]) -> float:
    """Estimated seconds of training cells of these `params` through `rung` (from the rung before), in one job."""
    from autoqml.study import JOB_OVERHEAD_S, params_seconds

    share = (search.rungs[rung] - (search.rungs[rung - 1] if rung else 0)) / search.cfg["num_epochs"]
    return JOB_OVERHEAD_S + share * sum(params_seconds(p) for p in params)


def write_json(path: str | Path, document: dict) -> None:
    """A step file, atomically, with sorted keys (a rerun that decides the same writes the same bytes)."""
    atomic_write(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False).encode())


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def propose(search: Search, *, step: int, previous: dict | None, results: dict[str, dict],
            depths: dict[str, list[int]]) -> dict:
    """Tell the step before what its training gave and propose this step: the strategy's plan of `step`."""
    values = scores(results, objectives=search.objectives, depths=depths, device=search.cfg["device"])
    if search.strategy == "tpe":
        from autoqml.tpe import propose_step
    else:
        from autoqml.halving import propose_step
    return propose_step(search, step=step, previous=previous, results=results, values=values)


def finish(search: Search, *, plans: list[dict], results: dict[str, dict], depths: dict[str, list[int]]) -> dict:
    """After the last step: tell its results, and return the final manifest (with the records and Pareto rows).

    The manifest lists the cells trained to ``num_epochs`` (``cells``, the grid manifest's key that
    :func:`autoqml.aggregate.read_results` proves the shards against), the folder holding each one's result and
    its structure id (for its depth in Table I).
    """
    from autoqml.study import structure_id

    last = plans[-1]
    values = scores(results, objectives=search.objectives, depths=depths, device=search.cfg["device"])
    if search.strategy == "tpe":
        from autoqml.tpe import finish_study

        rows, pareto = finish_study(search, last=last, results=results, values=values)
    else:
        rows = records(last, results, values, {t["trial"]: COMPLETED for t in last["trials"]},
                       objectives=search.objectives)
        pareto = []
    all_rows = [row for p in plans[1:] for row in p["records"]] + rows
    completed = sorted({row["cell"] for row in all_rows if row["decision"] == COMPLETED})
    where = {}
    for step, p in enumerate(plans):
        for shard, members in enumerate(p["shards"]):
            for cell in members:
                if p["epochs"] == search.cfg["num_epochs"]:
                    where[cell] = search.train_dir(step, shard)
    params = {cell: p["cells"][cell] for p in plans for cell in p["cells"]}
    return {"format": "autoqml.search-final", "study": search.cfg["study"], "cells": completed,
            "where": {cell: where[cell] for cell in completed},
            "structures": {cell: structure_id(params[cell], device=search.cfg["device"]) for cell in completed},
            "records": all_rows, "pareto": pareto}


def completed_results(final_path: str | Path, *, located: dict[str, str] | None = None) -> list[str]:
    """The result files of a search's final settings (``search/final.json``), in cell order; `located` maps a
    training folder's name to where this job sees it (a local copy under remote storage)."""
    final, located = read_json(final_path), located or {}
    return [f"{located.get(final['where'][cell], final['where'][cell])}/{cell}.json" for cell in final["cells"]]


def records_csv(rows: list[dict], *, objectives: list[str]) -> bytes:
    """``tables/search.csv``: one row per trial and rung, in trial then rung order."""
    columns = ["trial", "cell", "label", *SETTING_COLUMNS, "round", "rung", "epochs", "seed_steps", *objectives,
               "decision"]
    frame = pd.DataFrame(rows, columns=columns).sort_values(["trial", "rung"], kind="stable")
    return frame.to_csv(index=False).encode()


def pareto_csv(rows: list[dict], *, objectives: list[str]) -> bytes:
    """``tables/pareto.csv``: the non-dominated completed trials, by the first objective."""
    columns = ["trial", "cell", "label", *SETTING_COLUMNS, *objectives]
    frame = pd.DataFrame(rows, columns=columns).sort_values([*objectives, "trial"], kind="stable")
    return frame.to_csv(index=False).encode()


# -- a step's training: ordinary shard jobs ----------------------------------------------------------------------
def train_step(*, plan_doc: dict, shard: int, out: str | Path, routing: dict | None = None,
               resume: dict[str, str] | None = None, **training) -> list[dict]:
    """Train shard `shard` of a step to the step's epochs, each cell continuing from its previous rung's state.

    The states (``<id>.state.npz``) may lie in several shard folders of the step before (`resume` maps a folder's
    name in the plan to where this job sees it); they are linked into one folder for
    :func:`autoqml.train.train_cells`, which also takes the study's `training` options (fault checkpoints, device).
    """
    from autoqml.train import train_cells

    resume = resume or {}
    cells = [Cell.from_params(plan_doc["cells"][cell]) for cell in plan_doc["shards"][shard]]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    common = {"cells": cells, "out": out, "progress_every": cells[0].params["log_every"], "routing": routing,
              "epochs": plan_doc["epochs"], **training}
    if not plan_doc["rung"]:
        return train_cells(**common)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.resume-") as states:
        for cell in cells:
            name = f"{cell.id}.state.npz"
            folder = plan_doc["resume"][cell.id]
            (Path(states) / name).symlink_to((Path(resume.get(folder, folder)) / name).resolve())
        return train_cells(**common, resume=states)
