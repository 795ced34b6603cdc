"""The workflow where users run it: a real single-node SLURM cluster, real Azure Blob storage (Azurite), dry runs
of the Azure Batch and Kubernetes profiles, and the parse-time storage check (autoqml.storage).

The study is config/demo.yaml shrunk to 4 cells in 2 shards (two training runs of 10 epochs, one figure). Every run
is compared with one local run of the same study.
"""

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from _services import AZURITE_ACCOUNT, azurite, missing_slurm, slurm_cluster, which

from autoqml.storage import AZURE_ASSET_TAG, StorageError, check_storage
from autoqml.store import read_result, read_shards

REPO = Path(__file__).resolve().parents[1]
STUDY = "executors"
SHARDS = 2
PROFILES = ("local", "slurm", "kubernetes", "azure")
PLUGINS = ("snakemake_executor_plugin_slurm", "snakemake_executor_plugin_kubernetes",
           "snakemake_executor_plugin_azure_batch", "snakemake_storage_plugin_azure", "azure.storage.blob")
# Environment of the Azure dry runs: the variables README.md has users set, with dummy values (nothing of
# Azure Batch is contacted in a dry run; the blob queries go to Azurite).
AZURE_BATCH_ENV = {
    "SNAKEMAKE_AZURE_BATCH_ACCOUNT_URL": "https://autoqmltest.westeurope.batch.azure.com",
    "SNAKEMAKE_AZURE_BATCH_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "SNAKEMAKE_AZURE_BATCH_RESOURCE_GROUP_NAME": "autoqml",
    "SNAKEMAKE_AZURE_BATCH_MANAGED_IDENTITY_RESOURCE_ID": "/subscriptions/00000000-0000-0000-0000-000000000000/"
    "resourceGroups/autoqml/providers/Microsoft.ManagedIdentity/userAssignedIdentities/autoqml",
    "SNAKEMAKE_AZURE_BATCH_MANAGED_IDENTITY_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "AUTOQML_IMAGE": "autoqmltest.azurecr.io/autoqml:0.1.0",
}


def _require_plugins() -> None:
    missing = []
    for module in PLUGINS:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install the cluster extra, pip install -e '.[cluster]'")


def _study(workdir: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg.update(name=STUDY, n_containers=SHARDS, ansaetze=[{"type": "zoufal", "repetitions": [1, 2]}],
               num_epochs=10, num_training_runs=2, visualizations=["target_histogram"], entangling_samples=50)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir: Path, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300,
              check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(_study(workdir)), *args]
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd or workdir,
                         check=False)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def _results(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "results").rglob("*") if p.is_file()}


def _parameters(cells: dict[str, dict]) -> dict[str, list]:
    return {cell: [run["parameters"] for run in result["runs"]] for cell, result in cells.items()}


def _local_cells(workdir: Path) -> dict[str, dict]:
    return {p.stem: read_result(p) for p in (workdir / "results" / STUDY / "cells").glob("*.json")}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The reference: the same study run locally."""
    workdir = tmp_path_factory.mktemp("local")
    snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="module")
def azurite_env(tmp_path_factory):
    if which("azurite-blob") is None:
        pytest.skip("azurite is not installed (npm install -g azurite; .ci/services does)")
    _require_plugins()
    with azurite(tmp_path_factory.mktemp("azurite")) as connection:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "SNAKEMAKE_"))}
        yield {**env, "AZURITE_CONNECTION_STRING": connection, "SNAKEMAKE_STORAGE_AZURE_ACCOUNT_NAME": AZURITE_ACCOUNT}


# --- SLURM -----------------------------------------------------------------------------------------------------

def test_slurm_runs_one_sbatch_job_per_shard_with_local_results(tmp_path, local_run):
    missing = missing_slurm()
    if missing:
        pytest.skip(f"SLURM is not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge, "
                    "as .ci/services does)")
    _require_plugins()
    with slurm_cluster() as cluster:
        workdir = tmp_path / "work"
        start = time.monotonic()
        # The profile as shipped; overrides for this one-node cluster: one core per group job (2 CPUs run both
        # shards at once), no account (no slurmdbd), squeue status checks (sacct would need slurmdbd), quick polls.
        out = snakemake(workdir, "--profile", str(REPO / "profiles" / "slurm"), "--cores", "1",
                        "--slurm-no-account", "--slurm-status-command", "squeue",
                        "--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5",
                        "--slurm-keep-successful-logs", env=cluster.env, timeout=400)
        elapsed = time.monotonic() - start
        log = out.stdout + out.stderr
        submission = r"submitted with SLURM jobid (\d+) \(log: (\S+)\)"
        logs = {job_id: Path(path) for job_id, path in re.findall(submission, log)}
        slurm_logs = workdir / ".snakemake" / "slurm_logs"
        submitted = [(job_id, path.relative_to(slurm_logs).parts[0]) for job_id, path in logs.items()]
        groups = [group for _, group in submitted]  # log directories: group_<group>_<rules>
        # One sbatch job per shard, holding all of the shard's training jobs and its gather; one for the circuit
        # metrics; one for the aggregation. No job was submitted on its own.
        assert sorted(re.match(r"group_(shard-\d+-of-\d+|circuit-metrics|aggregate)_", g)[1] for g in groups) == \
            ["aggregate", "circuit-metrics", *[f"shard-{i}-of-{SHARDS}" for i in range(1, SHARDS + 1)]], groups
        assert all("gather_shard" in g and "train" in g for g in groups if g.startswith("group_shard-"))
        for job_id, group in submitted:
            job = cluster.job(job_id)
            assert job["JobState"] == "COMPLETED" and job["ExitCode"] == "0:0", (group, job)
            assert Path(job["WorkDir"]) == workdir
        # Each shard's sbatch job trained exactly the cells of its raw file (its SLURM log names them).
        for job_id, group in submitted:
            shard = re.match(r"group_(shard-\d+-of-\d+)_", group)
            if shard:
                trained = set(re.findall(r"cells/([0-9a-f]{12})\.json", logs[job_id].read_text()))
                raw = workdir / "results" / STUDY / "raw" / f"{shard[1]}.json"
                assert trained == {r["cell"]["id"] for r in read_shards([raw])}, (group, trained)
                assert cluster.job(job_id)["NumCPUs"] == "1"
        # Same files and identical trained parameters as the local run.
        assert _results(workdir) == _results(local_run)
        assert _parameters(_local_cells(workdir)) == _parameters(_local_cells(local_run))
        print(f"SLURM run: {elapsed:.0f} s, {len(submitted)} sbatch jobs")


def test_slurm_group_jobs_larger_than_every_node_fail_fast(tmp_path):
    """The profile's cores: 4 on a node with fewer CPUs: refused before any sbatch, instead of PENDING forever."""
    missing = missing_slurm()
    if missing:
        pytest.skip(f"SLURM is not installed (missing {', '.join(missing)})")
    _require_plugins()
    with slurm_cluster() as cluster:
        cpus = os.cpu_count()
        out = snakemake(tmp_path / "work", "--profile", str(REPO / "profiles" / "slurm"), "--cores", str(cpus + 2),
                        "--slurm-no-account", "--slurm-status-command", "squeue", env=cluster.env, timeout=120,
                        check=False)
        log = out.stdout + out.stderr
        assert out.returncode == 1, log  # before any job is submitted (below): fast whatever the machine's load
        assert f"cores: got {cpus + 2} (CPUs a group job may ask for), but the largest node of partition debug has " \
               f"{cpus}" in log and f"run with --cores {cpus}" in log, log
        assert "submitted with SLURM jobid" not in log and not cluster.run("squeue", "--noheader").strip()


# --- Azure Blob storage (Azurite) --------------------------------------------------------------------------------

def test_azure_blob_storage_holds_every_file_and_a_rerun_does_nothing(tmp_path, local_run, azurite_env):
    from azure.storage.blob import BlobServiceClient

    workdir = tmp_path / "work"
    storage = ["--default-storage-provider", "azure", "--default-storage-prefix", "az://autoqml-test",
               "--default-resources", "disk_mb=1000", "--cores", "2"]
    start = time.monotonic()
    snakemake(workdir, *storage, env=azurite_env)
    elapsed = time.monotonic() - start
    container = BlobServiceClient.from_connection_string(azurite_env["AZURITE_CONNECTION_STRING"]) \
        .get_container_client("autoqml-test")
    blobs = set(container.list_blob_names())
    # Every intermediate and final file (cells, shards, depths, tables, best model, figures, logs, benchmarks) is a
    # blob; none stays on the local disk.
    # The grid manifest is the one local file (each Snakemake process writes its own; Study.write_manifest).
    assert blobs == _results(local_run) - {f"results/{STUDY}/grid.json"}
    assert _results(workdir) == {f"results/{STUDY}/grid.json"}
    cells = {Path(name).stem: json.loads(container.download_blob(name).readall())
             for name in blobs if re.fullmatch(rf"results/{STUDY}/cells/\w+\.json", name)}
    assert _parameters(cells) == _parameters(_local_cells(local_run))

    again = snakemake(workdir, *storage, env=azurite_env)
    assert "Nothing to be done" in again.stdout + again.stderr
    print(f"Azurite run: {elapsed:.0f} s")


def test_azure_storage_without_credentials_fails_fast(tmp_path):
    _require_plugins()
    credential_variables = ("AZURE", "AZURITE", "SNAKEMAKE_", "IDENTITY_", "MSI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(credential_variables)}
    env.update(SNAKEMAKE_STORAGE_AZURE_ACCOUNT_NAME="autoqmlnosuchaccount", HOME=str(tmp_path))
    try:
        found = check_storage(provider="azure", environ=env, home=tmp_path)
        pytest.skip(f"this machine has an Azure credential: {found}")
    except StorageError:
        pass
    # fails fast: within the subprocess's time limit, and before any blob query (no credential chain in the log)
    out = snakemake(tmp_path / "work", "-n", "--default-storage-provider", "azure", "--default-storage-prefix",
                    "az://autoqml-test", env=env, timeout=120, check=False)
    log = out.stdout + out.stderr
    assert out.returncode == 1
    assert "no Azure credential was found" in log and "AZURITE_CONNECTION_STRING" in log
    assert "ChainedTokenCredential" not in log  # stopped before any blob query


# --- Azure Batch and Kubernetes profiles (dry runs) --------------------------------------------------------------

def _setup_line() -> str:
    """The profile set-up command of README.md, as users copy it."""
    text = (REPO / "README.md").read_text()
    return next(line.strip() for line in text.splitlines() if "ln -sfnT" in line)


def _plan(out: subprocess.CompletedProcess) -> tuple[dict[str, int], list[str]]:
    text = out.stdout + out.stderr
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, flags=re.MULTILINE) if m[1] != "total"}
    return jobs, sorted(set(re.findall(r"Group job (\S+) ", text)))


def _training(jobs: dict[str, int]) -> int:
    """Training jobs planned, whatever the training rules are called (train_cell, train_shard_<i>)."""
    return sum(count for rule, count in jobs.items() if rule.startswith("train"))


def test_profile_names_work_after_the_documented_setup(tmp_path, azurite_env):
    config_home = tmp_path / "config"
    env = {**azurite_env, **AZURE_BATCH_ENV, "XDG_CONFIG_HOME": str(config_home)}
    subprocess.run(["bash", "-c", _setup_line()], cwd=REPO, env=env, check=True)
    assert sorted(p.name for p in (config_home / "snakemake").iterdir()) == sorted(PROFILES)
    workdir = tmp_path / "work"
    # `snakemake --profile azure -n`, from a directory without ./azure: found in ~/.config/snakemake.
    out = snakemake(workdir, "--profile", "azure", "-n", env=env)
    jobs, groups = _plan(out)
    assert _training(jobs) >= SHARDS and jobs["gather_shard"] == SHARDS and jobs["depth"] == 1  # one per ansatz
    # Shards become Batch tasks: one group job per shard, plus the circuit metrics and the aggregation.
    assert groups == ["aggregate", "circuit-metrics", *[f"shard-{i}-of-{SHARDS}" for i in range(1, SHARDS + 1)]]
    assert f"az://autoqml/results/{STUDY}/raw/shard-1-of-{SHARDS}.json" in out.stdout


def test_azure_batch_profile_dry_run(tmp_path, azurite_env):
    out = snakemake(tmp_path / "work", "--profile", str(REPO / "profiles" / "azure"), "-n",
                    env={**azurite_env, **AZURE_BATCH_ENV}, cwd=REPO)
    jobs, groups = _plan(out)
    assert _training(jobs) >= SHARDS and [g for g in groups if g.startswith("shard-")] == ["shard-1-of-2", "shard-2-of-2"]


def test_azure_batch_profile_names_its_missing_settings(tmp_path, azurite_env):
    out = snakemake(tmp_path / "work", "--profile", str(REPO / "profiles" / "azure"), "-n", env=azurite_env,
                    check=False)
    assert out.returncode != 0 and "SNAKEMAKE_AZURE_BATCH_ACCOUNT_URL" in out.stdout + out.stderr


def test_kubernetes_profile_dry_run(tmp_path, azurite_env):
    env = {**azurite_env, "AUTOQML_IMAGE": AZURE_BATCH_ENV["AUTOQML_IMAGE"], "KUBECONFIG": str(tmp_path / "none")}
    out = snakemake(tmp_path / "work", "--profile", str(REPO / "profiles" / "kubernetes"), "-n", env=env)
    jobs, groups = _plan(out)
    assert _training(jobs) >= SHARDS and [g for g in groups if g.startswith("shard-")] == ["shard-1-of-2", "shard-2-of-2"]


def test_profiles_are_current_snakemake_profiles():
    for name in PROFILES:
        profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
        assert isinstance(profile, dict) and profile, name
        assert not any(key.startswith("cluster") for key in profile), f"{name}: the pre-8 cluster options are gone"
    for name in ("slurm", "kubernetes", "azure"):
        profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
        assert profile["executor"] == {"slurm": "slurm", "kubernetes": "kubernetes", "azure": "azure-batch"}[name]
        assert "disk_mb=1000" in profile["default-resources"]


# --- envs/autoqml.yaml and the cluster extra ---------------------------------------------------------------------

def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()


def test_conda_environment_pins_what_pyproject_requires():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "autoqml.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] if _name(r) != "snakemake"}
    pinned = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}
    assert "-e ../.." in pip  # the library itself (installed from the working directory)
    assert pinned.keys() == wanted.keys()
    for name, requirement in wanted.items():
        if name == "torch":  # the CPU wheel, pinned to the version README installs; inside pyproject's range
            assert pinned[name] == "torch==2.13.0" and requirement == "torch>=2.13,<2.14"
        else:
            assert pinned[name] == requirement
    assert f"python={project['requires-python'].removeprefix('>=')}" in env["dependencies"]
    cluster = {_name(r) for r in project["optional-dependencies"]["cluster"]}
    assert {"snakemake-executor-plugin-slurm", "snakemake-executor-plugin-kubernetes",
            "snakemake-executor-plugin-azure-batch", "snakemake-storage-plugin-azure", "azure-storage-blob"} <= cluster


# --- autoqml.storage ---------------------------------------------------------------------------------------------

def test_storage_check_ignores_other_providers():
    assert check_storage(provider=None, environ={}) is None
    assert check_storage(provider="s3", environ={}) is None


def test_storage_check_names_every_credential_source(tmp_path):
    with pytest.raises(StorageError, match="no Azure credential was found") as err:
        check_storage(provider="azure", environ={"PATH": ""}, home=tmp_path, dmi_dir=tmp_path)
    for hint in ("az login", "AZURE_CLIENT_SECRET", "managed identity", "AZURITE_CONNECTION_STRING",
                 "profiles/local", "AUTOQML_SKIP_STORAGE_CHECK"):
        assert hint in str(err.value)


@pytest.mark.parametrize("environ, found", [
    ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}, "service principal"),
    ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_CERTIFICATE_PATH": "p"}, "service principal"),
    ({"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"}, "managed identity (IDENTITY_ENDPOINT)"),
    ({"MSI_ENDPOINT": "http://localhost:50342/oauth2/token"}, "managed identity (MSI_ENDPOINT)"),
    ({"AZURE_AUTHORITY_HOST": "h", "AZURE_TENANT_ID": "t", "AZURE_FEDERATED_TOKEN_FILE": "f"}, "workload identity"),
    ({"AUTOQML_SKIP_STORAGE_CHECK": "1"}, "not checked"),
])
def test_storage_check_finds_environment_credentials(tmp_path, environ, found):
    assert found in check_storage(provider="azure", environ={"PATH": "", **environ}, home=tmp_path, dmi_dir=tmp_path)


def test_storage_check_rejects_an_incomplete_service_principal(tmp_path):
    with pytest.raises(StorageError):
        check_storage(provider="azure", environ={"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c"}, home=tmp_path,
                      dmi_dir=tmp_path)


def test_storage_check_finds_a_signed_in_azure_cli(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "az").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "az").chmod(0o755)
    environ = {"PATH": str(tmp_path / "bin"), "AZURE_CONFIG_DIR": str(tmp_path / "azure")}
    (tmp_path / "azure").mkdir()
    profile = tmp_path / "azure" / "azureProfile.json"
    profile.write_text('\ufeff{"subscriptions": []}', encoding="utf-8")  # the CLI writes a BOM
    with pytest.raises(StorageError):  # installed, not signed in
        check_storage(provider="azure", environ=environ, home=tmp_path, dmi_dir=tmp_path)
    profile.write_text('\ufeff{"subscriptions": [{"id": "s"}]}', encoding="utf-8")
    assert "Azure CLI" in check_storage(provider="azure", environ=environ, home=tmp_path, dmi_dir=tmp_path)


def test_storage_check_recognizes_an_azure_vm_by_its_asset_tag(tmp_path):
    (tmp_path / "chassis_asset_tag").write_text("No Asset Tag\n")
    with pytest.raises(StorageError):
        check_storage(provider="azure", environ={"PATH": ""}, home=tmp_path, dmi_dir=tmp_path)
    (tmp_path / "chassis_asset_tag").write_text(AZURE_ASSET_TAG + "\n")
    assert "Azure VM" in check_storage(provider="azure", environ={"PATH": ""}, home=tmp_path, dmi_dir=tmp_path)


def test_storage_check_tests_the_emulator_endpoint(tmp_path):
    with pytest.raises(StorageError, match="without BlobEndpoint and AccountKey"):
        check_storage(provider="azure", environ={"AZURITE_CONNECTION_STRING": "AccountName=x"}, home=tmp_path)
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        good = f"AccountName=a;AccountKey=k;BlobEndpoint=http://127.0.0.1:{port}/a;"
        assert "Azurite emulator" in check_storage(provider="azure", environ={"AZURITE_CONNECTION_STRING": good},
                                                   home=tmp_path)
    with pytest.raises(StorageError, match="nothing answers at its BlobEndpoint"):  # the port is closed now
        check_storage(provider="azure", environ={"AZURITE_CONNECTION_STRING": good}, home=tmp_path, timeout=1)


# --- the default study and EPEX data on Azure Blob storage (issue 14, class 1) --------------------------------------

def test_default_study_dry_run_with_the_azure_profile(tmp_path, azurite_env):
    """`snakemake --profile azure -n` in the repository, the default config, the EPEX file not yet anywhere."""
    command = [sys.executable, "-m", "snakemake", "--profile", str(REPO / "profiles" / "azure"), "-n",
               "--default-storage-prefix", "az://autoqml-default"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
                         env={**azurite_env, **AZURE_BATCH_ENV})
    assert out.returncode == 0, out.stdout + out.stderr
    jobs, _ = _plan(out)
    assert jobs["download_data"] == 1 and _training(jobs) == 2
    assert "az://autoqml-default/data/DE.csv" in out.stdout


@pytest.fixture
def epex_server(epftoolbox_csv, tmp_path):
    """The EPEX source file (the 2015 rows of Lago et al.'s DE.csv) served on a loopback port."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "DE.csv").write_bytes(epftoolbox_csv.read_bytes())
    quiet = type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *args: None})
    with ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(quiet, directory=str(tmp_path / "srv"))) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_port}/DE.csv"
        server.shutdown()


def _epex(workdir: Path, distribution: dict) -> Path:
    """A 2-cell EPEX study (normal and uniform initial states, 2 qubits, 20 epochs; no figures: figures on blob
    storage are test_azure_blob_storage_holds_every_file_and_a_rerun_does_nothing's)."""
    cfg = {"name": "epex-blob", "n_containers": 1, "visualizations": [], "entangling_samples": 20,
           "distributions": [{"name": "epex", "column": "Price", "hour": 0, "start": "2015-01-01",
                              "end": "2016-01-01", "samples": 365, **distribution}],
           "ansaetze": [{"type": "zoufal", "repetitions": [1]}], "initializations": ["uniform", "normal"],
           "num_qubits": [2], "batch_size": 64, "num_epochs": 20, "num_training_runs": 2,
           "discriminator": {"type": "custom_classical_1"}, "optimizer": {"lr": [0.001]}}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "epex.yaml").write_text(yaml.safe_dump(cfg))
    return workdir / "epex.yaml"


def _blob_run(workdir: Path, config: Path, env: dict, prefix: str, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--configfile",
               str(config), "--cores", "2", "--default-storage-provider", "azure", "--default-storage-prefix",
               f"az://{prefix}", "--default-resources", "disk_mb=1000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=workdir, check=False)


def _container(env: dict, name: str):
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(env["AZURITE_CONNECTION_STRING"]).get_container_client(name)


def test_epex_study_runs_end_to_end_on_blob_storage(tmp_path, azurite_env, epex_server):
    """The EPEX file is downloaded into storage (not onto the local disk), checked, trained on, aggregated."""
    workdir = tmp_path / "work"
    config = _epex(workdir, {"data_path": "data/DE.csv", "url": epex_server,
                             "expect": {"rows": 8760, "count": 365, "mean": 25.1698}})
    out = _blob_run(workdir, config, azurite_env, "autoqml-epex")
    assert out.returncode == 0, out.stdout + out.stderr
    blobs = set(_container(azurite_env, "autoqml-epex").list_blob_names())
    assert "data/DE.csv" in blobs and not (workdir / "data").exists()
    assert {"results/epex-blob/tables/statistics.csv", "results/epex-blob/best/model.json"} <= blobs
    cells = [name for name in blobs if name.startswith("results/epex-blob/cells/") and name.endswith(".json")]
    assert len(cells) == 2
    again = _blob_run(workdir, config, azurite_env, "autoqml-epex")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_a_local_data_file_is_uploaded_to_blob_storage(tmp_path, azurite_env, epftoolbox_csv):
    workdir = tmp_path / "work"
    (workdir / "data").mkdir(parents=True)
    (workdir / "data" / "mine.csv").write_bytes(epftoolbox_csv.read_bytes())
    config = _epex(workdir, {"data_path": "data/mine.csv"})
    out = _blob_run(workdir, config, azurite_env, "autoqml-upload", "--until", "check_data")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "upload_data_1" in out.stdout + out.stderr
    blob = _container(azurite_env, "autoqml-upload").download_blob("data/mine.csv").readall()
    assert blob == epftoolbox_csv.read_bytes()


def test_an_absolute_data_path_with_blob_storage_is_refused_with_the_fix(tmp_path, azurite_env, epftoolbox_csv):
    workdir = tmp_path / "work"
    config = _epex(workdir, {"data_path": str(epftoolbox_csv)})
    out = _blob_run(workdir, config, azurite_env, "autoqml-absolute", "-n")
    text = out.stdout + out.stderr
    assert out.returncode == 1 and "Traceback" not in text
    assert f"distributions[0].data_path: got '{epftoolbox_csv}', an absolute path" in text
    assert f"copy the file into the repository (e.g. data/{epftoolbox_csv.name})" in text
