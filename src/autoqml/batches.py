"""The batches of a training step: real-sample frequencies and the uniforms that Born-sample the generator.

Two schedules (``steps_per_epoch``), as qiskit's QGAN and as the trainer before it:

* **epoch walk** (``auto``, qiskit's ``QGAN.train``): every epoch shuffles the row's training set and walks it in
  floor(n / batch_size) consecutive batches, without replacement inside the epoch; the n mod batch_size values
  left over are not used that epoch (qiskit's ``while index + batch_size <= len(data)``).
* **with replacement** (an integer s): each of an epoch's s steps draws its real batch with replacement from the
  target distribution, so an epoch is s batches, not a pass over the data; ``steps_per_epoch: 1`` is the trainer
  before the epoch walk, draw for draw.

Each row draws from its own generator in a fixed order that does not depend on the other rows, so a batch of rows
trains exactly as each row alone. Per step a row draws, after its real batch, B + 1 exponentials whose cumulative
sums give B sorted uniforms as order statistics, U_(i) = S_i / S_(B+1), so a Born-sampled batch costs one search of
the 2^N CDF values among them (:func:`born_histogram`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

#: Steps of random draws made per row at a time in the with-replacement schedule (fixed: draws never depend on
#: how many rows train together).
CHUNK_STEPS = 32


class Batches:
    """Per step, every row's real-batch frequencies (rows, 2^N) and sorted uniforms (rows, B)."""

    def __init__(self, *, rngs: list[np.random.Generator], targets: np.ndarray, training_sets: list[np.ndarray],
                 batch_size: int, steps_per_epoch: int | None, num_epochs: int):
        self._rngs, self._targets, self._sets, self._batch = rngs, targets, training_sets, batch_size
        self.walk = steps_per_epoch is None
        if self.walk:
            sizes = {len(s) for s in training_sets}
            if len(sizes) != 1 or min(sizes) < batch_size:
                raise ValueError(f"an epoch walk needs training sets of one size >= batch_size {batch_size}; "
                                 f"got sizes {sorted(sizes)}")
            steps_per_epoch = sizes.pop() // batch_size
        self.steps_per_epoch = steps_per_epoch
        self._remaining = steps_per_epoch * num_epochs
        self._pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The steps of one epoch: (real frequencies, sorted uniforms) per step."""
        for _ in range(self.steps_per_epoch):
            if not self._pending:
                self._pending = self._draw_epoch() if self.walk else self._draw_chunk()
            self._remaining -= 1
            yield self._pending.pop()

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        """The draws made for steps not yet taken (steps first, rows second) and how many steps remain."""
        if not self._pending:
            return {}, {"remaining": self._remaining, "pending": 0}
        steps = list(reversed(self._pending))  # next step first
        return ({"pending.real": np.stack([real.numpy() for real, _ in steps]),
                 "pending.uniforms": np.stack([uniforms.numpy() for _, uniforms in steps])},
                {"remaining": self._remaining, "pending": len(steps)})

    def load(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Continue after :meth:`state`; the rows' generators must be restored with it."""
        self._remaining = meta["remaining"]
        self._pending = [(torch.tensor(real), torch.tensor(uniforms)) for real, uniforms in
                         zip(arrays.get("pending.real", []), arrays.get("pending.uniforms", []))][::-1]

    def _draw_epoch(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        steps, batch = self.steps_per_epoch, self._batch
        bins = self._targets.shape[1]
        real = np.empty((len(self._rngs), steps, bins))
        sums = np.empty((len(self._rngs), steps, batch + 1))
        offsets = bins * np.arange(steps)[:, None]
        for r, (rng, values) in enumerate(zip(self._rngs, self._sets)):
            walked = values[rng.permutation(len(values))[: steps * batch]].reshape(steps, batch)
            real[r] = np.bincount((walked + offsets).ravel(), minlength=steps * bins).reshape(steps, bins)
            rng.standard_exponential(out=sums[r])
        return _steps(real / batch, sums)

    def _draw_chunk(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        steps = min(CHUNK_STEPS, self._remaining)
        rows, bins = self._targets.shape
        real = np.empty((rows, steps, bins))
        sums = np.empty((rows, steps, self._batch + 1))
        for r, (rng, p) in enumerate(zip(self._rngs, self._targets)):
            real[r] = rng.multinomial(self._batch, p, size=steps)
            rng.standard_exponential(out=sums[r])
        return _steps(real / self._batch, sums)


def _steps(real: np.ndarray, sums: np.ndarray) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Step-major tensors (contiguous per step, for torch.searchsorted), last step first (popped in order)."""
    np.cumsum(sums, axis=2, out=sums)
    uniforms = sums[..., :-1] / sums[..., -1:]
    real_t = torch.as_tensor(real.transpose(1, 0, 2).copy())
    uniforms_t = torch.as_tensor(uniforms.transpose(1, 0, 2).copy())
    return [(real_t[s], uniforms_t[s]) for s in reversed(range(real.shape[1]))]


def born_histogram(probs: torch.Tensor, sorted_uniforms: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Frequencies of `batch_size` Born samples per row: sample i lands in bin x when CDF(x-1) < u_i <= CDF(x)."""
    cdf = probs.cumsum(1)
    below = torch.searchsorted(sorted_uniforms, cdf / cdf[:, -1:], right=True).to(probs.dtype)
    below[:, -1] = batch_size
    return torch.diff(below, dim=1, prepend=torch.zeros_like(below[:, :1])) / batch_size


def planned_steps(params: dict) -> int:
    """Optimizer steps per run of a cell, known from its parameters before any data is read (for cost estimates).

    ``auto`` plans floor(samples / batch_size) steps per epoch (at least 1): exact, since a training set has
    ``samples`` values, except when an explicit discretization range drops some (then an upper bound).
    """
    steps = params["steps_per_epoch"]
    if steps == "auto":
        steps = max(1, params["distribution"]["samples"] // params["batch_size"])
    return steps * params["num_epochs"]
