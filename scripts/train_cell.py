"""Rule train_cell: train every run of one cell as one batch and store its result atomically."""

from pathlib import Path

from autoqml import logs
from autoqml.grid import Cell
from autoqml.train import train_cell


def main(*, cell: str, params: dict, result: str, log: str) -> None:
    logs.configure(log)
    spec = Cell.from_params(params)
    if spec.id != cell:
        raise RuntimeError(f"cell {cell}: its params hash to {spec.id}; the grid changed under the job")
    train_cell(cell=spec, out=Path(result).parent, progress_every=params["log_every"])


if __name__ == "__main__":
    main(cell=snakemake.wildcards.cell, params=snakemake.params.cell, result=snakemake.output.result,
         log=snakemake.log[0])
