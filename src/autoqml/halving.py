"""Successive halving over the grid (Jamieson and Talwalkar 2016, arXiv:1502.07943; Li et al. 2018's Hyperband
bracket): every setting of the grid trains to the first rung; after each rung the best max(1, floor(n / eta)) of
the n settings, by the objective's mean over their runs on validation data, continue from their stored state to
the next rung; the last rung is ``num_epochs``.

A trial here is a setting of the grid, numbered in grid order. Nothing is random: a rerun decides the same.
"""

from __future__ import annotations

from autoqml.grid import Cell, expand
from autoqml.search import KEPT, STOPPED, Search, plan, ranked, records


def kept(values: dict[str, list[float]], *, eta: int) -> list[str]:
    """The cells that continue: the best max(1, n // eta) of the n ranked by :func:`autoqml.search.ranked`.

    >>> kept({"a": [3.0], "b": [1.0], "c": [2.0], "d": [1.0]}, eta=3)
    ['b']
    """
    return ranked(values)[: max(1, len(values) // eta)]


def propose_step(search: Search, *, step: int, previous: dict | None, results: dict[str, dict],
                 values: dict[str, list[float]]) -> dict:
    """Step 0: every grid setting; later steps: the kept settings of the step before, which is recorded."""
    if previous is None:
        return plan(search, step=step, trials=list(enumerate(expand(search.cfg))), previous=None, rows=[])
    keep = set(kept(values, eta=search.spec["eta"]))
    decisions = {t["trial"]: KEPT if t["cell"] in keep else STOPPED for t in previous["trials"]}
    trials = [(t["trial"], Cell.from_params(previous["cells"][t["cell"]])) for t in previous["trials"]
              if t["cell"] in keep]
    return plan(search, step=step, trials=trials, previous=previous,
                rows=records(previous, results, values, decisions, objectives=search.objectives))
