"""Rule check_data: load and discretize every distribution at every qubit count before any training job."""

import json

from autoqml import logs
from autoqml.data import check_distributions, located
from autoqml.store import atomic_write


def main(*, distributions: list[dict], num_qubits: list[int], seed: int, batch_size: int, data: dict, output: str,
         log: str) -> None:
    logs.configure(log)
    with located(data):  # config data paths -> this job's input files (local copies under remote storage)
        summary = check_distributions(distributions=distributions, num_qubits=num_qubits, seed=seed,
                                      batch_size=batch_size)
    atomic_write(output, json.dumps(summary, indent=1).encode())


if __name__ == "__main__":
    main(distributions=list(snakemake.params.distributions), num_qubits=list(snakemake.params.num_qubits),
         seed=snakemake.params.seed, batch_size=snakemake.params.batch_size,
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)), output=snakemake.output[0],
         log=snakemake.log[0])
