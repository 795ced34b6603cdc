"""The generator as a PennyLane user would write it: a QNode of our qiskit circuit, gate by gate, in torch.

:func:`transcribe` reads the gate list of a generator circuit (``circuit.data``: H, RY, RZ, CZ, CX, ...; the
``normal`` initialization's uniformly controlled RY, through its qiskit definition) into PennyLane operations, qiskit qubit q on wire N-1-q, so
``qml.probs`` over wires 0..N-1 indexes the grid like ``Statevector.probabilities()`` (qiskit's qubit 0 is the
least significant bit; PennyLane's first wire the most significant). pennylane-qiskit's ``qml.from_qiskit`` would do
the same, but its release pins qiskit below the version this project needs.

:class:`PennyLaneGenerator` is the generator of one run, for one of :data:`METHODS`:

* ``default.qubit:backprop``: one ``qml.probs`` QNode, torch autograd through the simulation;
* ``lightning.qubit:adjoint``: ``lightning.qubit`` cannot differentiate ``qml.probs`` by adjoint (it refuses the
  circuit), so probabilities come from an undifferentiated ``qml.probs`` QNode and the generator loss
  L_G = -sum_x p(x) log D(x) from ``qml.expval`` of the diagonal ``qml.Hermitian`` -diag(log D), differentiated by
  adjoint: the same loss and gradient (the expval comes back float32 through the torch interface: 3e-9 apart);
* ``default.qubit:parameter-shift``: the same QNode, parameter-shift gradients with the shifted circuits run as one
  broadcast execution (``gradient_kwargs={"broadcast": True}``).

Measured on this machine (2 cores, other work beside it; the acceptance cell, 5 qubits, zoufal k=2, one run, whole
training steps as ``bench_cell.py`` times them, 4 x 20 steps interleaved, median): with torch's default 2 threads
``default.qubit:backprop`` 20.2 ms per step, ``lightning.qubit:adjoint`` 32.0 ms, ``default.qubit:parameter-shift``
111 ms; on one thread backprop 19.1 ms and lightning adjoint 18.9 ms. PennyLane's per-execution overhead, not the
32-amplitude simulation, is most of a step. :data:`DEFAULT_METHOD` is ``default.qubit:backprop``: as fast as the
best at one thread, faster at the defaults a user has, and the plain ``qml.probs`` QNode a user would write.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pennylane as qml
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

METHODS = ("default.qubit:backprop", "lightning.qubit:adjoint", "default.qubit:parameter-shift")
DEFAULT_METHOD = "default.qubit:backprop"

#: qiskit gate name -> PennyLane operation, for the gates our generator circuits use (and a few more).
_GATES: dict[str, Callable] = {
    "h": qml.Hadamard, "x": qml.PauliX, "y": qml.PauliY, "z": qml.PauliZ, "rx": qml.RX, "ry": qml.RY, "rz": qml.RZ,
    "cx": qml.CNOT, "cz": qml.CZ, "swap": qml.SWAP, "state_preparation": qml.StatePrep,
}

#: One operation: PennyLane class, its arguments (an int is the index of a trained parameter, else a constant), wires.
Operation = tuple[Callable, list, list[int]]


def transcribe(circuit: QuantumCircuit) -> list[Operation]:
    """The gates of `circuit` as PennyLane operations; trained parameters are indices into ``circuit.parameters``.
    A fixed gate without a counterpart (the ``normal`` initialization's uniformly controlled RY) is transcribed
    through its qiskit definition, gate by gate."""
    index = {parameter: i for i, parameter in enumerate(circuit.parameters)}
    return _transcribe(circuit, list(range(circuit.num_qubits)), circuit.num_qubits, index)


def _transcribe(circuit: QuantumCircuit, outer: list[int], n: int, index: dict[Parameter, int]) -> list[Operation]:
    """`circuit`'s gates on the outer circuit's qubits `outer` (of `n`)."""
    ops = []
    for instruction in circuit.data:
        operation = instruction.operation
        name, qubits = operation.name, [outer[circuit.find_bit(q).index] for q in instruction.qubits]
        if name == "barrier":
            continue
        if name not in _GATES:
            if operation.definition is not None and not operation.is_parameterized():
                ops += _transcribe(operation.definition, qubits, n, index)
                continue
            raise NotImplementedError(f"transcribe: gate {name!r} has no PennyLane counterpart here; "
                                      f"known: {', '.join(_GATES)}")
        if name == "state_preparation":
            # qiskit's amplitude index has qargs[0] as its least significant bit; PennyLane's first wire is the most
            args, wires = [np.asarray(operation.params, dtype=complex)], [n - 1 - q for q in qubits[::-1]]
        else:
            args, wires = [_argument(p, index) for p in operation.params], [n - 1 - q for q in qubits]
        ops.append((_GATES[name], args, wires))
    return ops


def _argument(value, index: dict[Parameter, int]) -> int | float:
    if isinstance(value, Parameter):
        return index[value]
    if hasattr(value, "parameters") and value.parameters:
        raise NotImplementedError(f"transcribe: parameter expression {value} (only plain parameters are supported)")
    return float(value)


def apply(ops: list[Operation], theta) -> None:
    """Queue `ops` inside a QNode, the trained parameters taken from `theta`."""
    for op, args, wires in ops:
        op(*[theta[a] if isinstance(a, int) else a for a in args], wires=wires)


class PennyLaneGenerator:
    """One run's generator on a PennyLane device: parameters ``theta`` (torch, float64), probabilities, L_G."""

    def __init__(self, circuit: QuantumCircuit, theta0: np.ndarray, *, method: str = DEFAULT_METHOD):
        if method not in METHODS:
            raise ValueError(f"PennyLane method: got {method!r}; allowed: {', '.join(METHODS)}")
        device_name, diff_method = method.split(":")
        self.method = method
        self.theta = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
        ops, wires = transcribe(circuit), list(range(circuit.num_qubits))
        device = qml.device(device_name, wires=wires)

        def probs(theta):
            apply(ops, theta)
            return qml.probs(wires=wires)

        def expval(theta, matrix):
            apply(ops, theta)
            return qml.expval(qml.Hermitian(matrix, wires=wires))

        self._adjoint = diff_method == "adjoint"
        if self._adjoint:
            self._probs = qml.QNode(probs, device, interface="torch", diff_method=None)
            self._expval = qml.QNode(expval, device, interface="torch", diff_method="adjoint")
        else:
            kwargs = {"gradient_kwargs": {"broadcast": True}} if diff_method == "parameter-shift" else {}
            self._probs = qml.QNode(probs, device, interface="torch", diff_method=diff_method, **kwargs)

    def parameters(self) -> list[torch.Tensor]:
        return [self.theta]

    def probabilities(self) -> torch.Tensor:
        """p_theta over the 2^N grid points (differentiable unless the loss is taken by adjoint)."""
        return self._probs(self.theta.detach() if self._adjoint else self.theta)

    def loss(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        """L_G = -sum_x p_theta(x) log D(x), differentiable in ``theta``."""
        if self._adjoint:
            return self._expval(self.theta, torch.diag(-log_d))
        return -(probs * log_d).sum()
