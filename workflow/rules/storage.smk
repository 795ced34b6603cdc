# Storage: with `--default-storage-provider azure` (profiles azure, kubernetes) every file is a blob. Check at parse
# time that a credential exists (autoqml.storage), so a run without one stops at once instead of retrying each blob
# query for minutes. Jobs spawned by an executor skip the check: the main process made it, and their credential
# (e.g. a Batch node's managed identity) comes with the executor.
from autoqml.storage import StorageError, check_storage

if workflow.is_main_process:
    try:
        check_storage(provider=workflow.storage_settings.default_storage_provider)
    except StorageError as err:
        raise WorkflowError(f"storage not usable:\n{err}") from None


# SLURM: a group job asks up to `cores` CPUs; on a partition whose nodes are smaller it would stay PENDING forever.
# Checked once the executor is known (onstart: after the plan, before any submission; not in dry runs).
from autoqml.slurm import ClusterError, check_group_fit


onstart:
    if getattr(workflow.executor_plugin, "name", None) == "slurm":
        defaults = workflow.resource_settings.default_resources
        partition = (
            getattr(defaults, "parsed", {}).get("slurm_partition")
            if defaults
            else None
        )
        try:
            check_group_fit(
                cores=workflow.resource_settings.cores, partition=partition
            )
        except ClusterError as err:
            raise WorkflowError(
                f"SLURM cannot run this profile's group jobs:\n{err}"
            ) from None
