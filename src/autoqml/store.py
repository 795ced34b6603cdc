"""Atomic, verifiable storage of a cell's result: ``<id>.json`` with ``<id>.qpy`` and ``<id>.npz`` beside it.

Each file is written to a temporary name in the same folder and renamed into place, so a killed job never leaves
a half-written file under the final name. The JSON is written last and records the SHA-256 of its two companions:
a reader that finds the JSON valid against ``result.schema.yaml`` and the hashes matching has a complete result.
"""

from __future__ import annotations

import hashlib
import io
import json
from functools import cache
from importlib.resources import files
from pathlib import Path

import fastjsonschema
import numpy as np
import yaml
from qiskit import QuantumCircuit, qpy

from autoqml.errors import AutoQMLError
from autoqml.files import atomic_write  # noqa: F401 - re-exported: the rule scripts write through it


_RETRAIN = "delete the cell's .json, .qpy and .npz files and run the workflow again to retrain it"


class ResultError(AutoQMLError):
    """A stored result is missing, corrupt or incomplete; the message names the file."""


def companions(json_path: str | Path) -> tuple[Path, Path]:
    """The circuit (QPY) and discriminator-weights (npz) files that belong to a result JSON."""
    json_path = Path(json_path)
    return json_path.with_suffix(".qpy"), json_path.with_suffix(".npz")


def write_result(path: str | Path, *, result: dict, circuit: QuantumCircuit,
                 discriminators: list[dict[str, np.ndarray]]) -> None:
    """Store a cell's result; `result` gets the companions' names and hashes, then is validated and written."""
    qpy_path, npz_path = companions(path)
    circuit_bytes = io.BytesIO()
    qpy.dump(circuit, circuit_bytes)
    weights = io.BytesIO()
    np.savez(weights, **{f"run{r}/{name}": array for r, d in enumerate(discriminators) for name, array in d.items()})
    result = {**result,
              "files": {"circuit": _describe(qpy_path, circuit_bytes.getvalue()),
                        "discriminators": _describe(npz_path, weights.getvalue())}}
    _validate(result, path)
    atomic_write(qpy_path, circuit_bytes.getvalue())
    atomic_write(npz_path, weights.getvalue())
    atomic_write(path, json.dumps(result, indent=1, allow_nan=False).encode())


def read_result(path: str | Path, *, verify_files: bool = True) -> dict:
    """Load a result JSON, validate it against the schema and (optionally) the hashes of its companions."""
    path = Path(path)
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultError(f"{path}: not a readable result ({err}); {_RETRAIN}") from None
    _validate(result, path)
    if verify_files:
        for companion in companions(path):
            entry = result["files"]["circuit" if companion.suffix == ".qpy" else "discriminators"]
            if not companion.is_file() or _sha256(companion.read_bytes()) != entry["sha256"]:
                raise ResultError(f"{companion}: missing or does not match the hash in {path.name}; {_RETRAIN}")
    return result


def load_circuit(json_path: str | Path) -> QuantumCircuit:
    """The generator circuit a result was trained with (parametrized; runs store their parameter values)."""
    with open(companions(json_path)[0], "rb") as handle:
        return qpy.load(handle)[0]


def load_discriminators(json_path: str | Path) -> list[dict[str, np.ndarray]]:
    """Per run, the discriminator weights named like a torch.nn.Sequential of Linear layers."""
    runs: dict[int, dict[str, np.ndarray]] = {}
    with np.load(companions(json_path)[1]) as archive:
        for key in archive.files:
            run, name = key.split("/", 1)
            runs.setdefault(int(run.removeprefix("run")), {})[name] = archive[key]
    return [runs[r] for r in sorted(runs)]


def write_shard(path: str | Path, *, cells: list[str | Path], shard: int, shards: int) -> None:
    """Gather checked cell results into one raw file per shard, as the paper's worker nodes wrote them."""
    results = [read_result(cell) for cell in cells]
    document = {"format": "autoqml.raw-shard", "shard": shard, "shards": shards, "cells": results}
    atomic_write(path, json.dumps(document, allow_nan=False).encode())


def read_shards(paths: list[str | Path]) -> list[dict]:
    """All cell results of the raw shard files, each validated against the result schema."""
    results = []
    for path in map(Path, paths):
        try:
            document = json.loads(path.read_text())
            cells = document["cells"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ResultError(f"{path}: not a readable raw shard ({err}); rerun its gather job") from None
        for i, result in enumerate(cells):
            _validate(result, Path(f"{path}#cells[{i}]"))
        results.extend(cells)
    return results


def _describe(path: Path, payload: bytes) -> dict:
    return {"name": path.name, "sha256": _sha256(payload)}


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


@cache
def _validator():
    """The result schema compiled to Python (fastjsonschema): 60x faster than interpreting it, which matters
    because every aggregation step reads every cell (measured 1 ms against 60 ms per 120 kB result)."""
    return fastjsonschema.compile(yaml.safe_load(files("autoqml").joinpath("schemas/result.schema.yaml").read_text()))


def _validate(result: dict, path: Path) -> None:
    try:
        _validator()(result)
    except fastjsonschema.JsonSchemaValueException as error:
        where = "/".join(error.path[1:]) if error.path else "<top level>"
        raise ResultError(f"{path}: invalid result at {where}: {error.message[:200]}; {_RETRAIN}") from None
