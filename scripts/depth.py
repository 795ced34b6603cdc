"""Rule depth: transpiled depth of every circuit structure of one ansatz on the IBM device, seeded per run."""

import json

from autoqml import logs
from autoqml.data import located
from autoqml.evaluate import run_depths
from autoqml.grid import Cell
from autoqml.store import atomic_write
from autoqml.train import prepare


def main(*, structures: dict, device: str, data: dict, output: str, log: str) -> None:
    logs.configure(log)
    with located(data):  # a normal initial state loads the data
        depths = {
            structure: run_depths(circuit=prepare(Cell.from_params(params)).generator.circuit, device=device,
                                  seed=params["seed"], runs=params["num_training_runs"])
            for structure, params in structures.items()
        }
    atomic_write(output, json.dumps({"device": device, "depths": depths}).encode())


if __name__ == "__main__":
    main(structures=dict(snakemake.params.structures), device=snakemake.params.device,
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)), output=snakemake.output[0],
         log=snakemake.log[0])
