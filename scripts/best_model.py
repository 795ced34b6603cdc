"""Rule best_model: choose (validation data with a split) the best model per distribution and qubit count and
overall, write tables/best.csv, and store each as JSON + QPY (safe) and a pickle (paper)."""

from pathlib import Path

from autoqml import logs
from autoqml.aggregate import read_results, read_runs, read_statistics, selections
from autoqml.data import located
from autoqml.model import save_selection
from autoqml.store import atomic_write


def main(*, shards: list[str], grid: str, statistics: str, runs: str, metric: str, data: dict, out: dict,
         log: str) -> None:
    logs.configure(log)
    choices = selections(read_runs(runs), read_statistics(statistics), metric=metric)
    atomic_write(out["table"], choices.to_csv(index=False).encode())
    with located(data):  # the circuit is rebuilt; a normal initial state loads the data
        save_selection(results=read_results(shards=shards, grid=grid), choices=choices,
                       folder=Path(out["model"]).parent)


if __name__ == "__main__":
    main(shards=list(snakemake.input.shards), grid=snakemake.input.grid, statistics=snakemake.input.statistics,
         runs=snakemake.input.runs, metric=snakemake.params.metric,
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)), out=dict(snakemake.output.items()),
         log=snakemake.log[0])
