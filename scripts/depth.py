"""Rule depth: transpiled depth of one circuit structure on the configured IBM device, seeded per run."""

import json

from autoqml import logs
from autoqml.evaluate import run_depths
from autoqml.grid import Cell
from autoqml.store import atomic_write
from autoqml.train import prepare


def main(*, params: dict, device: str, output: str, log: str) -> None:
    logs.configure(log)
    circuit = prepare(Cell.from_params(params)).generator.circuit
    depths = run_depths(circuit=circuit, device=device, seed=params["seed"], runs=params["num_training_runs"])
    atomic_write(output, json.dumps({"device": device, "depths": depths}).encode())


if __name__ == "__main__":
    main(params=snakemake.params.cell["params"], device=snakemake.params.device, output=snakemake.output[0],
         log=snakemake.log[0])
