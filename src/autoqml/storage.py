"""Fail fast when the workflow's files live in Azure Blob Storage but no credential can reach it.

With ``--default-storage-provider azure`` (profiles ``azure`` and ``kubernetes``) every input and output of the
workflow is a blob. ``snakemake-storage-plugin-azure`` connects with the connection string in
``AZURITE_CONNECTION_STRING`` when that is set (the Azurite emulator), otherwise with the first Azure credential that
works of: Azure CLI, managed identity, environment (service principal). When none is configured, each blob query
retries for minutes before the run fails with a wall of token errors. :func:`check_storage` runs when the Snakefile
is parsed and looks for each credential source without network access, so such a run stops at once with one message
saying what to set.

Set ``AUTOQML_SKIP_STORAGE_CHECK=1`` to skip the check (for a credential source it cannot see, e.g. a managed
identity on a machine whose DMI data is hidden).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

from autoqml.errors import AutoQMLError

#: The chassis asset tag every Azure virtual machine reports (its instance metadata service serves managed identity).
AZURE_ASSET_TAG = "7783-7084-3265-9085"
#: Where Linux exposes the machine's DMI (SMBIOS) strings.
DMI_DIR = Path("/sys/class/dmi/id")
#: Azurite's default blob endpoint (``UseDevelopmentStorage=true``).
AZURITE_DEFAULT_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"
SKIP_VARIABLE = "AUTOQML_SKIP_STORAGE_CHECK"

_HOW_TO = """Provide one of:
  - Azure CLI: `az login` (the `az` command on PATH, signed in);
  - a service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH);
  - a managed identity: run on an Azure VM / Batch node with an identity assigned, or with IDENTITY_ENDPOINT,
    MSI_ENDPOINT or AKS workload identity (AZURE_FEDERATED_TOKEN_FILE) set;
  - the Azurite emulator: AZURITE_CONNECTION_STRING (e.g. 'UseDevelopmentStorage=true').
Or run without Azure storage: drop --default-storage-provider / use --profile profiles/local.
(README.md, section "Azure Batch and Blob storage"; set AUTOQML_SKIP_STORAGE_CHECK=1 to skip this check.)"""


class StorageError(AutoQMLError):
    """The configured storage cannot work: no credential, or an emulator that does not answer."""


def check_storage(*, provider: str | None, environ: Mapping[str, str] | None = None, home: Path | None = None,
                  dmi_dir: Path = DMI_DIR, timeout: float = 3.0) -> str | None:
    """Check, before any job, that the default storage provider can authenticate.

    Returns a description of the credential that will be used for ``provider == "azure"``, ``None`` for any other
    provider (or none). Raises :class:`StorageError` naming every source looked for and how to provide one.

    >>> check_storage(provider=None) is None
    True
    >>> check_storage(provider="azure", environ={"AUTOQML_SKIP_STORAGE_CHECK": "1"})
    'not checked (AUTOQML_SKIP_STORAGE_CHECK=1)'
    """
    if provider != "azure":
        return None
    env = os.environ if environ is None else environ
    if env.get(SKIP_VARIABLE, "") not in ("", "0"):
        return f"not checked ({SKIP_VARIABLE}={env[SKIP_VARIABLE]})"
    return azure_credential(environ=env, home=Path.home() if home is None else home, dmi_dir=dmi_dir,
                            timeout=timeout)


def azure_credential(*, environ: Mapping[str, str], home: Path, dmi_dir: Path = DMI_DIR,
                     timeout: float = 3.0) -> str:
    """The credential the Azure storage plugin will use, found without network access (except the emulator's port).

    Sources in the plugin's order: the Azurite connection string, then Azure CLI, managed identity, environment.
    """
    if environ.get("AZURITE_CONNECTION_STRING"):
        return _azurite(environ["AZURITE_CONNECTION_STRING"], timeout=timeout)
    for found in (_azure_cli(environ, home), _managed_identity(environ, dmi_dir), _service_principal(environ)):
        if found:
            return found
    raise StorageError("Azure Blob storage is the default storage (--default-storage-provider azure), but no Azure "
                       "credential was found: AZURITE_CONNECTION_STRING is unset, the Azure CLI is not signed in, "
                       "this is not an Azure machine with a managed identity, and AZURE_TENANT_ID/AZURE_CLIENT_ID/"
                       f"AZURE_CLIENT_SECRET are not all set.\n{_HOW_TO}")


def _azurite(connection_string: str, *, timeout: float) -> str:
    parts = dict(item.split("=", 1) for item in connection_string.split(";") if "=" in item)
    if parts.get("UseDevelopmentStorage", "").lower() == "true":
        endpoint = AZURITE_DEFAULT_ENDPOINT
    elif "BlobEndpoint" in parts and "AccountKey" in parts:
        endpoint = parts["BlobEndpoint"]
    else:
        raise StorageError("AZURITE_CONNECTION_STRING: got a string without BlobEndpoint and AccountKey; expected "
                           "Azurite's, e.g. 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                           "AccountKey=...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;' or "
                           "'UseDevelopmentStorage=true'")
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            pass
    except OSError as err:
        raise StorageError(f"AZURITE_CONNECTION_STRING: nothing answers at its BlobEndpoint {endpoint} ({err}); "
                           f"start Azurite there (`azurite-blob --blobHost {url.hostname} --blobPort {port}`) or "
                           "unset the variable to use a real storage account") from None
    return f"Azurite emulator at {endpoint} (AZURITE_CONNECTION_STRING)"


def _azure_cli(environ: Mapping[str, str], home: Path) -> str | None:
    if not shutil.which("az", path=environ.get("PATH")):
        return None
    profile = Path(environ.get("AZURE_CONFIG_DIR") or home / ".azure") / "azureProfile.json"
    try:
        subscriptions = json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions")
    except (OSError, ValueError, AttributeError):
        return None
    return f"Azure CLI ({profile})" if subscriptions else None


def _managed_identity(environ: Mapping[str, str], dmi_dir: Path) -> str | None:
    for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        if environ.get(name):
            return f"managed identity ({name})"
    if all(environ.get(name) for name in ("AZURE_AUTHORITY_HOST", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE")):
        return "managed identity (AKS workload identity, AZURE_FEDERATED_TOKEN_FILE)"
    try:
        tag = (dmi_dir / "chassis_asset_tag").read_text().strip()
    except OSError:
        return None
    return "managed identity (Azure VM instance metadata)" if tag == AZURE_ASSET_TAG else None


def _service_principal(environ: Mapping[str, str]) -> str | None:
    if not (environ.get("AZURE_TENANT_ID") and environ.get("AZURE_CLIENT_ID")):
        return None
    for names in (("AZURE_CLIENT_SECRET",), ("AZURE_CLIENT_CERTIFICATE_PATH",), ("AZURE_USERNAME", "AZURE_PASSWORD")):
        if all(environ.get(name) for name in names):
            return f"service principal ({', '.join(('AZURE_TENANT_ID', 'AZURE_CLIENT_ID', *names))})"
    return None
