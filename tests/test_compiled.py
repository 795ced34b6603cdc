"""The compiled training step (step.cpp) against its torch reference, its draws, and how it is built."""

import ctypes

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from scipy import stats

from autoqml import compiled
from autoqml.circuits import PARAMETER_SPREAD, build_generator
from autoqml.compiled import KernelError, draw_steps, seed_streams
from autoqml.data import grid_indices, parametric_samples
from autoqml.qgan import Row, Schedule, Training, train_rows
from autoqml.simulator import initial_state


def _rows(circuit_initial, n, seeds, *, state="per_step", samples=900):
    _, indices = grid_indices(samples=parametric_samples(kind="lognormal", params={}, samples=samples, seed=1),
                              num_qubits=n, method=[0, 7])
    target = np.bincount(indices, minlength=2**n) / indices.size
    return [Row(seed=s, target=target, initial_state=initial_state(circuit_initial),
                parameter_spread=PARAMETER_SPREAD["random"], generator_lr=(1e-2, 3e-3)[i % 2],
                generator_betas=(0.7, 0.99), discriminator_lr=1e-3, discriminator_betas=(0.9, 0.999),
                training_set=indices, generator_state=state)
            for i, s in enumerate(seeds)]


def _both(ansatz, rows, *, widths=(50, 20), epochs=4, steps_per_epoch=None, precision="float64"):
    schedule = Schedule(batch_size=64, num_epochs=epochs, log_every=1, steps_per_epoch=steps_per_epoch)
    return [train_rows(ansatz=ansatz, rows=rows, widths=list(widths), schedule=schedule, precision=precision,
                       engine=engine) for engine in ("compiled", "torch")]


def _max_difference(a, b, *, kl_relative: bool = False) -> float:
    """The largest difference of parameters, probabilities, curves and discriminator weights; with `kl_relative`
    the KL curve's difference relative to its value (a bin the generator gives 1e-6 turns the probabilities'
    1e-14 into 1e-10 of KL: measured at N = 7)."""
    worst = max(np.abs(a.parameters - b.parameters).max(), np.abs(a.generated - b.generated).max())
    for name in ("kl", "ks", "loss_d", "loss_g"):
        x, y = np.array(a.curves[name]), np.array(b.curves[name])
        worst = max(worst, (np.abs(x - y) / (np.abs(y) if name == "kl" and kl_relative else 1)).max())
    return max(worst, *(np.abs(w - b.discriminator[k]).max() for k, w in a.discriminator.items()))


def _beyond_the_ansaetze() -> QuantumCircuit:
    """Complex amplitudes, two-qubit and controlled rotations, a parameter in two gates, fixed dense gates."""
    a, b, c = Parameter("a"), Parameter("b"), Parameter("c")
    qc = QuantumCircuit(3)
    qc.ry(c, 0)
    qc.rzz(2 * a + 0.3, 0, 2)
    qc.cry(b, 1, 0)
    qc.rxx(-a, 1, 2)
    qc.swap(0, 2)
    qc.s(1)
    qc.sx(2)
    qc.rz(c / 2, 1)
    qc.ccx(0, 1, 2)
    return qc


@pytest.mark.parametrize("ansatz, n, reps, init", [
    ("zoufal", 3, 2, "uniform"), ("herr1", 4, 1, "random"), ("vallecorsa", 2, 3, "uniform"),
    ("efficient_su2", 3, 1, "uniform"), ("real_amplitudes", 5, 1, "uniform"), ("zoufal", 7, 1, "uniform"),
])
def test_compiled_step_equals_the_torch_reference(ansatz, n, reps, init):
    """Same rows, same draws: the compiled step and torch's train to the same numbers (float64, to rounding);
    efficient_su2 runs in complex arithmetic; at N = 7 (128 bins) the Born batch is binned by bisection."""
    gen = build_generator(ansatz=ansatz, num_qubits=n, reps=reps, initialization=init)
    compiled_runs, torch_runs = _both(gen.ansatz, _rows(gen.initial, n, seeds=[3, 4, 5]))
    for a, b in zip(compiled_runs, torch_runs):
        assert _max_difference(a, b, kl_relative=True) <= 1e-10


@pytest.mark.parametrize("case", ["beyond_ansaetze", "two_hidden_layers", "with_replacement", "persistent"])
def test_compiled_step_equals_the_torch_reference_beyond_the_default_cell(case):
    """Gates beyond the ansaetze (complex, 2- and 3-qubit), custom_classical_2's widths, real batches drawn with
    replacement, and the generator's Adam with kept state."""
    circuit, initial = _beyond_the_ansaetze(), QuantumCircuit(3)
    initial.h(range(3))
    if case != "beyond_ansaetze":
        gen = build_generator(ansatz="zoufal", num_qubits=3, reps=2, initialization="uniform")
        circuit, initial = gen.ansatz, gen.initial
    rows = _rows(initial, 3, seeds=[7, 8], state="persistent" if case == "persistent" else "per_step")
    widths = (50, 40, 10) if case == "two_hidden_layers" else (50, 20)
    compiled_runs, torch_runs = _both(circuit, rows, widths=widths,
                                      steps_per_epoch=5 if case == "with_replacement" else None)
    for a, b in zip(compiled_runs, torch_runs):
        assert _max_difference(a, b, kl_relative=True) <= 1e-10


def test_compiled_step_equals_the_torch_reference_in_float32():
    """float32 discriminators agree to float32 rounding, amplified by the generator's sign steps: a gradient that
    cancels to ~1e-5 carries float32's ~1e-7 absolute error as a relative one into a step of size lr, so over an
    epoch of 12 steps the parameters agree to ~1e-3 of lr = 1e-2 (measured 3.7e-4), not to 1e-7."""
    gen = build_generator(ansatz="zoufal", num_qubits=4, reps=2, initialization="uniform")
    compiled_runs, torch_runs = _both(gen.ansatz, _rows(gen.initial, 4, seeds=[1, 2]), epochs=1,
                                      precision="float32")
    for a, b in zip(compiled_runs, torch_runs):
        assert _max_difference(a, b) <= 2e-3


def test_a_training_checkpointed_by_one_engine_continues_in_the_other():
    """Both engines keep the same state (streams, weights, optimizer moments): stop the compiled step after two
    epochs, continue in torch, and it ends where compiled training straight through ends."""
    gen = build_generator(ansatz="zoufal", num_qubits=3, reps=1, initialization="uniform")
    rows = _rows(gen.initial, 3, seeds=[21, 22])
    schedule = Schedule(batch_size=64, num_epochs=4, log_every=1)
    options = {"ansatz": gen.ansatz, "rows": rows, "widths": [50, 20], "schedule": schedule}
    straight = Training(**options, engine="compiled")
    straight.run()
    first = Training(**options, engine="compiled")
    first.run(2)
    second = Training(**options, engine="torch", state=first.state())
    second.run()
    for a, b in zip(straight.results(), second.results()):
        assert _max_difference(a, b, kl_relative=True) <= 1e-10


# Grids up to 64 bins walk an epoch by counts per bin, larger ones shuffle the training set (step.cpp).
WALKS = pytest.mark.parametrize("bins", [16, 128], ids=["by_counts", "by_shuffle"])


def _walk(sets: np.ndarray, bins: int) -> compiled.Walk:
    return compiled.Walk(sets.astype(np.int32), bins)


@WALKS
def test_the_walk_draws_without_replacement_uniformly(bins):
    """An epoch over distinct values draws each exactly once; over many epochs each value is in the first batch
    equally often (chi-square); the Born batch's uniforms are uniform on (0, 1) (Kolmogorov-Smirnov)."""
    values = np.arange(bins)[None, :]
    streams, walk = seed_streams([99]), _walk(values, bins)
    firsts, uniforms = np.zeros(bins), []
    for _ in range(100 if bins > 16 else 400):
        real, u = draw_steps(rng=streams, steps=bins // 4, first=0, batch=4, bins=bins, walk=walk, targets=None)
        assert np.array_equal(real[:, 0].sum(axis=0), np.ones(bins)) and np.all(real.sum(axis=2) == 4)
        firsts += real[0, 0]
        uniforms.append(u.ravel())
    assert stats.chisquare(firsts).pvalue > 1e-3
    uniforms = np.concatenate(uniforms)
    assert 0 < uniforms.min() and uniforms.max() < 1
    assert stats.kstest(uniforms, "uniform").pvalue > 1e-3


@WALKS
def test_an_epoch_drawn_in_pieces_is_the_epoch_drawn_at_once(bins):
    """A call that ends inside an epoch leaves what is left of it in `work` for the next call to continue."""
    sets = np.stack([np.arange(40) % bins, np.arange(40)[::-1] % 8])

    def draws(pieces):
        streams, walk, out = seed_streams([4, 5]), _walk(sets, bins), []
        for first, steps in pieces:
            out.append(draw_steps(rng=streams, steps=steps, first=first, batch=6, bins=bins, walk=walk, targets=None))
        return [np.concatenate(parts) for parts in zip(*out)]

    whole = draws([(0, 6), (0, 6)])  # two epochs of 6 steps
    pieces = draws([(0, 1), (1, 4), (5, 1), (0, 2), (2, 4)])
    for a, b in zip(whole, pieces):
        assert np.array_equal(a, b)


def test_rows_draw_from_their_own_streams():
    """A row's draws are the same alone and among other rows."""
    targets = np.full((3, 8), 1 / 8)
    _, together = draw_steps(rng=seed_streams([1, 2, 3]), steps=3, first=0, batch=10, bins=8, walk=None,
                             targets=targets)
    _, alone = draw_steps(rng=seed_streams([2]), steps=3, first=0, batch=10, bins=8, walk=None, targets=targets[:1])
    assert np.array_equal(together[:, 1], alone[:, 0])
    assert not np.array_equal(together[:, 0], together[:, 1])


def test_the_kernel_is_built_once_per_shape_into_its_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOQML_KERNEL_CACHE", str(tmp_path))
    build = compiled.kernel.__wrapped__  # past the in-process cache
    lib = build(grid=8, widths=(6, 3), real=True, precision="float32")
    assert isinstance(lib, ctypes.CDLL) and lib.kernel_grid() == 8 and lib.kernel_float_bytes() == 4
    (built,) = tmp_path.glob("step-*.so")
    stamp = built.stat().st_mtime_ns
    build(grid=8, widths=(6, 3), real=True, precision="float32")
    assert built.stat().st_mtime_ns == stamp and len(list(tmp_path.glob("step-*.so"))) == 1
    build(grid=8, widths=(6, 3), real=False, precision="float32")
    assert len(list(tmp_path.glob("step-*.so"))) == 2
    assert not list(tmp_path.glob("tmp*"))  # nothing half-written left behind


def test_without_a_compiler_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOQML_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(KernelError, match="install g\\+\\+.*CXX"):
        compiled.kernel.__wrapped__(grid=4, widths=(3,), real=True, precision="float64")


def test_engine_choice():
    gen = build_generator(ansatz="zoufal", num_qubits=2, reps=1, initialization="uniform")
    options = {"ansatz": gen.ansatz, "rows": _rows(gen.initial, 2, seeds=[1]), "widths": [4],
               "schedule": Schedule(batch_size=64, num_epochs=1, log_every=1)}
    assert Training(**options).engine == "compiled"
    assert Training(**options, engine="torch").engine == "torch"
    with pytest.raises(ValueError, match="engine torch"):
        Training(**options, engine="compiled", generator=lambda sim, theta, initial: None)
    with pytest.raises(ValueError, match="engine: got 'gpu'"):
        Training(**options, engine="gpu")
