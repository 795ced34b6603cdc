# Adaptive search (config `search`, autoqml.search): instead of the grid's one training per cell, steps of one rung
# each. A step's checkpoint (search_plan) tells the strategy what the step before trained and writes the plan of
# its own step: the settings, their shards and where each continues from. The training of a step is ordinary shard
# jobs, one job group each (one cluster job), like the grid's. After the last step, search_final lists the
# settings trained to num_epochs, which Table I, the best model and the figures aggregate.
wildcard_constraints:
    step="|".join(str(step) for step in range(len(SEARCH.steps))),


checkpoint search_plan:
    input:
        unpack(plan_inputs),
    output:
        SEARCH.plan_path("{step}"),
    log:
        f"{ROOT}/logs/search/plan-{{step}}.log",
    benchmark:
        f"{ROOT}/benchmarks/search/plan-{{step}}.tsv"
    localrule: True
    conda:
        "../../envs/autoqml.yaml"
    params:
        cfg=SEARCH.decided_cfg,
    script:
        "../../scripts/search_plan.py"


rule search_train:
    input:
        unpack(train_inputs),
    output:
        directory(SEARCH.train_dir("{step}", "{shard}")),
    log:
        f"{ROOT}/logs/search/train-{{step}}-shard-{{shard}}.log",
    benchmark:
        f"{ROOT}/benchmarks/search/train-{{step}}-shard-{{shard}}.tsv"
    group:
        train_group
    conda:
        "../../envs/autoqml.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=train_minutes,
    params:
        routing=STUDY.routing,
        data_paths=DATA,
        resume_paths=resume_paths,
        training=search_training,
    script:
        "../../scripts/search_train.py"


rule search_final:
    input:
        unpack(final_inputs),
    output:
        final=SEARCH.final_path,
        table=report(
            f"{ROOT}/tables/search.csv",
            caption="../report/search.rst",
            category="Search",
        ),
    log:
        f"{ROOT}/logs/search/final.log",
    benchmark:
        f"{ROOT}/benchmarks/search/final.tsv"
    localrule: True
    conda:
        "../../envs/autoqml.yaml"
    params:
        cfg=SEARCH.decided_cfg,
    script:
        "../../scripts/search_final.py"


rule search_gather:
    input:
        unpack(completed_inputs),
    output:
        f"{ROOT}/raw/search.json",
    log:
        f"{ROOT}/logs/search/gather.log",
    benchmark:
        f"{ROOT}/benchmarks/search/gather.tsv"
    conda:
        "../../envs/autoqml.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    params:
        shards=1,
        trained_paths=completed_paths,
    script:
        "../../scripts/gather_shard.py"


if len(SEARCH.objectives) > 1:

    rule search_pareto:
        input:
            final=SEARCH.final_path,
        output:
            table=report(
                f"{ROOT}/tables/pareto.csv",
                caption="../report/pareto.rst",
                category="Search",
            ),
            png=report(
                f"{ROOT}/figures/pareto.png",
                caption="../report/pareto.rst",
                category="Search",
            ),
            pdf=f"{ROOT}/figures/pareto.pdf",
        log:
            f"{ROOT}/logs/search/pareto.log",
        benchmark:
            f"{ROOT}/benchmarks/search/pareto.tsv"
        conda:
            "../../envs/autoqml.yaml"
        params:
            objectives=SEARCH.objectives,
            unit=STUDY.unit,
        script:
            "../../scripts/search_pareto.py"
