"""Shot-based training: the qGAN steps of :mod:`autoqml.qgan` with the generator measured, as hardware sees it.

Each training step (an epoch has ``steps_per_epoch`` of them) makes **one** sampler call. For every row it binds 2P+1 parameter sets, theta and theta +- s_j e_j
(j = 1..P), into the row's circuit, which was transpiled once before training; each set is measured `shots`
times. The frequencies at theta estimate p_theta: they give the Born-sampled fake batch (``batch_size`` draws
from them, with the same per-row random draws as the exact trainer) and the generator loss. The shifted
frequencies give the generator gradient by the parameter-shift rule (Mitarai et al. 2018, arXiv:1803.00745;
Schuld et al. 2019, arXiv:1811.11184): for a gate exp(-i c theta_j G / 2) with G^2 = 1 (RX, RY, RZ, RXX, ...)

.. math:: \\frac{\\partial p_\\theta(x)}{\\partial \\theta_j} = \\frac{c}{2}
          \\left[p_{\\theta + s_j e_j}(x) - p_{\\theta - s_j e_j}(x)\\right], \\qquad s_j = \\frac{\\pi}{2c},

so :math:`\\partial L_G / \\partial \\theta_j = -\\frac{c}{2} \\sum_x [\\hat p_+(x) - \\hat p_-(x)] \\log D(x)`, an
unbiased estimate with variance :math:`\\frac{c^2}{4S}(\\mathrm{Var}_{p_+}[\\log D] + \\mathrm{Var}_{p_-}[\\log D])`
for S shots per set. The rule needs every parameter in exactly one such gate; :func:`shift_coefficients` checks it.

Curves record the exact KL and KS of the current parameters (statevector, off the training path) and
``kl_sampled``, the KL of the estimate the step used (its last entry repeats the last step's, as the losses do);
the stored ``generated`` distribution is exact, so a result can be re-checked from its circuit like an exact one.

Rows train in one sampler call, so a row's shot noise depends on the batch it trained in (seeded: the same batch
gives the same result); the exact trainer's "a row trains as alone" holds for the draws of the real batch, the
fake batch's uniforms and the initial parameters, not for the shots.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterExpression

from autoqml.backends import Sampler
from autoqml.errors import CircuitError
from autoqml.qgan import Row, RunResult, Schedule, train_rows
from autoqml.simulator import StatevectorSimulator

#: Gates exp(-i phi G / 2) with G^2 = 1 (eigenvalues of G/2 are +-1/2): the two-term shift rule is exact.
SHIFTABLE_GATES = frozenset({"rx", "ry", "rz", "rxx", "ryy", "rzz", "rzx"})


def shift_coefficients(circuit: QuantumCircuit) -> np.ndarray:
    """Per parameter (in ``circuit.parameters`` order), the c of the one gate angle c * theta + offset using it.

    Raises :class:`CircuitError` when a parameter appears in no gate, in several, in a gate outside
    :data:`SHIFTABLE_GATES`, or non-linearly: the two-term parameter-shift rule would be wrong there.
    """
    coeff: dict = {}
    for instruction in circuit.data:
        op = instruction.operation
        symbolic = [p for p in op.params if isinstance(p, ParameterExpression) and p.parameters]
        if not symbolic:
            continue
        names = ", ".join(sorted(p.name for expr in symbolic for p in expr.parameters))
        if op.name not in SHIFTABLE_GATES or len(op.params) != 1 or len(symbolic[0].parameters) != 1:
            raise CircuitError(f"{circuit.name}: gate {op.name}({names}) is not a single-angle rotation with a "
                               f"+-1/2-eigenvalue generator ({', '.join(sorted(SHIFTABLE_GATES))}); the parameter-"
                               "shift rule of shot-based training does not apply; train it on the statevector")
        (parameter,) = symbolic[0].parameters
        slope = symbolic[0].gradient(parameter)
        if isinstance(slope, ParameterExpression) or parameter in coeff:
            raise CircuitError(f"{circuit.name}: parameter {parameter.name} is used non-linearly or in more than "
                               "one gate; shot-based training needs each parameter in one rotation")
        coeff[parameter] = float(slope)
    missing = [p.name for p in circuit.parameters if p not in coeff]
    if missing:
        raise CircuitError(f"{circuit.name}: parameters {', '.join(missing)} are in no rotation gate")
    return np.array([coeff[p] for p in circuit.parameters])


def shifted_parameters(theta: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """The 2P+1 parameter sets of a step per row, shape (rows, 2P+1, P): theta, then theta + s_j e_j, theta - s_j e_j."""
    shifts = np.diag(np.pi / (2 * coeffs))
    offsets = np.concatenate([np.zeros((1, len(coeffs))), shifts, -shifts])
    return theta[:, None, :] + offsets


def shift_gradient(freq: torch.Tensor, log_d: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """d L_G / d theta per row (rows, P) from the frequencies at the 2P+1 sets (rows, 2P+1, 2^N) and log D (rows, 2^N)."""
    p = coeffs.shape[0]
    difference = freq[:, 1 : p + 1] - freq[:, p + 1 :]
    return -(coeffs / 2) * (difference @ log_d[:, :, None])[..., 0]


class ShotGenerator:
    """Generator side of :func:`autoqml.qgan.train_loop` measured through a :class:`autoqml.backends.Sampler`."""

    def __init__(self, sim: StatevectorSimulator, theta: torch.Tensor, initial: torch.Tensor, *, sampler: Sampler,
                 circuits: list[QuantumCircuit], shots: int, seed: int, coeffs: np.ndarray):
        self._sim, self._theta, self.initial = sim, theta, initial
        self._sampler, self._shots, self._coeffs = sampler, shots, coeffs
        self._torch_coeffs = torch.as_tensor(coeffs)
        self._rng = np.random.default_rng(seed)
        self._bins = 2**sim.num_qubits
        groups: dict[bytes, list[int]] = {}
        first: dict[bytes, QuantumCircuit] = {}
        for r, circuit in enumerate(circuits):
            key = _structure(circuit)
            groups.setdefault(key, []).append(r)
            first.setdefault(key, circuit)
        # one transpilation per distinct circuit (cell), re-bound every step
        self.pubs = [(sampler.transpile(first[key], seed=seed), np.array(rows)) for key, rows in groups.items()]
        self._freq: torch.Tensor | None = None

    def probabilities(self) -> torch.Tensor:
        values = shifted_parameters(self._theta.detach().numpy(), self._coeffs)
        counts = self._sampler.counts([(isa, values[rows]) for isa, rows in self.pubs], shots=self._shots,
                                      seed=int(self._rng.integers(2**31)))
        freq = np.empty(values.shape[:2] + (self._bins,))
        for (_, rows), count in zip(self.pubs, counts):
            freq[rows] = count / self._shots
        self._freq = torch.as_tensor(freq)
        return self._freq[:, 0]

    def backward(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        self._theta.grad = shift_gradient(self._freq, log_d, self._torch_coeffs)
        return -(probs * log_d).sum(1)

    def exact(self, probs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self._sim.probabilities(self._theta, self.initial)

    def sampled(self, probs: torch.Tensor) -> torch.Tensor:
        return probs


def train_rows_shots(*, ansatz: QuantumCircuit, circuits: list[QuantumCircuit], rows: list[Row], widths: list[int],
                     schedule: Schedule, sampler: Sampler, shots: int, seed: int, precision: str = "float64",
                     device: str = "cpu") -> list[RunResult]:
    """Train every row for the schedule's epochs on `sampler`, ``shots`` shots per parameter set.

    ``circuits[r]`` is row r's whole generator (initial state + `ansatz`), parametrized like `ansatz`; rows with the
    same circuit share its transpilation. `seed` seeds the transpiler and the simulator of each call. What the
    sampler ran is counted in ``sampler.usage``.
    """
    if len(circuits) != len(rows):
        raise ValueError(f"need one circuit per row, got {len(circuits)} for {len(rows)} rows")
    coeffs = shift_coefficients(ansatz)

    def generator(sim: StatevectorSimulator, theta: torch.Tensor, initial: torch.Tensor) -> ShotGenerator:
        return ShotGenerator(sim, theta, initial, sampler=sampler, circuits=circuits, shots=shots, seed=seed,
                             coeffs=coeffs)

    return train_rows(ansatz=ansatz, rows=rows, widths=widths, schedule=schedule, precision=precision,
                      device=device, generator=generator)


def _structure(circuit: QuantumCircuit) -> bytes:
    """Identity of a circuit's structure (its QPY serialization): cells with equal circuits share one transpilation."""
    from autoqml.metrics import _qpy_bytes

    return hashlib.sha256(_qpy_bytes(circuit)).digest()
