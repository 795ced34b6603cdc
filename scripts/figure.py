"""Rule figure: render one of the study's figures as PNG and PDF."""

from pathlib import Path

from autoqml import logs
from autoqml.aggregate import read_results, read_runs, read_statistics
from autoqml.evaluate import read_entangling
from autoqml.plots import render


def main(*, figure: str, shards: list[str], grid: str, statistics: str, entangling: list[str], best: str | None,
         unit: str, metric: str, png: str, log: str) -> None:
    logs.configure(log)
    render(figure, results=read_results(shards=shards, grid=grid), stats=read_statistics(statistics),
           entangling=read_entangling(entangling), unit=unit, metric=metric, out=Path(png).with_suffix(""),
           choices=read_runs(best) if best else None)


if __name__ == "__main__":
    main(figure=snakemake.wildcards.figure, shards=list(snakemake.input.shards), grid=snakemake.input.grid,
         statistics=snakemake.input.statistics, entangling=list(snakemake.input.get("entangling", [])),
         best=snakemake.input.get("best"), unit=snakemake.params.unit, metric=snakemake.params.metric,
         png=snakemake.output.png, log=snakemake.log[0])
