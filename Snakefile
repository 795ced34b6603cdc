# autoqml: find the best Born-sampled quantum GAN for a data distribution (arXiv:2202.08024) as a Snakemake workflow.
# Run: snakemake --cores 2 [--configfile config/paper.json]; see README.md and config/README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/storage.smk"
include: "workflow/rules/data.smk"


# A search (successive halving, TPE) trains in rounds of checkpoints and shard jobs instead of the grid's training.
if STUDY.search:

    include: "workflow/rules/search.smk"

else:

    include: "workflow/rules/train.smk"


include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        final_targets(),
