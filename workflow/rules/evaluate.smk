# Circuit metrics independent of training: transpiled depth (per circuit structure, seeded per run) and the
# entangling capability of each ansatz.


rule depth:
    input:
        data=structure_data,
    output:
        f"{ROOT}/depth/{{structure}}.json",
    params:
        cell=structure_params,
        device=STUDY.cfg["device"],
    log:
        f"{ROOT}/logs/depth/{{structure}}.log",
    benchmark:
        f"{ROOT}/benchmarks/depth/{{structure}}.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/autoqml.yaml"
    script:
        "../../scripts/depth.py"


rule entangling:
    output:
        f"{ROOT}/entangling/{{ansatz}}.json",
    params:
        grid=ansatz_grid,
        samples=STUDY.cfg["entangling_samples"],
        seed=STUDY.cfg["seed"],
    log:
        f"{ROOT}/logs/entangling/{{ansatz}}.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/autoqml.yaml"
    script:
        "../../scripts/entangling.py"
