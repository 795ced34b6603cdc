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
    )
except AutoQMLError as err:
    raise WorkflowError(f"invalid study config:\n{err}") from None

ROOT = STUDY.root


wildcard_constraints:
    cell="[0-9a-f]{12}",
    structure="[0-9a-f]{12}",
    ansatz="[A-Za-z0-9_]+",
    shard="[0-9]+",
    figure="|".join(STUDY.figures) or "none",


def final_targets():
    return STUDY.final_targets()


def cell_data(wildcards):
    return STUDY.data_inputs(wildcards.cell)


def cell_params(wildcards):
    return STUDY.cells[wildcards.cell].params


def cell_group(wildcards):
    return STUDY.group(wildcards.cell)


def cell_runtime(wildcards):
    from autoqml.study import estimated_seconds

    return max(5, int(estimated_seconds(STUDY.cells[wildcards.cell]) / 60 * 3) + 5)


def shard_cells(wildcards):
    return [
        f"{ROOT}/cells/{c}.json" for c in STUDY.shard_cells(int(wildcards.shard) - 1)
    ]


def shard_group(wildcards):
    return f"shard-{wildcards.shard}-of-{STUDY.num_shards}"


def structure_data(wildcards):
    return STUDY.data_inputs(STUDY.structure_cell(wildcards.structure).id)


def structure_params(wildcards):
    cell = STUDY.structure_cell(wildcards.structure)
    return {"id": cell.id, "label": cell.label, "params": cell.params}


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
