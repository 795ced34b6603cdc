"""Fail fast when a SLURM group job asks for more CPUs than any node of its partition has.

SLURM accepts such a job and keeps it PENDING with reason ``PartitionConfig`` forever; Snakemake waits without a
word. A group job (a shard, the circuit metrics, the aggregation) asks up to the profile's ``cores`` CPUs, so
:func:`check_group_fit` compares that with the largest node of the partition, as ``sinfo`` reports it, before any
job is submitted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from autoqml.errors import AutoQMLError


class ClusterError(AutoQMLError):
    """The cluster cannot run the workflow's jobs as the profile asks for them."""


def largest_node(*, partition: str | None, run: Callable = subprocess.run) -> tuple[str, int]:
    """(partition, CPUs of its largest node); without `partition`, the cluster's default partition."""
    out = run(["sinfo", "--noheader", "--format=%P %c", *(["--partition", partition] if partition else [])],
              capture_output=True, text=True, timeout=30, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    chosen = [(name.rstrip("*"), int(cpus.rstrip("+"))) for name, cpus in rows
              if partition or name.endswith("*")] or [(name.rstrip("*"), int(cpus.rstrip("+"))) for name, cpus in rows]
    if not chosen:
        raise ClusterError(f"slurm_partition: sinfo lists no nodes for partition {partition or '(default)'}; set "
                           f"slurm_partition to one of `sinfo --summarize`")
    return chosen[0][0], max(cpus for _, cpus in chosen)


def check_group_fit(*, cores: int, partition: str | None, run: Callable = subprocess.run) -> None:
    """Raise :class:`ClusterError` when `cores` CPUs per group job exceed the partition's largest node."""
    name, cpus = largest_node(partition=partition, run=run)
    if cores > cpus:
        raise ClusterError(f"cores: got {cores} (CPUs a group job may ask for), but the largest node of partition "
                           f"{name} has {cpus}; SLURM would keep such a job PENDING (PartitionConfig) forever: run "
                           f"with --cores {cpus}, or set cores: {cpus} in profiles/slurm/config.yaml")
