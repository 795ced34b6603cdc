"""Rule best_model: pick the best setting's best run and store it as JSON + QPY (safe) and a pickle (paper)."""

from autoqml import logs
from autoqml.aggregate import read_statistics
from autoqml.model import save, select_best
from autoqml.store import read_shards


def main(*, shards: list[str], statistics: str, metric: str, out: dict, log: str) -> None:
    logs.configure(log)
    machine = select_best(results=read_shards(shards), statistics=read_statistics(statistics), metric=metric)
    save(machine, json_path=out["model"], qpy_path=out["circuit"], pickle_path=out["pickle"])


if __name__ == "__main__":
    main(shards=list(snakemake.input.shards), statistics=snakemake.input.statistics, metric=snakemake.params.metric,
         out=dict(snakemake.output.items()), log=snakemake.log[0])
