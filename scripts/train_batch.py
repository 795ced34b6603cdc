"""Training rules: train one shard's pending cells in one process, batched by circuit shape; one result per cell."""

from pathlib import Path

from autoqml import logs
from autoqml.data import located
from autoqml.grid import Cell
from autoqml.train import train_cells


def main(*, params: list[dict], routing: dict, training: dict, data: dict, results: list[str], log: str) -> None:
    logs.configure(log)
    cells = [Cell.from_params(p) for p in params]
    expected = {Path(r).stem for r in results if r.endswith(".json")}
    if {cell.id for cell in cells} != expected:
        raise RuntimeError("the cells' params no longer hash to the job's outputs; the grid changed under the job")
    with located(data):  # config data paths -> this job's input files (local copies under remote storage)
        train_cells(cells=cells, out=Path(results[0]).parent, progress_every=params[0]["log_every"], routing=routing,
                    **training)


if __name__ == "__main__":
    main(params=list(snakemake.params.cells), routing=dict(snakemake.params.routing),
         training=dict(snakemake.params.training),
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)), results=list(snakemake.output),
         log=snakemake.log[0])
