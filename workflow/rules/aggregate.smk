# Aggregation (the paper's pipeline 2): statistics per setting as Table I, and the best models (per qubit count and
# overall, chosen on validation data when the study has a split).


rule statistics:
    input:
        shards=STUDY.shard_files,
        grid=GRID,
        depths=STUDY.depth_files,
    output:
        csv=report(
            f"{ROOT}/tables/statistics.csv",
            caption="../report/statistics.rst",
            category="Table I",
        ),
        markdown=f"{ROOT}/tables/statistics.md",
        latex=f"{ROOT}/tables/statistics.tex",
        runs=f"{ROOT}/tables/runs.csv",
        skipped=report(
            f"{ROOT}/tables/skipped.csv",
            caption="../report/skipped.rst",
            category="Table I",
        ),
    log:
        f"{ROOT}/logs/statistics.log",
    benchmark:
        f"{ROOT}/benchmarks/statistics.tsv"
    conda:
        "../../envs/autoqml.yaml"
    params:
        structures=STUDY.aggregated_structures,
        skipped=STUDY.skipped_records,
    script:
        "../../scripts/statistics.py"


rule best_model:
    input:
        shards=STUDY.shard_files,
        grid=GRID,
        statistics=f"{ROOT}/tables/statistics.csv",
        runs=f"{ROOT}/tables/runs.csv",
        data=DATA,
    output:
        model=report(
            f"{ROOT}/best/model.json",
            caption="../report/best_model.rst",
            category="Best model",
        ),
        circuit=f"{ROOT}/best/model.qpy",
        pickle=f"{ROOT}/best/model.pkl",
        per_qubits=STUDY.best_per_qubits,
        table=report(
            f"{ROOT}/tables/best.csv",
            caption="../report/best.rst",
            category="Best model",
        ),
    log:
        f"{ROOT}/logs/best_model.log",
    benchmark:
        f"{ROOT}/benchmarks/best_model.tsv"
    conda:
        "../../envs/autoqml.yaml"
    params:
        metric=STUDY.ranking,
        data_paths=DATA,
    script:
        "../../scripts/best_model.py"
