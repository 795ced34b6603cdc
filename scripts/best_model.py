"""Rule best_model: pick the best setting's best run and store it as JSON + QPY (safe) and a pickle (paper)."""

from autoqml import logs
from autoqml.aggregate import read_results, read_statistics
from autoqml.data import located
from autoqml.model import save, select_best


def main(*, shards: list[str], grid: str, statistics: str, metric: str, data: dict, out: dict, log: str) -> None:
    logs.configure(log)
    with located(data):  # the circuit is rebuilt; a normal initial state loads the data
        machine = select_best(results=read_results(shards=shards, grid=grid), statistics=read_statistics(statistics),
                              metric=metric)
    save(machine, json_path=out["model"], qpy_path=out["circuit"], pickle_path=out["pickle"])


if __name__ == "__main__":
    main(shards=list(snakemake.input.shards), grid=snakemake.input.grid, statistics=snakemake.input.statistics,
         metric=snakemake.params.metric, data=dict(zip(snakemake.params.data_paths, snakemake.input.data)),
         out=dict(snakemake.output.items()), log=snakemake.log[0])
