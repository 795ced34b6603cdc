# Circuit metrics independent of training: transpiled depth (every circuit structure of an ansatz in one process,
# transpiler seeded per run) and the entangling capability of each ansatz; after training, the evaluation of the
# best model (or every cell's best run) on the config's evaluation backend.


rule depth:
    input:
        data=ansatz_data,
    output:
        f"{ROOT}/depth/{{ansatz}}.json",
    log:
        f"{ROOT}/logs/depth/{{ansatz}}.log",
    benchmark:
        f"{ROOT}/benchmarks/depth/{{ansatz}}.tsv"
    conda:
        "../../envs/autoqml.yaml"
    resources:
        mem_mb=1000,
        runtime=20,
    params:
        structures=ansatz_structures,
        device=STUDY.cfg["device"],
        data_paths=ansatz_data,
    script:
        "../../scripts/depth.py"


rule entangling:
    output:
        f"{ROOT}/entangling/{{ansatz}}.json",
    log:
        f"{ROOT}/logs/entangling/{{ansatz}}.log",
    benchmark:
        f"{ROOT}/benchmarks/entangling/{{ansatz}}.tsv"
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


if STUDY.cfg["evaluation"]:

    rule evaluate_device:
        input:
            unpack(device_inputs),
        output:
            samples=f"{ROOT}/device/samples.json",
            csv=report(
                f"{ROOT}/tables/device.csv",
                caption="../report/device.rst",
                category="Device evaluation",
            ),
            markdown=f"{ROOT}/tables/device.md",
        log:
            f"{ROOT}/logs/evaluate_device.log",
        benchmark:
            f"{ROOT}/benchmarks/evaluate_device.tsv"
        conda:
            "../../envs/autoqml.yaml"
        resources:
            mem_mb=1000,
            runtime=60,
        params:
            evaluation=STUDY.cfg["evaluation"],
            routing=STUDY.routing,
            seed=STUDY.cfg["seed"],
            metric=STUDY.ranking,
            data_paths=DATA,
        script:
            "../../scripts/evaluate_device.py"
