"""The classical discriminator: a PyTorch MLP on the sample value (or its standardized grid index), one per row.

Architecture (the paper's ``custom_classical_1`` and ``_2``): value -> ``n_input`` -> ``n_hidden``... -> 1, LeakyReLU
(slope 0.2, as qiskit-aqua's PyTorch discriminator) between layers and a sigmoid output, the probability that a
value is real. Each row's weights are drawn like ``torch.nn.Linear``'s defaults (U[-1/sqrt(fan_in), 1/sqrt(fan_in)])
from that row's own generator, so a batch of rows trains exactly as each row alone.
"""

from __future__ import annotations

import numpy as np
import torch

LEAKY_SLOPE = 0.2


class BatchedMLP:
    """Rows x layers of weights (rows, out, in) and biases, kept in one flat (rows, P) tensor.

    One flat leaf tensor lets the optimizer update every layer with a handful of tensor operations.
    """

    def __init__(self, *, widths: list[int], rngs: list[np.random.Generator]):
        self.widths = [1, *widths, 1]
        layers = list(zip(self.widths[:-1], self.widths[1:]))
        blocks = []
        for fan_in, fan_out in layers:
            bound = 1 / np.sqrt(fan_in)
            blocks.append(np.stack([rng.uniform(-bound, bound, size=(fan_out, fan_in)) for rng in rngs]))
            blocks.append(np.stack([rng.uniform(-bound, bound, size=fan_out) for rng in rngs]))
        rows = len(rngs)
        self.flat = torch.tensor(np.concatenate([b.reshape(rows, -1) for b in blocks], axis=1), requires_grad=True)
        self._slices, start = [], 0
        for fan_in, fan_out in layers:
            self._slices.append((start, fan_out, fan_in))
            start += fan_out * (fan_in + 1)

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [self.flat]

    def _layers(self, flat: torch.Tensor):
        rows = flat.shape[0]
        for start, fan_out, fan_in in self._slices:
            weight = flat[:, start : start + fan_out * fan_in].reshape(rows, fan_out, fan_in)
            yield weight, flat[:, start + fan_out * fan_in : start + fan_out * (fan_in + 1)]

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """D(values) per row: values (G,) or one row each (rows, G) -> probabilities (rows, G) that each value is a
        real sample."""
        rows, last = self.flat.shape[0], len(self._slices) - 1
        h = values.to(torch.float64).reshape(-1, values.shape[-1], 1).expand(rows, -1, 1)
        for i, (weight, bias) in enumerate(self._layers(self.flat)):
            h = torch.baddbmm(bias[:, None, :], h, weight.transpose(1, 2))
            h = torch.sigmoid(h) if i == last else torch.nn.functional.leaky_relu(h, LEAKY_SLOPE)
        return h[..., 0]

    def state_dicts(self) -> list[dict[str, np.ndarray]]:
        """Per row, weights named like the equivalent ``torch.nn.Sequential`` of Linear layers."""
        flat = self.flat.detach()
        return [
            {name: tensor[r].numpy().copy()
             for i, (weight, bias) in enumerate(self._layers(flat))
             for name, tensor in ((f"layers.{i}.weight", weight), (f"layers.{i}.bias", bias))}
            for r in range(flat.shape[0])
        ]
