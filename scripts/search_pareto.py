"""Rule search_pareto: the two-objective search's Pareto front as tables/pareto.csv and its figure."""

from pathlib import Path

import pandas as pd

from autoqml import logs
from autoqml.files import atomic_write
from autoqml.plots import pareto_front
from autoqml.search import pareto_csv, read_json


def main(*, final: str, objectives: list[str], unit: str, out: dict, log: str) -> None:
    logs.configure(log)
    document = read_json(final)
    atomic_write(out["table"], pareto_csv(document["pareto"], objectives=objectives))
    completed = pd.DataFrame([r for r in document["records"] if r["decision"] == "completed"])
    pareto_front(trials=completed, front=pd.DataFrame(document["pareto"]), objectives=objectives, unit=unit,
                 out=Path(out["png"]).with_suffix(""))


if __name__ == "__main__":
    main(final=snakemake.input.final, objectives=list(snakemake.params.objectives), unit=snakemake.params.unit,
         out=dict(snakemake.output.items()), log=snakemake.log[0])
