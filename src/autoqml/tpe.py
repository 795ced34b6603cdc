"""TPE search: Optuna's Tree-structured Parzen Estimator proposes settings, its successive-halving pruner stops
the poor ones at the rungs (Bergstra et al. 2011; Akiba et al. 2019, arXiv:1907.10902; multi-objective TPE, Ozaki
et al. 2020, when two objectives are given).

The search space (:func:`space`) is the grid's axes with more than one listed value, as categorical parameters
over their labels, plus the continuous ranges of ``search.ranges``, which replace a learning-rate axis. A trial's
values define a cell (:func:`cell_from`), whose params are canonical as :func:`autoqml.grid.expand` makes them,
so a trial that lands on a grid setting has that setting's id.

Rounds go through Optuna's ask-and-tell interface: a round asks ``trials_per_round`` trials, each trial reports
its objective at each rung (``trial.report(value, epochs)``) and the pruner decides; at the last rung it is told
complete. Reruns decide the same:

- each trial is asked with its own sampler, ``TPESampler(seed=...)`` seeded from the search seed and the trial
  number, so a proposal depends only on the seed and the finished trials in storage, not on which process asked;
- every step stores its plan in the study (user attribute ``plan-<step>``); a step whose plan is stored is not
  told or asked again, it is rewritten from storage;
- with the default SQLite storage a step works on a copy of the database and copies it back in one SQLite
  transaction when done, so a step killed half-way leaves the database as it was before the step. An RDB URL
  (``search.storage``) is written directly: a step killed between a pruning decision and its tell may decide
  that trial again on rerun.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autoqml.backends import label as backend_label
from autoqml.errors import AutoQMLError
from autoqml.files import temporary_beside
from autoqml.grid import AXES, Cell, axes, cell_of, discriminator, generator_optimizer, setting_of
from autoqml.search import COMPLETED, KEPT, PRUNED, Search, plan, records

logger = logging.getLogger(__name__)
#: Continuous ranges a search may give, and the axis each replaces.
RANGES = {"optimizer.lr": "optimizer", "discriminator.lr": "discriminator"}


class SearchStorageError(AutoQMLError):
    """The Optuna storage holds another search than the config's; the message names the file and the fix."""


def _unique(labels: list[str]) -> list[str]:
    """Labels made unique by their index where they repeat."""
    return [f"{label}#{i}" if labels.count(label) > 1 else label for i, label in enumerate(labels)]


def choices(cfg: dict) -> dict[str, dict]:
    """Per axis (:data:`autoqml.grid.AXES`), its choices: label -> canonical value. With a range for an axis's
    learning rate the discriminator choices are the config's entries (their lr comes from the range), and the
    optimizer axis has no choice."""
    values, ranges = axes(cfg), cfg["search"]["ranges"]
    disc = (cfg["discriminator"] if "discriminator.lr" in ranges else values["discriminator"])
    disc_labels = [d["type"] if "discriminator.lr" in ranges else f"{d['type']} lr{d['lr']:g}" for d in disc]
    out = {
        "distribution": {d["name"]: d for d in values["distribution"]},
        "ansatz": {f"{t} k{k}": (t, k) for t, k in values["ansatz"]},
        "initialization": {i: i for i in values["initialization"]},
        "num_qubits": {n: n for n in values["num_qubits"]},
        "discriminator": dict(zip(_unique(disc_labels), disc)),
        "optimizer": {} if "optimizer.lr" in ranges else {o["lr"]: o for o in values["optimizer"]},
        "backend": dict(zip(_unique([backend_label(b) for b in values["backend"]]), values["backend"])),
    }
    return out


def space(cfg: dict) -> dict[str, dict]:
    """The search space, without Optuna: parameter name -> ``{"choices": [...]}`` (an axis with more than one
    value) or ``{"low", "high", "log"}`` (a range)."""
    out = {axis: {"choices": list(found)} for axis, found in choices(cfg).items() if len(found) > 1}
    if "optimizer" in out:
        out["optimizer.lr"] = out.pop("optimizer")
    out.update({name: dict(bounds) for name, bounds in cfg["search"]["ranges"].items()})
    return out


def cell_from(cfg: dict, params: dict) -> Cell:
    """The cell of a trial's parameters (axes not in the space take their one value)."""
    found = choices(cfg)
    values = {}
    for axis in AXES:
        name = "optimizer.lr" if axis == "optimizer" else axis
        options = found[axis]
        if options:
            values[axis] = options[params[name]] if name in params else next(iter(options.values()))
    ranges = cfg["search"]["ranges"]
    if "optimizer.lr" in ranges:
        values["optimizer"] = generator_optimizer(cfg["optimizer"], params["optimizer.lr"])
    if "discriminator.lr" in ranges:
        values["discriminator"] = discriminator(values["discriminator"], params["discriminator.lr"])
    return cell_of(cfg, values)


def _distributions(cfg: dict) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    return {name: (CategoricalDistribution(spec["choices"]) if "choices" in spec
                   else FloatDistribution(spec["low"], spec["high"], log=spec["log"]))
            for name, spec in space(cfg).items()}


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial `number` (:class:`optuna.samplers.TPESampler` ``seed``)."""
    return int(hashlib.sha256(f"{seed}/trial/{number}".encode()).hexdigest()[:8], 16)


def _fingerprint(search: Search) -> dict:
    """What a stored study must agree on with the config: space, rungs, objectives and the cells' shared keys."""
    shared = {k: v for k, v in search.decided_cfg.items() if k not in ("search", "n_containers")}
    return {"space": space(search.cfg), "rungs": search.rungs, "objectives": search.objectives,
            "trials": [search.spec["n_trials"], search.spec["trials_per_round"]], "seed": search.spec["seed"],
            "config": hashlib.sha256(json.dumps(shared, sort_keys=True).encode()).hexdigest()[:16]}


@contextmanager
def _storage(search: Search) -> Iterator[object]:
    """The study's storage for one step: for the default SQLite file a working copy, copied back in one SQLite
    transaction on success (a killed step changes nothing); an RDB URL as it is."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()  # Optuna's records go to the job's log, like autoqml's
    if search.spec["storage"] is not None:
        yield optuna.storages.RDBStorage(search.spec["storage"])
        return
    path = Path(search.path("search", "optuna.db"))
    work = temporary_beside(path, suffix=".db")
    try:
        if path.is_file():
            _copy_database(path, work)
        storage = optuna.storages.RDBStorage(f"sqlite:///{work}")
        yield storage
        storage.engine.dispose()
        _copy_database(work, path)
    finally:
        work.unlink(missing_ok=True)


def _copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: `target` becomes `source`'s content in one transaction."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _open(search: Search, storage):
    import optuna

    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=search.spec["min_epochs"],
                                                     reduction_factor=search.spec["eta"])
    study = optuna.create_study(storage=storage, study_name=search.cfg["study"], load_if_exists=True,
                                directions=["minimize"] * len(search.objectives), pruner=pruner)
    fingerprint = json.loads(json.dumps(_fingerprint(search)))
    stored = study.user_attrs.get("autoqml")
    if stored is None:
        study.set_user_attr("autoqml", fingerprint)
    elif stored != fingerprint:
        changed = sorted(key for key in fingerprint if stored.get(key) != fingerprint[key])
        raise SearchStorageError(
            f"{search.storage}: holds study {search.cfg['study']!r} of another search (it differs in "
            f"{', '.join(changed)}); delete {search.path('search')}/ to start the search over, or give "
            f"search.storage another URL (or the study another name)")
    return study


def propose_step(search: Search, *, step: int, previous: dict | None, results: dict[str, dict],
                 values: dict[str, list[float]]) -> dict:
    """Tell Optuna the step before (report and prune at a rung, or complete a round), then the plan of `step`:
    the kept trials of the round, or the next round's asked trials."""
    round_, rung = search.steps[step]
    with _storage(search) as storage:
        study = _open(search, storage)
        marker = f"plan-{step}"
        if marker not in study.user_attrs:
            rows = []
            if previous is not None:
                decisions = (_complete(study, previous, values) if rung == 0
                             else _report(study, previous, values, single=len(search.objectives) == 1))
                rows = records(previous, results, values, decisions, objectives=search.objectives)
            if rung == 0:
                trials = _ask(study, search, round_)
            else:
                trials = [(t["trial"], Cell.from_params(previous["cells"][t["cell"]])) for t in previous["trials"]
                          if decisions[t["trial"]] == KEPT]
            study.set_user_attr(marker, plan(search, step=step, trials=trials, previous=previous, rows=rows))
        return study.user_attrs[marker]


def _ask(study, search: Search, round_: int) -> list[tuple[int, Cell]]:
    """The trials of a round: each asked with its own seeded sampler (trials already stored are taken as they are)."""
    from optuna.samplers import TPESampler

    stored = {t.number: t for t in study.get_trials(deepcopy=False)}
    distributions = _distributions(search.cfg)
    trials = []
    for number in search.round_trials(round_):
        if number in stored:
            params = stored[number].params
        else:
            study.sampler = TPESampler(seed=trial_seed(search.spec["seed"], number))
            trial = study.ask(fixed_distributions=distributions)
            if trial.number != number:
                raise SearchStorageError(f"{search.storage}: asked trial {trial.number}, expected {number}; the "
                                         f"storage was changed by another process: delete {search.path('search')}/")
            params = trial.params
        trials.append((number, cell_from(search.cfg, params)))
    return trials


def _live(study, number: int):
    from optuna.trial import Trial

    frozen = study.get_trials(deepcopy=False)[number]
    return frozen, Trial(study, frozen._trial_id)


def _report(study, previous: dict, values: dict[str, list[float]], *, single: bool) -> dict[int, str]:
    """Report each trial's objective at the rung's epochs (trial order) and let the pruner decide."""
    from optuna.trial import TrialState

    decisions = {}
    for t in sorted(previous["trials"], key=lambda t: t["trial"]):
        frozen, trial = _live(study, t["trial"])
        if single and previous["epochs"] not in frozen.intermediate_values:
            trial.report(values[t["cell"]][0], previous["epochs"])
        if single and trial.should_prune():
            study.tell(t["trial"], state=TrialState.PRUNED, skip_if_finished=True)
            decisions[t["trial"]] = PRUNED
        else:
            decisions[t["trial"]] = KEPT
    return decisions


def _complete(study, last: dict, values: dict[str, list[float]]) -> dict[int, str]:
    """Tell the trials of a round's last rung complete with their objective values (reported first when single)."""
    decisions = {}
    for t in sorted(last["trials"], key=lambda t: t["trial"]):
        frozen, trial = _live(study, t["trial"])
        value = values[t["cell"]]
        if len(value) == 1 and last["epochs"] not in frozen.intermediate_values:
            trial.report(value[0], last["epochs"])
        study.tell(t["trial"], values=value, skip_if_finished=True)
        decisions[t["trial"]] = COMPLETED
    return decisions


def finish_study(search: Search, *, last: dict, results: dict[str, dict],
                 values: dict[str, list[float]]) -> tuple[list[dict], list[dict]]:
    """Complete the last round; return its records and, with two objectives, the Pareto front (Optuna's
    ``best_trials``: the completed trials no other completed trial beats in both)."""
    with _storage(search) as storage:
        study = _open(search, storage)
        if "final" not in study.user_attrs:
            rows = records(last, results, values, _complete(study, last, values), objectives=search.objectives)
            front = []
            if len(search.objectives) > 1:
                for trial in sorted(study.best_trials, key=lambda t: t.number):
                    cell = cell_from(search.cfg, trial.params)
                    front.append({"trial": trial.number, "cell": cell.id, "label": cell.label,
                                  **setting_of(cell.params), **dict(zip(search.objectives, trial.values))})
            study.set_user_attr("final", {"rows": rows, "pareto": front})
        final = study.user_attrs["final"]
    return final["rows"], final["pareto"]
