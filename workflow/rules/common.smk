# Parse-time model of the study: the config is re-read with autoqml's loader (it accepts the paper's JSON, whose
# repeated discriminator keys a plain JSON/YAML reader would drop) and validated against
# workflow/schemas/config.schema.yaml; --config KEY=VALUE overrides apply on top.
import autoqml
from autoqml.errors import AutoQMLError
from autoqml.study import Study

try:
    STUDY = Study.from_files(
        list(workflow.overwrite_configfiles) or ["config/config.yaml"],
        overrides=dict(workflow.config_settings.config),
        local_files=workflow.storage_settings.default_storage_provider is None,
    )
except AutoQMLError as err:
    raise WorkflowError(f"invalid study config:\n{err}") from None

ROOT = STUDY.root


wildcard_constraints:
    ansatz="[A-Za-z0-9_]+",
    shard="[0-9]+",
    figure="|".join(STUDY.figures) or "none",


def final_targets():
    return STUDY.final_targets()


def shard_cells(wildcards):
    # every file of a cell: gathering checks the circuit and weights against the hashes in the JSON
    return STUDY.cell_files(STUDY.shard_cells(int(wildcards.shard) - 1))


def shard_group(wildcards):
    return STUDY.group(int(wildcards.shard) - 1)


def ansatz_data(wildcards):
    return STUDY.ansatz_data(wildcards.ansatz)


def ansatz_structures(wildcards):
    return STUDY.structures(wildcards.ansatz)


def ansatz_grid(wildcards):
    return STUDY.ansatz_grid(wildcards.ansatz)


def download_params(wildcards, output):
    dist = STUDY.downloads[output[0]]
    keys = ("url", "expect", "column", "hour", "start", "end")
    return {key: dist.get(key) for key in keys}


def figure_inputs(wildcards):
    inputs = {
        "shards": STUDY.shard_files,
        "statistics": f"{ROOT}/tables/statistics.csv",
    }
    if wildcards.figure == "entangling_capability":
        inputs["entangling"] = [f"{ROOT}/entangling/{a}.json" for a in STUDY.ansaetze]
    return inputs


def device_inputs(wildcards):
    inputs = {
        "model": f"{ROOT}/best/model.json",
        "circuit": f"{ROOT}/best/model.qpy",
        "statistics": f"{ROOT}/tables/statistics.csv",
    }
    if STUDY.cfg["evaluation"]["all_cells"]:
        inputs["shards"] = STUDY.shard_files
    return inputs
