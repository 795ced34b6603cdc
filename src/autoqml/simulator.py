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


@dataclass(frozen=True)
class _Monomial:
    """state[..., i] <- phase[i] * state[..., perm[i]]: a product of permutation and diagonal gates."""

    perm: np.ndarray
    phase: np.ndarray


@dataclass(frozen=True)
class _Dense:
    qubits: tuple[int, ...]
    matrix: np.ndarray


@dataclass(frozen=True)
class _Rotation:
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
        self._program: list[_Monomial | _Dense | _Rotation] = []
        for instruction in circuit.data:
            self._add(instruction.operation, tuple(circuit.find_bit(q).index for q in instruction.qubits))
        self.is_real = all(np.abs(np.imag(m)).max(initial=0.0) < 1e-14 for m in self._matrices())
        self.dtype = torch.float64 if self.is_real else torch.complex128
        self._rotations = self._rotation_groups()
        self._torch_program = [self._to_torch(step) for step in self._program]

    def to(self, device: torch.device | str) -> StatevectorSimulator:
        """Move the compiled program to `device` (in place; returns self)."""
        move = lambda item: item.to(device) if isinstance(item, torch.Tensor) else item  # noqa: E731
        self._rotations = {arity: tuple(move(t) for t in group) for arity, group in self._rotations.items()}
        self._torch_program = [tuple(move(item) for item in step) for step in self._torch_program]
        return self

    def states(self, theta: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """Final states, shape (rows, 2^N), for parameters (rows, P) and initial states (rows or 1, 2^N)."""
        rows = theta.shape[0]
        if self.is_real and initial.is_complex():
            if initial.imag.abs().max() > 1e-10:
                raise CircuitError("a complex initial state needs a circuit simulated in complex arithmetic")
            initial = initial.real
        state = initial.to(self.dtype).expand(rows, -1)
        matrices = {}  # arity -> (rows, gates, 2^k, 2^k): every rotation matrix of the circuit in four operations
        for arity, (index, coeff, offset, a, b, c) in self._rotations.items():
            half = (theta[:, index] * coeff + offset) / 2
            matrices[arity] = a + torch.cos(half)[..., None, None] * b + torch.sin(half)[..., None, None] * c
        for kind, *args in self._torch_program:
            if kind == "diagonal":
                state = state * args[0]
            elif kind == "monomial":
                perm, phase = args
                state = state[:, perm] if phase is None else state[:, perm] * phase
            elif kind == "dense":
                qubits, matrix = args
                state = self._apply(state, matrix, qubits)
            else:
                qubits, arity, position = args
                state = self._apply(state, matrices[arity][:, position], qubits)
        return state

    def probabilities(self, theta: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
        """Born probabilities |<x|psi>|^2, shape (rows, 2^N), differentiable in theta."""
        state = self.states(theta, initial)
        return state.square() if self.is_real else state.real.square() + state.imag.square()

    def _apply(self, state: torch.Tensor, matrix: torch.Tensor, qubits: tuple[int, ...]) -> torch.Tensor:
        """Contract a k-qubit matrix, (rows, 2^k, 2^k) or shared (2^k, 2^k), with the qubits' axes of the state."""
        n, k, rows = self.num_qubits, len(qubits), state.shape[0]
        if k == 1:  # the common case, without copies: view the state as (rows, high bits, qubit, low bits)
            psi = state.reshape(rows, 2 ** (n - 1 - qubits[0]), 2, 2 ** qubits[0])
            per_row = matrix.unsqueeze(1) if matrix.dim() == 3 else matrix
            return torch.matmul(per_row, psi).reshape(rows, 2**n)
        axes = [1 + n - 1 - q for q in reversed(qubits)]  # row-major axis of qubit q is n-1-q
        front = list(range(1, 1 + k))
        psi = state.reshape(rows, *([2] * n)).movedim(axes, front)
        shape = psi.shape
        psi = torch.matmul(matrix, psi.reshape(rows, 2**k, -1))
        return psi.reshape(shape).movedim(front, axes).reshape(rows, 2**n)

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
                self._program.append(rotation)
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

    def _rotation(self, op, qubits: tuple[int, ...]) -> _Rotation | None:
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
        return _Rotation(qubits, self._index[parameter], float(coeff), offset, abc)

    def _add_fixed(self, matrix: np.ndarray, qubits: tuple[int, ...]) -> None:
        if (np.count_nonzero(np.abs(matrix) > 1e-14, axis=1) == 1).all():
            step = self._monomial(matrix, qubits)
            if self._program and isinstance(self._program[-1], _Monomial):
                first = self._program.pop()
                step = _Monomial(first.perm[step.perm], step.phase * first.phase[step.perm])
            self._program.append(step)
        else:
            self._program.append(_Dense(qubits, matrix))

    def _monomial(self, matrix: np.ndarray, qubits: tuple[int, ...]) -> _Monomial:
        index = np.arange(2**self.num_qubits)
        sub = sum(((index >> q) & 1) << j for j, q in enumerate(qubits))
        column = np.abs(matrix).argmax(axis=1)
        source = index.copy()
        for j, q in enumerate(qubits):
            source = (source & ~(1 << q)) | (((column[sub] >> j) & 1) << q)
        phase = matrix[sub, column[sub]]
        return _Monomial(source, phase if np.iscomplex(phase).any() else phase.real)

    def _matrices(self):
        for step in self._program:
            if isinstance(step, _Monomial):
                yield step.phase
            else:
                yield step.matrix if isinstance(step, _Dense) else step.abc

    def _rotation_groups(self) -> dict[int, tuple]:
        """Per arity, the rotations' parameter indices, coefficients, offsets and stacked A, B, C matrices."""
        groups: dict[int, list[_Rotation]] = {}
        for step in self._program:
            if isinstance(step, _Rotation):
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
        if isinstance(step, _Monomial):
            if np.array_equal(step.perm, np.arange(len(step.perm))):
                return "diagonal", self._tensor(step.phase)
            trivial = np.allclose(step.phase, 1)
            return "monomial", torch.as_tensor(step.perm), None if trivial else self._tensor(step.phase)
        if isinstance(step, _Dense):
            return "dense", step.qubits, self._tensor(step.matrix)
        arity = len(step.qubits)
        same = [s for s in self._program if isinstance(s, _Rotation) and len(s.qubits) == arity]
        return "rotation", step.qubits, arity, next(i for i, s in enumerate(same) if s is step)
