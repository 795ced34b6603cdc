"""Load a study config (YAML, JSON, or the paper's JSON as printed) and validate it against the one schema.

Everything a user can get wrong is reported here, before any job starts, as a :class:`ConfigError` whose lines
each name the field path, the value received and what is allowed. The steps live in their own modules:
:mod:`autoqml.config_text` (file and text to values), :mod:`autoqml.config_schema` (the schema, its messages and
defaults) and :mod:`autoqml.config_meaning` (what the values mean: registries, duplicates, data, backends, limits).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from autoqml.config_meaning import DISCRIMINATOR_PRESETS, EVALUATION_SHOTS, semantic_problems
from autoqml.config_schema import fill_defaults, report, schema, schema_problems
from autoqml.config_text import (RepeatedKeys, nested_too_deeply, parse_text, read_config_text, repeated_lines,
                                 structure_problems, template_problem)
from autoqml.errors import ConfigError

__all__ = ["DISCRIMINATOR_PRESETS", "EVALUATION_SHOTS", "load_config", "parse_text", "read_config_text", "schema",
           "validate_config"]


def load_config(path: str | Path) -> dict:
    """Read, normalize and validate the config at `path`; returns a plain dict with every default filled."""
    return validate_config(parse_text(read_config_text(path), source=str(path)), source=str(path))


def validate_config(raw: Any, *, source: str = "<config>") -> dict:
    """Normalize the paper's spellings, check against the schema, fill defaults, then check meaning.

    Raises :class:`ConfigError` (and nothing else) for any input: one line per problem, each starting with the
    field path, then the value received and what to write instead.
    """
    if isinstance(raw, RepeatedKeys):
        raise ConfigError(report(source, repeated_lines([], raw)))
    if raw is None:
        raise ConfigError(f"{source}: the config is empty; write a study config (see config/README.md)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(raw).__name__}; "
                          f"write `key: value` lines (YAML) or one {{...}} object (JSON)")
    template = template_problem(raw, source)
    if template:
        raise ConfigError(template)
    try:
        problems: list[str] = []
        structure_problems(raw, [], problems)
        if problems:
            raise ConfigError(report(source, problems))
        cfg = _normalize(copy.deepcopy(raw))
    except RecursionError:
        raise nested_too_deeply(source) from None
    problems = schema_problems(cfg)
    if problems:
        raise ConfigError(report(source, problems))
    fill_defaults(cfg, schema())
    problems = semantic_problems(cfg)
    if problems:
        raise ConfigError(report(source, problems))
    return cfg


def _as_list(value: Any) -> Any:
    """An axis written as one value (the paper's `"lr": 1e-4` style) becomes a one-item list."""
    return [value] if isinstance(value, (str, int, float)) else value


def _normalize(cfg: dict) -> dict:
    """Accept the paper's forms: one discriminator object, scalars for axes, 'Random', 'relative entropy'."""
    if "discriminator" in cfg:
        disc = cfg["discriminator"]
        if isinstance(disc, RepeatedKeys):  # the paper's object with repeated type/hparams keys
            cfg["discriminator"] = list(disc)
        elif isinstance(disc, dict):
            cfg["discriminator"] = [disc]
        else:
            cfg["discriminator"] = _as_list(disc)
        for disc in cfg["discriminator"] if isinstance(cfg["discriminator"], list) else []:
            if isinstance(disc, dict) and isinstance(disc.get("hparams"), dict) and "lr" in disc["hparams"]:
                disc["hparams"]["lr"] = _as_list(disc["hparams"]["lr"])
    if isinstance(cfg.get("optimizer"), dict) and "lr" in cfg["optimizer"]:
        cfg["optimizer"]["lr"] = _as_list(cfg["optimizer"]["lr"])
    if "num_qubits" in cfg:
        cfg["num_qubits"] = _as_list(cfg["num_qubits"])
    for ansatz in cfg["ansaetze"] if isinstance(cfg.get("ansaetze"), list) else []:
        if isinstance(ansatz, dict) and "repetitions" in ansatz:
            ansatz["repetitions"] = _as_list(ansatz["repetitions"])
    if isinstance(cfg.get("initializations"), list):
        cfg["initializations"] = [{"type": i} if isinstance(i, str) else i for i in cfg["initializations"]]
        for init in cfg["initializations"]:
            if isinstance(init, dict) and isinstance(init.get("type"), str):
                init["type"] = init["type"].lower()
    if isinstance(cfg.get("metrics"), str):
        cfg["metrics"] = cfg["metrics"].strip().lower().replace(" ", "_").replace("-", "_")
    if isinstance(cfg.get("visualizations"), list):
        cfg["visualizations"] = [v.strip().lower().replace(" ", "_") if isinstance(v, str) else v
                                 for v in cfg["visualizations"]]
    return cfg
