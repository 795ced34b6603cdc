"""precision: float32 trains the discriminator in single precision and matches float64 statistically."""

import numpy as np
import torch
from scipy import stats
from test_qgan import BATCH, _rows

from autoqml.qgan import Schedule, Training


def _final_kl(precision: str, seeds) -> tuple[np.ndarray, Training]:
    gen, _, rows = _rows(3, "uniform", seeds=seeds, lrs=(3e-3,), samples=2000)
    training = Training(ansatz=gen.ansatz, rows=rows, widths=[50, 20], precision=precision,
                        schedule=Schedule(batch_size=BATCH, num_epochs=25, log_every=5))
    training.run()
    return np.array([r.curves["kl"][-1] for r in training.results()]), training


def test_float32_and_float64_training_agree_statistically():
    """Same seeds, both precisions: runs decorrelate (GAN training amplifies rounding) yet the final KLs are draws
    of one distribution: a two-sample KS test does not reject it, and the means agree within their errors."""
    seeds = range(100, 140)
    single, training32 = _final_kl("float32", seeds)
    double, training64 = _final_kl("float64", seeds)
    assert training32.disc.flat.dtype == torch.float32 and training64.disc.flat.dtype == torch.float64
    assert training32.theta.dtype == torch.float64  # the generator's statevector stays double
    assert not np.allclose(single, double, rtol=0, atol=1e-6)  # the precisions did differ
    assert stats.ks_2samp(single, double).pvalue > 0.01
    error = np.hypot(single.std(ddof=1), double.std(ddof=1)) / np.sqrt(len(seeds))
    assert abs(single.mean() - double.mean()) < 3 * error
