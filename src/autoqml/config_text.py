"""Config text to plain values: read the file, parse JSON (the paper's, as printed) or YAML, and say what parsing hid.

What a parser decides silently is made explicit here, before the schema sees the values:

- repeated keys are kept as groups (:class:`RepeatedKeys`), in both formats, so a second value never silently
  replaces the first (the paper's repeated ``discriminator`` keys are the one accepted pattern);
- YAML numbers follow YAML 1.2, as JSON does: ``1e-3`` is a number (YAML 1.1 reads it as text), and an integer
  written with a leading zero (``010``, ``08``) is flagged (:class:`LeadingZero`): YAML 1.1 reads ``010`` as octal 8
  and ``08`` as text, YAML 1.2 reads both in decimal, so the config says something its author may not mean;
- a document whose aliases (``*a`` of an anchor ``&a``) expand to more than :data:`MAX_VALUES` values is refused
  before it is built (an "alias bomb" of a few lines expands to billions);
- the file must be a regular file (a FIFO would block the reader forever) of UTF-8 text.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from autoqml.errors import ConfigError
from autoqml.files import regular_file

#: Values (scalars, lists, mappings) a config may expand to, aliases counted as often as they are used. The paper's
#: config has about 60; a grid of the maximal 10,000 cells needs far fewer than this.
MAX_VALUES = 100_000
#: The key that makes Snakemake evaluate a config file as a YTE template, i.e. run the Python in it.
YTE_KEY = "__use_yte__"
_NESTED = "lists or mappings are nested too deeply; a config nests a few levels"


class RepeatedKeys(list):
    """Objects whose keys repeat, split into groups: the paper's `discriminator` lists two this way."""

    @classmethod
    def hook(cls, pairs: list[tuple[Any, Any]]) -> dict | RepeatedKeys:
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


class LeadingZero(str):
    """A YAML integer written with a leading zero (``010``): its value depends on the YAML version."""

    def problem(self, where: str) -> str:
        digits = self.lstrip("+-").lstrip("0") or "0"
        octal = set(digits) <= set("01234567")
        return (f"{where}: got {self}, a number written with a leading zero; YAML 1.1 reads it as "
                f"{f'octal {int(digits, 8)}' if octal else 'text'}, YAML 1.2 as {int(self)}; write {int(self)} "
                f"without the leading zero" + (f" (or 0o{digits} for octal {int(digits, 8)})" if octal else ""))


def field_path(parts) -> str:
    """``['distributions', 0, 'hour']`` -> ``distributions[0].hour``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<top level>"


def read_config_text(path: str | Path) -> str:
    """The text of the config file at `path`: a regular file of UTF-8 (a byte-order mark is allowed)."""
    path = Path(path)
    regular_file(path, field="config file", fix="name a YAML or JSON file", error=ConfigError)
    try:
        payload = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"config file {path}: cannot be read ({err.strerror}); check the path") from None
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = payload[: err.start].count(b"\n") + 1
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {payload[err.start:err.start + 1]!r} at line "
                          f"{line}); save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def parse_text(text: str, *, source: str = "<config>") -> Any:
    """Parse JSON (tolerating the paper's trailing commas and repeated discriminator keys) or YAML.

    Repeated keys in one object are kept (as groups) in both formats, so that validation can accept the paper's
    repeated ``discriminator`` keys and refuse every other repeat instead of silently keeping the last value.
    """
    if not text.strip():
        raise ConfigError(f"{source}: the file is empty; write a study config (see config/README.md)")
    try:
        if source.endswith((".yaml", ".yml")):
            return _parse_yaml(text, source)
        try:
            return json.loads(text, object_pairs_hook=RepeatedKeys.hook)
        except ValueError:  # JSONDecodeError, or an integer too long to convert
            pass
        try:  # the paper's listing ends objects with a comma
            return json.loads(re.sub(r",(\s*[}\]])", r"\1", text), object_pairs_hook=RepeatedKeys.hook)
        except ValueError as err:
            if source.endswith(".json"):
                where = (f" at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError)
                         else "")
                message = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
                raise ConfigError(f"{source}: not valid JSON ({message}{where}); fix the syntax there "
                                  f"(a missing comma, quote or bracket)") from None
        return _parse_yaml(text, source)
    except RecursionError:
        raise ConfigError(f"{source}: {_NESTED}") from None


def nested_too_deeply(source: str) -> ConfigError:
    return ConfigError(f"{source}: {_NESTED}")


# --- YAML ------------------------------------------------------------------------------------------------------

_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _YamlLoader(yaml.SafeLoader):
    """Safe YAML: repeated keys kept (like the JSON hook), dates left as written, numbers as in YAML 1.2."""


def _yaml_mapping(loader: _YamlLoader, node: yaml.MappingNode) -> dict | RepeatedKeys:
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
    return RepeatedKeys.hook([(k, v) for k, v in merged.items() if k not in overridden] + written)


def _yaml_int(loader: _YamlLoader, node: yaml.ScalarNode) -> int | LeadingZero:
    text = loader.construct_scalar(node)
    if re.fullmatch(r"[-+]?0[0-9]+", text):
        return LeadingZero(text)
    for prefix, base in (("0o", 8), ("0x", 16)):
        if text.startswith(prefix):
            return int(text[2:], base)
    return int(text)


# YAML 1.2 core schema for numbers (the JSON ones plus .inf/.nan, 0o and 0x); YAML 1.1's 1_000, 1:30 and
# dot-less exponents are gone, and booleans keep YAML 1.1's words (the schema's messages name them).
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                  list("-+0123456789"))
_YamlLoader.add_implicit_resolver(
    _FLOAT, re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                       r"|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
_YamlLoader.add_constructor("tag:yaml.org,2002:map", _yaml_mapping)
_YamlLoader.add_constructor(_INT, _yaml_int)
_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _parse_yaml(text: str, source: str) -> Any:
    try:
        loader = _YamlLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expanded_size(node, source)
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except (RecursionError, ConfigError):
        raise
    except Exception as err:  # noqa: BLE001 - PyYAML raises ValueError etc. for e.g. `!!float abc`
        raise ConfigError(f"{source}: not valid YAML or JSON ({_yaml_problem(err)}); fix the syntax there") from None


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Count the values `root` expands to (each alias as often as used) in time linear in the nodes written."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, open_: frozenset[int]) -> int:
        if id(node) in open_:
            raise ConfigError(f"{source}: an alias refers to a list or mapping that contains it (line "
                              f"{node.start_mark.line + 1}); a config cannot be infinite: write the values out")
        if id(node) not in sizes:
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            inner = open_ | {id(node)}
            sizes[id(node)] = min(1 + sum(size(child, inner) for child in children), MAX_VALUES + 1)
        return sizes[id(node)]

    if size(root, frozenset()) > MAX_VALUES:
        raise ConfigError(f"{source}: the document expands to more than {MAX_VALUES:,} values (aliases *name repeat "
                          f"what their anchor &name holds, each time they are used); a study config needs a few "
                          f"hundred: write the values out, or use fewer aliases")


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


# --- what the parsed values hide from a schema ---------------------------------------------------------------

def repeated_lines(parts: list, node: RepeatedKeys) -> list[str]:
    return [f"{field_path([*parts, key])}: appears more than once in one mapping; write it once (a second value "
            f"would silently replace the first)" for key in node.repeated]


def structure_problems(node: Any, parts: list, problems: list[str]) -> None:
    """What no schema can see once parsed: repeated keys, keys that are not text, NaN/inf, leading zeros,
    non-JSON values."""
    where = field_path(parts)
    if isinstance(node, RepeatedKeys):
        if parts != ["discriminator"]:
            problems += repeated_lines(parts, node)
            return
        if not node.paper_pattern:
            shapes = " / ".join(", ".join(map(str, group)) for group in node)
            problems.append(f"discriminator: its keys repeat, but not in complete groups like the paper's "
                            f"(type, hparams, type, hparams); got groups {shapes}; write a list of discriminator "
                            f"objects instead: [{{type: ..., hparams: ...}}, ...]")
        for i, group in enumerate(node):
            structure_problems(group, [*parts, i], problems)
    elif isinstance(node, dict) and parts == ["discriminator"]:  # one discriminator object: the list's item 0
        structure_problems([node], parts, problems)
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                structure_problems(value, [*parts, key], problems)
            else:
                problems.append(f"{where}: key {key!r} ({type(key).__name__}) is not a name; write keys as text "
                                f"(in YAML, quote keys such as 'yes', 'no', numbers or null)")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            structure_problems(item, [*parts, i], problems)
    elif isinstance(node, LeadingZero):
        problems.append(node.problem(where))
    elif isinstance(node, float) and not math.isfinite(node):
        problems.append(f"{where}: got {node}; NaN and infinite values are not allowed; write a finite number")
    elif not (node is None or isinstance(node, (str, int, float))):  # bool is an int
        problems.append(f"{where}: got {node!r} ({type(node).__name__}); a config holds only text, numbers, "
                        f"true/false, null, lists and mappings; write the value as one of those")


def template_problem(raw: Any, source: str) -> str | None:
    """A config Snakemake treated as a YTE template (``__use_yte__: true``): it ran Python when it was loaded."""
    if isinstance(raw, dict) and YTE_KEY in raw:
        return (f"{source}: {YTE_KEY}: got {raw[YTE_KEY]!r}; this makes Snakemake evaluate the file as a YTE "
                f"template, which runs the Python code in it as it loads the file; autoqml refuses templated configs: "
                f"remove {YTE_KEY} and write plain values (README.md, 'Security')")
    return None
