"""Rule gather_shard: one raw file per shard holding its checked cell results, as the paper's nodes wrote."""

from autoqml import logs
from autoqml.search import completed_results
from autoqml.store import write_shard


def main(*, cells: list[str], output: str, shard: int, shards: int, log: str) -> None:
    logs.configure(log)
    write_shard(output, cells=cells, shard=shard, shards=shards)


if __name__ == "__main__":
    if "final" in snakemake.input.keys():  # a search: its final settings lie in its training folders
        cells = completed_results(snakemake.input.final,  # its folders as this job sees them (remote storage)
                                  located=dict(zip(snakemake.params.trained_paths, snakemake.input.trained)))
    else:
        cells = [path for path in snakemake.input.cells if path.endswith(".json")]
    main(cells=cells, output=snakemake.output[0], shard=int(snakemake.wildcards.get("shard", 1)),
         shards=snakemake.params.shards, log=snakemake.log[0])
