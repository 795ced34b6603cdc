"""Load a study config (YAML, JSON, or the paper's JSON as printed) and validate it against the one schema.

Everything a user can get wrong is reported here, before any job starts, as a :class:`ConfigError` whose lines
each name the field path, the value received and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from autoqml.data import PARAMETRIC_DEFAULTS
from autoqml.errors import ConfigError

#: Shots per evaluated model when neither ``evaluation.shots`` nor its backend says.
EVALUATION_SHOTS = 10000
#: Widths of the paper's two discriminators when the config names the type without giving them.
DISCRIMINATOR_PRESETS = {
    "custom_classical_1": {"n_input": 50, "n_hidden": [20]},
    "custom_classical_2": {"n_input": 50, "n_hidden": [40, 10]},
}


@cache
def schema() -> dict:
    """The config JSON Schema (the same file `workflow/schemas/config.schema.yaml` links to)."""
    return yaml.safe_load(files("autoqml").joinpath("schemas/config.schema.yaml").read_text())


def load_config(path: str | Path) -> dict:
    """Read, normalize and validate the config at `path`; returns a plain dict with every default filled."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"config file {path}: cannot be read ({err.strerror}); check the path") from None
    return validate_config(parse_text(text, source=str(path)), source=str(path))


def parse_text(text: str, *, source: str = "<config>") -> Any:
    """Parse JSON (tolerating the paper's trailing commas and repeated discriminator keys) or YAML."""
    if source.endswith((".yaml", ".yml")):
        return _parse_yaml(text, source)
    try:
        return json.loads(text, object_pairs_hook=_RepeatedKeys.hook)
    except json.JSONDecodeError:
        pass
    try:  # the paper's listing ends objects with a comma
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", text), object_pairs_hook=_RepeatedKeys.hook)
    except json.JSONDecodeError as err:
        if source.endswith(".json"):
            raise ConfigError(f"{source}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    return _parse_yaml(text, source)


def validate_config(raw: Any, *, source: str = "<config>") -> dict:
    """Normalize the paper's spellings, check against the schema, fill defaults, then check meaning."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(raw).__name__}")
    cfg = _normalize(copy.deepcopy(raw))
    problems = [_describe(err) for err in _validator().iter_errors(cfg)]
    if problems:
        raise ConfigError(_report(source, sorted(set(problems))))
    _fill_defaults(cfg, schema())
    problems = _semantic_problems(cfg)
    if problems:
        raise ConfigError(_report(source, problems))
    return cfg


class _RepeatedKeys(list):
    """Objects whose keys repeat, split into groups: the paper's `discriminator` lists two this way."""

    @classmethod
    def hook(cls, pairs: list[tuple[str, Any]]) -> dict | _RepeatedKeys:
        groups: list[dict] = [{}]
        for key, value in pairs:
            if key in groups[-1]:
                groups.append({})
            groups[-1][key] = value
        return groups[0] if len(groups) == 1 else cls(groups)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML or JSON ({err})") from None


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _normalize(cfg: dict) -> dict:
    """Accept the paper's forms: one discriminator object, scalars for axes, 'Random', 'relative entropy'."""
    repeated = [key for key, value in cfg.items() if isinstance(value, _RepeatedKeys) and key != "discriminator"]
    if repeated:
        raise ConfigError(f"{repeated[0]}: an object repeats a key; write each key once (or a list of objects)")
    if "discriminator" in cfg:
        cfg["discriminator"] = _as_list(list(cfg["discriminator"]) if isinstance(cfg["discriminator"], _RepeatedKeys)
                                        else cfg["discriminator"])
        for disc in cfg["discriminator"]:
            if isinstance(disc, dict) and isinstance(disc.get("hparams"), dict) and "lr" in disc["hparams"]:
                disc["hparams"]["lr"] = _as_list(disc["hparams"]["lr"])
    if isinstance(cfg.get("optimizer"), dict) and "lr" in cfg["optimizer"]:
        cfg["optimizer"]["lr"] = _as_list(cfg["optimizer"]["lr"])
    if "num_qubits" in cfg:
        cfg["num_qubits"] = _as_list(cfg["num_qubits"])
    for ansatz in cfg.get("ansaetze") or []:
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


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def _describe(err: jsonschema.ValidationError) -> str:
    """One line: field path, what was received, what is allowed."""
    where, got, rule = _path(err.absolute_path), err.instance, err.validator_value
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        lines = []
        for key in sorted(set(got) - set(allowed)):
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
            lines.append(f"{_path([*err.absolute_path, key])}: unknown key; {hint}")
        return "\n".join(lines)
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return f"{_path([*err.absolute_path, missing])}: required key is missing; add it (see config/README.md)"
    if err.validator == "enum":
        close = difflib.get_close_matches(str(got), [str(r) for r in rule], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}: got {got!r}; allowed: {', '.join(map(str, rule))}{hint}"
    if err.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"{where}: got {got!r}; must be {words[err.validator]} {rule}"
    if err.validator == "type":
        return f"{where}: got {got!r} ({type(got).__name__}); expected {rule}"
    if err.validator == "uniqueItems":
        return f"{where}: got {got!r}; values repeat, list each value once"
    if err.validator in ("minItems", "maxItems"):
        count = f"at least {rule}" if err.validator == "minItems" else f"at most {rule}"
        return f"{where}: got {got!r}; needs {count} item(s)"
    if err.validator == "oneOf":
        return f"{where}: got {got!r}; {err.schema.get('description', 'see config/README.md')}"
    return f"{where}: got {got!r}; {err.message}"


def _report(source: str, problems: list[str]) -> str:
    head = f"{source}: {len(problems)} problem(s); fix them in the config (keys are explained in config/README.md)"
    return "\n".join([head, *(f"  - {p}" for p in problems)])


def _fill_defaults(node: Any, sub: dict) -> None:
    """Insert schema defaults for missing keys, recursing into objects and arrays of objects."""
    if "$ref" in sub:
        sub = schema()["$defs"][sub["$ref"].rsplit("/", 1)[1]]
    if isinstance(node, dict):
        for key, prop in sub.get("properties", {}).items():
            target = schema()["$defs"][prop["$ref"].rsplit("/", 1)[1]] if "$ref" in prop else prop
            if key not in node and "default" in target:
                node[key] = copy.deepcopy(target["default"])
            if key in node:
                _fill_defaults(node[key], prop)
    elif isinstance(node, list) and isinstance(sub.get("items"), dict):
        for item in node:
            _fill_defaults(item, sub["items"])


def _semantic_problems(cfg: dict) -> list[str]:
    """Checks the schema cannot express: registry names, presets, data source, ranges."""
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
                                    f"(only {', '.join(DISCRIMINATOR_PRESETS)} have defaults)")
                else:
                    disc["hparams"][key] = copy.deepcopy(preset[key])
    for i, dist in enumerate(cfg["distributions"]):
        problems += _distribution_problems(f"distributions[{i}]", dist)
    from autoqml.metrics import fake_backend

    try:
        fake_backend(name=cfg["device"])
    except ConfigError as err:
        problems.append(str(err))
    problems += _backend_problems(cfg)
    names = [d["name"] for d in cfg["distributions"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"distributions: two entries are named {name!r}; give each a distinct `name`")
    cfg.setdefault("study", re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg["name"]).strip("-.") or "study")
    return problems


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
        if qubits is not None and qubits < max(cfg["num_qubits"]):
            problems.append(f"{where}: {spec.get('noise_model') or spec['device']} has {qubits} qubits, the grid "
                            f"needs {max(cfg['num_qubits'])}; choose a larger device or fewer num_qubits")
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


def _distribution_problems(where: str, dist: dict) -> list[str]:
    problems = []
    if dist["kind"] == "csv":
        if "data_path" not in dist:
            problems.append(f"{where}.data_path: required for a csv distribution; name the CSV file "
                            f"(or set kind to one of {', '.join(PARAMETRIC_DEFAULTS)})")
        if dist["params"]:
            problems.append(f"{where}.params: only parametric kinds take params; remove it")
        dist.setdefault("name", Path(dist.get("data_path", "data")).stem.replace(" ", "_") or "data")
    else:
        if "data_path" in dist:
            problems.append(f"{where}.data_path: a {dist['kind']} distribution is drawn, not read; remove data_path "
                            f"or set kind: csv")
        allowed = PARAMETRIC_DEFAULTS[dist["kind"]]
        for key in sorted(set(dist["params"]) - set(allowed)):
            problems.append(f"{where}.params.{key}: unknown for {dist['kind']}; allowed: {', '.join(allowed)}")
        dist["params"] = {**allowed, **dist["params"]}
        dist.setdefault("name", dist["kind"])
    disc = dist["discretization"]
    if isinstance(disc, list) and not disc[0] < disc[1]:
        problems.append(f"{where}.discretization: got {disc}; an explicit range needs low < high")
    return problems
