"""The config schema and its violations as messages: each names the field path, the value received and the fix.

The schema (``schemas/config.schema.yaml``, linked from ``workflow/schemas/``) says what each key may hold and its
default. :func:`schema_problems` turns jsonschema's errors into one line each; :func:`fill_defaults` inserts the
defaults of absent keys.
"""

from __future__ import annotations

import copy
import difflib
import re
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import yaml

from autoqml.config_text import field_path


@cache
def schema() -> dict:
    """The config JSON Schema (the same file `workflow/schemas/config.schema.yaml` links to)."""
    return yaml.safe_load(files("autoqml").joinpath("schemas/config.schema.yaml").read_text())


def _is_number(text: str) -> bool:
    """Text that a YAML or JSON reader would take for a number had it not been quoted."""
    return re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text.strip()) is not None


def _is_integer(_checker: Any, instance: Any) -> bool:
    """Integers are ints: 512.0 would reach range() and change the cell id, so it is refused, not converted."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator() -> jsonschema.protocols.Validator:
    base = jsonschema.Draft202012Validator
    strict = jsonschema.validators.extend(base, type_checker=base.TYPE_CHECKER.redefine("integer", _is_integer))
    return strict(schema(), format_checker=jsonschema.FormatChecker(["date"]))


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
    where = field_path([*parts, key])
    homes = _key_homes()
    close = difflib.get_close_matches(key, allowed, n=1)
    if close and key not in homes:  # a key valid elsewhere is misplaced, not misspelt
        return f"{where}: unknown key; did you mean '{close[0]}'?", close[0]
    named = key if key in homes else next(iter(difflib.get_close_matches(key, list(homes), n=1)), None)
    if named:
        here = re.sub(r"\[\d+\]", "[]", field_path(parts)) if parts else "the top level"
        return (f"{where}: unknown key at {here}; '{named}' belongs under {' or '.join(homes[named])}; move it "
                f"there (allowed here: {', '.join(allowed)})"), None
    return f"{where}: unknown key; allowed keys here: {', '.join(allowed)}", None


def schema_problems(cfg: dict) -> list[str]:
    """One line per schema violation; a missing key that an unknown sibling was meant to be is reported once."""
    errors = [leaf for err in _validator().iter_errors(cfg) for leaf in _fitting(err)]
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


def _fitting(err: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """An error of a choice (oneOf/anyOf) as the errors of the one alternative the value's shape fits.

    ``backend: {type: aer, shotz: 10}`` fails both the name alternative (not a string) and the object one (an
    unknown key); only the object alternative fits a mapping, so its error, the unknown key, is the one to report,
    not the whole block. When no alternative or several fit, the choice itself is reported.
    """
    if err.validator not in ("oneOf", "anyOf") or not err.context:
        return [err]
    branches: dict[int, list] = {}
    for sub in err.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    fitting = [subs for subs in branches.values()
               if not any(s.validator in ("type", "enum") and not s.relative_path for s in subs)]
    if len(fitting) != 1:
        return [err]
    return [leaf for sub in fitting[0] for leaf in _fitting(sub)]


def _type_hint(got: Any, expected: list[str]) -> str:
    """How to write a value of the expected JSON type instead of `got`."""
    if isinstance(got, bool) and ({"integer", "number"} & set(expected)):
        return "write a number, not true/false (YAML reads yes/no/on/off as booleans)"
    if isinstance(got, str) and ({"integer", "number"} & set(expected)):
        return "write the number without quotes" if _is_number(got) else "write a number"
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
    where, got, rule = field_path(err.absolute_path), err.instance, err.validator_value
    if err.validator == "required":
        missing = err.message.split("'")[1]
        return f"{field_path([*err.absolute_path, missing])}: required key is missing; add it (see config/README.md)"
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


def report(source: str, problems: list[str]) -> str:
    head = f"{source}: {len(problems)} problem(s); fix them in the config (keys are explained in config/README.md)"
    return "\n".join([head, *(f"  - {p}" for p in problems)])


def fill_defaults(node: Any, sub: dict) -> None:
    """Insert schema defaults for missing keys, recursing into objects and arrays of objects."""
    if "$ref" in sub:
        sub = schema()["$defs"][sub["$ref"].rsplit("/", 1)[1]]
    if isinstance(node, dict):
        for key, prop in sub.get("properties", {}).items():
            target = schema()["$defs"][prop["$ref"].rsplit("/", 1)[1]] if "$ref" in prop else prop
            if key not in node and "default" in target:
                node[key] = copy.deepcopy(target["default"])
            if key in node:
                fill_defaults(node[key], prop)
    elif isinstance(node, list) and isinstance(sub.get("items"), dict):
        for item in node:
            fill_defaults(item, sub["items"])
