"""Circuit metrics that do not depend on training: transpiled depth per run, entangling capability per ansatz."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from autoqml.circuits import build_ansatz
from autoqml.metrics import entangling_capability, transpiled_depth
from autoqml.simulator import StatevectorSimulator


def run_depths(*, circuit, device: str, seed: int, runs: int, optimization_level: int = 1) -> list[int]:
    """Depth of the measured circuit transpiled to `device`, once per run with transpiler seed `seed + run`.

    Transpilation (layout and routing) is stochastic, so the paper reports mean and spread over runs; the
    circuit's structure, not its trained angles, decides the depth, so one unbound circuit serves every run.
    """
    return [transpiled_depth(circuit=circuit, device=device, seed=seed + run, optimization_level=optimization_level)
            for run in range(runs)]


def entangling_table(*, ansatz: str, reps: list[int], num_qubits: list[int], samples: int, seed: int) -> pd.DataFrame:
    """Entangling capability (mean Meyer-Wallach over parameters drawn from U[-pi, pi]) per k and N.

    Sim, Johnson, Aspuru-Guzik 2019 (arXiv:1905.10876): the ansatz acts on |0...0>, as in their definition.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n in num_qubits:
        for k in reps:
            circuit = build_ansatz(name=ansatz, num_qubits=n, reps=k)
            theta = torch.as_tensor(rng.uniform(-np.pi, np.pi, (samples, circuit.num_parameters)))
            zero = torch.zeros(1, 2**n, dtype=torch.float64)
            zero[0, 0] = 1.0
            with torch.no_grad():
                states = StatevectorSimulator(circuit).states(theta, zero).numpy()
            rows.append({"ansatz": ansatz, "reps": k, "num_qubits": n,
                         "entangling_capability": entangling_capability(states=states), "samples": samples})
    return pd.DataFrame(rows)


def read_entangling(paths: list[str]) -> pd.DataFrame | None:
    """The entangling tables written by the ``entangling`` rule, one per ansatz, as one frame."""
    return pd.concat([pd.read_json(path) for path in paths], ignore_index=True) if paths else None
