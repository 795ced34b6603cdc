"""Checkpoint search_plan: tell the search what the step before trained and write the plan of this step."""

from autoqml import logs
from autoqml.search import Search, load_depths, propose, read_json, read_step_results, write_json


def main(*, cfg: dict, step: int, previous: str | None, trained: list[str], depths: list[str],
         output: str, log: str) -> None:
    logs.configure(log)
    search = Search.of(cfg)
    before = read_json(previous) if previous else None
    results = read_step_results(before, trained) if before else {}
    write_json(output, propose(search, step=step, previous=before, results=results, depths=load_depths(depths)))


if __name__ == "__main__":
    main(cfg=dict(snakemake.params.cfg), step=int(snakemake.wildcards.step),
         previous=snakemake.input.get("previous"), trained=list(snakemake.input.get("trained", [])),
         depths=list(snakemake.input.depths), output=snakemake.output[0], log=snakemake.log[0])
