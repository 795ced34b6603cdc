"""The benchmark scripts still run (tiny sizes); their timings are read from their output, not asserted here."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_cell_benchmark_smoke(epex_h00):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_cell.py"), "--data", str(epex_h00), "--epochs", "1",
         "--ref-steps", "2", "--ref-runs", "1"],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout
    assert "RESULT ours=" in out and "ratio=" in out
    agreement = [line for line in out.splitlines() if "probs (SamplerQNN.forward, float64)" in line]
    assert agreement and float(agreement[0].rsplit(" ", 1)[1]) < 1e-9
