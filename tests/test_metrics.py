"""Metrics checked against independent references: scipy, hand-worked values, qiskit and Haar averages."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import Statevector, partial_trace, random_statevector
from scipy import stats

from autoqml.errors import CircuitError, ConfigError, DataError
from autoqml.metrics import (
    KL_FLOOR,
    _depth_of_qpy,
    _qubit_purities,
    entangling_capability,
    fake_backend,
    ks_statistic,
    meyer_wallach,
    relative_entropy,
    relative_entropy_qiskit,
    transpiled_depth,
)


@pytest.fixture
def rng():
    return np.random.default_rng(2022)


# --- relative entropy -------------------------------------------------------------------------

def test_kl_matches_scipy_entropy(rng):
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(16), size=2)
        assert relative_entropy(target=p, generated=q) == pytest.approx(stats.entropy(p, q), rel=1e-12)


def test_kl_zero_for_identical(rng):
    p = rng.dirichlet(np.ones(8))
    assert relative_entropy(target=p, generated=p) == pytest.approx(0.0, abs=1e-15)


def test_kl_ignores_zero_target_bins():
    p = np.array([0.5, 0.5, 0.0, 0.0])
    q = np.array([0.25, 0.25, 0.5, 0.0])
    assert relative_entropy(target=p, generated=q) == pytest.approx(np.log(2.0))


def test_kl_floors_generated_zeros():
    p = np.array([0.5, 0.5])
    q = np.array([1.0, 0.0])
    expected = 0.5 * np.log(0.5 / 1.0) + 0.5 * np.log(0.5 / KL_FLOOR)
    value = relative_entropy(target=p, generated=q)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)


def test_qiskit_direction_by_hand(rng):
    """D(Q || P) = sum_x Q log(Q / P), Q's zeros raised to 1e-8 and both renormalized (qiskit's get_rel_entr)."""
    for _ in range(10):
        p, q = rng.dirichlet(np.ones(8), size=2)
        expected = float(np.sum(q * np.log(q / p)))
        assert relative_entropy_qiskit(target=p, generated=q) == pytest.approx(expected, rel=1e-12)
    p, q = np.array([0.25, 0.25, 0.5]), np.array([0.5, 0.5, 0.0])
    floored = np.array([0.5, 0.5, 1e-8]) / (1 + 1e-8)
    assert relative_entropy_qiskit(target=p, generated=q) == pytest.approx(
        float(np.sum(floored * np.log(floored / p))), rel=1e-12)


def test_qiskit_direction_is_infinite_on_an_empty_target_bin(rng):
    """qiskit floors the generator's zeros, not the target's: an empty target bin gives +inf, even for Q = P."""
    p = np.array([0.5, 0.5, 0.0])
    assert relative_entropy_qiskit(target=p, generated=p) == np.inf
    batch = rng.dirichlet(np.ones(3), size=4)
    assert np.all(relative_entropy_qiskit(target=p, generated=batch) == np.inf)
    full = rng.dirichlet(np.ones(3))
    assert relative_entropy_qiskit(target=full, generated=batch).shape == (4,)


def test_kl_batched(rng):
    p = rng.dirichlet(np.ones(8))
    q = rng.dirichlet(np.ones(8), size=(3, 5))
    out = relative_entropy(target=p, generated=q)
    assert out.shape == (3, 5)
    assert out[2, 4] == pytest.approx(stats.entropy(p, q[2, 4]), rel=1e-12)
    assert isinstance(relative_entropy(target=p, generated=q[0, 0]), float)


@pytest.mark.parametrize(
    ("target", "generated", "field"),
    [
        ([0.5, 0.5], [1.0, 0.0, 0.0], "generated"),
        ([5.0, 3.0], [0.5, 0.5], "target"),
        ([0.5, 0.5], [1.5, -0.5], "generated"),
    ],
)
def test_distribution_validation(target, generated, field):
    with pytest.raises(DataError, match=f"^{field}:"):
        relative_entropy(target=target, generated=generated)


# --- Kolmogorov-Smirnov -----------------------------------------------------------------------

def test_ks_hand_worked():
    # CDFs: P -> 0.1, 0.5, 0.7, 1.0 ; Q -> 0.4, 0.6, 0.6, 1.0 ; gaps 0.3, 0.1, 0.1, 0.0
    p = [0.1, 0.4, 0.2, 0.3]
    q = [0.4, 0.2, 0.0, 0.4]
    assert ks_statistic(target=p, generated=q) == pytest.approx(0.3)
    assert ks_statistic(target=p, generated=p) == pytest.approx(0.0)


def test_ks_matches_scipy_two_sample(rng):
    # Two samples over bins 0..15: their empirical pmfs give exactly scipy's two-sample statistic.
    a = rng.integers(0, 16, size=3000)
    b = np.minimum(rng.poisson(6, size=2000), 15)
    p = np.bincount(a, minlength=16) / a.size
    q = np.bincount(b, minlength=16) / b.size
    assert ks_statistic(target=p, generated=q) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


def test_ks_batched(rng):
    p = rng.dirichlet(np.ones(8))
    q = rng.dirichlet(np.ones(8), size=4)
    out = ks_statistic(target=p, generated=q)
    assert out.shape == (4,)
    assert out[1] == pytest.approx(np.max(np.abs(np.cumsum(p) - np.cumsum(q[1]))))


# --- Meyer-Wallach / entangling capability ----------------------------------------------------

def _ghz(n):
    qc = QuantumCircuit(n)
    qc.h(0)
    for k in range(n - 1):
        qc.cx(k, k + 1)
    return Statevector(qc).data


def test_product_states_have_zero_entanglement():
    states = []
    for seed in range(10):
        sv = random_statevector(2, seed=seed)
        for k in range(1, 4):
            sv = sv.tensor(random_statevector(2, seed=100 * seed + k))
        states.append(sv.data)
    np.testing.assert_allclose(meyer_wallach(states=np.array(states)), 0.0, atol=1e-12)


@pytest.mark.parametrize("n", range(2, 7))
def test_ghz_is_maximal(n):
    assert meyer_wallach(states=_ghz(n)[None, :]) == pytest.approx([1.0])


def test_single_qubit_is_zero():
    assert entangling_capability(states=[[1.0, 0.0], [np.sqrt(0.5), 1j * np.sqrt(0.5)]]) == pytest.approx(0.0)


@pytest.mark.parametrize("n", [3, 4])
def test_haar_average(n):
    states = np.array([random_statevector(2**n, seed=1000 * n + i).data for i in range(2000)])
    q = meyer_wallach(states=states)
    expected = 2 * (2 ** (n - 1) - 1) / (2**n + 1)
    assert abs(q.mean() - expected) < 3 * q.std(ddof=1) / np.sqrt(q.size)
    assert entangling_capability(states=states) == pytest.approx(q.mean())


def test_ry_cnot_averages_one_half(rng):
    theta = ParameterVector("t", 1)
    qc = QuantumCircuit(2)
    qc.ry(theta[0], 0)
    qc.cx(0, 1)
    # Q = sin^2(theta): equally spaced angles average to 1/2 exactly, random ones within noise.
    grid = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    states = np.array([Statevector(qc.assign_parameters([t])).data for t in grid])
    np.testing.assert_allclose(meyer_wallach(states=states), np.sin(grid) ** 2, atol=1e-12)
    assert entangling_capability(states=states) == pytest.approx(0.5)
    sampled = rng.uniform(0, 2 * np.pi, 4000)
    states = np.array([Statevector(qc.assign_parameters([t])).data for t in sampled])
    assert entangling_capability(states=states) == pytest.approx(0.5, abs=0.035)


def test_purities_match_qiskit_partial_trace():
    n = 4
    states = [random_statevector(2**n, seed=s) for s in range(5)]
    ours = _qubit_purities(np.array([sv.data for sv in states]))
    for i, sv in enumerate(states):
        for k in range(n):
            rho_k = partial_trace(sv, [j for j in range(n) if j != k])
            assert ours[i, k] == pytest.approx(rho_k.purity().real, abs=1e-12)


@pytest.mark.parametrize("states", [np.ones(4) / 2, np.ones((2, 3)) / np.sqrt(3), np.ones((1, 4))])
def test_states_validation(states):
    with pytest.raises(DataError, match="^states:"):
        meyer_wallach(states=states)


# --- devices and transpiled depth -------------------------------------------------------------

@pytest.mark.parametrize(
    "name", ["fake_montreal", "FakeMontrealV2", "montreal", "MONTREAL", "Fake_Montreal"]
)
def test_fake_backend_name_resolution(name):
    backend = fake_backend(name=name)
    assert type(backend).__name__ == "FakeMontrealV2"
    assert backend.num_qubits == 27
    assert backend is fake_backend()


def test_fake_backend_unknown_name():
    with pytest.raises(ConfigError, match=r"^device: .*'fake_montrel'.*fake_montreal.*dir\(qiskit_ibm_runtime"):
        fake_backend(name="fake_montrel")


def _ry_cz_circuit():
    t = ParameterVector("t", 9)
    qc = QuantumCircuit(3)
    for layer in range(3):
        for q in range(3):
            qc.ry(t[3 * layer + q], q)
        if layer < 2:
            qc.cz(0, 1)
            qc.cz(1, 2)
    return qc


def test_transpiled_depth():
    qc = _ry_cz_circuit()
    depth = transpiled_depth(circuit=qc, seed=7)
    assert isinstance(depth, int)
    assert depth >= qc.depth() > 0
    hits = _depth_of_qpy.cache_info().hits
    assert transpiled_depth(circuit=qc.copy(), seed=7) == depth
    assert _depth_of_qpy.cache_info().hits == hits + 1  # a structural copy reuses the cached depth
    assert qc.count_ops().get("measure") is None  # the caller's circuit is not modified
    assert transpiled_depth(circuit=qc, seed=7, optimization_level=3) > 0


def test_transpiled_depth_validation():
    with pytest.raises(ConfigError, match="^device:"):
        transpiled_depth(circuit=_ry_cz_circuit(), device="nowhere", seed=1)
    with pytest.raises(ConfigError, match="^optimization_level:"):
        transpiled_depth(circuit=_ry_cz_circuit(), seed=1, optimization_level=4)
    with pytest.raises(CircuitError, match="^circuit: cannot transpile 28 qubits to fake_montreal"):
        transpiled_depth(circuit=QuantumCircuit(28), seed=1)


def test_wasserstein_1_matches_scipy_on_random_grids_and_data():
    import scipy.stats

    from autoqml.metrics import wasserstein_1

    rng = np.random.default_rng(2026)
    for _ in range(300):
        bins = int(rng.choice([2, 4, 8, 16, 32, 64]))
        values = rng.uniform(-50, 150) + np.linspace(0, rng.uniform(1, 200), bins)
        generated = rng.dirichlet(np.full(bins, rng.uniform(0.1, 3)))
        generated[rng.random(bins) < 0.2] = 0  # empty bins, as trained generators have
        generated[rng.integers(bins)] += 0.1
        generated /= generated.sum()
        data = rng.normal(rng.uniform(0, 80), rng.uniform(1, 40), int(rng.integers(1, 400)))
        expected = scipy.stats.wasserstein_distance(values, data, u_weights=generated)
        assert wasserstein_1(values=values, generated=generated, data=data) == pytest.approx(expected, rel=1e-10,
                                                                                            abs=1e-12)
    batch = rng.dirichlet(np.ones(8), size=(3, 2))
    grid, data = np.linspace(0, 70, 8), rng.normal(30, 10, 50)
    got = wasserstein_1(values=grid, generated=batch, data=data)
    assert got.shape == (3, 2)
    assert got[2, 1] == pytest.approx(scipy.stats.wasserstein_distance(grid, data, u_weights=batch[2, 1]))


def test_wasserstein_1_is_in_the_data_unit_and_grid_free():
    from autoqml.metrics import wasserstein_1

    # a point mass at 10 against data at 13: 3 units, whatever the grid around it
    for bins in (4, 32):
        grid = np.linspace(10, 10 + 7 * (bins - 1), bins)
        generated = np.eye(bins)[0]
        assert wasserstein_1(values=grid, generated=generated, data=[13.0]) == pytest.approx(3.0)
        assert wasserstein_1(values=grid * 1000, generated=generated, data=[13000.0]) == pytest.approx(3000.0)
