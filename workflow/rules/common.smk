# Parse-time model of the study: the config is re-read with autoqml's loader (it accepts the paper's JSON, whose
# repeated discriminator keys a plain JSON/YAML reader would drop) and validated against
# workflow/schemas/config.schema.yaml; --config KEY=VALUE overrides apply on top.
import json

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
SEARCH = STUDY.search
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


# -- a search (workflow/rules/search.smk): steps whose plans are checkpoint outputs ---------------------------------
def read_plan(step):
    """A step's plan, once its checkpoint ran (until then Snakemake plans the checkpoint first)."""
    with open(checkpoints.search_plan.get(step=str(step)).output[0]) as handle:
        return json.load(handle)


def trained(step):
    """The shard folders of a step's training."""
    return [
        SEARCH.train_dir(step, shard) for shard in range(len(read_plan(step)["shards"]))
    ]


def depth_inputs():
    return STUDY.depth_files if SEARCH.needs_depth else []


def plan_inputs(wildcards):
    step = int(wildcards.step)
    if not step:
        return {"depths": depth_inputs()}
    return {
        "previous": SEARCH.plan_path(step - 1),
        "trained": trained(step - 1),
        "depths": depth_inputs(),
    }


def resume_paths(wildcards):
    """The folders a step's shard continues from (the previous rung's shards holding its cells' states)."""
    plan = read_plan(wildcards.step)
    cells = plan["shards"][int(wildcards.shard)]
    return sorted({plan["resume"][cell] for cell in cells}) if plan["rung"] else []


def search_training(wildcards):
    """The grid's training options; fault checkpoints per step, so a rerun of a killed step continues only it."""
    folder = SEARCH.path("search", "checkpoints", f"step-{wildcards.step}")
    return {**STUDY.training_options, "checkpoints": folder}


def train_inputs(wildcards):
    return {
        "plan": SEARCH.plan_path(wildcards.step),
        "resume": resume_paths(wildcards),
        "data": DATA,
        "checked": f"{ROOT}/tables/data.json",
    }


def train_group(wildcards):
    return f"search-{wildcards.step}-shard-{wildcards.shard}"


def train_minutes(wildcards):
    plan = read_plan(wildcards.step)
    cells = plan["shards"][int(wildcards.shard)]
    seconds = SEARCH.shard_seconds(plan, cells)
    return int(seconds / 60 * 3) + 5


def final_inputs(wildcards):
    return {
        "plans": [SEARCH.plan_path(step) for step in range(len(SEARCH.steps))],
        "trained": trained(SEARCH.last_step),
        "depths": depth_inputs(),
    }


def completed_paths(wildcards):
    """The shard folders of every step that trains to num_epochs (each round's last rung)."""
    return [d for step in SEARCH.final_steps for d in trained(step)]


def completed_inputs(wildcards):
    return {"final": SEARCH.final_path, "trained": completed_paths(wildcards)}
