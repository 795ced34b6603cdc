"""Metrics that rank qGAN ansaetze: distribution fit, hardware cost and entangling capability.

The study compares Born-machine generators (Zoufal et al. 2019, arXiv:1904.00043) by how well
their output distribution Q matches the target P (KL divergence, KS statistic), by what they
would cost on an IBM device (transpiled depth) and by how much entanglement they produce
(Sim, Johnson, Aspuru-Guzik 2019, arXiv:1905.10876).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import io

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike
from qiskit import QuantumCircuit, qpy, transpile
from qiskit.transpiler.exceptions import TranspilerError

from autoqml.errors import CircuitError, ConfigError, DataError

KL_FLOOR = 1e-10
#: qiskit's QGAN.get_rel_entr replaces generated probabilities equal to 0 by this value.
QISKIT_GENERATED_FLOOR = 1e-8
DEFAULT_DEVICE = "fake_montreal"  # 27-qubit Falcon r4, like the IBM devices of 2021

_SUM_TOL = 1e-5  # loose enough for float32 generator outputs, tight enough to catch raw counts
_NORM_TOL = 1e-6


def _distributions(target: ArrayLike, generated: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate once so every metric fails with the same clear message instead of silently lying."""
    arrays = {}
    for label, value in (("target", target), ("generated", generated)):
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] == 0:
            raise DataError(f"{label}: expected a probability vector over basis states, "
                            f"got shape {arr.shape}")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise DataError(f"{label}: probabilities must be finite and >= 0, got min {np.nanmin(arr)!r}")
        sums = arr.sum(axis=-1)
        if not np.allclose(sums, 1.0, rtol=0.0, atol=_SUM_TOL):
            worst = float(sums.flat[np.argmax(np.abs(sums - 1.0))])
            raise DataError(f"{label}: probabilities must sum to 1 along the last axis, got {worst!r}; "
                            "normalize counts first (counts / counts.sum())")
        arrays[label] = arr
    p, q = arrays["target"], arrays["generated"]
    if p.shape[-1] != q.shape[-1]:
        raise DataError(f"generated: has {q.shape[-1]} bins but target has {p.shape[-1]}; "
                        "both must cover the same 2^N basis states")
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError as exc:
        raise DataError(f"generated: batch shape {q.shape} does not broadcast with target {p.shape}") from exc
    return p, q


def _scalar_or_array(values: np.ndarray) -> np.ndarray | float:
    """Unbatched calls get a plain float, which is what reports and loggers want."""
    return float(values) if values.ndim == 0 else values


def relative_entropy(*, target: ArrayLike, generated: ArrayLike) -> np.ndarray | float:
    """Kullback-Leibler divergence of the generated from the target distribution (natural log).

    .. math:: D_{KL}(P \\| Q) = \\sum_x P(x) \\log \\frac{P(x)}{Q(x)}

    P is ``target``, Q is ``generated`` (AutoQML, arXiv:2202.08024, eq. 2; Kullback & Leibler 1951).
    Zero handling: bins with P(x) = 0 contribute 0 (the limit p log p -> 0), and Q is clipped
    below at ``KL_FLOOR`` so the value stays finite (about P(x) * 23) when the generator puts no
    mass on a bin the target uses; a trained model is then still ranked instead of scoring inf.
    ``generated`` may be batched, shape (..., 2^N), broadcasting against ``target``; the result
    has the batch shape, or is a float for unbatched input.
    """
    p, q = _distributions(target, generated)
    support = p > 0
    ratio = np.where(support, p, 1.0) / np.maximum(q, KL_FLOOR)
    return _scalar_or_array(np.sum(np.where(support, p * np.log(ratio), 0.0), axis=-1))


def relative_entropy_qiskit(*, target: ArrayLike, generated: ArrayLike) -> np.ndarray | float:
    """Relative entropy in qiskit's direction, D_KL(Q || P), computed as qiskit's QGAN does.

    .. math:: D_{KL}(Q \\| P) = \\sum_x Q(x) \\log \\frac{Q(x)}{P(x)}

    qiskit-aqua 0.9 ``QGAN.get_rel_entr``: generated probabilities equal to 0 become 1e-8, then
    ``scipy.stats.entropy(generated, target)`` (which renormalizes both). A target bin that is empty where the
    generator puts mass makes the value +inf, as in qiskit; it is recorded so that results compare with
    qiskit-based papers, while :func:`relative_entropy` (the paper's eq. 2) ranks models.
    """
    p, q = _distributions(target, generated)
    q, p = np.broadcast_arrays(np.where(q == 0, QISKIT_GENERATED_FLOOR, q), p)
    with np.errstate(divide="ignore"):
        return _scalar_or_array(np.asarray(scipy.stats.entropy(q, p, axis=-1)))


def finite_or_none(value: float) -> float | None:
    """A metric as JSON can hold it: +inf (and NaN) become None."""
    value = float(value)
    return value if np.isfinite(value) else None


def ks_statistic(*, target: ArrayLike, generated: ArrayLike) -> np.ndarray | float:
    """Kolmogorov-Smirnov distance between the CDFs over the ordered bins.

    .. math:: D_{KS} = \\max_x \\left| \\sum_{y \\le x} P(y) - \\sum_{y \\le x} Q(y) \\right|

    Unlike KL it is bounded in [0, 1] and sensitive to where mass sits along the ordered
    (discretized) support, which matters for price-like data (Kolmogorov 1933; Smirnov 1948).
    Batched like :func:`relative_entropy`.
    """
    p, q = _distributions(target, generated)
    gap = np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1))
    return _scalar_or_array(np.max(gap, axis=-1))


def wasserstein_1(*, values: ArrayLike, generated: ArrayLike, data: ArrayLike) -> np.ndarray | float:
    """Wasserstein-1 (earth mover's) distance between the generated distribution and data values, in their unit.

    .. math:: W_1(Q, \\hat F) = \\int_{-\\infty}^{\\infty} \\left| F_Q(x) - \\hat F(x) \\right| dx

    F_Q is the CDF of Q, which puts ``generated[x]`` on grid value ``values[x]``; \\hat F the empirical CDF of
    ``data`` (raw values, not discretized). Unlike KL and KS it does not depend on the grid: a model at N = 3 and
    one at N = 6 are scored against the same data in the same unit (EUR/MWh for prices), so it ranks across
    qubit counts (Villani 2009, *Optimal Transport*, remark 6.6). ``generated`` may be batched, shape (..., 2^N).
    """
    q = np.asarray(generated, dtype=np.float64)
    grid = np.asarray(values, dtype=np.float64)
    sample = np.sort(np.asarray(data, dtype=np.float64).ravel())
    if sample.size == 0 or not np.isfinite(sample).all():
        raise DataError(f"data: need at least one finite value, got {sample.size} value(s)")
    if grid.shape != q.shape[-1:]:
        raise DataError(f"generated: has {q.shape[-1]} bins but values {grid.shape}; pass the grid's values")
    points = np.union1d(grid, sample)
    order = np.argsort(grid, kind="stable")
    cdf_q = np.cumsum(q[..., order], axis=-1)[..., np.searchsorted(grid[order], points, side="right") - 1]
    cdf_q = np.where(points >= grid.min(), cdf_q, 0.0)
    cdf_data = np.searchsorted(sample, points, side="right") / sample.size
    return _scalar_or_array(np.sum(np.abs(cdf_q - cdf_data)[..., :-1] * np.diff(points), axis=-1))


def held_out_histogram(*, values: ArrayLike, grid, explicit: bool) -> np.ndarray:
    """Held-out values as probabilities on a run's grid, mapped as the training values were: to the nearest grid
    point, those outside clipped to the end points (``optimal``, ``minmax``) or dropped (an explicit range)."""
    data = np.asarray(values, dtype=np.float64)
    if explicit:
        data = data[(data >= grid.low) & (data <= grid.high)]
    if data.size == 0:
        raise DataError(f"discretization: no held-out value lies in the range [{grid.low}, {grid.high}]; widen the "
                        f"range or use optimal")
    return np.bincount(grid.index_of(data), minlength=2**grid.num_qubits).astype(np.float64) / data.size


def held_out_metrics(*, generated: ArrayLike, values: ArrayLike, histogram: ArrayLike,
                     data: ArrayLike) -> dict[str, np.ndarray | float]:
    """KL and KS against a held-out histogram on the run's grid, and W1 against the held-out values themselves."""
    return {"kl": relative_entropy(target=histogram, generated=generated),
            "ks": ks_statistic(target=histogram, generated=generated),
            "w1": wasserstein_1(values=values, generated=generated, data=data)}


def _qubit_purities(states: ArrayLike) -> np.ndarray:
    """Tr(rho_k^2) for every state and qubit k (Qiskit little-endian order), shape (S, n)."""
    psi = np.asarray(states)
    if psi.ndim != 2 or psi.shape[1] < 2 or psi.shape[1] & (psi.shape[1] - 1):
        raise DataError(f"states: expected shape (S, 2^n) with n >= 1, got {psi.shape}")
    norms = np.linalg.norm(psi, axis=1)
    if not np.allclose(norms, 1.0, rtol=0.0, atol=_NORM_TOL):
        worst = float(norms[np.argmax(np.abs(norms - 1.0))])
        raise DataError(f"states: statevectors must have unit norm, got norm {worst!r}")
    n_states, dim = psi.shape
    n = dim.bit_length() - 1
    tensor = psi.astype(np.complex128).reshape((n_states,) + (2,) * n)
    purities = np.empty((n_states, n))
    for k in range(n):
        # C-order reshape puts qubit n-1 first, so qubit k lives on axis n - k.
        m = np.moveaxis(tensor, n - k, 1).reshape(n_states, 2, -1)
        rho = m @ m.conj().transpose(0, 2, 1)
        purities[:, k] = np.sum(np.abs(rho) ** 2, axis=(1, 2))
    return purities


def meyer_wallach(*, states: ArrayLike) -> np.ndarray:
    """Meyer-Wallach entanglement of each pure state, 0 for product states and 1 for GHZ.

    .. math:: Q(\\psi) = 2 \\left(1 - \\frac{1}{n} \\sum_{k=1}^{n} \\mathrm{Tr}(\\rho_k^2)\\right)

    rho_k is the reduced state of qubit k (Meyer & Wallach 2002, J. Math. Phys. 43, 4273; in the
    purity form of Brennen 2003, Quantum Inf. Comput. 3, 619). ``states`` has shape (S, 2^n).
    """
    return 2.0 * (1.0 - _qubit_purities(states).mean(axis=1))


def entangling_capability(*, states: ArrayLike) -> float:
    """Average Meyer-Wallach entanglement over states sampled from an ansatz's parameter space.

    .. math:: \\mathrm{Ent} = \\frac{1}{|S|} \\sum_{\\theta_i \\in S} Q(|\\psi_{\\theta_i}\\rangle)

    Sim, Johnson & Aspuru-Guzik 2019 (arXiv:1905.10876), eq. 22; pass statevectors of the ansatz
    at uniformly sampled parameters, shape (S, 2^n).
    """
    return float(np.mean(meyer_wallach(states=states)))


def _device_key(name: str) -> str:
    """Map 'fake_montreal', 'FakeMontrealV2' and 'montreal' to one lookup key."""
    key = name.strip().lower().replace("_", "").replace("-", "")
    return key.removeprefix("fake").removesuffix("v2")


@functools.cache
def _device_classes() -> dict[str, type]:
    """Fake backend classes by key; imported lazily because qiskit_ibm_runtime adds ~0.8 s."""
    from qiskit_ibm_runtime import fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return {
        _device_key(attr): cls
        for attr, cls in vars(fake_provider).items()
        if inspect.isclass(cls) and issubclass(cls, FakeBackendV2) and cls is not FakeBackendV2
    }


@functools.lru_cache(maxsize=None)
def _device_instance(key: str):
    return _device_classes()[key]()


def fake_backend(*, name: str = DEFAULT_DEVICE):
    """The qiskit-ibm-runtime fake (V2) backend called ``name``, cached per device.

    Snapshots of real IBM devices give reproducible transpiled depths without an account.
    Accepts 'fake_montreal', 'FakeMontrealV2' or 'montreal' (any case). The instance is shared
    between callers: do not mutate it.
    """
    classes = _device_classes()
    key = _device_key(name) if isinstance(name, str) else None
    if key not in classes:
        known = [f"fake_{k}" for k in sorted(classes)]
        close = difflib.get_close_matches(f"fake_{key}", known, n=3, cutoff=0.5) if key else []
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ConfigError(f"device: unknown fake IBM backend {name!r}; {hint}"
                          "list all with [n for n in dir(qiskit_ibm_runtime.fake_provider) "
                          "if n.startswith('Fake')]")
    return _device_instance(key)


def _qpy_bytes(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


@functools.lru_cache(maxsize=4096)
def _depth_of_qpy(payload: bytes, device_key: str, seed: int, optimization_level: int) -> int:
    """Transpile the circuit rebuilt from QPY, so the cache key alone determines the result."""
    (circuit,) = qpy.load(io.BytesIO(payload))
    backend = _device_instance(device_key)
    try:
        compiled = transpile(circuit, backend, seed_transpiler=seed, optimization_level=optimization_level)
    except TranspilerError as exc:
        raise CircuitError(f"circuit: cannot transpile {circuit.num_qubits} qubits to fake_{device_key} "
                           f"({backend.num_qubits} qubits): {exc}") from exc
    return int(compiled.depth())


def transpiled_depth(*, circuit: QuantumCircuit, device: str = DEFAULT_DEVICE, seed: int,
                     optimization_level: int = 1) -> int:
    """Depth of the measured circuit after transpiling to ``device``: the hardware cost of an ansatz.

    .. math:: d = \\mathrm{depth}(\\mathrm{transpile}(M U, \\mathrm{device}))

    The whole register is measured in a Born machine, so measure_all() is appended when the
    circuit has no measurements (Zoufal et al. 2019, arXiv:1904.00043). Unbound parameters are
    fine. Results are memoised on the QPY serialization of the circuit plus device, seed and
    level; QPY records parameter identities, so only exact structural copies hit the cache.
    """
    if not isinstance(circuit, QuantumCircuit):
        raise CircuitError(f"circuit: expected a qiskit QuantumCircuit, got {type(circuit).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed: expected an integer, got {seed!r}")
    if optimization_level not in (0, 1, 2, 3):
        raise ConfigError(f"optimization_level: expected 0, 1, 2 or 3, got {optimization_level!r}")
    fake_backend(name=device)  # validates the name with a helpful message
    measured = circuit.copy()
    if not any(inst.operation.name == "measure" for inst in measured.data):
        measured.measure_all()
    return _depth_of_qpy(_qpy_bytes(measured), _device_key(device), int(seed), int(optimization_level))
