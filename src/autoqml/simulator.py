"""Exact, differentiable statevector simulation of a parametrized circuit in torch, batched over rows.

A row is one training run: its own parameters and its own initial state, the circuit shape shared. The circuit
is compiled once into a short program of torch operations:

* every fixed gate that maps basis states to basis states (CZ, CX, X, SWAP, ...) is fused with its neighbours
  into one gather-and-phase step over the whole register;
* other fixed gates (H, ...) are applied as small dense matrices;
* every parametrized gate is written as :math:`U(\\varphi) = A + \\cos(\\varphi/2) B + \\sin(\\varphi/2) C`,
  which holds for all rotations :math:`e^{-i\\varphi G/2}` whose generator has eigenvalues in {-1, 0, 1}
  (RX, RY, RZ, RXX, RZZ, CRY, ...); the form is verified numerically when compiling.

The state stays real (float64) when every matrix and initial state is real, as for RY/CZ circuits, and is
complex128 otherwise. Bit order is Qiskit's: basis index x has qubit q as bit q of x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterExpression
from qiskit.quantum_info import Operator, Statevector

from autoqml.errors import CircuitError

_SKIPPED = {"barrier", "delay"}
_MAX_DENSE_QUBITS = 3
_REWRITE_BASIS = ["rx", "ry", "rz", "cx", "h", "x", "sx"]
#: Angles are padded to rows of this many values before cos and sin: torch rounds a tensor's last elements (past its
#: SIMD blocks) in scalar code, differently, so a row must never be there only when it trains alone.
_ANGLE_LANES = 16


def _born(state: torch.Tensor) -> torch.Tensor:
    return state.square() if not state.is_complex() else state.real.square() + state.imag.square()


def _padded(angles: torch.Tensor) -> torch.Tensor:
    """(rows, gates) angles in (rows, gates rounded up to _ANGLE_LANES), zeros after."""
    width = -(-angles.shape[1] // _ANGLE_LANES) * _ANGLE_LANES
    return torch.nn.functional.pad(angles, (0, width - angles.shape[1]))


@dataclass(frozen=True)
class Monomial:
    """state[..., i] <- phase[i] * state[..., perm[i]]: a product of permutation and diagonal gates."""

    perm: np.ndarray
    phase: np.ndarray


@dataclass(frozen=True)
class Dense:
    qubits: tuple[int, ...]
    matrix: np.ndarray


@dataclass(frozen=True)
class Rotation:
    """A gate with angle coeff * theta[index] + offset, U = A + cos(angle/2) B + sin(angle/2) C."""

    qubits: tuple[int, ...]
    index: int
    coeff: float
    offset: float
    abc: np.ndarray  # shape (3, 2^k, 2^k)


def initial_state(circuit: QuantumCircuit) -> np.ndarray:
    """The state a fixed circuit prepares from |0...0>, global phase removed (real when it can be)."""
    state = Statevector(circuit).data
    lead = state[np.abs(state).argmax()]
    state = state * (abs(lead) / lead)
    return state.real.copy() if np.abs(state.imag).max() < 1e-10 else state


class StatevectorSimulator:
    """Compiled simulator of one parametrized circuit; call :meth:`probabilities` with a batch of parameters."""

    def __init__(self, circuit: QuantumCircuit):
        self.num_qubits = circuit.num_qubits
        self.num_parameters = circuit.num_parameters
        self._index = {p: i for i, p in enumerate(circuit.parameters)}
        self.gates: list[Monomial | Dense | Rotation] = []
        for instruction in circuit.data:
            self._add(instruction.operation, tuple(circuit.find_bit(q).index for q in instruction.qubits))
        self.is_real = all(np.abs(np.imag(m)).max(initial=0.0) < 1e-14 for m in self._matrices())
        self.dtype = torch.float64 if self.is_real else torch.complex128
        self._rotations = self._rotation_groups()
        self._torch_program = [self._to_torch(step) for step in self.gates]

    def to(self, device: torch.device | str) -> StatevectorSimulator:
        """Move the compiled program to `device` (in place; returns self)."""
        move = lambda item: item.to(device) if isinstance(item, torch.Tensor) else item  # noqa: E731
        self._rotations = {arity: tuple(move(t) for t in group) for arity, group in self._rotations.items()}
        self._torch_program = [tuple(move(item) for item in step) for step in self._torch_program]
        return self

    def states(self, theta: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """Final states, shape (rows, 2^N), for parameters (rows, P) and initial states (rows or 1, 2^N)."""
        return self._final(theta, initial)[0].T

    def probabilities(self, theta: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """Born probabilities |<x|psi>|^2, shape (rows, 2^N), differentiable in theta."""
        state, _ = self._final(theta, initial)
        return _born(state).T.contiguous()

    def probabilities_and_pullback(self, theta: torch.Tensor, initial: torch.Tensor
                                   ) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        """Born probabilities (rows, 2^N) and the function mapping dL/dp (rows, 2^N) to dL/dtheta (rows, P).

        The gradient is the adjoint method: run the circuit backwards from the final state, undoing each gate
        (U^dagger) on the state and on lambda = dL/dpsi*, and at each rotation add 2 Re <lambda| dU/dphi |psi>.
        Its memory is two states whatever the depth, and it needs no autograd graph; it equals autograd through
        :meth:`probabilities` to rounding (tests/test_simulator.py).
        """
        with torch.no_grad():
            state, angles = self._final(theta, initial)
            probs = _born(state)

        def pullback(grad_probs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return self._adjoint(state, grad_probs.T * state, angles, theta)

        return probs.T.contiguous(), pullback

    def _adjoint(self, psi: torch.Tensor, lam: torch.Tensor, angles: dict, theta: torch.Tensor) -> torch.Tensor:
        grads = {arity: torch.empty(len(group[0]), psi.shape[1], dtype=torch.float64, device=psi.device)
                 for arity, group in self._rotations.items()}
        for kind, *args in reversed(self._torch_program):
            if kind == "diagonal":
                phase = args[0].conj()[:, None]
                psi, lam = psi * phase, lam * phase
            elif kind == "monomial":
                perm, phase, inverse = args
                if phase is not None:
                    psi, lam = psi * phase.conj()[:, None], lam * phase.conj()[:, None]
                psi, lam = psi[inverse], lam[inverse]
            elif kind == "dense":
                qubits, matrix = args
                undo = matrix.T.conj()[..., None]
                psi, lam = self._apply(psi, undo, qubits), self._apply(lam, undo, qubits)
            else:
                qubits, arity, position = args
                cos, sin, matrices = angles[arity]
                undo = matrices[position].transpose(0, 1).conj()
                psi = self._apply(psi, undo, qubits)
                _, _, _, _, b, c = self._rotations[arity]
                derivative = (c[position][..., None] * cos[position] - b[position][..., None] * sin[position]) / 2
                moved = self._apply(psi, derivative, qubits)
                grads[arity][position] = 2 * (lam.conj() * moved).real.sum(0)
                lam = self._apply(lam, undo, qubits)
        grad_theta = torch.zeros_like(theta, dtype=torch.float64)
        for arity, (index, coeff, *_) in self._rotations.items():
            grad_theta.index_add_(1, index, (coeff[:, None] * grads[arity]).T)
        return grad_theta

    def _final(self, theta: torch.Tensor, initial: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The final states amplitude-major, (2^N, rows), and per arity the rotations' cos, sin (gates, rows) and
        matrices. The rows are the innermost axis, so every gate is a few elementwise operations over contiguous
        runs of rows (row-major states made each 2x2 gate a batch of tiny matrix products), and one row's
        arithmetic never depends on the others'."""
        rows = theta.shape[0]
        if self.is_real and initial.is_complex():
            if initial.imag.abs().max() > 1e-10:
                raise CircuitError("a complex initial state needs a circuit simulated in complex arithmetic")
            initial = initial.real
        state = initial.to(self.dtype).expand(rows, -1).T.contiguous()
        angles = {}  # arity -> cos, sin (gates, rows) and matrices (gates, 2^k, 2^k, rows), in a few operations
        for arity, (index, coeff, offset, a, b, c) in self._rotations.items():
            half = _padded(theta[:, index] * coeff + offset) / 2
            cos, sin = torch.cos(half)[:, : len(index)].T, torch.sin(half)[:, : len(index)].T
            matrices = a[..., None] + cos[:, None, None, :] * b[..., None] + sin[:, None, None, :] * c[..., None]
            angles[arity] = (cos, sin, matrices)
        for kind, *args in self._torch_program:
            if kind == "diagonal":
                state = state * args[0][:, None]
            elif kind == "monomial":
                perm, phase, _ = args
                state = state[perm] if phase is None else state[perm] * phase[:, None]
            elif kind == "dense":
                qubits, matrix = args
                state = self._apply(state, matrix[..., None], qubits)
            else:
                qubits, arity, position = args
                state = self._apply(state, angles[arity][2][position], qubits)
        return state, angles

    def _apply(self, state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...]) -> torch.Tensor:
        """Contract a k-qubit matrix, per row (2^k, 2^k, rows) or shared (2^k, 2^k, 1), with the qubits' axes of
        an amplitude-major state (2^N, rows)."""
        n, k, rows = self.num_qubits, len(qubits), state.shape[1]
        if k == 1:  # the common case: out[h, i, l] = sum_j matrix[i, j] psi[h, j, l], bit q of x being i or j
            psi = state.reshape(2 ** (n - 1 - qubits[0]), 1, 2, 2 ** qubits[0], rows)
            # a product and a sum, not fused multiply-adds: SIMD and scalar code must round alike (rows as alone)
            return (matrix[None, :, :, None, :] * psi).sum(2).reshape(2**n, rows)
        axes = [n - 1 - q for q in reversed(qubits)]  # row-major axis of qubit q is n-1-q
        front = list(range(k))
        psi = state.reshape(*([2] * n), rows).movedim(axes, front)
        shape = psi.shape
        psi = psi.reshape(2**k, -1, rows)
        psi = (matrix[:, :, None, :] * psi[None]).sum(1)
        return psi.reshape(shape).movedim(front, axes).reshape(2**n, rows)

    def _add(self, op, qubits: tuple[int, ...]) -> None:
        if op.name in _SKIPPED:
            return
        if op.name == "measure" or not hasattr(op, "to_matrix") and op.definition is None:
            raise CircuitError(f"cannot simulate instruction {op.name!r}: the generator must be unitary and unmeasured")
        parameters = [p for p in op.params if isinstance(p, ParameterExpression) and p.parameters]
        if not parameters:
            if len(qubits) <= _MAX_DENSE_QUBITS:
                return self._add_fixed(Operator(op).data, qubits)
        elif len(parameters) == 1 and len(op.params) == 1 and len(parameters[0].parameters) == 1:
            rotation = self._rotation(op, qubits)
            if rotation is not None:
                self.gates.append(rotation)
                return
        definition = self._rotations_of(op) if parameters else op.definition
        for inner in definition.data:
            self._add(inner.operation, tuple(qubits[definition.find_bit(q).index] for q in inner.qubits))

    @staticmethod
    def _rotations_of(op) -> QuantumCircuit:
        """A parametrized gate rewritten into rotations and fixed gates (global phase dropped: only |amplitudes|^2
        are observed, and the gate acts on the whole state)."""
        single = QuantumCircuit(op.num_qubits)
        single.append(op, range(op.num_qubits))
        try:
            return transpile(single, basis_gates=_REWRITE_BASIS, optimization_level=0)
        except Exception as err:  # qiskit raises several types for untranslatable gates
            raise CircuitError(f"cannot simulate gate {op.name!r} with parameters {op.params}: {err}") from None

    def _rotation(self, op, qubits: tuple[int, ...]) -> Rotation | None:
        expr = op.params[0]
        (parameter,) = expr.parameters
        coeff = expr.gradient(parameter)
        if isinstance(coeff, ParameterExpression):
            return None  # not linear in its parameter
        offset = float(expr.bind({parameter: 0}))

        def matrix(angle: float) -> np.ndarray:
            gate = op.copy()
            gate.params = [angle]
            return Operator(gate).data

        plus, minus, zero = matrix(np.pi), matrix(-np.pi), matrix(0.0)
        a = (plus + minus) / 2
        abc = np.stack([a, zero - a, (plus - minus) / 2])
        probe = 0.7390851332
        if not np.allclose(matrix(probe), abc[0] + np.cos(probe / 2) * abc[1] + np.sin(probe / 2) * abc[2]):
            return None
        return Rotation(qubits, self._index[parameter], float(coeff), offset, abc)

    def _add_fixed(self, matrix: np.ndarray, qubits: tuple[int, ...]) -> None:
        if (np.count_nonzero(np.abs(matrix) > 1e-14, axis=1) == 1).all():
            step = self._monomial(matrix, qubits)
            if self.gates and isinstance(self.gates[-1], Monomial):
                first = self.gates.pop()
                step = Monomial(first.perm[step.perm], step.phase * first.phase[step.perm])
            self.gates.append(step)
        else:
            self.gates.append(Dense(qubits, matrix))

    def _monomial(self, matrix: np.ndarray, qubits: tuple[int, ...]) -> Monomial:
        index = np.arange(2**self.num_qubits)
        sub = sum(((index >> q) & 1) << j for j, q in enumerate(qubits))
        column = np.abs(matrix).argmax(axis=1)
        source = index.copy()
        for j, q in enumerate(qubits):
            source = (source & ~(1 << q)) | (((column[sub] >> j) & 1) << q)
        phase = matrix[sub, column[sub]]
        return Monomial(source, phase if np.iscomplex(phase).any() else phase.real)

    def _matrices(self):
        for step in self.gates:
            if isinstance(step, Monomial):
                yield step.phase
            else:
                yield step.matrix if isinstance(step, Dense) else step.abc

    def _rotation_groups(self) -> dict[int, tuple]:
        """Per arity, the rotations' parameter indices, coefficients, offsets and stacked A, B, C matrices."""
        groups: dict[int, list[Rotation]] = {}
        for step in self.gates:
            if isinstance(step, Rotation):
                groups.setdefault(len(step.qubits), []).append(step)
        return {
            arity: (torch.tensor([g.index for g in gates]), torch.tensor([g.coeff for g in gates], dtype=torch.float64),
                    torch.tensor([g.offset for g in gates], dtype=torch.float64),
                    *(self._tensor(np.stack([g.abc[i] for g in gates])) for i in range(3)))
            for arity, gates in groups.items()
        }

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array.real if self.is_real else array, dtype=self.dtype)

    def _to_torch(self, step) -> tuple:
        if isinstance(step, Monomial):
            if np.array_equal(step.perm, np.arange(len(step.perm))):
                return "diagonal", self._tensor(step.phase)
            trivial = np.allclose(step.phase, 1)
            return ("monomial", torch.as_tensor(step.perm), None if trivial else self._tensor(step.phase),
                    torch.as_tensor(np.argsort(step.perm)))
        if isinstance(step, Dense):
            return "dense", step.qubits, self._tensor(step.matrix)
        arity = len(step.qubits)
        same = [s for s in self.gates if isinstance(s, Rotation) and len(s.qubits) == arity]
        return "rotation", step.qubits, arity, next(i for i, s in enumerate(same) if s is step)
