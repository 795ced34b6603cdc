"""Rule search_final: tell the last step, list the settings trained to num_epochs, write tables/search.csv."""

from autoqml import logs
from autoqml.files import atomic_write
from autoqml.search import Search, finish, load_depths, read_json, read_step_results, records_csv, write_json


def main(*, cfg: dict, plans: list[str], trained: list[str], depths: list[str], out: dict,
         log: str) -> None:
    logs.configure(log)
    search = Search.of(cfg)
    docs = [read_json(path) for path in plans]
    final = finish(search, plans=docs, results=read_step_results(docs[-1], trained), depths=load_depths(depths))
    atomic_write(out["table"], records_csv(final["records"], objectives=search.objectives))
    write_json(out["final"], final)


if __name__ == "__main__":
    main(cfg=dict(snakemake.params.cfg), plans=list(snakemake.input.plans),
         trained=list(snakemake.input.trained), depths=list(snakemake.input.depths),
         out=dict(snakemake.output.items()), log=snakemake.log[0])
