"""Rule download_data: fetch a data file from its public source and check it before it lands in data/."""

from autoqml import logs
from autoqml.data import download


def main(*, output: str, source: dict, log: str) -> None:
    logs.configure(log)
    download(path=output, **source)


if __name__ == "__main__":
    main(output=snakemake.output[0], source=dict(snakemake.params.source), log=snakemake.log[0])
