"""Shot-based training: the parameter-shift gradient is exact in expectation and within its shot noise, and
a short run on Aer learns."""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import BitArray
from test_qgan import _rows

from autoqml.backends import _bincount, normalize, open_sampler
from autoqml.circuits import build_generator
from autoqml.errors import CircuitError
from autoqml.qgan import Schedule
from autoqml.shots import ShotGenerator, shift_coefficients, shift_gradient, shifted_parameters, train_rows_shots
from autoqml.simulator import StatevectorSimulator, initial_state


def _setup(ansatz: str, n: int, initialization: str, rows: int, seed: int):
    gen = build_generator(ansatz=ansatz, num_qubits=n, reps=1, initialization=initialization)
    rng = np.random.default_rng(seed)
    theta = torch.tensor(rng.uniform(-np.pi, np.pi, (rows, gen.num_parameters)), requires_grad=True)
    initial = torch.as_tensor(initial_state(gen.initial))[None].expand(rows, -1)
    log_d = torch.log(torch.as_tensor(rng.uniform(0.05, 0.95, (rows, 2**n))))
    return gen, StatevectorSimulator(gen.ansatz), theta, initial, log_d


def _autograd(sim, theta, initial, log_d) -> np.ndarray:
    loss = -(sim.probabilities(theta, initial) * log_d).sum()
    (grad,) = torch.autograd.grad(loss, theta)
    return grad.numpy()


@pytest.mark.parametrize(("ansatz", "initialization"), [
    ("zoufal", "uniform"), ("vallecorsa", "random"), ("herr1", "uniform"), ("real_amplitudes", "random"),
    ("efficient_su2", "uniform"),
])
def test_parameter_shift_rule_is_exact_with_exact_probabilities(ansatz, initialization):
    gen, sim, theta, initial, log_d = _setup(ansatz, 3, initialization, rows=2, seed=1)
    coeffs = shift_coefficients(gen.ansatz)
    sets = torch.as_tensor(shifted_parameters(theta.detach().numpy(), coeffs))
    with torch.no_grad():
        freq = sim.probabilities(sets.reshape(-1, sets.shape[-1]), initial[:1]).reshape(*sets.shape[:2], -1)
    shifted = shift_gradient(freq, log_d, torch.as_tensor(coeffs)).numpy()
    assert np.abs(shifted - _autograd(sim, theta, initial, log_d)).max() <= 1e-10


def test_shift_rule_scales_with_the_angle_coefficient():
    theta = Parameter("θ")
    qc = QuantumCircuit(1, name="scaled")
    qc.h(0)
    qc.rx(2 * theta + 0.3, 0)
    assert shift_coefficients(qc).tolist() == [2.0]
    sim = StatevectorSimulator(qc)
    x = torch.tensor([[0.4]], dtype=torch.float64, requires_grad=True)
    zero = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    log_d = torch.tensor([[-0.3, -1.7]], dtype=torch.float64)
    sets = torch.as_tensor(shifted_parameters(x.detach().numpy(), np.array([2.0])))
    with torch.no_grad():
        freq = sim.probabilities(sets[0], zero)[None]
    assert torch.allclose(shift_gradient(freq, log_d, torch.tensor([2.0])),
                          torch.as_tensor(_autograd(sim, x, zero, log_d)), atol=1e-12)


def test_gates_outside_the_two_term_rule_are_refused():
    theta = ParameterVector("θ", 2)
    controlled = QuantumCircuit(2, name="controlled")
    controlled.cry(theta[0], 0, 1)
    controlled.ry(theta[1], 0)
    with pytest.raises(CircuitError, match=r"gate cry\(θ\[0\]\) is not a single-angle rotation"):
        shift_coefficients(controlled)
    shared = QuantumCircuit(1, name="shared")
    shared.ry(theta[0], 0)
    shared.rz(theta[0], 0)
    with pytest.raises(CircuitError, match="more than one gate"):
        shift_coefficients(shared)


@pytest.mark.parametrize("num_bits", [3, 10])
def test_counts_decode_the_packed_bits_in_qiskit_order(num_bits):
    rng = np.random.default_rng(num_bits)
    samples = rng.integers(0, 2**num_bits, size=(2, 3, 500))
    bits = BitArray.from_samples(samples.reshape(-1).tolist(), num_bits).reshape(2, 3, 500)
    counts = _bincount(bits.array, num_bits)
    assert counts.shape == (2, 3, 2**num_bits)
    for index in np.ndindex(2, 3):
        assert counts[index].tolist() == np.bincount(samples[index], minlength=2**num_bits).tolist()
        assert all(counts[index][k] == v for k, v in bits[index].get_int_counts().items())


@pytest.mark.parametrize(("ansatz", "initialization", "n"), [("zoufal", "uniform", 3), ("vallecorsa", "random", 2)])
def test_shot_gradient_agrees_with_autograd_within_shot_noise(ansatz, initialization, n):
    """Each component within 5 standard deviations of the estimator (derived from the exact shifted
    distributions), with enough shots that the gradient stands far above that noise."""
    shots, rows = 20000, 2
    gen, sim, theta, initial, log_d = _setup(ansatz, n, initialization, rows=rows, seed=7)
    coeffs = shift_coefficients(gen.ansatz)
    spec, _ = normalize({"type": "aer", "shots": shots}, where="backend")
    with open_sampler(spec) as sampler:
        source = ShotGenerator(sim, theta, initial, sampler=sampler, circuits=[gen.circuit] * rows, shots=shots,
                               seed=3, coeffs=coeffs)
        probs = source.probabilities()
        source.backward(probs, log_d)
    estimate, exact = theta.grad.numpy(), _autograd(sim, theta, initial, log_d)

    p = len(coeffs)
    sets = torch.as_tensor(shifted_parameters(theta.detach().numpy(), coeffs))
    with torch.no_grad():
        shifted = sim.probabilities(sets.reshape(-1, p), initial[:1]).reshape(rows, 2 * p + 1, -1)
    variance = (shifted * log_d[:, None] ** 2).sum(-1) - ((shifted * log_d[:, None]).sum(-1)) ** 2
    sigma = (np.abs(coeffs) / 2 * np.sqrt((variance[:, 1 : p + 1] + variance[:, p + 1 :]).numpy() / shots))
    z = (estimate - exact) / sigma
    assert np.abs(z).max() < 5, z
    assert np.abs(exact).max() > 20 * sigma.max()  # the test can tell a wrong gradient from shot noise
    assert np.abs(probs.numpy() - shifted[:, 0].numpy()).max() < 5 * np.sqrt(0.25 / shots)
    assert sampler.usage["circuit_executions"] == rows * (2 * p + 1)
    assert sampler.usage["sampler_calls"] == 1 and sampler.usage["shots"] == rows * (2 * p + 1) * shots


def _train_on_aer(epochs: int, shots: int = 500):
    """One step per epoch (one sampler call each), real batches drawn with replacement, and Adam keeping its
    moments: averaging shot noise over steps is what this checks, not qiskit's per-step restart."""
    gen, _, rows = _rows(2, "uniform", seeds=[1, 2, 3], lrs=(0.005,), state="persistent")
    spec, _ = normalize({"type": "aer", "shots": shots}, where="backend")
    with open_sampler(spec) as sampler:
        runs = train_rows_shots(ansatz=gen.ansatz, circuits=[gen.circuit] * len(rows), rows=rows, widths=[50, 20],
                                batch_size=128, num_epochs=epochs, log_every=10, sampler=sampler, shots=shots,
                                seed=5, steps_per_epoch=1)
    return runs, sampler.usage


def test_short_training_on_aer_reduces_kl():
    """Zoufal et al.'s log-normal on [0, 7] with 2 qubits, 400 epochs of 500 shots per parameter set."""
    runs, usage = _train_on_aer(400)
    first = np.array([run.curves["kl"][0] for run in runs])
    last = np.array([run.curves["kl"][-1] for run in runs])
    assert (last < 0.5 * first).all() and last.mean() < 0.05, (first, last)
    assert usage["sampler_calls"] == 400 and usage["circuit_executions"] == 400 * 3 * 9
    for run in runs:
        assert len(run.curves["kl_sampled"]) == len(run.curves["kl"]) == 41
        assert abs(run.generated.sum() - 1) < 1e-12  # the stored distribution is the exact one


def test_shot_training_is_reproducible():
    first, _ = _train_on_aer(12)
    again, _ = _train_on_aer(12)
    for a, b in zip(first, again):
        assert np.array_equal(a.parameters, b.parameters) and a.curves == b.curves
