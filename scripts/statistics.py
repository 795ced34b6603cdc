"""Rule statistics: Table I (mean and std over runs of KS, KL and depth per setting) as CSV, Markdown, LaTeX, and
the cells the budget did not start."""

import json
from pathlib import Path

from autoqml import logs
from autoqml.aggregate import load_depths, read_results, run_table, statistics, write_tables
from autoqml.budget import skipped_csv
from autoqml.store import atomic_write


def main(*, shards: list[str], grid: str, depths: list[str], structures: dict, skipped: list[dict], out: dict,
         log: str) -> None:
    logs.configure(log)
    structures = {**json.loads(Path(grid).read_text()).get("structures", {}), **structures}  # a search's own
    runs = run_table(results=read_results(shards=shards, grid=grid),
                     depths=load_depths(depth_files=depths, structure_of=structures))
    atomic_write(out["runs"], runs.to_csv(index=False).encode())
    write_tables(statistics(runs), csv=out["csv"], markdown=out["markdown"], latex=out["latex"])
    atomic_write(out["skipped"], skipped_csv(skipped))


if __name__ == "__main__":
    main(shards=list(snakemake.input.shards), grid=snakemake.input.grid, depths=list(snakemake.input.depths),
         structures=dict(snakemake.params.structures), skipped=list(snakemake.params.skipped),
         out=dict(snakemake.output.items()), log=snakemake.log[0])
