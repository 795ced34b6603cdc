"""Rule figure: render one of the study's figures as PNG and PDF."""

from pathlib import Path

import pandas as pd

from autoqml import logs
from autoqml.plots import render
from autoqml.store import read_shards


def main(*, figure: str, shards: list[str], statistics: str, entangling: list[str], unit: str, metric: str,
         png: str, log: str) -> None:
    logs.configure(log)
    table = pd.concat([pd.read_json(path) for path in entangling]) if entangling else None
    render(figure, results=read_shards(shards), stats=pd.read_csv(statistics), entangling=table, unit=unit,
           metric=metric, out=Path(png).with_suffix(""))


if __name__ == "__main__":
    main(figure=snakemake.wildcards.figure, shards=list(snakemake.input.shards),
         statistics=snakemake.input.statistics, entangling=list(snakemake.input.get("entangling", [])),
         unit=snakemake.params.unit, metric=snakemake.params.metric, png=snakemake.output.png, log=snakemake.log[0])
