# Data: a file the config names is used as it is; a missing one with a `url` is downloaded and checked. Both run
# on the submitting machine: cluster compute nodes often have no internet, and the check takes seconds. With remote
# storage (Azure Blob) the download lands in storage, and a local data file without a `url` is uploaded there.


localrules:
    download_data,
    check_data,


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


rule check_data:
    input:
        data=DATA,
    output:
        f"{ROOT}/tables/data.json",
    log:
        f"{ROOT}/logs/check_data.log",
    benchmark:
        f"{ROOT}/benchmarks/check_data.tsv"
    conda:
        "../../envs/autoqml.yaml"
    params:
        data_paths=DATA,
        distributions=STUDY.cfg["distributions"],
        num_qubits=STUDY.cfg["num_qubits"],
        seed=STUDY.cfg["seed"],
        batch_size=STUDY.cfg["batch_size"],
    script:
        "../../scripts/check_data.py"


for index, path in enumerate(STUDY.uploads):

    rule:
        name:
            f"upload_data_{index + 1}"
        input:
            local(path),
        output:
            path,
        log:
            f"logs/upload_data/{index + 1}.log",
        localrule: True
        shell:
            "cp -- {input:q} {output:q} 2> {log:q}"
