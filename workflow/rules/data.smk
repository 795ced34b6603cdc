# Data: a file the config names is used as it is; a missing one with a `url` is downloaded and checked.


rule download_data:
    output:
        "data/{file}",
    log:
        "logs/download_data/{file}.log",
    wildcard_constraints:
        file="|".join(re.escape(p.removeprefix("data/")) for p in STUDY.downloads)
        or "none",
    conda:
        "../../envs/autoqml.yaml"
    params:
        source=download_params,
    script:
        "../../scripts/download_data.py"
