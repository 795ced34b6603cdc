"""The torch simulator against qiskit's Statevector: every ansatz x initialization x N 2..8 x k 1..3."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import Statevector

from autoqml.circuits import ANSAETZE, INITIALIZATIONS, build_generator
from autoqml.errors import CircuitError
from autoqml.simulator import StatevectorSimulator, initial_state


def _normal_amplitudes(n: int, rng: np.random.Generator) -> np.ndarray:
    p = rng.random(2**n)
    return np.sqrt(p / p.sum())


@pytest.mark.parametrize("ansatz", list(ANSAETZE))
@pytest.mark.parametrize("initialization", INITIALIZATIONS)
def test_probabilities_match_qiskit_statevector(ansatz, initialization):
    rng = np.random.default_rng(abs(hash((ansatz, initialization))) % 2**32)
    worst = 0.0
    for n in range(2, 9):
        for reps in (1, 2, 3):
            amplitudes = _normal_amplitudes(n, rng) if initialization == "normal" else None
            gen = build_generator(ansatz=ansatz, num_qubits=n, reps=reps, initialization=initialization,
                                  normal_amplitudes=amplitudes)
            theta = rng.uniform(-np.pi, np.pi, (2, gen.num_parameters))
            sim = StatevectorSimulator(gen.ansatz)
            ours = sim.probabilities(torch.as_tensor(theta), torch.as_tensor(initial_state(gen.initial))[None])
            for row in range(2):
                reference = Statevector(gen.circuit.assign_parameters(theta[row])).probabilities()
                worst = max(worst, np.abs(ours[row].numpy() - reference).max())
    assert worst <= 1e-10


def test_bit_order_is_qiskits():
    qc = QuantumCircuit(3)
    theta = Parameter("θ")
    qc.ry(theta, 0)  # pi rotates qubit 0 to |1>: basis index 1 (bit 0), not 4
    probs = StatevectorSimulator(qc).probabilities(torch.tensor([[np.pi]]), torch.eye(8, dtype=torch.float64)[:1])
    assert probs[0].argmax().item() == 1


def _beyond_the_ansaetze() -> QuantumCircuit:
    """Two-qubit and controlled rotations, a parameter in two gates, affine expressions, phased permutations."""
    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.rzz(2 * a + 0.3, 0, 2)
    qc.cry(b, 1, 0)
    qc.rxx(-a, 1, 2)
    qc.swap(0, 2)
    qc.s(1)
    qc.p(b / 2, 1)
    qc.ccx(0, 1, 2)
    return qc


def test_gates_beyond_the_ansaetze_and_expressions():
    """Two-qubit rotations, controlled rotations and affine parameter expressions are simulated exactly."""
    qc = _beyond_the_ansaetze()
    sim = StatevectorSimulator(qc)
    assert not sim.is_real
    values = np.array([[0.4, -1.3], [2.0, 0.7]])
    ours = sim.probabilities(torch.as_tensor(values), torch.eye(8, dtype=torch.complex128)[:1]).numpy()
    for row in range(2):
        reference = Statevector(qc.assign_parameters(values[row])).probabilities()
        assert np.abs(ours[row] - reference).max() <= 1e-12


def test_gradient_matches_parameter_shift():
    gen = build_generator(ansatz="zoufal", num_qubits=3, reps=2, initialization="uniform")
    sim = StatevectorSimulator(gen.ansatz)
    psi0 = torch.as_tensor(initial_state(gen.initial))[None]
    weights = torch.linspace(0, 1, 8, dtype=torch.float64)
    theta = torch.tensor(np.random.default_rng(3).uniform(-1, 1, (1, gen.num_parameters)), requires_grad=True)
    (sim.probabilities(theta, psi0) @ weights).sum().backward()
    shift = np.zeros(gen.num_parameters)
    for j in range(gen.num_parameters):
        plus, minus = theta.detach().clone(), theta.detach().clone()
        plus[0, j] += np.pi / 2
        minus[0, j] -= np.pi / 2
        shift[j] = ((sim.probabilities(plus, psi0) - sim.probabilities(minus, psi0)) @ weights).item() / 2
    assert np.allclose(theta.grad[0].numpy(), shift, atol=1e-12)


def _adjoint_and_autograd(sim, theta, initial, weights):
    probs, pullback = sim.probabilities_and_pullback(theta, initial)
    leaf = theta.clone().requires_grad_(True)
    (sim.probabilities(leaf, initial) * weights).sum().backward()
    return probs, pullback(weights.expand_as(probs)), leaf.grad


@pytest.mark.parametrize("ansatz", list(ANSAETZE))
def test_adjoint_gradient_equals_autograd(ansatz):
    """The trainer's gradient (adjoint pass) against autograd through the same forward pass, for every ansatz and
    initialization (complex arithmetic in efficient_su2) at N 2..5, k 1..2."""
    rng = np.random.default_rng(11)
    for initialization in INITIALIZATIONS:
        for n in (2, 3, 5):
            for reps in (1, 2):
                amplitudes = _normal_amplitudes(n, rng) if initialization == "normal" else None
                gen = build_generator(ansatz=ansatz, num_qubits=n, reps=reps, initialization=initialization,
                                      normal_amplitudes=amplitudes)
                sim = StatevectorSimulator(gen.ansatz)
                theta = torch.as_tensor(rng.uniform(-np.pi, np.pi, (3, gen.num_parameters)))
                initial = torch.as_tensor(initial_state(gen.initial))[None]
                weights = torch.as_tensor(rng.normal(size=(3, 2**n)))
                probs, adjoint, autograd = _adjoint_and_autograd(sim, theta, initial, weights)
                assert torch.equal(probs, sim.probabilities(theta, initial))
                assert torch.allclose(adjoint, autograd, rtol=0, atol=1e-12)


def test_adjoint_gradient_of_gates_beyond_the_ansaetze():
    """Shared parameters (a in two gates), two-qubit and controlled rotations, permutations with phases."""
    sim = StatevectorSimulator(_beyond_the_ansaetze())
    theta = torch.tensor([[0.4, -1.3], [2.0, 0.7]], dtype=torch.float64)
    weights = torch.as_tensor(np.random.default_rng(2).normal(size=(2, 8)))
    _, adjoint, autograd = _adjoint_and_autograd(sim, theta, torch.eye(8, dtype=torch.complex128)[:1], weights)
    assert torch.allclose(adjoint, autograd, rtol=0, atol=1e-12)


def test_measured_circuit_is_refused():
    qc = QuantumCircuit(2)
    qc.measure_all()
    with pytest.raises(CircuitError, match="unmeasured"):
        StatevectorSimulator(qc)
