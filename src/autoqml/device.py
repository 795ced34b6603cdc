"""Evaluation on a backend: trained Born machines measured on a device (or its simulator), their samples scored.

After training, the best model (or every cell's best run) is transpiled once for the evaluation backend and
measured ``shots`` times, all models in one sampler call (an ``ibm`` backend inside a Batch). The frequencies are
scored against the target with the study's KL and KS (:mod:`autoqml.metrics`: bins the target uses but no shot hit
count with Q floored at 1e-10, about 23 P(x) each, so use enough shots for the bins that matter). Hardware noise,
readout error and shot noise all show up in the gap to the exact ``kl``/``ks`` of training.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from autoqml.backends import label, open_sampler
from autoqml.metrics import ks_statistic, relative_entropy
from autoqml.model import BornMachine

#: Columns the device evaluation adds to a statistics row.
DEVICE_COLUMNS = ["run", "kl_run", "ks_run", "device_backend", "device", "device_shots", "device_depth", "kl_device",
                  "ks_device"]


def evaluate_machines(*, machines: list[BornMachine], spec: dict, shots: int, seed: int,
                      routing: dict | None = None) -> list[dict]:
    """Measure every machine `shots` times on `spec` (one sampler call); per machine its scores and counts."""
    with open_sampler(spec, routing=routing) as sampler:
        pubs = [(sampler.transpile(m.circuit, seed=seed), np.asarray(m.parameters, dtype=float)) for m in machines]
        counts = sampler.counts(pubs, shots=shots, seed=seed)
        device = sampler.backend.name
    out = []
    for machine, (isa, _), count in zip(machines, pubs, counts):
        frequencies = count / shots
        target = machine.metadata["target"]
        out.append({"cell": machine.metadata["cell"]["id"], "run": machine.metadata["run"],
                    "kl_run": machine.metadata["final"]["kl"], "ks_run": machine.metadata["final"]["ks"],
                    "device_backend": label(spec), "device": device, "device_shots": shots,
                    "device_depth": isa.depth(),
                    "kl_device": float(relative_entropy(target=target, generated=frequencies)),
                    "ks_device": float(ks_statistic(target=target, generated=frequencies)),
                    "counts": count.tolist()})
    return out


def device_table(statistics: pd.DataFrame, evaluations: list[dict]) -> pd.DataFrame:
    """The statistics rows of the evaluated cells with the device columns added (one row per evaluated model)."""
    device = pd.DataFrame([{key: e[key] for key in ["cell", *DEVICE_COLUMNS]} for e in evaluations])
    return statistics.merge(device, on="cell", how="inner")


def samples_json(evaluations: list[dict]) -> bytes:
    """The raw device counts per evaluated model, for re-scoring without re-running."""
    return json.dumps({"format": "autoqml.device-samples", "version": 1, "models": evaluations}, indent=1).encode()


def table_markdown(table: pd.DataFrame) -> str:
    """A compact Markdown view: the setting, its mean exact scores, the evaluated run's exact and device scores."""
    columns = ["label", "kl_mean", "ks_mean", "run", "kl_run", "ks_run", "device_backend", "device_shots",
               "device_depth", "kl_device", "ks_device"]
    names = {"label": "setting", "kl_mean": "µRE", "ks_mean": "µKS", "kl_run": "RE (run, exact)",
             "ks_run": "KS (run, exact)", "device_backend": "backend",
             "device_shots": "shots", "device_depth": "depth on device", "kl_device": "RE (device)",
             "ks_device": "KS (device)"}
    return table[columns].rename(columns=names).to_markdown(index=False, floatfmt=".4f") + "\n"
