"""Ansatz structure, parameter counts and initial states."""

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from autoqml.circuits import ANSAETZE, build_ansatz, build_generator
from autoqml.errors import CircuitError
from autoqml.simulator import initial_state


@pytest.mark.parametrize(("name", "count"), [("zoufal", lambda n, k: n * (k + 1)),
                                             ("vallecorsa", lambda n, k: n * (2 * k + 1)),
                                             ("herr1", lambda n, k: n * k)])
def test_parameter_counts(name, count):
    for n in range(1, 7):
        for k in (1, 2, 3):
            assert build_ansatz(name=name, num_qubits=n, reps=k).num_parameters == count(n, k)


def test_zoufal_gate_list_is_the_designs():
    qc = build_ansatz(name="zoufal", num_qubits=3, reps=1)
    gates = [(i.operation.name, tuple(qc.find_bit(q).index for q in i.qubits)) for i in qc.data]
    assert gates == [("ry", (0,)), ("ry", (1,)), ("ry", (2,)), ("cz", (0, 1)), ("cz", (1, 2)), ("cz", (2, 0)),
                     ("ry", (0,)), ("ry", (1,)), ("ry", (2,))]
    two = build_ansatz(name="zoufal", num_qubits=2, reps=2)
    assert [i.operation.name for i in two.data].count("cz") == 2  # one pair per block for N = 2


def test_herr1_gate_list_follows_the_authors_code():
    """CircHelper.createEntangledStatePrepCircuit: rotation on q then, for even q, CZ(q, q+1 mod N); then the odd
    pairs; the rotation axis fixed to RY (documented simplification)."""
    def gates(n, k):
        qc = build_ansatz(name="herr1", num_qubits=n, reps=k)
        return [(i.operation.name, tuple(qc.find_bit(q).index for q in i.qubits),
                 *(p.index for p in i.operation.params)) for i in qc.data]

    assert gates(5, 1) == [("ry", (0,), 0), ("cz", (0, 1)), ("ry", (1,), 1), ("ry", (2,), 2), ("cz", (2, 3)),
                           ("ry", (3,), 3), ("ry", (4,), 4), ("cz", (4, 0)), ("cz", (1, 2)), ("cz", (3, 4))]
    assert gates(2, 2) == [("ry", (0,), 0), ("cz", (0, 1)), ("ry", (1,), 1), ("cz", (1, 0)),
                           ("ry", (0,), 2), ("cz", (0, 1)), ("ry", (1,), 3), ("cz", (1, 0))]
    assert gates(1, 2) == [("ry", (0,), 0), ("ry", (0,), 1)]


def test_parameters_are_ordered_by_index():
    qc = build_ansatz(name="real_amplitudes", num_qubits=4, reps=3)
    assert [p.name for p in qc.parameters] == [f"θ[{i}]" for i in range(qc.num_parameters)]


def test_initial_states():
    n = 3
    uniform = build_generator(ansatz="zoufal", num_qubits=n, reps=1, initialization="uniform")
    assert np.allclose(Statevector(uniform.initial).probabilities(), 1 / 2**n)
    random = build_generator(ansatz="zoufal", num_qubits=n, reps=1, initialization="random")
    assert np.allclose(initial_state(random.initial), np.eye(2**n)[0])
    amplitudes = np.sqrt(np.arange(1, 9) / 36)
    normal = build_generator(ansatz="zoufal", num_qubits=n, reps=1, initialization="normal",
                             normal_amplitudes=amplitudes)
    assert np.allclose(initial_state(normal.initial), amplitudes)


def test_circuit_holds_initial_state_then_ansatz():
    gen = build_generator(ansatz="herr1", num_qubits=2, reps=1, initialization="uniform")
    names = [i.operation.name for i in gen.circuit.data]
    assert names[:2] == ["h", "h"] and gen.circuit.num_parameters == gen.ansatz.num_parameters


def test_errors_name_the_choices():
    with pytest.raises(CircuitError, match="zoufal"):
        build_ansatz(name="zoufall", num_qubits=3, reps=1)
    with pytest.raises(CircuitError, match="uniform"):
        build_generator(ansatz="zoufal", num_qubits=3, reps=1, initialization="gaussian")
    with pytest.raises(CircuitError, match="amplitudes"):
        build_generator(ansatz="zoufal", num_qubits=3, reps=1, initialization="normal")
    assert set(ANSAETZE) >= {"zoufal", "vallecorsa", "herr1"}
