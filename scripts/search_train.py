"""Rule search_train: one shard of a search step, trained to the step's epochs from the previous rung's state."""

from autoqml import logs
from autoqml.data import located
from autoqml.search import read_json, train_step


def main(*, plan: str, shard: int, routing: dict, training: dict, data: dict, resume: dict, out: str,
         log: str) -> None:
    logs.configure(log)
    with located(data):  # config data paths -> this job's input files (local copies under remote storage)
        train_step(plan_doc=read_json(plan), shard=shard, out=out, routing=routing, resume=resume, **training)


if __name__ == "__main__":
    main(plan=snakemake.input.plan, shard=int(snakemake.wildcards.shard), routing=dict(snakemake.params.routing),
         training=dict(snakemake.params.training),
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)),
         resume=dict(zip(snakemake.params.resume_paths, snakemake.input.resume)), out=snakemake.output[0],
         log=snakemake.log[0])
