# The job container for Azure Batch and Kubernetes (profiles/azure, profiles/kubernetes): Python 3.11, the CPU build
# of torch, the autoqml library with Snakemake and the cluster plugins. Each job runs `python -m snakemake` in it.
#   docker build -t <registry>/autoqml:0.1.0 . && docker push <registry>/autoqml:0.1.0
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg

# g++ builds the compiled training step on each node's own CPU (autoqml.compiled; cached in ~/.cache/autoqml).
RUN apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*

# The CPU wheel first (as in the README): from PyPI a plain torch requirement would pull a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /opt/autoqml
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[cluster]" && python -c "import autoqml, snakemake_storage_plugin_azure"

# Snakemake deploys the workflow sources (Snakefile, rules, scripts, configs) into the job's working directory.
WORKDIR /workdir
