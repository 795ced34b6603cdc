"""Load a study config (YAML, JSON, or the paper's JSON as printed) and validate it against the one schema.

Everything a user can get wrong is reported here, before any job starts, as a :class:`ConfigError` whose lines
each name the field path, the value received and what is allowed.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from autoqml.data import PARAMETRIC_DEFAULTS, parametric_samples
from autoqml.errors import ConfigError, DataError

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
    """Parse JSON (tolerating the paper's trailing commas and repeated discriminator keys) or YAML.

    Repeated keys in one object are kept (as groups) in both formats, so that :func:`validate_config` can accept the
    paper's repeated ``discriminator`` keys and refuse every other repeat instead of silently keeping the last value.
    """
    if not text.strip():
        raise ConfigError(f"{source}: the file is empty; write a study config (see config/README.md)")
    try:
        if source.endswith((".yaml", ".yml")):
            return _parse_yaml(text, source)
        try:
            return json.loads(text, object_pairs_hook=_RepeatedKeys.hook)
        except ValueError:  # JSONDecodeError, or an integer too long to convert
            pass
        try:  # the paper's listing ends objects with a comma
            return json.loads(re.sub(r",(\s*[}\]])", r"\1", text), object_pairs_hook=_RepeatedKeys.hook)
        except ValueError as err:
            if source.endswith(".json"):
                where = (f" at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError)
                         else "")
                message = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
                raise ConfigError(f"{source}: not valid JSON ({message}{where}); fix the syntax there "
                                  f"(a missing comma, quote or bracket)") from None
        return _parse_yaml(text, source)
    except RecursionError:
        raise ConfigError(f"{source}: lists or mappings are nested too deeply; a config nests a few levels") from None


def validate_config(raw: Any, *, source: str = "<config>") -> dict:
    """Normalize the paper's spellings, check against the schema, fill defaults, then check meaning.

    Raises :class:`ConfigError` (and nothing else) for any input: one line per problem, each starting with the
    field path, then the value received and what to write instead.
    """
    if isinstance(raw, _RepeatedKeys):
        raise ConfigError(_report(source, _repeated_lines([], raw)))
    if raw is None:
        raise ConfigError(f"{source}: the config is empty; write a study config (see config/README.md)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys to values, got {type(raw).__name__}; "
                          f"write `key: value` lines (YAML) or one {{...}} object (JSON)")
    try:
        problems: list[str] = []
        _structure_problems(raw, [], problems)
        if problems:
            raise ConfigError(_report(source, problems))
        cfg = _normalize(copy.deepcopy(raw))
    except RecursionError:
        raise ConfigError(f"{source}: lists or mappings are nested too deeply; a config nests a few levels") from None
    problems = _schema_problems(cfg)
    if problems:
        raise ConfigError(_report(source, problems))
    _fill_defaults(cfg, schema())
    problems = _semantic_problems(cfg)
    if problems:
        raise ConfigError(_report(source, problems))
    return cfg


class _RepeatedKeys(list):
    """Objects whose keys repeat, split into groups: the paper's `discriminator` lists two this way."""

    @classmethod
    def hook(cls, pairs: list[tuple[Any, Any]]) -> dict | _RepeatedKeys:
        groups: list[dict] = [{}]
        for key, value in pairs:
            if key in groups[-1]:
                groups.append({})
            groups[-1][key] = value
        return groups[0] if len(groups) == 1 else cls(groups)

    @property
    def repeated(self) -> list:
        """The keys that occur in more than one group."""
        keys = [key for group in self for key in group]
        return sorted({key for key in keys if keys.count(key) > 1}, key=str)

    @property
    def paper_pattern(self) -> bool:
        """Every group has the same keys in the same order, as the paper's `type, hparams, type, hparams`."""
        return all(list(group) == list(self[0]) for group in self)


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML that keeps repeated keys (like the JSON hook) and leaves dates as the text written."""


def _yaml_mapping(loader: _YamlLoader, node: yaml.MappingNode) -> dict | _RepeatedKeys:
    own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)  # `<<: *anchor` merges come first; keys written here override them
    pairs = []
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                    "found a key that is a list or mapping", key_node.start_mark)
        pairs.append((key, loader.construct_object(value_node, deep=True)))
    merged = dict(pairs[: len(pairs) - own])
    written = pairs[len(pairs) - own:]
    overridden = {key for key, _ in written}
    return _RepeatedKeys.hook([(k, v) for k, v in merged.items() if k not in overridden] + written)


_YamlLoader.add_constructor("tag:yaml.org,2002:map", _yaml_mapping)
_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)
    except RecursionError:
        raise
    except Exception as err:  # noqa: BLE001 - PyYAML raises ValueError etc. for e.g. `!!float abc`
        raise ConfigError(f"{source}: not valid YAML or JSON ({_yaml_problem(err)}); fix the syntax there") from None


def _yaml_problem(err: Exception) -> str:
    """PyYAML's multi-line report as one clause: the problem and where, then what it was parsing."""
    if not isinstance(err, yaml.MarkedYAMLError):
        return str(err)

    def at(mark: yaml.Mark | None) -> str:
        return f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""

    text = f"{err.problem or 'error'}{at(err.problem_mark)}"
    if err.context:
        text += f", {err.context}{at(err.context_mark)}"
    return text


def _repeated_lines(parts: list, node: _RepeatedKeys) -> list[str]:
    return [f"{_path([*parts, key])}: appears more than once in one mapping; write it once (a second value would "
            f"silently replace the first)" for key in node.repeated]


def _structure_problems(node: Any, parts: list, problems: list[str]) -> None:
    """What no schema can see once parsed: repeated keys, keys that are not text, NaN/inf, non-JSON values."""
    where = _path(parts)
    if isinstance(node, _RepeatedKeys):
        if parts != ["discriminator"]:
            problems += _repeated_lines(parts, node)
            return
        if not node.paper_pattern:
            shapes = " / ".join(", ".join(map(str, group)) for group in node)
            problems.append(f"discriminator: its keys repeat, but not in complete groups like the paper's "
                            f"(type, hparams, type, hparams); got groups {shapes}; write a list of discriminator "
                            f"objects instead: [{{type: ..., hparams: ...}}, ...]")
        for i, group in enumerate(node):
            _structure_problems(group, [*parts, i], problems)
    elif isinstance(node, dict) and parts == ["discriminator"]:  # one discriminator object: the list's item 0
        _structure_problems([node], parts, problems)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                _structure_problems(value, [*parts, key], problems)
            else:
                problems.append(f"{where}: key {key!r} ({type(key).__name__}) is not a name; write keys as text "
                                f"(in YAML, quote keys such as 'yes', 'no', numbers or null)")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _structure_problems(item, [*parts, i], problems)
    elif isinstance(node, float) and not math.isfinite(node):
        problems.append(f"{where}: got {node}; NaN and infinite values are not allowed; write a finite number")
    elif not (node is None or isinstance(node, (str, int, float))):  # bool is an int
        problems.append(f"{where}: got {node!r} ({type(node).__name__}); a config holds only text, numbers, "
                        f"true/false, null, lists and mappings; write the value as one of those")


def _as_list(value: Any) -> Any:
    """An axis written as one value (the paper's `"lr": 1e-4` style) becomes a one-item list."""
    return [value] if isinstance(value, (str, int, float)) else value


def _normalize(cfg: dict) -> dict:
    """Accept the paper's forms: one discriminator object, scalars for axes, 'Random', 'relative entropy'."""
    if "discriminator" in cfg:
        disc = cfg["discriminator"]
        if isinstance(disc, _RepeatedKeys):  # the paper's object with repeated type/hparams keys
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


def _is_integer(_checker: Any, instance: Any) -> bool:
    """Integers are ints: 512.0 would reach range() and change the cell id, so it is refused, not converted."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator() -> jsonschema.protocols.Validator:
    base = jsonschema.Draft202012Validator
    strict = jsonschema.validators.extend(base, type_checker=base.TYPE_CHECKER.redefine("integer", _is_integer))
    return strict(schema(), format_checker=jsonschema.FormatChecker(["date"]))


def _path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


@cache
def _key_homes() -> dict[str, list[str]]:
    """Every key the schema knows -> the places it belongs (e.g. lr -> optimizer, discriminator[].hparams)."""
    homes: dict[str, list[str]] = {}

    def visit(node: dict, where: str) -> None:
        if "$ref" in node:
            node = schema()["$defs"][node["$ref"].rsplit("/", 1)[1]]
        for key, sub in node.get("properties", {}).items():
            homes.setdefault(key, []).append(where or "the top level")
            visit(sub, f"{where}.{key}" if where else key)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{where}[]")

    visit(schema(), "")
    return homes


def _unknown_key(parts: list, key: str, allowed: list[str]) -> tuple[str, str | None]:
    """The line for an unknown key, and the allowed key it most likely meant (if any)."""
    where = _path([*parts, key])
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"{where}: unknown key; did you mean '{close[0]}'?", close[0]
    homes = _key_homes()
    named = key if key in homes else next(iter(difflib.get_close_matches(key, list(homes), n=1)), None)
    if named:
        here = re.sub(r"\[\d+\]", "[]", _path(parts)) if parts else "the top level"
        return (f"{where}: unknown key at {here}; '{named}' belongs under {' or '.join(homes[named])}; move it "
                f"there (allowed here: {', '.join(allowed)})"), None
    return f"{where}: unknown key; allowed keys here: {', '.join(allowed)}", None


def _schema_problems(cfg: dict) -> list[str]:
    """One line per schema violation; a missing key that an unknown sibling was meant to be is reported once."""
    errors = list(_validator().iter_errors(cfg))
    meant = set()
    lines = []
    for err in errors:
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - set(allowed)):
                line, close = _unknown_key(list(err.absolute_path), key, allowed)
                lines.append(line)
                if close:
                    meant.add((tuple(err.absolute_path), close))
    for err in errors:
        if err.validator == "required":
            missing = err.message.split("'")[1]
            if (tuple(err.absolute_path), missing) in meant:
                continue
        if err.validator != "additionalProperties":
            lines.append(_describe(err))
    return sorted(set(lines))


def _type_hint(got: Any, expected: list[str]) -> str:
    """How to write a value of the expected JSON type instead of `got`."""
    if isinstance(got, bool) and ({"integer", "number"} & set(expected)):
        return "write a number, not true/false (YAML reads yes/no/on/off as booleans)"
    if isinstance(got, str) and ({"integer", "number"} & set(expected)):
        return "write the number without quotes"
    if isinstance(got, float) and "integer" in expected:
        return "write a whole number, without a decimal point"
    if "integer" in expected:
        return "write a whole number"
    if "number" in expected:
        return "write a number"
    if "array" in expected:
        return "write a list, e.g. [...] or one '- item' line per value"
    if "object" in expected:
        return "write a mapping of keys to values"
    if "string" in expected:
        return "write text (quote it in YAML)" + (" or null" if "null" in expected else "")
    return "see config/README.md"


def _describe(err: jsonschema.ValidationError) -> str:
    """One line: field path, what was received, what is allowed or how to fix it."""
    where, got, rule = _path(err.absolute_path), err.instance, err.validator_value
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
        expected = rule if isinstance(rule, list) else [rule]
        return (f"{where}: got {got!r} ({type(got).__name__}); expected {' or '.join(expected)}; "
                f"{_type_hint(got, expected)}")
    if err.validator == "uniqueItems":
        return f"{where}: got {got!r}; values repeat, list each value once"
    if err.validator in ("minItems", "maxItems"):
        count = f"at least {rule}" if err.validator == "minItems" else f"at most {rule}"
        fix = "add a value (an empty list gives an empty grid)" if got == [] else f"list {count}"
        return f"{where}: got {got!r}; needs {count} item(s); {fix}"
    if err.validator == "oneOf":
        allowed = err.schema.get("description", "see config/README.md").rstrip(".")
        names = [v for sub in err.schema["oneOf"] for v in sub.get("enum", [])]
        close = difflib.get_close_matches(got, names, n=1) if isinstance(got, str) else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"{where}: got {got!r}; allowed: {allowed}{hint}"
    if err.validator == "format":
        return f"{where}: got {got!r}; write an ISO date YYYY-MM-DD, e.g. 2015-01-01 (quoted or not)"
    if err.validator == "pattern":
        if rule == "\\S":
            return f"{where}: got {got!r}; write a non-blank text"
        return f"{where}: got {got!r}; use letters, digits and _ . - only, starting with a letter or digit"
    if err.validator == "minLength":
        return f"{where}: got {got!r}; must not be empty"
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
    problems += _repeated_grid_values(cfg)
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


def _repeated_grid_values(cfg: dict) -> list[str]:
    """A value listed twice on an axis would train the same cell twice; name where it repeats."""
    problems = []
    first: dict = {}
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
