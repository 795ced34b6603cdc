"""What a config means, checked before any job: registry names, presets, repeated grid values, data sources,
backends, and the limits beyond which a study would hang, explode or fail in a later job.

Limits (each refused with the field, the value and the fix):

- :data:`MAX_CELLS` cells per study, counted from the axes' lengths before any cell is built;
- :data:`MAX_NORMAL_QUBITS` qubits for the ``normal`` initialization, whose state-preparation circuit does not
  read back from QPY at 16 qubits or more;
- the transpiled-depth ``device`` has at least the grid's largest ``num_qubits``;
- :data:`MAX_STUDY_NAME` characters for the study folder under ``results/``.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import os
import re
from datetime import date
from pathlib import Path

from autoqml.data import PARAMETRIC_DEFAULTS, parametric_samples
from autoqml.errors import ConfigError, DataError

#: Shots per evaluated model when neither ``evaluation.shots`` nor its backend says.
EVALUATION_SHOTS = 10000
#: Widths of the paper's two discriminators when the config names the type without giving them.
DISCRIMINATOR_PRESETS = {
    "custom_classical_1": {"n_input": 50, "n_hidden": [20]},
    "custom_classical_2": {"n_input": 50, "n_hidden": [40, 10]},
}
#: Cells per study: 18x the paper's 540. The workflow plans three files per cell; at 10,000 cells Snakemake
#: builds its plan in about a minute, and a grid beyond is more likely a typo than a study.
MAX_CELLS = 10_000
#: Largest register for the ``normal`` initialization: at 16 qubits its state preparation (2^16 amplitudes) is
#: stored, but qiskit's QPY cannot read it back, so the cell's circuit file would be unusable.
MAX_NORMAL_QUBITS = 15
#: Characters of the study folder name (``study``, or derived from ``name``); file names below it stay far from
#: the 255-byte limit of a path component.
MAX_STUDY_NAME = 64
#: Keys of a distribution entry that only label it: entries equal in every other key train on the same data.
_LABELS = ("name", "unit", "url", "expect")


def semantic_problems(cfg: dict) -> list[str]:
    """Checks the schema cannot express: registry names, presets, repeated grid values, data source, ranges."""
    from autoqml.circuits import ANSAETZE  # the registry lives with the circuits

    problems = []
    for i, ansatz in enumerate(cfg["ansaetze"]):
        if ansatz["type"] not in ANSAETZE:
            close = difflib.get_close_matches(ansatz["type"], list(ANSAETZE), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(f"ansaetze[{i}].type: got {ansatz['type']!r}; allowed: {', '.join(ANSAETZE)}{hint}")
    for i, disc in enumerate(cfg["discriminator"]):
        preset = DISCRIMINATOR_PRESETS.get(disc["type"], {})
        for key in ("n_input", "n_hidden"):
            if key not in disc["hparams"]:
                if key not in preset:
                    problems.append(f"discriminator[{i}].hparams.{key}: required for type {disc['type']!r} "
                                    f"(only {', '.join(DISCRIMINATOR_PRESETS)} have defaults); add it")
                else:
                    disc["hparams"][key] = copy.deepcopy(preset[key])
    cfg["split"] = cfg.get("split", "none")
    for i, dist in enumerate(cfg["distributions"]):
        problems += _distribution_problems(f"distributions[{i}]", dist)
        problems += _split_problems(f"distributions[{i}]", dist, cfg)
    split = [bool(d.get("split")) for d in cfg["distributions"]]
    if any(split) and not all(split):
        problems.append(f"distributions[{split.index(False)}].split: none, but other distributions have a split; "
                        f"runs are selected on validation data, so give every distribution a split (or none)")
    if "generalization_gap" in cfg["visualizations"] and not any(split):
        problems.append("visualizations: generalization_gap compares training with test data, but no distribution "
                        "has a split; add a `split` block (config/README.md) or remove generalization_gap")
    problems += _repeated_grid_values(cfg)
    from autoqml.metrics import fake_backend

    try:
        device_qubits = fake_backend(name=cfg["device"]).num_qubits
    except ConfigError as err:
        problems.append(str(err))
    else:
        problems += _too_small("device", cfg["device"], device_qubits, cfg)
    problems += _backend_problems(cfg)
    names = [d["name"] for d in cfg["distributions"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"distributions: two entries are named {name!r}; give each a distinct `name`")
    problems += _study_name_problems(cfg)
    problems += _limit_problems(cfg)
    from autoqml.search import search_problems

    problems += search_problems(cfg, grid_checked=not problems)  # tpe's space reads the grid: a sound one
    return problems


def _study_name_problems(cfg: dict) -> list[str]:
    """The study folder: written as ``study``, or derived from ``name``; at most MAX_STUDY_NAME characters."""
    written = "study" in cfg
    cfg.setdefault("study", re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg["name"]).strip("-.") or "study")
    if len(cfg["study"]) <= MAX_STUDY_NAME:
        return []
    where, got = ("study", cfg["study"]) if written else ("name", cfg["name"])
    return [f"{where}: got {got[:40]!r}... ({len(got)} characters); the study folder results/<study> is at most "
            f"{MAX_STUDY_NAME} characters (longer paths fail later with 'File name too long'); "
            + ("shorten it" if written else "set `study:` to a short folder name, or shorten `name`")]


def grid_axes(cfg: dict) -> dict[str, int]:
    """Values on each grid axis, by the config field that lists them; their product is the number of cells."""
    return {"distributions": len(cfg["distributions"]),
            "ansaetze": sum(len(a["repetitions"]) for a in cfg["ansaetze"]),
            "initializations": len(cfg["initializations"]), "num_qubits": len(cfg["num_qubits"]),
            "discriminator": sum(len(d["hparams"]["lr"]) for d in cfg["discriminator"]),
            "optimizer.lr": len(cfg["optimizer"]["lr"]), "backend": len(cfg["backend"])}


def _limit_problems(cfg: dict) -> list[str]:
    """Limits that keep a study from hanging at parse time or failing in a later job."""
    problems = []
    axes = grid_axes(cfg)
    cells = math.prod(axes.values())
    if cells > MAX_CELLS:
        product = " x ".join(f"{n} {field}" for field, n in axes.items())
        longest = max(axes, key=axes.get)
        problems.append(f"{longest}: the grid has {cells:,} cells ({product}; ansaetze and discriminator count "
                        f"their repetitions and lr values); at most {MAX_CELLS:,} cells per study: list fewer values "
                        f"on {longest} or the other axes, or split the study into several configs")
    large = [n for n in cfg["num_qubits"] if n > MAX_NORMAL_QUBITS]
    for i, init in enumerate(cfg["initializations"]):
        if init["type"] == "normal" and large:
            problems.append(f"initializations[{i}].type: 'normal' with num_qubits {large}; the normal initialization "
                            f"allows at most {MAX_NORMAL_QUBITS} qubits (its state preparation does not read back "
                            f"from QPY beyond); use num_qubits <= {MAX_NORMAL_QUBITS}, or uniform/random there")
    return problems


def _repeated_grid_values(cfg: dict) -> list[str]:
    """A value listed twice on an axis would train the same cell twice; name where it repeats."""
    problems = []
    first: dict = {}
    for i, dist in enumerate(cfg["distributions"]):
        data = {k: v for k, v in dist.items() if k not in _LABELS}
        if data.get("data_path"):
            data["data_path"] = os.path.normpath(data["data_path"])
        if (j := first.setdefault(("data", json.dumps(data, sort_keys=True)), i)) != i:
            problems.append(f"distributions[{i}]: the same data as distributions[{j}] (only {', '.join(_LABELS)} "
                            f"differ); every cell would train twice: remove one entry")
    for i, init in enumerate(cfg["initializations"]):
        if (j := first.setdefault(("init", init["type"]), i)) != i:
            problems.append(f"initializations[{i}].type: {init['type']!r} is already initializations[{j}]; "
                            f"list each initialization once")
    for i, ansatz in enumerate(cfg["ansaetze"]):
        for k in ansatz["repetitions"]:
            if (j := first.setdefault(("ansatz", ansatz["type"], k), i)) != i:
                problems.append(f"ansaetze[{i}].repetitions: {ansatz['type']} with k={k} is already in "
                                f"ansaetze[{j}]; list each (type, repetitions) pair once")
    for i, disc in enumerate(cfg["discriminator"]):
        h = disc["hparams"]
        shape = (disc["type"], h.get("n_input"), json.dumps(h.get("n_hidden")), tuple(h["betas"]))
        for lr in h["lr"]:
            if (j := first.setdefault(("disc", *shape, lr), i)) != i:
                problems.append(f"discriminator[{i}].hparams.lr: {disc['type']} with lr {lr:g} (same widths and "
                                f"betas) is already in discriminator[{j}]; list each combination once")
    return problems


def _too_small(where: str, device: str, qubits: int, cfg: dict) -> list[str]:
    """A device (for depth, noise or training) needs at least as many qubits as the grid's largest register."""
    need = max(cfg["num_qubits"])
    if qubits >= need:
        return []
    return [f"{where}: {device} has {qubits} qubits, the grid's largest num_qubits is {need}; choose a device with "
            f"at least {need} qubits (e.g. fake_montreal, 27) or fewer num_qubits"]


def _backend_problems(cfg: dict) -> list[str]:
    """Fill every backend entry's defaults (``backend`` becomes a list: one entry, or the axis), check the devices."""
    from autoqml import backends

    entries = [("backend", cfg["backend"])] if not isinstance(cfg["backend"], list) else \
        [(f"backend[{i}]", entry) for i, entry in enumerate(cfg["backend"])]
    if cfg["evaluation"] is not None:
        entries.append(("evaluation.backend", cfg["evaluation"]["backend"]))
    problems, specs = [], []
    for where, entry in entries:
        spec, found = backends.normalize(entry, where=where)
        specs.append(spec)
        problems += found
        qubits = None if found else backends.device_qubits(spec)
        if qubits is not None:
            problems += _too_small(where, spec.get("noise_model") or spec["device"], qubits, cfg)
    if cfg["evaluation"] is not None:
        evaluation, spec = cfg["evaluation"], specs.pop()
        if backends.is_exact(spec):
            problems.append("evaluation.backend: statevector is exact and draws no device samples; use aer or ibm")
        else:  # evaluation.shots wins, then the backend's own shots, then the default
            written = evaluation["backend"].get("shots") if isinstance(evaluation["backend"], dict) else None
            evaluation["shots"] = spec["shots"] = evaluation.get("shots") or written or EVALUATION_SHOTS
        evaluation["backend"] = spec
    cfg["backend"] = specs
    canon = [json.dumps(backends.canonical(spec), sort_keys=True) for spec in specs]
    problems += [f"backend: {c} is listed twice; list each backend once" for c in sorted(set(canon))
                 if canon.count(c) > 1]
    routes: dict[str, list] = {}
    for spec in [*specs, *([cfg["evaluation"]["backend"]] if cfg["evaluation"] else [])]:
        if spec["type"] == "ibm" and "device" in spec and backends.routing(spec) not in routes.setdefault(
                spec["device"], []):
            routes[spec["device"]].append(backends.routing(spec))
    problems += [f"backend: device {device} appears with different channel/instance/mode; give them once, alike"
                 for device, found in routes.items() if len(found) > 1]
    return problems


#: Default of ``split.block_days``: a week, so that every part holds each weekday equally often.
BLOCK_DAYS = 7


def _split_problems(where: str, dist: dict, cfg: dict) -> list[str]:
    """Resolve the entry's split (its own, else the study's) into its canonical form, or drop it for ``none``.

    ``none`` leaves no ``split`` key, so cells of configs without held-out data keep their ids.
    """
    own = "split" in dist
    spec = dist.pop("split") if own else cfg["split"]
    if spec == "none":
        return []
    field = f"{where}.split" if own else "split"
    canonical = {"validation": spec["validation"], "test": spec["test"],
                 "block_days": spec.get("block_days", BLOCK_DAYS),
                 "seed": cfg["seed"] if spec.get("seed") is None else spec["seed"]}
    if canonical["validation"] + canonical["test"] >= 1:
        return [f"{field}: validation {spec['validation']} + test {spec['test']} leave nothing to train on; set "
                f"them so that their sum is below 1 (e.g. validation: 0.2, test: 0.2)"]
    dist["split"] = canonical
    return []


def _distribution_problems(where: str, dist: dict) -> list[str]:
    problems = []
    if dist["kind"] == "csv":
        if "data_path" not in dist:
            problems.append(f"{where}.data_path: required for a csv distribution; name the CSV file "
                            f"(or set kind to one of {', '.join(PARAMETRIC_DEFAULTS)})")
        elif "\0" in dist["data_path"]:
            problems.append(f"{where}.data_path: got {dist['data_path']!r}, which contains a NUL character; "
                            f"write a file path")
        if dist["params"]:
            problems.append(f"{where}.params: only parametric kinds take params; remove it")
        dist.setdefault("name", Path(dist.get("data_path", "data")).stem.replace(" ", "_") or "data")
        start, end = dist["start"], dist["end"]
        if start is not None and end is not None and date.fromisoformat(end) <= date.fromisoformat(start):
            problems.append(f"{where}.end: got {end!r}, not after start {start!r}; set end later than start "
                            f"(start is inclusive, end exclusive)")
    else:
        if "data_path" in dist:
            problems.append(f"{where}.data_path: a {dist['kind']} distribution is drawn, not read; remove data_path "
                            f"or set kind: csv")
        csv_only = [key for key in ("column", "hour", "start", "end", "url") if dist[key] is not None]
        csv_only += ["expect"] if dist["expect"] else []
        for key in csv_only:
            problems.append(f"{where}.{key}: only csv distributions read files; remove {key} or set kind: csv")
        allowed = PARAMETRIC_DEFAULTS[dist["kind"]]
        for key in sorted(set(dist["params"]) - set(allowed)):
            problems.append(f"{where}.params.{key}: unknown for {dist['kind']}; allowed: {', '.join(allowed)}")
        dist["params"] = {**allowed, **dist["params"]}
        dist.setdefault("name", dist["kind"])
        if not any(key.startswith(f"{where}.params.") for key in problems):
            try:  # the data module's own checks (positive sigma, low <= mode <= high), on two draws
                parametric_samples(kind=dist["kind"], params=dist["params"], samples=2, seed=0)
            except DataError as err:
                problems.append(f"{where}.{err}")
    disc = dist["discretization"]
    if isinstance(disc, list) and not disc[0] < disc[1]:
        problems.append(f"{where}.discretization: got {disc}; an explicit range needs low < high")
    elif isinstance(disc, list) and not math.isfinite(disc[1] - disc[0]):
        problems.append(f"{where}.discretization: got {disc}; the range is too wide to compute with; "
                        f"give bounds closer to the data")
    return problems
