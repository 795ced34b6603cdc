"""The batches of a training step: real-sample frequencies and the uniforms that Born-sample the generator.

Two schedules (``steps_per_epoch``), as qiskit's QGAN and as the trainer before it:

* **epoch walk** (``auto``, qiskit's ``QGAN.train``): every epoch shuffles the row's training set and walks it in
  floor(n / batch_size) consecutive batches, without replacement inside the epoch; the n mod batch_size values
  left over are not used that epoch (qiskit's ``while index + batch_size <= len(data)``). It is drawn batch by
  batch as the walk goes, each value uniformly among those left this epoch: up to 64 bins from the counts left per
  bin, above from a Fisher-Yates shuffle of the stored order (the same distribution, :mod:`autoqml.compiled`).
* **with replacement** (an integer s): each of an epoch's s steps draws its real batch with replacement from the
  target distribution, so an epoch is s batches, not a pass over the data; ``steps_per_epoch: 1`` is the trainer
  before the epoch walk.

Each row draws from its own random stream (:mod:`autoqml.compiled`, the draws the compiled step makes, in the same
order), so a batch of rows trains exactly as each row alone. Per step a row draws its real batch, then batch_size
uniforms that Born-sample its generator: sample i lands in bin x when CDF(x-1) < u_i <= CDF(x)
(:func:`born_histogram`); a uniform is (k + 1/2) / 2^32 for a 32-bit random k, so the compiled step bins it by
integer compares.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from autoqml.compiled import Walk, draw_steps

#: Steps drawn at a time (within an epoch; a row's draws are one stream whatever the chunks).
CHUNK_STEPS = 32


class Batches:
    """Per step, every row's real-batch frequencies (rows, 2^N) and Born uniforms (rows, B), from the rows'
    streams (rows, STREAM_WORDS; advanced in place)."""

    def __init__(self, *, streams: np.ndarray, targets: np.ndarray, training_sets: list[np.ndarray],
                 batch_size: int, steps_per_epoch: int | None):
        self._streams, self._targets, self._batch = streams, targets, batch_size
        self.walk = steps_per_epoch is None
        self.walk_arrays = None
        if self.walk:
            sizes = {len(s) for s in training_sets}
            if len(sizes) != 1 or min(sizes) < batch_size:
                raise ValueError(f"an epoch walk needs training sets of one size >= batch_size {batch_size}; "
                                 f"got sizes {sorted(sizes)}")
            steps_per_epoch = sizes.pop() // batch_size
            self.walk_arrays = Walk(np.stack(training_sets), targets.shape[1])
        self.steps_per_epoch = steps_per_epoch

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The steps of one epoch: (real frequencies, uniforms) per step."""
        for first in range(0, self.steps_per_epoch, CHUNK_STEPS):
            steps = min(CHUNK_STEPS, self.steps_per_epoch - first)
            real, uniforms = draw_steps(rng=self._streams, steps=steps, first=first, batch=self._batch,
                                        bins=self._targets.shape[1], walk=self.walk_arrays,
                                        targets=None if self.walk else self._targets)
            real /= self._batch
            for s in range(steps):
                yield torch.from_numpy(real[s]), torch.from_numpy(uniforms[s])


def born_histogram(probs: torch.Tensor, uniforms: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Frequencies of `batch_size` Born samples per row: sample i lands in bin x when CDF(x-1) < u_i <= CDF(x)."""
    cdf = probs.cumsum(1)
    cdf = cdf / cdf[:, -1:]
    bins = torch.searchsorted(cdf, uniforms).clamp_(max=probs.shape[1] - 1)
    counts = torch.zeros_like(probs).scatter_add_(1, bins, torch.ones_like(uniforms, dtype=probs.dtype))
    return counts / batch_size
