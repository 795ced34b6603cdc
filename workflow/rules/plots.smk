# Figures (the paper's pipeline 3), those named in the config's `visualizations`.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            f"{ROOT}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        pdf=f"{ROOT}/figures/{{figure}}.pdf",
    log:
        f"{ROOT}/logs/figure/{{figure}}.log",
    benchmark:
        f"{ROOT}/benchmarks/figure/{{figure}}.tsv"
    conda:
        "../../envs/autoqml.yaml"
    params:
        metric=STUDY.ranking,
        unit=STUDY.unit,
    script:
        "../../scripts/figure.py"
