"""The batched trainer: each row trains exactly as alone, deterministically, and actually learns."""

import numpy as np
import pytest

from autoqml.circuits import PARAMETER_SPREAD, build_generator
from autoqml.data import discretize, parametric_samples
from autoqml.metrics import relative_entropy
from autoqml.qgan import CHUNK_EPOCHS, Row, train_rows
from autoqml.simulator import initial_state


def _rows(n: int, initialization: str, seeds, lrs=(1e-2,)):
    grid, target = discretize(samples=parametric_samples(kind="lognormal", params={}, samples=5000, seed=1),
                              num_qubits=n, method=[0, 7])
    gen = build_generator(ansatz="zoufal", num_qubits=n, reps=1, initialization=initialization)
    rows = [Row(seed=s, target=target, initial_state=initial_state(gen.initial),
                parameter_spread=PARAMETER_SPREAD[initialization], generator_lr=lrs[i % len(lrs)],
                generator_betas=(0.7, 0.99), discriminator_lr=1e-3, discriminator_betas=(0.9, 0.999))
            for i, s in enumerate(seeds)]
    return gen, target, rows


def _train(gen, rows, epochs=CHUNK_EPOCHS + 40):
    return train_rows(ansatz=gen.ansatz, rows=rows, widths=[50, 20], batch_size=128, num_epochs=epochs,
                      log_every=10)


def test_batched_rows_equal_rows_trained_alone():
    """Different seeds and learning rates in one batch; the run crosses a chunk of random draws."""
    gen, _, rows = _rows(3, "uniform", seeds=[11, 12, 13, 14], lrs=(1e-2, 3e-3))
    batched = _train(gen, rows)
    for row, together in zip(rows, batched):
        (alone,) = _train(gen, [row])
        assert np.abs(together.parameters - alone.parameters).max() <= 1e-6
        assert np.abs(together.generated - alone.generated).max() <= 1e-6
        for name in ("kl", "ks", "loss_d", "loss_g"):
            assert np.allclose(together.curves[name], alone.curves[name], rtol=0, atol=1e-6)
        for key, weights in together.discriminator.items():
            assert np.abs(weights - alone.discriminator[key]).max() <= 1e-6


def test_same_seed_same_result_different_seed_different_result():
    gen, _, rows = _rows(3, "random", seeds=[5, 5, 6])
    first, twin, other = _train(gen, rows, epochs=30)
    assert np.array_equal(first.parameters, twin.parameters)
    assert not np.allclose(first.parameters, other.parameters)


def test_initial_parameters_follow_the_initialization():
    for initialization, spread in (("uniform", 0.1), ("random", np.pi)):
        gen, _, rows = _rows(3, initialization, seeds=range(20))
        start = np.concatenate([r.initial_parameters for r in _train(gen, rows, epochs=1)])
        assert np.abs(start).max() <= spread and np.abs(start).max() > 0.8 * spread


def test_training_learns_the_lognormal():
    """Zoufal et al.'s first benchmark: log-normal on [0, 7] with 3 qubits; KL falls by at least 4x."""
    gen, target, rows = _rows(3, "uniform", seeds=[1, 2, 3], lrs=(3e-3,))
    results = _train(gen, rows, epochs=1000)
    for result in results:
        assert result.curves["epoch"][0] == 0 and result.curves["epoch"][-1] == 1000
        assert result.curves["kl"][-1] < min(0.25 * result.curves["kl"][0], 0.05)
        assert result.curves["kl"][-1] == pytest.approx(relative_entropy(target=target, generated=result.generated))
