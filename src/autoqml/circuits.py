"""Generator circuits: an initial-state circuit followed by an ansatz, as Qiskit circuits with one ParameterVector.

The same :class:`qiskit.QuantumCircuit` is what the trainer simulates, what the depth metric transpiles and what a
result stores as QPY, so a stored model can always be re-checked with ``qiskit.quantum_info.Statevector``.

Ansaetze (registry :data:`ANSAETZE`, open to additions):

* ``zoufal``: Zoufal, Lucchi, Woerner, npj Quantum Inf. 5, 103 (2019), arXiv:1904.00043 and qiskit-aqua's ``RY``
  variational form with ``cz`` entanglement: an RY layer, then k blocks of (CZ on the circular pairs
  (i, i+1 mod N), a single pair for N = 2; an RY layer). N(k+1) parameters.
* ``vallecorsa``: **stand-in.** Chang, Herbert, Vallecorsa et al., "Dual-parameterized quantum circuit GAN model in
  high energy physics", arXiv:2103.15470 (2021). We could not read the paper's gate list (only its abstract was
  reachable), so this is a documented stand-in with the hardware-efficient shape such generators use: k blocks of
  (RY and RZ on every qubit; CNOT ladder (i, i+1)), then a final RY layer. N(2k+1) parameters; complex amplitudes.
* ``herr1``: Herr, Obert, Rosenkranz, "Anomaly detection with variational quantum generative adversarial
  networks", Quantum Sci. Technol. 6, 045004 (2021), arXiv:2010.10492, ansatz 1, after the first author's code
  (GitHub PlanQK/AnomalyDetectionWithGANs, commit f2d6e8c, ``code/CircHelper.py``,
  ``createEntangledStatePrepCircuit``): per layer, for each qubit q in order a rotation on q, followed for even q
  by CZ(q, q+1 mod N); then CZ(q, q+1 mod N) for every odd q. N k parameters, no initial rotation layer. Gate
  order as in that code (cirq places each gate at the earliest moment, so CZ(0, 1) acts before qubit 1's
  rotation). One simplification: the code draws each rotation's axis (RX or RY) at random per qubit and layer;
  ours is always RY, so a cell's circuit does not depend on an unrecorded draw and amplitudes stay real. The
  latent RX encoding of that GAN is dropped: a Born machine has no latent input.
* ``real_amplitudes``, ``efficient_su2``: Qiskit's standard families (``qiskit.circuit.library``), reverse-linear
  entanglement, k repetitions.

Initializations (Zoufal et al. 2019, section "Initialization"): ``uniform`` H on every qubit, parameters
U[-0.1, 0.1]; ``normal`` exact state preparation of the discretized normal with the target's mean and standard
deviation (:func:`load_amplitudes`), parameters U[-0.1, 0.1]; ``random`` |0...0>, parameters U[-pi, pi].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import UCRYGate, efficient_su2, real_amplitudes

from autoqml.errors import CircuitError

#: Name of the single ParameterVector every generator circuit uses; parameters sort by its index.
PARAMETER_NAME = "θ"


def _ry_layer(qc: QuantumCircuit, theta, start: int) -> int:
    for q in range(qc.num_qubits):
        qc.ry(theta[start + q], q)
    return start + qc.num_qubits


def _zoufal(num_qubits: int, reps: int) -> QuantumCircuit:
    theta = ParameterVector(PARAMETER_NAME, num_qubits * (reps + 1))
    qc = QuantumCircuit(num_qubits, name=f"zoufal_k{reps}")
    pairs = [(0, 1)] if num_qubits == 2 else [(i, (i + 1) % num_qubits) for i in range(num_qubits)]
    at = _ry_layer(qc, theta, 0)
    for _ in range(reps):
        for i, j in pairs if num_qubits > 1 else []:
            qc.cz(i, j)
        at = _ry_layer(qc, theta, at)
    return qc


def _vallecorsa(num_qubits: int, reps: int) -> QuantumCircuit:
    theta = ParameterVector(PARAMETER_NAME, num_qubits * (2 * reps + 1))
    qc = QuantumCircuit(num_qubits, name=f"vallecorsa_k{reps}")
    at = 0
    for _ in range(reps):
        at = _ry_layer(qc, theta, at)
        for q in range(num_qubits):
            qc.rz(theta[at + q], q)
        at += num_qubits
        for q in range(num_qubits - 1):
            qc.cx(q, q + 1)
    _ry_layer(qc, theta, at)
    return qc


def _herr1(num_qubits: int, reps: int) -> QuantumCircuit:
    theta = ParameterVector(PARAMETER_NAME, num_qubits * reps)
    qc = QuantumCircuit(num_qubits, name=f"herr1_k{reps}")
    for layer in range(reps):
        for q in range(num_qubits):
            qc.ry(theta[layer * num_qubits + q], q)
            if q % 2 == 0 and num_qubits > 1:
                qc.cz(q, (q + 1) % num_qubits)
        for q in range(1, num_qubits, 2):
            qc.cz(q, (q + 1) % num_qubits)
    return qc


def _qiskit_family(build: Callable[..., QuantumCircuit]) -> Callable[[int, int], QuantumCircuit]:
    def ansatz(num_qubits: int, reps: int) -> QuantumCircuit:
        qc = build(num_qubits, reps=reps, entanglement="reverse_linear")
        theta = ParameterVector(PARAMETER_NAME, qc.num_parameters)
        return qc.assign_parameters(dict(zip(qc.parameters, theta)))

    return ansatz


#: Ansatz registry: name -> builder(num_qubits, reps) returning a circuit parametrized by one ParameterVector.
ANSAETZE: dict[str, Callable[[int, int], QuantumCircuit]] = {
    "zoufal": _zoufal,
    "vallecorsa": _vallecorsa,
    "herr1": _herr1,
    "real_amplitudes": _qiskit_family(real_amplitudes),
    "efficient_su2": _qiskit_family(efficient_su2),
}

#: Half-width of the uniform parameter-initialization interval per initialization.
PARAMETER_SPREAD = {"uniform": 0.1, "normal": 0.1, "random": np.pi}
INITIALIZATIONS = tuple(PARAMETER_SPREAD)


@dataclass(frozen=True)
class Generator:
    """A Born machine: ``initial`` prepares the input state, ``ansatz`` carries every trainable parameter."""

    initial: QuantumCircuit
    ansatz: QuantumCircuit
    initialization: str

    @property
    def circuit(self) -> QuantumCircuit:
        """The whole generator; its ``parameters`` order is the order trained parameters are stored in."""
        qc = self.initial.compose(self.ansatz)
        qc.name = f"{self.ansatz.name}_{self.initialization}"
        return qc

    @property
    def num_parameters(self) -> int:
        return self.ansatz.num_parameters


def build_ansatz(*, name: str, num_qubits: int, reps: int) -> QuantumCircuit:
    """The registered ansatz `name` on `num_qubits` qubits with `reps` layers."""
    if name not in ANSAETZE:
        raise CircuitError(f"ansatz {name!r} is not registered; choose one of {', '.join(ANSAETZE)}")
    if not 1 <= num_qubits <= 20 or reps < 1:
        raise CircuitError(f"ansatz {name}: needs 1 <= num_qubits <= 20 and reps >= 1, got {num_qubits}, {reps}")
    return ANSAETZE[name](num_qubits, reps)


def load_amplitudes(amplitudes: np.ndarray) -> QuantumCircuit:
    """The circuit that prepares non-negative real `amplitudes` (2^N, unit norm) from |0...0>: one uniformly
    controlled RY per qubit, from the most significant down, splitting each prefix's probability between its two
    halves (Grover and Rudolph 2002; Mottonen et al. 2005 for the multiplexed rotations).

    Not qiskit's ``StatePreparation``: its isometry synthesis fails (\"Input matrix is not unitary\") on some
    discretized normals, e.g. 6 qubits of the 2015 EPEX midnight prices' training weeks, for simulation and
    transpilation alike."""
    a = np.asarray(amplitudes, dtype=float)
    n = int(np.log2(a.size))
    if a.size != 2**n or (a < 0).any() or not np.isclose(a @ a, 1.0):
        raise CircuitError(f"load_amplitudes: needs 2^N non-negative amplitudes of unit norm, got {a.size} values "
                           f"with norm {float(np.sqrt(a @ a)):.6g}")
    qc = QuantumCircuit(n, name="load")
    weight = (a**2).reshape((2,) * n)  # axis j is bit n-1-j of the basis index
    for level in range(n):  # target qubit n-1-level, controlled by the qubits above it
        mass = weight.sum(axis=tuple(range(level + 1, n))).reshape(-1, 2)  # (prefix, this bit)
        total = mass.sum(axis=1)
        angles = 2 * np.arctan2(np.sqrt(mass[:, 1]), np.sqrt(mass[:, 0]))
        angles[total == 0] = 0.0
        target, controls = n - 1 - level, list(range(n - 1, n - 1 - level, -1))
        # UCRYGate's angle k is for controls in basis state k, the first control its least significant bit
        order = [int(format(k, f"0{level}b")[::-1] or "0", 2) for k in range(2**level)] if level else [0]
        qc.append(UCRYGate([float(angles[k]) for k in order]), [target, *controls])
    return qc


def build_generator(
    *,
    ansatz: str,
    num_qubits: int,
    reps: int,
    initialization: str,
    normal_amplitudes: np.ndarray | None = None,
) -> Generator:
    """Initial state + ansatz; ``normal`` needs the amplitudes of the discretized normal to load exactly."""
    initial = QuantumCircuit(num_qubits, name=f"init_{initialization}")
    if initialization == "uniform":
        initial.h(range(num_qubits))
    elif initialization == "normal":
        if normal_amplitudes is None or len(normal_amplitudes) != 2**num_qubits:
            raise CircuitError(f"initialization 'normal' on {num_qubits} qubits needs {2**num_qubits} amplitudes")
        initial.compose(load_amplitudes(normal_amplitudes), inplace=True)
    elif initialization != "random":
        raise CircuitError(f"initialization {initialization!r} is unknown; choose one of {', '.join(INITIALIZATIONS)}")
    return Generator(initial, build_ansatz(name=ansatz, num_qubits=num_qubits, reps=reps), initialization)
