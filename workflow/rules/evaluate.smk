# Circuit metrics independent of training: transpiled depth (per circuit structure, seeded per run) and the
# entangling capability of each ansatz.


rule depth:
    input:
        data=structure_data,
    output:
        f"{ROOT}/depth/{{structure}}.json",
    log:
        f"{ROOT}/logs/depth/{{structure}}.log",
    benchmark:
        f"{ROOT}/benchmarks/depth/{{structure}}.tsv"
    conda:
        "../../envs/autoqml.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cell=structure_params,
        device=STUDY.cfg["device"],
    script:
        "../../scripts/depth.py"


rule entangling:
    output:
        f"{ROOT}/entangling/{{ansatz}}.json",
    log:
        f"{ROOT}/logs/entangling/{{ansatz}}.log",
    conda:
        "../../envs/autoqml.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        grid=ansatz_grid,
        samples=STUDY.cfg["entangling_samples"],
        seed=STUDY.cfg["seed"],
    script:
        "../../scripts/entangling.py"
