# Training: one target per cell (incremental reruns); cells of one shard form one job group, i.e. one cluster job,
# and the shard's raw file gathers them like the paper's worker nodes did.


rule train_cell:
    input:
        data=cell_data,
    output:
        result=f"{ROOT}/cells/{{cell}}.json",
        circuit=f"{ROOT}/cells/{{cell}}.qpy",
        discriminators=f"{ROOT}/cells/{{cell}}.npz",
    log:
        f"{ROOT}/logs/train_cell/{{cell}}.log",
    benchmark:
        f"{ROOT}/benchmarks/train_cell/{{cell}}.tsv"
    group:
        cell_group
    conda:
        "../../envs/autoqml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=cell_runtime,
    params:
        cell=cell_params,
    script:
        "../../scripts/train_cell.py"


rule gather_shard:
    input:
        shard_cells,
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
