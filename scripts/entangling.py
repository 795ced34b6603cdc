"""Rule entangling: entangling capability of one ansatz for every k and N of the grid."""

from autoqml import logs
from autoqml.evaluate import entangling_table
from autoqml.store import atomic_write


def main(*, ansatz: str, grid: dict, samples: int, seed: int, output: str, log: str) -> None:
    logs.configure(log)
    table = entangling_table(ansatz=ansatz, reps=grid["reps"], num_qubits=grid["num_qubits"], samples=samples,
                             seed=seed)
    atomic_write(output, table.to_json(orient="records", indent=1).encode())


if __name__ == "__main__":
    main(ansatz=snakemake.wildcards.ansatz, grid=snakemake.params.grid, samples=snakemake.params.samples,
         seed=snakemake.params.seed, output=snakemake.output[0], log=snakemake.log[0])
