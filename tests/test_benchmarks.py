"""The benchmark scripts still run (tiny sizes); their timings are read from their output, not asserted here. Their
helpers are checked: the floor's flop count and timing, and the PennyLane peer's circuit against qiskit's."""

import doctest
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import floor

from autoqml.circuits import build_generator


def test_cell_benchmark_smoke(epex_h00):
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_cell.py"), "--data", str(epex_h00), "--epochs", "1",
         "--ref-steps", "2", "--ref-runs", "1", "--rows", "12", "--pennylane", "lightning.qubit:adjoint",
         "--floor-repeats", "1", "--torch-epochs", "1"],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout
    result = out.strip().splitlines()[-1].split()
    assert result[0] == "RESULT"
    assert [item.split("=")[0] for item in result[1:]] == ["ours", "floor", "reference", "ratio", "pennylane",
                                                           "pennylane_ratio", "floor_ratio", "torch", "torch_ratio"]
    assert "rows: 12 in one program" in out and "12 rows, float32" in out
    for name in ("probs (SamplerQNN.forward, float64)", "probs (PennyLane lightning.qubit:adjoint)"):
        agreement = [line for line in out.splitlines() if name in line]
        assert agreement and float(agreement[0].rsplit(" ", 1)[1]) < 1e-9


def test_floor_counts_the_steps_products_by_hand():
    # widths 1-50-20-1 on G = 32: forward 32 (1*50 + 50*20 + 20*1) = 34,240 multiply-adds, once (the next step
    # reuses it); weight gradients the same 34,240; input gradients of layers 2 and 3: 32 (20*50 + 1*20) = 32,640
    assert floor.step_flops(grid_size=32, widths=[50, 20]) == 2 * (2 * 34_240 + 32_640)
    shapes = floor.step_matmuls(grid_size=32, widths=[50, 20])
    assert shapes[-3:] == [(32, 1, 50), (32, 50, 20), (32, 20, 1)]
    assert shapes[:5] == [(50, 32, 1), (20, 32, 50), (1, 32, 20), (32, 20, 50), (32, 1, 20)]
    assert doctest.testmod(floor).failed == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_floor_timing_is_positive_and_finite(dtype):
    threads = torch.get_num_threads()
    measured = floor.measure_floor(rows=3, grid_size=8, widths=[4, 2], dtype=dtype, repeats=2)
    assert 0 < measured.seconds < 1 and math.isfinite(measured.gflops) and measured.gflops > 0
    assert measured.flops == floor.step_flops(grid_size=8, widths=[4, 2]) and measured.dtype == dtype
    assert torch.get_num_threads() == threads  # restored after timing on one thread
    with pytest.raises(ValueError, match="rows >= 1"):
        floor.measure_floor(rows=0, grid_size=8, widths=[4])


@pytest.mark.parametrize("ansatz", ["zoufal", "vallecorsa", "herr1", "real_amplitudes", "efficient_su2"])
@pytest.mark.parametrize("initialization", ["uniform", "normal", "random"])
def test_pennylane_circuit_gives_qiskits_probabilities(ansatz, initialization):
    from pennylane_peer import PennyLaneGenerator

    rng = np.random.default_rng(7)
    amplitudes = np.sqrt(rng.dirichlet(np.ones(16))) if initialization == "normal" else None
    circuit = build_generator(ansatz=ansatz, num_qubits=4, reps=2, initialization=initialization,
                              normal_amplitudes=amplitudes).circuit
    theta = rng.uniform(-np.pi, np.pi, circuit.num_parameters)
    expected = Statevector(circuit.assign_parameters(theta)).probabilities()
    got = PennyLaneGenerator(circuit, theta).probabilities().detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_pennylane_methods_give_the_same_generator_gradient():
    from pennylane_peer import METHODS, PennyLaneGenerator

    circuit = build_generator(ansatz="zoufal", num_qubits=3, reps=2, initialization="uniform").circuit
    rng = np.random.default_rng(3)
    theta, log_d = rng.uniform(-1, 1, circuit.num_parameters), torch.as_tensor(np.log(rng.uniform(0.1, 1, 8)))
    grads = {}
    for method in METHODS:
        generator = PennyLaneGenerator(circuit, theta, method=method)
        generator.loss(generator.probabilities(), log_d).backward()
        grads[method] = generator.theta.grad.numpy()
    for method, grad in grads.items():
        # lightning's adjoint expval comes back float32 through the torch interface (pennylane 0.45): 3e-9 apart
        atol = 1e-7 if method.startswith("lightning") else 1e-10
        np.testing.assert_allclose(grad, grads["default.qubit:backprop"], rtol=0, atol=atol, err_msg=method)
