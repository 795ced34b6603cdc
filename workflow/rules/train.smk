# Training: one job per shard (the paper's container) trains the shard's pending cells in one process, batched by
# circuit shape; every cell is its own output file, so reruns train only the cells without a stored result.
# The shard's raw file gathers its cells, as the paper's worker nodes wrote them. Training waits for check_data,
# so a data fault stops the study before any training job.

for shard in range(STUDY.num_shards):
    pending = STUDY.pending(STUDY.shard_cells(shard))
    if not pending:
        continue

    rule:
        name:
            f"train_shard_{shard + 1}"
        input:
            data=STUDY.data_inputs_of(pending),
            checked=f"{ROOT}/tables/data.json",
        output:
            STUDY.cell_files(pending),
        log:
            f"{ROOT}/logs/train/{STUDY.batch_id(pending)}.log",
        benchmark:
            f"{ROOT}/benchmarks/train/{STUDY.batch_id(pending)}.tsv"
        group:
            STUDY.group(shard)
        conda:
            "../../envs/autoqml.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=int(STUDY.estimated_seconds(pending) / 60 * 3) + 5,
        params:
            cells=[STUDY.cells[cell].params for cell in pending],
            routing=STUDY.routing,
            training=STUDY.training_options,
            data_paths=STUDY.data_inputs_of(pending),
        script:
            "../../scripts/train_batch.py"


rule gather_shard:
    input:
        cells=shard_cells,
        grid=GRID,
    output:
        f"{ROOT}/raw/shard-{{shard}}-of-{STUDY.num_shards}.json",
    log:
        f"{ROOT}/logs/gather_shard/shard-{{shard}}.log",
    benchmark:
        f"{ROOT}/benchmarks/gather_shard/shard-{{shard}}.tsv"
    group:
        shard_group
    conda:
        "../../envs/autoqml.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        shards=STUDY.num_shards,
    script:
        "../../scripts/gather_shard.py"
