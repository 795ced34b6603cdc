"""Ansatz structure, parameter counts and initial states."""

import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from autoqml.circuits import ANSAETZE, build_ansatz, build_generator, load_amplitudes
from autoqml.errors import CircuitError
from autoqml.metrics import transpiled_depth
from autoqml.simulator import initial_state

#: The discretized normal of 6 qubits on the 2015 EPEX midnight prices' training weeks (the default split), exactly:
#: qiskit's StatePreparation fails to synthesize it ("Input matrix is not unitary").
EPEX_NORMAL_6 = np.array([float.fromhex(x) for x in (
    "0x1.6eaef0f226818p-11 0x1.d52a09fe3617cp-11 0x1.2a82bc60a94dcp-10 0x1.79cb8575248e3p-10 0x1.db8958d2c5288p-10 "
    "0x1.29a79f68258d0p-9 0x1.72991be1e1ffbp-9 0x1.cae839bc071bfp-9 0x1.1a9589f3aebbep-8 0x1.5a1fd1314ca4bp-8 "
    "0x1.a5a54dd843c7dp-8 0x1.fed9f9d1f4699p-8 0x1.33c823bd26065p-7 0x1.70da3280543f8p-7 0x1.b7a2df8faae41p-7 "
    "0x1.0493a8b7977e5p-6 0x1.33367ae71d0c6p-6 0x1.6839aeebc3d81p-6 0x1.a416949665b77p-6 0x1.e73c0a4b7a70dp-6 "
    "0x1.1905138d10797p-5 0x1.4266cf921c955p-5 0x1.6fdd804bfbfb2p-5 0x1.a174f6e848b93p-5 0x1.d7283f6677dffp-5 "
    "0x1.086fbe287c8cap-4 0x1.2737031f0968fp-4 0x1.47c874339eebcp-4 0x1.69f6e988b8d3ep-4 0x1.8d894d5bf481bp-4 "
    "0x1.b23aabf01d11fp-4 0x1.d7ba9b9aee931p-4 0x1.fdae020d4bdbbp-4 0x1.11d81c5a82da5p-3 0x1.24aa473f254f3p-3 "
    "0x1.371410b342020p-3 0x1.48da0337c2874p-3 0x1.59bfd960d209bp-3 0x1.6989cab03d6eap-3 0x1.77fde6f915053p-3 "
    "0x1.84e575749e266p-3 0x1.900e4c05ad99cp-3 0x1.994c12f74037cp-3 0x1.a07969d53787ap-3 0x1.a578e2d344eacp-3 "
    "0x1.a835cb87db3cep-3 0x1.a8a4bb820518cp-3 0x1.a6c3e35d6a9f5p-3 0x1.a29b19567e99ep-3 0x1.9c3ba2e4ab41bp-3 "
    "0x1.93bfbd6a29dbbp-3 0x1.8949ea795a38dp-3 0x1.7d040667da4a3p-3 0x1.6f1e31cd7f3ccp-3 0x1.5fcd980ab29c2p-3 "
    "0x1.4f4b1df6aa25fp-3 0x1.3dd20459608c7p-3 0x1.2b9e89d5345a9p-3 0x1.18ec9765beed1p-3 0x1.05f681a8668bdp-3 "
    "0x1.e5e7cfa0face0p-4 0x1.c0316f1389846p-4 0x1.9b28b672145ffp-4 0x1.77222c3952f20p-4"
).split()])

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


@pytest.mark.parametrize("n", range(1, 7))
def test_load_amplitudes_prepares_them_exactly(n):
    """Random non-negative amplitudes, some zero, against qiskit's Statevector of the circuit."""
    rng = np.random.default_rng(n)
    for _ in range(3):
        a = rng.random(2**n) ** 3 * (rng.random(2**n) > 0.2)
        a[0] += 0.1
        a /= np.linalg.norm(a)
        assert np.abs(Statevector(load_amplitudes(a)).data - a).max() < 1e-12


def test_load_amplitudes_where_qiskits_state_preparation_fails():
    """The 6-qubit normal that stopped the paper grid with a split: simulated and transpiled."""
    gen = build_generator(ansatz="zoufal", num_qubits=6, reps=1, initialization="normal",
                          normal_amplitudes=EPEX_NORMAL_6)
    assert np.abs(initial_state(gen.initial) - EPEX_NORMAL_6).max() < 1e-12
    assert transpiled_depth(circuit=gen.circuit, device="fake_montreal", seed=1) > 0
