# Data: a file the config names is used as it is; a missing one with a `url` is downloaded and checked. Both run
# on the submitting machine: cluster compute nodes often have no internet, and the check takes seconds.


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
        STUDY.data_inputs_of(list(STUDY.cells)),
    output:
        f"{ROOT}/tables/data.json",
    log:
        f"{ROOT}/logs/check_data.log",
    benchmark:
        f"{ROOT}/benchmarks/check_data.tsv"
    conda:
        "../../envs/autoqml.yaml"
    params:
        distributions=STUDY.cfg["distributions"],
        num_qubits=STUDY.cfg["num_qubits"],
        seed=STUDY.cfg["seed"],
        batch_size=STUDY.cfg["batch_size"],
    script:
        "../../scripts/check_data.py"
