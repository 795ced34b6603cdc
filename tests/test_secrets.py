"""Credentials reach autoqml only through the environment and never land in anything a run writes."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    "QISKIT_IBM_TOKEN": "ibm-token-8f3a1c9e2b7d4f60a5e1",
    "AZURE_CLIENT_SECRET": "azure-secret-5d2e9b1f7c3a8e04d6b2",
    "AZURE_STORAGE_KEY": "storage-key-0c7b3e9a1f5d2c8e6a4b",
}


def test_no_credential_value_in_any_written_file(tmp_path):
    """A study that evaluates on an IBM device (local testing mode) runs with credentials in its environment;
    every file it writes (results, logs, Snakemake metadata, report, pickles, QPY) is scanned for their values."""
    cfg = yaml.safe_load((REPO / "config" / "hardware.yaml").read_text())
    cfg.update(num_epochs=30, num_training_runs=2, backend=["statevector"], visualizations=["target_histogram"],
               ansaetze=[{"type": "zoufal", "repetitions": [1]}], initializations=[{"type": "uniform"}])
    cfg["evaluation"]["shots"] = 500
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, **SECRETS, "QISKIT_IBM_INSTANCE": "crn:v1:instance-under-test"}
    root = tmp_path / "results" / cfg["name"]
    for extra in ([], ["--report", str(root / "report.html")]):
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                        "--cores", "2", "--configfile", str(config), *extra], env=env, check=True,
                       capture_output=True, timeout=600)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != config]
    assert (root / "best" / "model.pkl") in written and (root / "report.html") in written
    assert any(p.suffix == ".qpy" for p in written) and any(p.match("*/.snakemake/metadata/*") for p in written)
    leaks = [(p, name) for p in written for name, value in SECRETS.items() if value.encode() in p.read_bytes()]
    assert not leaks, leaks
