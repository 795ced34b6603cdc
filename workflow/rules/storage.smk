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
