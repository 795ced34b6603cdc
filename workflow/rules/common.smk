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
# The grid manifest (the cells that run, by shard) is rewritten only when the grid changes, so that gathering and
# aggregation rerun under every rerun trigger (Study.write_manifest). Every Snakemake process writes it; with
# remote storage it stays a local file (each job's process writes its own copy when it parses this file).
STUDY.write_manifest()
GRID = STUDY.manifest if STUDY.local_files else local(STUDY.manifest)
# A search aggregates the settings it trained to num_epochs, listed by its last checkpoint.
if STUDY.search:
    GRID = STUDY.aggregated
# Every data file of the study: the rules that load data (a normal initial state does) take them as inputs and map
# the config's paths to them (params data_paths; autoqml.data.located).
DATA = STUDY.data_inputs_of(list(STUDY.cells))


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


def download_params(wildcards):
    # keyed by the path the config names: with remote storage the output is a local copy elsewhere
    dist = STUDY.downloads[f"data/{wildcards.file}"]
    keys = ("url", "expect", "column", "hour", "start", "end")
    return {key: dist.get(key) for key in keys}


def figure_inputs(wildcards):
    inputs = {
        "shards": STUDY.shard_files,
        "grid": GRID,
        "statistics": f"{ROOT}/tables/statistics.csv",
    }
    if wildcards.figure in ("target_vs_best", "best_by_qubits"):
        inputs["best"] = f"{ROOT}/tables/best.csv"
    if wildcards.figure == "entangling_capability":
        inputs["entangling"] = [f"{ROOT}/entangling/{a}.json" for a in STUDY.ansaetze]
    return inputs


def device_inputs(wildcards):
    inputs = {
        "data": DATA,
        "model": f"{ROOT}/best/model.json",
        "circuit": f"{ROOT}/best/model.qpy",
        "statistics": f"{ROOT}/tables/statistics.csv",
    }
    if STUDY.cfg["evaluation"]["all_cells"]:
        inputs["shards"] = STUDY.shard_files
    return inputs
